import Foundation
import KubeClient
import KubeModel
import StateStore
import Testing
@testable import MeshformKit

/// The engine against what a real kube-apiserver does and KubeSim (so far) does not (issue 11).
extension EndToEnd {
@Suite struct RealServerEndToEndTests {
    /// The mesh with the external cluster's components rendered from the real istioctl output (all-on.yaml).
    static func realIstioctlMesh(_ h: MeshHarness) throws -> MeshSession {
        let manifests = h.dir.appendingPathComponent("manifests")
        try FileManager.default.copyItem(at: MeshHarness.packageRoot.appendingPathComponent("plans/demo"), to: manifests)
        let gateway = manifests.appendingPathComponent("controlplane-gateway.yaml")
        try FileManager.default.removeItem(at: gateway)
        try FileManager.default.copyItem(at: MeshHarness.sharedFixtures.appendingPathComponent("istioctl-output/all-on.yaml"), to: gateway)
        return try h.session(try h.multiRemote([{ $0.replacingOccurrences(of: "manifests: demo", with: "manifests: \(manifests.path)") }]))
    }

    /// What kube-apiserver stores for this fixture's objects, where KubeSim keeps the text as sent: every
    /// `resource.Quantity` in canonical form (`2048Mi` -> `2Gi`, `2000m` -> `2`, `1024Mi` -> `1Gi`), `null` fields
    /// gone, and `omitempty` strings (EnvVar `value: ""`) gone.
    static func asRealServerStores(_ v: JSON, path: [String] = []) -> JSON {
        switch v {
        case .object(let o):
            var out: [String: JSON] = [:]
            for (k, x) in o {
                if x.isNull || (k == "value" && x == "" && path.last == "env") { continue }
                if path.count >= 2, path[path.count - 2] == "resources", ["limits", "requests"].contains(path.last!), let s = x.string ?? x.int.map(String.init) {
                    out[k] = .string(Quantity.canonical(s) ?? s); continue
                }
                out[k] = asRealServerStores(x, path: path + [k])
            }
            return .object(out)
        case .array(let a): return .array(a.map { asRealServerStores($0, path: path) })
        default: return v
        }
    }

    /// After an apply, every object (those of the real istioctl output among them) is rewritten live as a real server stores it (a PUT
    /// by another manager, as the server's own canonical form would be): `plan -detailed-exitcode` is still 0 and
    /// `drift` still clean.
    @Test func convergesWhereTheServerCanonicalisesValues() async throws {
        guard MeshHarness.hasSharedFixtures else {
            print("skipped: ../shared/fixtures/istio is absent, so there is no real istioctl output to apply"); return
        }
        let h = try await MeshHarness()
        defer { Task { await h.stop() } }
        let session = try Self.realIstioctlMesh(h)
        let (_, result) = try await ApplyEndToEndTests.apply(session)
        guard case .succeeded = result else { Issue.record("apply: \(result)"); return }

        var rewritten: [String] = []
        let state = try StateStore.openReadOnly(path: h.statePath).objects()
        for o in state {
            let c = try h.client(o.cluster)
            let gvk = GroupVersionKind(apiVersion: o.apiVersion, kind: o.kind)
            guard let live = try await c.get(gvk, namespace: o.namespace, name: o.name) else { Issue.record("\(o.address) is gone"); continue }
            let stored = ServerCanonicalForm.isBuiltIn(apiVersion: o.apiVersion) ? Self.asRealServerStores(live) : live
            if stored != live {
                let r = try await c.resource(for: gvk)
                let put = try await c.request(method: .PUT, path: r.path(namespace: o.namespace, name: o.name),
                                              query: [("fieldManager", "kube-apiserver")], body: Data(stored.canonicalText.utf8),
                                              contentType: "application/json")
                #expect(put.isSuccess, "\(o.address): \(put.status)")
                rewritten.append(o.address)
            }
            try await c.shutdown()
        }
        // The fixture's own values are ones a real server rewrites, and the state keeps them as sent.
        let istiod = "external/apps/Deployment/istio-system/istiod"
        #expect(rewritten.contains(istiod) && rewritten.contains("external/apps/Deployment/istio-system/istio-ingressgateway"), "\(rewritten)")
        let applied = try #require(state.first { $0.address == istiod }).applied
        #expect(applied[path: ["spec", "template", "spec", "containers"]]?[0]?[path: ["resources", "requests", "memory"]] == "2048Mi")
        let c = try h.client("external")
        let live = try #require(try await c.get(GroupVersionKind(apiVersion: "apps/v1", kind: "Deployment"), namespace: "istio-system", name: "istiod"))
        try await c.shutdown()
        #expect(live[path: ["spec", "template", "spec", "containers"]]?[0]?[path: ["resources", "requests", "memory"]] == "2Gi")

        let (again, _) = try await session.plan(PlanOptions())
        #expect(!again.hasChanges, "\(again.changes.filter { $0.action.changes }.map { "\($0.action) \($0.address) \($0.fields.map(\.path))" })")
        let drift = try await session.drift()
        #expect(!drift.hasDrift, "\(drift.text())")
        if let binary = CLIEndToEndTests.binary {
            let plan = try await MeshHarness.run(binary, ["plan", session.meshFile, "-detailed-exitcode", "--state", h.statePath], environment: h.environment)
            #expect(plan.status == 0, "\(plan.output)")
            let cron = try await MeshHarness.run(binary, ["drift", session.meshFile, "--quiet", "--state", h.statePath], environment: h.environment)
            #expect(cron.status == 0 && cron.output.isEmpty, "\(cron.output)")
        }
    }
}
}
