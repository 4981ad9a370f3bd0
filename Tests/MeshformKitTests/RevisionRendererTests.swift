import Foundation
import KubeModel
import Testing
@testable import MeshformKit

/// A revision passed to Istio's tools as Istio passes it: istioctl is given `spec.revision` (`--set revision=REV`), the
/// helm renderer the istiod chart's `revision` value; the webhooks call the revision's path on the gateway, and the
/// default tag is Istio's revision-tags template for `default`.
@Suite struct RevisionRendererTests {
    static func multiRemote(renderer: String, version: String = "1.25.0") throws -> MeshTopology {
        let text = try String(contentsOfFile: TestPaths.plan("multi-remote.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "  version: 1.24.0\n", with: "  version: \(version)\n  revision: 1-25-0\n")
            .replacingOccurrences(of: "  renderer: istioctl", with: renderer)
        return try MeshFile.parse(text: text, path: TestPaths.plan("multi-remote.yaml"), environment: guideEnvironment)
    }

    @Test func helmGetsTheRevisionAndTheRevisionsPaths() throws {
        let t = try Self.multiRemote(renderer: "  renderer: helm\n  charts: /charts")
        let helm = HelmRenderer(charts: "/charts", expectedVersion: "1.25.0")
        let comps = Dictionary(uniqueKeysWithValues: IstioOperatorDocuments.components(for: t, address: "istiod.example.com").map { ($0.id, $0) })
        let config = helm.invocations(for: comps["remote-config-cluster@remote1"]!)
        #expect(config[0].chart == "base" && config[0].values["revision"] == nil && config[0].values["defaultRevision"] == "1-25-0")
        #expect(config[0].values[path: ["base", "validationURL"]] == "https://istiod.example.com:15017/rev/1-25-0/validate")
        #expect(config[1].chart == "istiod" && config[1].values["revision"] == "1-25-0")
        #expect(config[1].values[path: ["istiodRemote", "injectionURL"]] == "https://istiod.example.com:15017/rev/1-25-0/inject/cluster/remote1/net/network1")
        let remote = helm.invocations(for: comps["remote-cluster@remote2"]!)
        #expect(remote[1].values["revision"] == "1-25-0" && remote[0].values["defaultRevision"] == "")
        let istiod = helm.invocations(for: comps["external-istiod@external"]!)
        #expect(istiod[0].values["revision"] == "1-25-0")
        #expect(istiod[0].values[path: ["env", "SHARED_MESH_CONFIG"]] == "istio-1-25-0")
        // The guide's overlay mounts the revision's ConfigMaps (the chart names them `-REV`).
        #expect(istiod[0].values["volumes"] == [["name": "config-volume", "configMap": ["name": "istio-1-25-0"]],
                                                 ["name": "inject-volume", "configMap": ["name": "istio-sidecar-injector-1-25-0"]]])
        // Gateways keep the default revision: they are injected through the default tag.
        #expect(helm.invocations(for: comps["controlplane-gateway@external"]!).allSatisfy { $0.values["revision"] == nil })
    }

