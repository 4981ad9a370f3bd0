import Foundation
import KubeModel

/// Renders components with `helm template` and Istio's charts (base, istiod, gateway) from a local directory.
///
/// Each IstioOperator document is mapped to the Helm install Istio documents for the same step: the
/// `values` section carries over unchanged (the operator and the charts share it), `meshConfig` becomes
/// the `meshConfig` value, istiod `k8s.env` becomes `pilot.env`, remote installs add `profile: remote`,
/// and gateways use the `gateway` chart with their labels, env and service ports. IstioOperator `k8s.overlays`
/// have no Helm equivalent and are not carried over (the current guide's volume overlays on the external
/// istiod; use the istioctl renderer for that document). The charts' `appVersion` must match
/// the mesh file's `istio.version` minor release.
public struct HelmRenderer: ComponentRenderer {
    public let path: String
    public let charts: String
    public let expectedVersion: String?

    public init(path: String = "helm", charts: String, expectedVersion: String?) {
        self.path = path; self.charts = charts; self.expectedVersion = expectedVersion
    }

    public var fingerprint: String { "helm \(charts) \(expectedVersion ?? "?")" }

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
        var values = spec["values"] ?? .object([:])
        if let mc = spec["meshConfig"] { values["meshConfig"] = mc }
        func gateway(_ g: JSON, namespace: String) -> Invocation {
            var v: JSON = .object([:])
            if let labels = g["label"] { v["labels"] = labels }
            if let env = g[path: ["k8s", "env"]]?.array {
                v["env"] = .object(Dictionary(env.compactMap { e in e["name"]?.string.map { ($0, e["value"] ?? "") } }, uniquingKeysWith: { a, _ in a }))
            }
            if let ports = g[path: ["k8s", "service", "ports"]] { v["service"] = ["ports": ports] }
            if let net = g[path: ["label", "topology.istio.io/network"]] { v["networkGateway"] = net }
            if let name = g["name"]?.string, let tmpl = values[path: ["gateways", name, "injectionTemplate"]] {
                v[path: ["podAnnotations", "inject.istio.io/templates"]] = tmpl
            }
            return Invocation(chart: "gateway", release: g["name"]?.string ?? "gateway", namespace: g["namespace"]?.string ?? namespace, values: v)
        }
        switch c.kind {
        case .controlPlaneGateway, .eastWestGateway, .ingressGateway, .egressGateway:
            let gws = (spec[path: ["components", "ingressGateways"]]?.array ?? []) + (spec[path: ["components", "egressGateways"]]?.array ?? [])
            return gws.filter { $0["enabled"]?.bool ?? true }.map { gateway($0, namespace: c.namespace) }
        case .externalIstiod:
            if let env = spec[path: ["components", "pilot", "k8s", "env"]]?.array {
                for e in env { if let n = e["name"]?.string { values[path: ["pilot", "env", n]] = e["value"] ?? "" } }
            }
            return [Invocation(chart: "istiod", release: "istiod", namespace: c.namespace, values: values)]
        case .remoteConfigCluster, .remoteCluster:
            values["profile"] = "remote"
            var out: [Invocation] = []
            if c.kind == .remoteConfigCluster {
                var baseValues: JSON = ["global": ["istioNamespace": .string(c.namespace)]]
                if let v = values[path: ["base", "validationURL"]] { baseValues[path: ["base", "validationURL"]] = v }
                out.append(Invocation(chart: "base", release: "istio-base", namespace: c.namespace, values: baseValues))
            }
            out.append(Invocation(chart: "istiod", release: "istiod", namespace: c.namespace, values: values))
            return out
        }
    }

    public func render(_ component: IstioComponent) throws -> [JSON] {
        guard let exe = ExternalTool.locate(path) else {
            throw RenderError(component: component.id, message: "helm not found at '\(path)'; install Helm or set istio.helm in the mesh file")
        }
        var docs: [JSON] = []
        for inv in invocations(for: component) {
            let chartDir = URL(fileURLWithPath: charts).appendingPathComponent(inv.chart).path
            try checkChartVersion(chartDir, component: component.id)
            let values = try ExternalTool.temporaryFile(YAMLDocuments.serialize(inv.values), name: "values.yaml")
            defer { try? FileManager.default.removeItem(at: values.deletingLastPathComponent()) }
            let r = try ExternalTool.run(exe, ["template", inv.release, chartDir, "--namespace", inv.namespace, "--values", values.path])
            guard r.status == 0 else {
                throw RenderError(component: component.id, message: "helm template \(inv.chart) failed (exit \(r.status)): \(r.stderr.prefix(1000))")
            }
            docs += try ParsedManifestCache.documents(r.stdout)
        }
        return docs
    }

    private func checkChartVersion(_ chartDir: String, component: String) throws {
        guard let expectedVersion, let want = IstioVersion(expectedVersion) else { return }
        guard let text = try? String(contentsOfFile: chartDir + "/Chart.yaml", encoding: .utf8),
              let chart = try? YAMLDocuments.parseOne(text) else {
            throw RenderError(component: component, message: "no Helm chart at \(chartDir) (Chart.yaml missing); point istio.charts at Istio's manifests/charts directory")
        }
        let found = (chart["appVersion"]?.string ?? chart["version"]?.string).flatMap(IstioVersion.init)
        if let found, found.minor != want.minor {
            throw RenderError(component: component, message: "chart \(chartDir) is Istio \(found), but istio.version is \(expectedVersion); use the \(want.minor) charts")
        }
    }
}
