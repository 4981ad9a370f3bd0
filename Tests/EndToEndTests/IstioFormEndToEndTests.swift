import Foundation
import KubeClient
import KubeModel
import Testing
@testable import MeshformKit

/// Each guide revision's form applied to three KubeSim clusters (../shared/guide/README.md), and the newest form
/// rendered by the real Helm engine from Istio's real charts: render, plan, apply, and a second plan with nothing
/// to do.
extension EndToEnd {
@Suite struct IstioFormEndToEndTests {
    static func apply(_ session: MeshSession) async throws -> ApplyResult {
        var r = MeshSession.ApplyRequest()
        r.apply.readinessTimeout = .seconds(60)
        return try await session.apply(r, confirm: { _ in true }, emit: { _ in }).1
    }

    static func get(_ h: MeshHarness, _ cluster: String, _ gvk: GroupVersionKind, _ namespace: String?, _ name: String) async throws -> JSON? {
        return try await h.withClient(cluster) { c in
            return try await c.get(gvk, namespace: namespace, name: name)
        }
    }

    static let secret = GroupVersionKind(group: "", version: "v1", kind: "Secret")
    static let namespace = GroupVersionKind(group: "", version: "v1", kind: "Namespace")
    static func gateway(_ version: String) -> GroupVersionKind { GroupVersionKind(group: "networking.istio.io", version: version, kind: "Gateway") }

    /// The guide plus a second remote in each form: where the second remote's `--type=remote` secret lives, where
    /// `cross-network-gateway` is (and in which apiVersion), and the newest form's namespace annotation.
    @Test(arguments: ["1.9.5", "1.21.2", "1.24.0"]) func eachFormAppliesWhereItsRevisionSays(version: String) async throws {
        try await MeshHarness.with { h in
            let session = try await h.session(try h.multiRemote([{
                $0.replacingOccurrences(of: "version: 1.24.0", with: "version: \(version)")
                    .replacingOccurrences(of: "    # server: https://10.0.0.12:6443", with: "    server: https://10.0.0.12:6443  #")
            }]))
            guard case .succeeded = try await Self.apply(session) else { Issue.record("apply failed"); return }
            let newest = IstioOperatorForm(version: version) == .newest

            let remoteSecretHome = newest ? "external" : "config"
            let other = newest ? "config" : "external"
            #expect(try await Self.get(h, remoteSecretHome, Self.secret, "external-istiod", "istio-remote-secret-remote2")?.labels["istio/multiCluster"] == "true")
            #expect(try await Self.get(h, other, Self.secret, "external-istiod", "istio-remote-secret-remote2") == nil)
            #expect(try await Self.get(h, "external", Self.secret, "external-istiod", "istio-kubeconfig") != nil)
            // The second remote's `server:` is the address its remote secret gives istiod (istioctl's --server).
            let kubeconfig = try await Self.get(h, remoteSecretHome, Self.secret, "external-istiod", "istio-remote-secret-remote2")?[path: ["data", "remote2"]]?.string
            let text = kubeconfig.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } ?? ""
            #expect(try YAMLDocuments.parseOne(text)["clusters"]?[0]?[path: ["cluster", "server"]] == "https://10.0.0.12:6443")

            let expose = try await Self.get(h, "config", Self.gateway("v1"), "external-istiod", "cross-network-gateway")
            #expect(expose?[path: ["spec", "selector", "istio"]] == "eastwestgateway")
            let onRemote2 = try await Self.get(h, "remote2", Self.gateway("v1"), "external-istiod", "cross-network-gateway")
            #expect((onRemote2 != nil) == !newest)
            let sent = session.mesh.resources.first { $0.address.name == "cross-network-gateway" }?.body.apiVersion
            #expect(sent == (newest ? "networking.istio.io/v1" : "networking.istio.io/v1alpha3"))

            let ns = try await Self.get(h, "remote2", Self.namespace, nil, "external-istiod")
            #expect(ns?.annotations["topology.istio.io/controlPlaneClusters"] == (newest ? "config" : nil))

            let (again, _) = try await session.plan(PlanOptions())
            #expect(!again.hasChanges, "\(again.changes.filter { $0.action.changes }.map { "\($0.action) \($0.address) \($0.fields.map(\.path))" })")
        }
    }

    /// The real `helm` of ../shared/tools/helm (Helm v4's engine) needs Python 3.12; nothing else is a reason to skip.
    static var python312: Bool {
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        return FileManager.default.isExecutableFile(atPath: "\(home)/.pyenv/versions/3.12.1/bin/python")
            || ExternalToolPath.onPath("python3.12") || ExternalToolPath.onPath("python3.13")
    }

