import KubeModel

/// A control-plane revision (`istio.io/rev`), and the names Istio's charts give its objects: istiod of revision
/// `1-25-0` is Deployment and Service `istiod-1-25-0`, the unrevisioned install's are `istiod` (istio/istio
/// manifests/charts/istio-control/istio-discovery/templates/deployment.yaml: `istiod{{- if not (eq .Values.revision "") }}-{{ .Values.revision }}`).
public struct IstioRevision: Sendable, Hashable, CustomStringConvertible {
    /// The unrevisioned install's revision label value, as the charts write it (`.Values.revision | default "default"`).
    public static let defaultName = "default"

    public var name: String
    public init(_ name: String?) { self.name = name ?? Self.defaultName }
    public init(_ t: MeshTopology) { self.init(t.istio.revision) }

    public var isDefault: Bool { name == Self.defaultName }
    /// "-1-25-0", or "" for the unrevisioned install.
    public var suffix: String { isDefault ? "" : "-\(name)" }
    public var istiodName: String { "istiod" + suffix }
    /// The path prefix the control-plane gateway routes to this revision's istiod on the webhook port, so that the
    /// webhooks of two revisions can call one address: "/rev/1-25-0" ("" for the unrevisioned install).
    public var webhookPathPrefix: String { isDefault ? "" : "/rev/\(name)" }
    public var description: String { name }

    /// Values a pre-rendered manifest may use (`ManifestDirectoryRenderer`): `{{revision}}`, `{{revisionSuffix}}`,
    /// `{{revisionPath}}`.
    public var parameters: [String: String] {
        ["revision": name, "revisionSuffix": suffix, "revisionPath": webhookPathPrefix]
    }

    /// Why the mesh file's revision cannot be installed, if it cannot: only pre-rendered manifests take it so far
    /// (`{{revision}}`...); istioctl and helm would render the unrevisioned install while the routing and the
    /// default tag name the revision's istiod.
    static func unsupported(_ t: MeshTopology) -> (message: String, fix: String)? {
        guard let rev = t.istio.revision, rev != defaultName else { return nil }
        if case .manifests = t.istio.renderer { return nil }
        return ("istio.revision '\(rev)' needs istio.renderer manifests: the istioctl and helm renderers do not pass a revision to Istio's tools yet",
                "render the revision's manifests yourself (istioctl manifest generate --set revision=\(rev), docs/day2.md) and use renderer manifests, or remove istio.revision.")
    }

    /// The revision an object belongs to, from its `istio.io/rev` label.
    static func of(_ body: JSON) -> IstioRevision? { body.labels["istio.io/rev"].map { IstioRevision($0) } }
}
