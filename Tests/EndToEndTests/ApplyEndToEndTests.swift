import Foundation
import KubeModel
import StateStore
import Testing
@testable import MeshformKit

/// The guide, end to end, on three KubeSim clusters: apply from nothing, the guide's own checks with the real
/// kubectl, a second apply that changes nothing, removing a remote, and destroy leaving nothing behind.
extension EndToEnd {
@Suite struct ApplyEndToEndTests {
    static let silent: @Sendable (ApplyEvent) -> Void = { _ in }

    static func apply(_ session: MeshSession, _ configure: (inout MeshSession.ApplyRequest) -> Void = { _ in }) async throws
        -> (Plan, ApplyResult)
    {
        var r = MeshSession.ApplyRequest()
        r.apply.readinessTimeout = .seconds(30)
        configure(&r)
        return try await session.apply(r, confirm: { _ in true }, emit: silent)
    }

    /// The same life, with the external cluster's gateway component rendered from the real istioctl output
    /// (all-on.yaml: the CRDs, istiod and the gateways in istio-system, what the guide's first step installs).
    @Test(.enabled(if: MeshHarness.hasSharedFixtures, "../shared/fixtures/istio is absent, so there is no real istioctl output to render from"))
    func externalGatewayFromRealIstioctlOutput() async throws {
        try await MeshHarness.with { h in
            let manifests = h.dir.appendingPathComponent("manifests")
            try FileManager.default.copyItem(at: MeshHarness.packageRoot.appendingPathComponent("plans/demo"), to: manifests)
            let gateway = manifests.appendingPathComponent("controlplane-gateway.yaml")
            try FileManager.default.removeItem(at: gateway)
            try FileManager.default.copyItem(at: MeshHarness.sharedFixtures.appendingPathComponent("istioctl-output/all-on.yaml"), to: gateway)
            let session = try await h.session(try h.multiRemote([{ $0.replacingOccurrences(of: "manifests: demo", with: "manifests: \(manifests.path)") }]))
            #expect(session.mesh.resources.contains { $0.address.description == "external/apps/Deployment/istio-system/istiod" })
            #expect(session.mesh.resources.filter { $0.address.cluster == "external" && $0.address.kind == "CustomResourceDefinition" }.count >= 14)

            let (_, result) = try await Self.apply(session)
            guard case .succeeded = result else { Issue.record("apply: \(result)"); return }
            let (again, _) = try await session.plan(PlanOptions())
            #expect(!again.hasChanges, "\(again.changes.filter { $0.action.changes }.map { "\($0.action) \($0.address) \($0.fields.map(\.path))" })")
            let drift = try await session.drift()
            #expect(!drift.hasDrift, "\(drift.text())")
            let (_, destroyed) = try await Self.apply(session) { $0.plan.operation = .destroy }
            guard case .succeeded = destroyed else { Issue.record("destroy: \(destroyed)"); return }
            #expect(try await h.managedObjects().isEmpty)
        }
    }

    @Test(arguments: StateKind.allCases) func multiRemoteMeshFromNothingToNothing(_ state: StateKind) async throws {
        try await MeshHarness.with(state: state) { h in
            let session = try await h.session(try h.multiRemote())

            let (plan, result) = try await Self.apply(session)
            guard case .succeeded(let summary) = result else { Issue.record("apply failed: \(result)"); return }
            #expect(summary.added == plan.changes.filter { $0.action == .create }.count)
            #expect(summary.added > 20)

            if MeshHarness.kubectlPath != nil {
                // The guide's checks, with the real kubectl.
                for remote in ["config", "remote2"] {
                    let wh = try await h.kubectl(remote, ["get", "mutatingwebhookconfiguration", "istio-sidecar-injector-external-istiod", "-o", "jsonpath={.webhooks[0].clientConfig.url}"])
                    #expect(wh.status == 0, "\(wh.output)")
                    #expect(wh.output.contains(":15017/inject"), "\(remote): \(wh.output)")
                    let ns = try await h.kubectl(remote, ["get", "namespace", "sample", "-o", "jsonpath={.metadata.labels.istio-injection}"])
                    #expect(ns.output == "enabled", "\(remote): \(ns.output)")
                }
                let secrets = try await h.kubectl("external", ["get", "secrets", "-n", "external-istiod", "-l", "istio/multiCluster=true", "-o", "name"])
                #expect(secrets.output.contains("secret/istio-kubeconfig"), "\(secrets.output)")
                #expect(secrets.output.contains("secret/istio-remote-secret-remote2"), "\(secrets.output)")
                let wait = try await h.kubectl("external", ["wait", "--for=condition=Available", "deployment/istiod", "-n", "external-istiod", "--timeout=20s"])
                #expect(wait.status == 0, "\(wait.output)")
                for kind in ["gateways.networking.istio.io", "virtualservices.networking.istio.io", "destinationrules.networking.istio.io"] {
                    let r = try await h.kubectl("external", ["get", kind, "-n", "external-istiod", "-o", "name"])
                    #expect(r.status == 0 && !r.output.isEmpty, "\(kind): \(r.output)")
                }
                let v1 = try await h.kubectl("config", ["get", "deployment", "helloworld-v1", "-n", "sample", "-o", "name"])
                #expect(v1.status == 0, "\(v1.output)")
                let v2 = try await h.kubectl("remote2", ["get", "deployment", "helloworld-v2", "-n", "sample", "-o", "name"])
                #expect(v2.status == 0, "\(v2.output)")
            }

            // A second apply changes nothing.
            let (second, again) = try await Self.apply(session)
            #expect(!second.hasChanges, "second plan: \(second.changes.filter { $0.action.changes }.map { "\($0.action) \($0.address) \($0.fields.map(\.path))" })")
            guard case .succeeded = again else { Issue.record("second apply: \(again)"); return }

            // Removing the second remote plans and applies only its removal.
            let smaller = try await h.session(try h.multiRemote([MeshEdits.removingSecondRemote]))
            let (removal, _) = try await smaller.plan(PlanOptions())
            let changed = removal.changes.filter { $0.action.changes }
            #expect(!changed.isEmpty)
            #expect(changed.allSatisfy { $0.action == .delete }, "\(changed.map { "\($0.action) \($0.address)" })")
            #expect(changed.allSatisfy { $0.cluster == "remote2" || $0.address.description.contains("remote2") }, "\(changed.map(\.address.description))")
            let (_, removed) = try await Self.apply(smaller)
            guard case .succeeded = removed else { Issue.record("removal apply: \(removed)"); return }

            // Destroy leaves no Meshform object on any cluster.
            let (_, destroyed) = try await Self.apply(smaller) { $0.plan.operation = .destroy }
            guard case .succeeded = destroyed else { Issue.record("destroy: \(destroyed)"); return }
            for cluster in ["external", "config", "remote2"] {
                let left = try await h.snapshot(cluster).values.filter { $0.labels["app.kubernetes.io/managed-by"] == "meshform" }
                #expect(left.isEmpty, "\(cluster) still has \(left.map { "\($0.kind ?? "") \($0.name ?? "")" })")
            }
            #expect(try StateStore.openReadOnly(path: h.statePath).objects().isEmpty)
        }
    }
}
}