    static let sharedDir = MeshHarness.packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
    static let realCharts = sharedDir.appendingPathComponent("fixtures/istio/charts")
    static let realHelmTool = sharedDir.appendingPathComponent("tools/helm/helm")
    /// Whether the real helm can run here: Istio's charts and ../shared/tools/helm present, and Python 3.12 for it
    /// (.ci/run runs the tool's setup).
    static let realHelmAvailable = FileManager.default.fileExists(atPath: realCharts.appendingPathComponent("istiod/Chart.yaml").path)
        && FileManager.default.isExecutableFile(atPath: realHelmTool.path) && python312

    /// The real helm of ../shared/tools/helm in a wrapper that points it at this package's kubesim (helm template
    /// runs a throwaway KubeSim). Call only where `realHelmAvailable`; a helm that does not run there is a failure
    /// (run its setup).
    static func realHelm(_ h: MeshHarness) async throws -> (helm: String, charts: String) {
        let charts = realCharts, helm = realHelmTool
        // The kubesim built with these tests: beside the test bundle, else the package's debug or release build.
        let kubesim = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kubesim").path,
                       MeshHarness.packageRoot.appendingPathComponent(".build/debug/kubesim").path,
                       MeshHarness.packageRoot.appendingPathComponent(".build/release/kubesim").path]
            .first { FileManager.default.isExecutableFile(atPath: $0) } ?? "kubesim"
        let wrapper = h.dir.appendingPathComponent("helm")
        try "#!/bin/sh\nKUBESIM=\"${KUBESIM:-\(kubesim)}\" exec \"\(helm.path)\" \"$@\"\n".write(to: wrapper, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper.path)
        let version = try await MeshHarness.run(wrapper.path, ["version", "--short"])
        try #require(version.status == 0, "the real helm does not run; run ../shared/tools/helm/setup: \(version.output)")
        return (wrapper.path, charts.path)
    }

    /// multi-remote.yaml rendered by the real helm from Istio's real charts, with `edit` applied.
    static func helmMeshFile(_ h: MeshHarness, _ tool: (helm: String, charts: String), edit: (String) -> String = { $0 }) throws -> String {
        try h.meshFile("multi-remote.yaml") {
            edit(MeshEdits.kubeSimTLS($0.replacingOccurrences(of: "  renderer: istioctl", with: "  renderer: helm\n  helm: \(tool.helm)\n  charts: \(tool.charts)")))
        }
    }

    /// The newest form through the helm renderer on Istio's real charts and the real Helm engine: every chart the
    /// guide's steps map to renders, the objects apply to KubeSim, and the second plan has nothing to do.
    @Test(.enabled(if: realHelmAvailable, "needs ../shared/fixtures/istio/charts and ../shared/tools/helm with Python 3.12 (.ci/run runs its setup)"))
    func newestFormWithRealHelmOnRealCharts() async throws {
        try await MeshHarness.with { h in
            let tool = try await Self.realHelm(h)
            let file = try Self.helmMeshFile(h, tool)
            let session = try await h.session(file)
            let mesh = session.mesh
            func body(_ a: String) -> JSON? { mesh.resources.first { $0.address.description == a }?.body }

            // What the charts rendered for the guide's steps.
            let injector = try #require(body("config/admissionregistration.k8s.io/MutatingWebhookConfiguration/_/istio-sidecar-injector-external-istiod"))
            let urls = (injector["webhooks"]?.array ?? []).compactMap { $0[path: ["clientConfig", "url"]]?.string }
            #expect(!urls.isEmpty && urls.allSatisfy { $0 == "https://istiod.mesh.example.com:15017/inject/cluster/config/net/network1" }, "\(urls)")
            let remote2Injector = try #require(body("remote2/admissionregistration.k8s.io/MutatingWebhookConfiguration/_/istio-sidecar-injector-external-istiod"))
            #expect(remote2Injector["webhooks"]?[0]?[path: ["clientConfig", "url"]] == "https://istiod.mesh.example.com:15017/inject/cluster/remote2/net/network2")
            #expect(body("config/admissionregistration.k8s.io/ValidatingWebhookConfiguration/_/istiod-default-validator")?["webhooks"]?[0]?[path: ["clientConfig", "url"]]
                    == "https://istiod.mesh.example.com:15017/validate")
            #expect(body("config/core/ConfigMap/external-istiod/istio") != nil)
            // The config cluster's istiod ServiceAccount comes with the chart's RBAC (configCluster), not bare.
            #expect(body("config/core/ServiceAccount/external-istiod/istiod") != nil)
            #expect(body("config/rbac.authorization.k8s.io/ClusterRoleBinding/_/istiod-clusterrole-external-istiod")?["subjects"]?[0]?["name"] == "istiod")
            #expect(mesh.resources.filter { $0.address.cluster == "config" && $0.address.kind == "CustomResourceDefinition" }.count >= 14)
            let istiod = try #require(body("external/apps/Deployment/external-istiod/istiod"))
            let env = istiod[path: ["spec", "template", "spec", "containers"]]?[0]?["env"]?.array ?? []
            func envValue(_ n: String) -> JSON? { env.first { $0["name"]?.string == n }?["value"] }
            #expect(envValue("LOCAL_CLUSTER_SECRET_WATCHER") == "true" && envValue("SHARED_MESH_CONFIG") == "istio" && envValue("CLUSTER_ID") == "config")
            let volumes = (istiod[path: ["spec", "template", "spec", "volumes"]]?.array ?? []).compactMap { $0["name"]?.string }
            #expect(volumes.contains("config-volume") && volumes.contains("inject-volume"))
            let ewPorts = (body("config/core/Service/external-istiod/istio-eastwestgateway")?[path: ["spec", "ports"]]?.array ?? []).compactMap { $0["name"]?.string }
            // Istio's Helm east-west gateway: the chart's networkGateway ports and labels.
            #expect(ewPorts == ["status-port", "tls", "tls-istiod", "tls-webhook"])
            #expect(body("remote2/apps/Deployment/external-istiod/istio-eastwestgateway")?[path: ["spec", "template", "metadata", "labels", "topology.istio.io/network"]] == "network2")
            // The control-plane gateway as istioctl's default profile installs it: CRDs, an istiod and the gateway in istio-system.
            let ports = (body("external/core/Service/istio-system/istio-ingressgateway")?[path: ["spec", "ports"]]?.array ?? []).compactMap { $0["name"]?.string }
            #expect(ports == ["status-port", "tls-xds", "tls-webhook"])
            #expect(body("external/apps/Deployment/istio-system/istiod") != nil)
            #expect(mesh.resources.filter { $0.address.cluster == "external" && $0.address.kind == "CustomResourceDefinition" }.count >= 14)

            let result = try await Self.apply(session)
            guard case .succeeded = result else { Issue.record("apply failed: \(result)"); return }
            let (again, _) = try await session.plan(PlanOptions())
            #expect(!again.hasChanges, "\(again.changes.filter { $0.action.changes }.map { "\($0.action) \($0.address) \($0.fields.map(\.path))" })")
        }
    }

    /// The guide's IP-address variant (the gateway's load-balancer address) on the real charts: remotes get
    /// `injectionPath` + `remotePilotAddress`, so the istiod chart renders the remote `istiod` Service and its
    /// EndpointSlice, which apply points at the load-balancer address; TLS passes through the gateway.
    @Test(.enabled(if: realHelmAvailable, "needs ../shared/fixtures/istio/charts and ../shared/tools/helm with Python 3.12 (.ci/run runs its setup)"))
    func newestFormIPVariantWithRealHelmOnRealCharts() async throws {
        try await MeshHarness.with { h in
            let tool = try await Self.realHelm(h)
            let session = try await h.session(try Self.helmMeshFile(h, tool) {
                $0.replacingOccurrences(of: "  address: ${EXTERNAL_ISTIOD_ADDR}", with: "  address: gateway-load-balancer")
            })
            let mesh = session.mesh
            func body(_ a: String) -> JSON? { mesh.resources.first { $0.address.description == a }?.body }
            let injector = try #require(body("config/admissionregistration.k8s.io/MutatingWebhookConfiguration/_/istio-sidecar-injector-external-istiod"))
            #expect(injector["webhooks"]?[0]?[path: ["clientConfig", "service", "path"]] == "/inject/cluster/config/net/network1")
            #expect(body("config/discovery.k8s.io/EndpointSlice/external-istiod/istiod") != nil)
            #expect(body("external/networking.istio.io/DestinationRule/external-istiod/external-istiod-dr") == nil)
            #expect(body("external/networking.istio.io/Gateway/external-istiod/external-istiod-gw")?[path: ["spec", "servers"]]?[0]?[path: ["tls", "mode"]] == "PASSTHROUGH")

            let result = try await Self.apply(session)
            guard case .succeeded = result else { Issue.record("apply failed: \(result)"); return }
            let lb = try await Self.get(h, "external", GroupVersionKind(group: "", version: "v1", kind: "Service"), "istio-system", "istio-ingressgateway")?[path: ["status", "loadBalancer", "ingress"]]?[0]?["ip"]?.string
            let slice = try await Self.get(h, "remote2", GroupVersionKind(group: "discovery.k8s.io", version: "v1", kind: "EndpointSlice"), "external-istiod", "istiod")
            #expect(lb != nil && slice?["endpoints"]?[0]?["addresses"]?[0]?.string == lb)
            let (again, _) = try await session.plan(PlanOptions())
            #expect(!again.hasChanges, "\(again.changes.filter { $0.action.changes }.map { "\($0.action) \($0.address) \($0.fields.map(\.path))" })")
        }
    }
}
}

/// PATH lookup for the skip check (MeshformKit's ExternalTool is internal to the engine's renderers).
enum ExternalToolPath {
    static func onPath(_ name: String) -> Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(name)")
        }
    }
}