    /// A stand-in istioctl (it records the IstioOperator document it is given and prints Istio's real istioctl output
    /// for the unrevisioned istiod): what is proven is the document istioctl gets, not what a real istioctl renders.
    @Test(.enabled(if: TestPaths.fixturesPresent, "../shared/fixtures/istio is absent"))
    func istioctlIsGivenTheRevision() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tool = try CompilerTests.standInIstioctl(in: dir, version: "1.25.0", fixture: "istiod-default.yaml")
        let t = try Self.multiRemote(renderer: "  renderer: istioctl\n  istioctl: \(tool.path)")
        _ = try await Compiler(renderer: Compiler.renderer(for: t)).compile(t)
        let documents = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("iop-") }.sorted()
            .map { try YAMLDocuments.parseOne(String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8)) }
        let istiod = try #require(documents.first { $0[path: ["spec", "components", "pilot", "k8s", "overlays"]] != nil })
        #expect(istiod[path: ["spec", "revision"]] == "1-25-0")
        #expect(istiod[path: ["spec", "components", "pilot", "k8s", "overlays"]]?[0]?["name"] == "istiod-1-25-0")
        let remotes = documents.filter { $0[path: ["spec", "profile"]] == "remote" }
        #expect(remotes.count == 2 && remotes.allSatisfy { $0[path: ["spec", "revision"]] == "1-25-0" })
        #expect(remotes.allSatisfy { $0[path: ["spec", "values", "istiodRemote", "injectionURL"]]?.string?.hasPrefix("https://istiod.example.com:15017/rev/1-25-0/inject/") == true })
        // The control-plane gateway's document is not revisioned.
        #expect(documents.filter { $0[path: ["spec", "components", "ingressGateways"]] != nil }.allSatisfy { $0[path: ["spec", "revision"]] == nil })
    }

    @Test func aRevisionWithIstioctlOrHelmNeedsRevisionTags() {
        for renderer in ["  renderer: istioctl", "  renderer: helm\n  charts: /charts"] {
            let old = diagnostics(minimalMesh.replacingOccurrences(of: "  version: 1.24.0\n", with: "  version: 1.9.5\n  revision: 1-9-5\n\(renderer)\n"))
            #expect(old.contains { $0.message.contains("needs Istio 1.10 or later") && $0.location.line == 4 }, "\(old.map(\.message))")
            let new = diagnostics(minimalMesh.replacingOccurrences(of: "  version: 1.24.0\n", with: "  version: 1.24.0\n  revision: 1-24-0\n\(renderer)\n"))
            #expect(!new.contains { $0.message.contains("istio.revision") }, "\(new.map(\.message))")
        }
    }

    /// The default tag is Istio's revision-tags template for `default` (revision-tags-mwc.yaml): four hooks, the
    /// revision's core without its path prefix, selecting what the unrevisioned install's webhooks select.
    @Test func theDefaultTagIsIstiosRevisionTagTemplate() {
        let revision: JSON = [
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": ["name": "istio-sidecar-injector-1-25-0-external-istiod", "labels": ["istio.io/rev": "1-25-0"]],
            "webhooks": [["name": "rev.namespace.sidecar-injector.istio.io", "sideEffects": "None", "failurePolicy": "Fail",
                          "clientConfig": ["url": "https://istiod.example.com:15017/rev/1-25-0/inject/cluster/remote1/net/network1"],
                          "namespaceSelector": ["matchExpressions": [["key": "istio.io/rev", "operator": "In", "values": ["1-25-0"]]]]]]]
        let tag = RevisionGlue.defaultTag(revisionWebhook: revision, revision: IstioRevision("1-25-0"), namespace: "external-istiod")
        #expect(tag.name == "istio-sidecar-injector-external-istiod" && tag.labels["istio.io/tag"] == "default" && tag.labels["istio.io/rev"] == "1-25-0")
        let hooks = tag["webhooks"]?.array ?? []
        #expect(hooks.compactMap { $0["name"]?.string } == ["rev.namespace.sidecar-injector.istio.io", "rev.object.sidecar-injector.istio.io",
                                                           "namespace.sidecar-injector.istio.io", "object.sidecar-injector.istio.io"])
        #expect(hooks.allSatisfy { $0[path: ["clientConfig", "url"]] == "https://istiod.example.com:15017/inject/cluster/remote1/net/network1" && $0["failurePolicy"] == "Fail" })
        #expect(hooks[0][path: ["namespaceSelector", "matchExpressions"]] == [["key": "istio.io/rev", "operator": "In", "values": ["default"]],
                                                                            ["key": "istio-injection", "operator": "DoesNotExist"]])
        #expect(hooks[2][path: ["namespaceSelector", "matchExpressions"]] == [["key": "istio-injection", "operator": "In", "values": ["enabled"]]])
        #expect(hooks[3][path: ["objectSelector", "matchExpressions"]]?[0] == ["key": "sidecar.istio.io/inject", "operator": "In", "values": ["true"]])
    }
}
