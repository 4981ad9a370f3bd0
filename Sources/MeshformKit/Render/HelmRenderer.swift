import Foundation
import KubeModel
import Synchronization

/// Renders components with `helm template` and Istio's charts (`base`, `istiod`, `gateway` as Istio's Helm
/// repository names them) from a local directory.
///
/// Each IstioOperator document maps to the Helm installs Istio documents for the same step (istio.io "Install
/// with Helm", the guide's Helm tabs, the charts' values.yaml):
/// - gateways -> the `gateway` chart, release = the gateway's name: `labels`, `env`, `service.ports`, or
///   `networkGateway` for an east-west gateway; the egress gateway gets `service.type: ClusterIP` (the guide's tab);
///   a document without a profile (the control-plane gateway: istioctl's default profile) adds `base` and `istiod`
///   in its namespace first;
/// - external istiod -> the `istiod` chart: IstioOperator `values` carry over, `values.pilot.*` become the chart's
///   top-level values (configMap, env, ...), `meshConfig` the `meshConfig` value, `components.pilot.k8s.env` the
///   `env` map, and the guide's volume overlays the chart's `volumes`/`volumeMounts`;
/// - remote installs (config cluster and further remotes) -> `base` then `istiod`, both with `profile: remote`, as
///   istioctl renders the remote profile (base enabled); `base` gets `defaultRevision` (the guide's
///   `--set values.defaultRevision=default`, else none) and `base.validationURL`;
/// - a revision (the document's `revision`) -> the `istiod` chart's `revision` value (`base` has none: its
///   `defaultRevision` names the revision its default validator serves).
/// The charts' `appVersion` must have the mesh file's `istio.version` minor release (a development chart,
/// 1.0.0, passes).
public struct HelmRenderer: ComponentRenderer {
    public let path: String
    public let charts: String
    public let expectedVersion: String?

    public init(path: String = "helm", charts: String, expectedVersion: String?) {
        self.path = path; self.charts = charts; self.expectedVersion = expectedVersion
    }

    /// One `helm template` call: chart, release name, namespace, values.
    public struct Invocation: Equatable {
        public var chart: String
        public var release: String
        public var namespace: String
        public var values: JSON
    }

    /// The Helm installs equivalent to one component (exposed so the mapping can be read and tested).
    public func invocations(for c: IstioComponent) -> [Invocation] {
        let spec = c.istioOperator["spec"] ?? .object([:])
        let values = spec["values"] ?? .object([:])
        switch c.kind {
        case .controlPlaneGateway, .eastWestGateway, .ingressGateway, .egressGateway:
            let ingress = (spec[path: ["components", "ingressGateways"]]?.array ?? []).map { ($0, false) }
            let egress = (spec[path: ["components", "egressGateways"]]?.array ?? []).map { ($0, true) }
            let gateways = (ingress + egress).filter { $0.0["enabled"]?.bool ?? true }.map { Self.gateway($0.0, egress: $0.1, namespace: c.namespace) }
            // No profile is istioctl's default profile, whose base and istiod come along (the guide: "an istiod
            // deployment is also created in the istio-system namespace"); Helm installs them as charts.
            guard (spec["profile"]?.string ?? "default") == "default" else { return gateways }
            let ns = c.namespace
            return [Invocation(chart: "base", release: "istio-base", namespace: ns, values: ["global": ["istioNamespace": .string(ns)]]),
                    Invocation(chart: "istiod", release: "istiod", namespace: ns, values: ["global": ["istioNamespace": .string(ns)]])] + gateways
        case .externalIstiod:
            return [Invocation(chart: "istiod", release: "istiod", namespace: c.namespace, values: Self.istiodValues(spec))]
        case .remoteConfigCluster, .remoteCluster:
            var base: JSON = ["profile": "remote", "defaultRevision": values["defaultRevision"] ?? "",
                              "global": ["istioNamespace": .string(c.namespace)]]
            if let v = values[path: ["base", "validationURL"]] { base[path: ["base", "validationURL"]] = v }
            var istiod = Self.istiodValues(spec)
            istiod["profile"] = "remote"
            istiod["defaultRevision"] = nil
            return [Invocation(chart: "base", release: "istio-base", namespace: c.namespace, values: base),
                    Invocation(chart: "istiod", release: "istiod", namespace: c.namespace, values: istiod)]
        }
    }

