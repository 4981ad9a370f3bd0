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

    /// The first Istio release with revision tags (`istioctl x revision tag set`, the default tag a canary upgrade
    /// moves): revisions came in 1.6, tags in 1.10 (istio.io/latest/blog/2021/revision-tags/).
    static let firstWithTags = IstioVersion("1.10.0")!

    /// Why the mesh file's revision cannot be installed, if it cannot: istioctl and helm are given the revision
    /// (`revision` in the IstioOperator document, as `--set revision=REV`; the charts' `revision` value), but the
    /// default tag a canary upgrade moves needs Istio 1.10 or later. Pre-rendered manifests take it as written
    /// (`{{revision}}`...).
    static func unsupported(_ t: MeshTopology) -> (message: String, fix: String)? {
        guard let rev = t.istio.revision, rev != defaultName else { return nil }
        if case .manifests = t.istio.renderer { return nil }
        guard let v = IstioVersion(t.istio.version), v < firstWithTags else { return nil }
        return ("istio.revision '\(rev)' needs Istio 1.10 or later with the istioctl and helm renderers (revision tags came in 1.10), and istio.version is \(t.istio.version)",
                "upgrade to 1.10 or later in place first, or render the revision's manifests yourself and use renderer manifests.")
    }

    /// The revision an object belongs to, from its `istio.io/rev` label.
    static func of(_ body: JSON) -> IstioRevision? { body.labels["istio.io/rev"].map { IstioRevision($0) } }
}
