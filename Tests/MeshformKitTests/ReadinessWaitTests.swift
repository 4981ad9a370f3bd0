import Foundation
import KubeClient
import KubeModel
import KubeSim
import Synchronization
import TestSupport
import Testing
@testable import MeshformKit

/// Apply's waits on KubeSim: what a load-balancer wait that never ends says, and a rollback that must wait for a
/// terminating namespace before it recreates into it.
@Suite struct ReadinessWaitTests {
    /// Runs `body` with a KubeSim whose controllers take `delay` (a deleted namespace stays Terminating that long) and
    /// a client of it; both are shut down afterwards, whether `body` returns or throws.
    static func withSim(delay: Duration = .milliseconds(50), _ body: (KubeSim, KubeClient) async throws -> Void) async throws {
        let sim = try await KubeSim.start(KubeSimOptions(name: "waits", port: 0, controllerDelay: delay))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meshform-waits-\(UUID().uuidString)")
        try await TestSupport.withCleanup({
            let path = dir.appendingPathComponent("kubeconfig").path
            try sim.writeKubeconfig(to: path)
            let kc = try Kubeconfig.load(explicitPath: path, environment: [:])
            try await withShutdown(KubeClient(connection: try ClusterConnection(kubeconfig: kc, context: nil))) { c in try await body(sim, c) }
        }, cleanup: {
            try? await sim.stop()
            try? FileManager.default.removeItem(at: dir)
        })
    }

    /// A Service that gets no load-balancer address (as on kind or bare metal: here a ClusterIP Service, which no
    /// controller gives one) ends the wait with what to do instead.
    @Test func aLoadBalancerAddressThatNeverComesSaysWhatToSetInstead() async throws {
        try await Self.withSim { sim, c in
            let service: JSON = ["apiVersion": "v1", "kind": "Service", "metadata": ["name": "istio-ingressgateway", "namespace": "default"],
                                 "spec": ["type": "ClusterIP", "ports": [["name": "tls-webhook", "port": 15017]]]]
            _ = try await c.apply(service, fieldManager: "meshform")
            let r = Resource(address: try ResourceAddress(cluster: "external", object: service), body: service, readiness: .loadBalancerAddress)
            let heard = Mutex<[String]>([])
            await #expect { _ = try await r.readiness.wait(for: r, client: c, timeout: .milliseconds(300)) { t in heard.withLock { $0.append(t) } } }
                throws: { error in
                    let text = "\(error)"
                    return error is ReadinessError && text.contains("no load-balancer controller") && text.contains("controlPlane.address")
                        && text.contains("external/core/Service/default/istio-ingressgateway")
                }
            #expect(heard.withLock { $0 }.contains { $0.contains("no load-balancer controller") }, "\(heard.withLock { $0 })")
        }
    }

    /// Rollback recreates a ConfigMap while its namespace is still terminating (its own deletion did not finish in
    /// the run): it waits for the namespace to go, creates it again, and only then the ConfigMap, which stays.
    /// A finalizer holds the namespace in Terminating until the wait has said so, so no clock decides the outcome.
    @Test func recreationWaitsForATerminatingNamespace() async throws {
        try await Self.withSim(delay: .milliseconds(100)) { sim, c in
            let nsKind = GroupVersionKind(apiVersion: "v1", kind: "Namespace")
            let cmKind = GroupVersionKind(apiVersion: "v1", kind: "ConfigMap")
            _ = try await c.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "sample", "labels": ["istio-injection": "enabled"]]],
                                  fieldManager: "meshform")
            _ = try await c.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "sample", "finalizers": ["example.com/hold"]]],
                                  fieldManager: "holder")
            let cm = try await c.apply(["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "mesh", "namespace": "sample"],
                                        "data": ["a": "b"]], fieldManager: "meshform")
            _ = try await c.delete(cmKind, namespace: "sample", name: "mesh")
            _ = try await c.delete(nsKind, namespace: nil, name: "sample")   // terminating until the finalizer goes
            #expect(try await c.get(nsKind, namespace: nil, name: "sample")?[path: ["metadata", "deletionTimestamp"]] != nil)

            let heard = Mutex<[String]>([])
            let waiting = Task { try await Recreation.waitUntilPossible(cm, client: c, timeout: .seconds(60)) { t in heard.withLock { $0.append(t) } } }
            for _ in 0..<600 where heard.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(50)) }
            #expect(try await c.get(nsKind, namespace: nil, name: "sample")?[path: ["metadata", "deletionTimestamp"]] != nil,
                    "the namespace is still terminating while the wait waits")
            // Its holder lets go (a server-side apply without the finalizer drops the holder's field); the namespace goes.
            _ = try await c.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "sample"]], fieldManager: "holder")
            try await waiting.value
            _ = try await c.create(ServerOwnedFields.restorable(cm))
            let ns = try #require(try await c.get(nsKind, namespace: nil, name: "sample"))
            #expect(ns[path: ["metadata", "deletionTimestamp"]] == nil && ns.labels["istio-injection"] == "enabled", "\(ns)")
            #expect(heard.withLock { $0 }.first?.hasPrefix("namespace sample to finish terminating") == true, "\(heard.withLock { $0 })")
            // The old namespace finished terminating before the create, so nothing takes the ConfigMap along.
            #expect(try await c.get(cmKind, namespace: "sample", name: "mesh")?["data"] == ["a": "b"])
        }
    }
}