    /// The `gateway` chart's values for one IstioOperator gateway entry. An east-west gateway (labelled with a
    /// network) is the chart's `networkGateway`, as Istio's Helm install of it is: the chart then writes the network
    /// label, `ISTIO_META_REQUESTED_NETWORK_VIEW` and its own network ports (named `tls`, `tls-istiod`, `tls-webhook`,
    /// manifests/charts/gateway/values.yaml `networkGatewayPorts`), so those are not passed twice.
    static func gateway(_ g: JSON, egress: Bool, namespace: String) -> Invocation {
        var v: JSON = .object([:])
        let network = g[path: ["label", "topology.istio.io/network"]]
        if var labels = g["label"]?.object {
            if network != nil { labels["topology.istio.io/network"] = nil }
            v["labels"] = .object(labels)
        }
        if let env = g[path: ["k8s", "env"]]?.array {
            var map = Dictionary(env.compactMap { e in e["name"]?.string.map { ($0, e["value"] ?? "") } }, uniquingKeysWith: { a, _ in a })
            if network != nil { map["ISTIO_META_REQUESTED_NETWORK_VIEW"] = nil }
            v["env"] = .object(map)
        }
        if let network { v["networkGateway"] = network }
        else if let ports = g[path: ["k8s", "service", "ports"]] { v[path: ["service", "ports"]] = ports }
        if egress { v[path: ["service", "type"]] = "ClusterIP" }
        return Invocation(chart: "gateway", release: g["name"]?.string ?? "gateway", namespace: g["namespace"]?.string ?? namespace, values: v)
    }

    /// The `istiod` chart's values for an IstioOperator document. The document's `revision` (istioctl's
    /// `--set revision=REV`) is the chart's `revision` value, which names every object of the release `-REV` and
    /// labels it `istio.io/rev: REV` (istio-discovery templates/deployment.yaml, mutatingwebhook.yaml, ...).
    static func istiodValues(_ spec: JSON) -> JSON {
        var v = spec["values"] ?? .object([:])
        if let rev = spec["revision"] { v["revision"] = rev }
        if let pilot = v["pilot"]?.object {
            v["pilot"] = nil
            for (k, x) in pilot { v[k] = x }
        }
        if let mc = spec["meshConfig"] { v["meshConfig"] = mc }
        for e in spec[path: ["components", "pilot", "k8s", "env"]]?.array ?? [] {
            if let n = e["name"]?.string { v[path: ["env", n]] = e["value"] ?? "" }
        }
        // The guide's overlays add a volume or a mount to the istiod Deployment, each value a YAML text.
        for overlay in spec[path: ["components", "pilot", "k8s", "overlays"]]?.array ?? [] where overlay["kind"] == "Deployment" {
            for patch in overlay["patches"]?.array ?? [] {
                guard let path = patch["path"]?.string, let text = patch["value"]?.string,
                      let item = try? YAMLDocuments.parseOne(text) else { continue }
                let key = path.hasPrefix("spec.template.spec.volumes[") ? "volumes"
                    : path.hasPrefix("spec.template.spec.containers[0].volumeMounts[") ? "volumeMounts" : nil
                if let key { v[key] = .array((v[key]?.array ?? []) + [item]) }
            }
        }
        return v
    }

    public func render(_ component: IstioComponent) async throws -> RenderedManifests {
        guard let exe = ExternalTool.locate(path) else {
            throw RenderError(component: component.id, message: "helm not found at '\(path)'; install Helm or set istio.helm in the mesh file")
        }
        var docs: [JSON] = [], digests: [String] = []
        for inv in invocations(for: component) {
            let chartDir = URL(fileURLWithPath: charts).appendingPathComponent(inv.chart).path
            try checkChartVersion(chartDir, component: component.id)
            let r = try await ExternalTool.withTemporaryFile(YAMLDocuments.serialize(inv.values), name: "values.yaml") {
                try await ExternalTool.run(exe, ["template", inv.release, chartDir, "--namespace", inv.namespace, "--values", $0])
            }
            guard r.status == 0 else {
                throw RenderError(component: component.id, message: "helm template \(inv.chart) failed (exit \(r.status)): \(r.stderrText.prefix(1000))")
            }
            let rendered = try RenderedManifests(text: r.stdoutText)
            docs += rendered.documents; digests.append(rendered.digest)
        }
        return RenderedManifests(documents: docs, digest: RenderedManifests.digest(of: digests.joined(separator: "\n")))
    }

    static let developmentChartVersion = IstioVersion("1.0.0")!
    /// Development chart directories already warned about (once per process).
    private static let warned = Mutex<Set<String>>([])

    private func checkChartVersion(_ chartDir: String, component: String) throws {
        guard let expectedVersion, let want = IstioVersion(expectedVersion) else { return }
        guard let text = try? String(contentsOfFile: chartDir + "/Chart.yaml", encoding: .utf8),
              let chart = try? YAMLDocuments.parseOne(text) else {
            throw RenderError(component: component, message: "no Helm chart at \(chartDir) (Chart.yaml missing); point istio.charts at Istio's manifests/charts directory")
        }
        let found = (chart["appVersion"]?.string ?? chart["version"]?.string).flatMap(IstioVersion.init)
        // Istio's source tree stamps 1.0.0 (its release build writes the real version): let it through, said once.
        if found == Self.developmentChartVersion {
            if Self.warned.withLock({ $0.insert(chartDir).inserted }) {
                FileHandle.standardError.write(Data("warning: \(chartDir) is a development chart (version 1.0.0); it is not checked against istio.version \(expectedVersion)\n".utf8))
            }
            return
        }
        if let found, found.minor != want.minor {
            throw RenderError(component: component, message: "chart \(chartDir) is Istio \(found), but istio.version is \(expectedVersion); use the \(want.minor) charts")
        }
    }
}
