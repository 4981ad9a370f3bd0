import Foundation
import KubeModel
import KubeSim
import Testing
@testable import MeshformKit

extension EndToEnd {
/// Meshform's apply on clusters that call admission webhooks (KubeSim's opt-in `callWebhooks`) and run pods: the
/// remote profile's sidecar injector points at an istiod address nothing answers, as on a real cluster whose
/// external control plane is not up. The injector's failurePolicy is Fail, so the ReplicaSet controller's pods in
/// `istio-injection=enabled` namespaces are refused, no Deployment there becomes available, and the apply fails
/// at its readiness wait and rolls back. The message names the webhook that refused.
@Suite struct UnreachableInjectorTests {
    @Test func anUnreachableInjectorFailsTheApplyNamingTheWebhook() async throws {
        try await MeshHarness.with(configure: { o in
            o.faults.runPods = true
            o.faults.callWebhooks = true
        }) { h in
            let session = try await h.session(try h.multiRemote())
            let (_, result) = try await ApplyEndToEndTests.apply(session) { $0.apply.readinessTimeout = .seconds(5) }
            var failed = "", error = ""
            switch result {
            case .rolledBack(let f, let e), .rollbackFailed(let f, let e, _), .failedKept(let f, let e, _): failed = f; error = e
            case .succeeded: Issue.record("apply succeeded although the injector refuses every pod")
            }
            #expect(failed.contains("/Deployment/"), "\(failed)")
            #expect(error.contains("pods cannot be created: Internal error occurred: failed calling webhook \"namespace.sidecar-injector.istio.io\": failed to call webhook: Post \"https://"), "\(error)")
        }
    }
}
}
