import Foundation
import KubeClient
import KubeSim
import KubeModel
import Synchronization
import Testing

/// Waits read what a real controller reports: observed generation, updated/ready replicas (as `kubectl rollout
/// status`), finalizers and a namespace's termination.
@Suite struct WaitConditionTests {
    static func deployment(generation: Int, observed: Int?, replicas: Int = 2, updated: Int, total: Int, available: Int,
                           conditions: [JSON] = [["type": "Available", "status": "True"]]) -> JSON {
        var status: JSON = ["updatedReplicas": .int(updated), "replicas": .int(total), "availableReplicas": .int(available),
                            "conditions": .array(conditions)]
        if let observed { status["observedGeneration"] = .int(observed) }
        return ["kind": "Deployment", "metadata": ["name": "istiod", "generation": .int(generation)],
                "spec": ["replicas": .int(replicas)], "status": status]
    }

    @Test func aRolloutIsCompleteOnlyForTheCurrentGenerationWithEveryReplicaUpdatedAndAvailable() {
        let done = Self.deployment(generation: 3, observed: 3, updated: 2, total: 2, available: 2)
        #expect(WaitCondition.rolledOut.isMet(by: done))
        // Available=True from the previous generation is not this spec rolled out.
        let stale = Self.deployment(generation: 4, observed: 3, updated: 2, total: 2, available: 2)
        #expect(!WaitCondition.rolledOut.isMet(by: stale))
        #expect(!WaitCondition.condition(type: "Available").isMet(by: stale))
        #expect(WaitCondition.rolledOut.lastSeen(stale) == "the controller has not yet observed generation 4")
        let updating = Self.deployment(generation: 4, observed: 4, updated: 1, total: 3, available: 2)
        #expect(!WaitCondition.rolledOut.isMet(by: updating))
        #expect(WaitCondition.rolledOut.lastSeen(updating) == "1 out of 2 new replicas have been updated")
        let oldLeft = Self.deployment(generation: 4, observed: 4, updated: 2, total: 3, available: 2)
        #expect(WaitCondition.rolledOut.lastSeen(oldLeft) == "1 old replicas are pending termination")
        let notReady = Self.deployment(generation: 4, observed: 4, updated: 2, total: 2, available: 1)
        #expect(!WaitCondition.rolledOut.isMet(by: notReady))
        #expect(WaitCondition.rolledOut.lastSeen(notReady) == "1 of 2 updated replicas are available")
        // Zero replicas: the API drops the zero counts.
        let none: JSON = ["kind": "Deployment", "metadata": ["generation": 2], "spec": ["replicas": 0], "status": ["observedGeneration": 2]]
        #expect(WaitCondition.rolledOut.isMet(by: none))
    }

    @Test func aRolloutPastItsDeadlineFailsAtOnce() async throws {
        let stuck = Self.deployment(generation: 2, observed: 2, updated: 1, total: 1, available: 0, conditions: [
            ["type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet \"istiod-5d\" has timed out progressing."]])
        #expect(WaitCondition.rolledOut.failure(stuck)?.contains("exceeded its progress deadline: ReplicaSet") == true)
        #expect(WaitCondition.rolledOut.failure(Self.deployment(generation: 2, observed: 2, updated: 1, total: 1, available: 0)) == nil)
    }

    @Test func aConditionOfAnOlderGenerationIsNotMet() {
        let crd: JSON = ["metadata": ["generation": 2], "status": ["conditions": [
            ["type": "Established", "status": "True", "observedGeneration": 1]]]]
        #expect(!WaitCondition.condition(type: "Established").isMet(by: crd))
        let current: JSON = ["metadata": ["generation": 2], "status": ["conditions": [["type": "Established", "status": "True"]]]]
        #expect(WaitCondition.condition(type: "Established").isMet(by: current))
    }

    @Test func whatHoldsADeletionIsSaid() {
        let ns: JSON = ["kind": "Namespace", "metadata": ["name": "sample", "deletionTimestamp": "2026-11-25T15:00:00Z"],
                        "spec": ["finalizers": ["kubernetes"]],
                        "status": ["phase": "Terminating", "conditions": [
                            ["type": "NamespaceContentRemaining", "status": "True", "message": "Some resources are remaining: pods. has 2 resource instances"],
                            ["type": "NamespaceDeletionDiscoveryFailure", "status": "False", "message": "All resources successfully discovered"]]]]
        #expect(WaitCondition.gone.lastSeen(ns)
                == "namespace terminating (Some resources are remaining: pods. has 2 resource instances), finalizers: kubernetes")
        let held: JSON = ["metadata": ["name": "x", "deletionTimestamp": "2026-11-25T15:00:00Z", "finalizers": ["example.com/cleanup"]]]
        #expect(WaitCondition.gone.lastSeen(held) == "deletion in progress, finalizers: example.com/cleanup")
        #expect(WaitCondition.loadBalancerAddress.lastSeen(["spec": ["type": "LoadBalancer"]]).contains("no load-balancer controller"))
    }

    /// KubeSim keeps a deleted namespace Terminating for its controller delay: the delete waits, and says why.
    @Test func aNamespaceDeletionIsWaitedForWithProgress() async throws {
        // Its controller takes a second and a half to remove the namespace: the first poll sees it terminating.
        try await SimCluster.with("waits", controllerDelay: .milliseconds(1500)) { cluster in
            try await cluster.withClient { c in
                _ = try await c.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "sample"]], fieldManager: "test")
                _ = try await c.apply(configMap("cm", namespace: "sample", data: ["a": "b"]), fieldManager: "test")
                let heard = Mutex<[String]>([])
                let deleted = try await c.delete(namespaceKind, namespace: nil, name: "sample", waitUntilGone: .seconds(30)) { text in
                    heard.withLock { $0.append(text) }
                }
                #expect(deleted)
                #expect(try await c.get(namespaceKind, namespace: nil, name: "sample") == nil)
                #expect(heard.withLock { $0 }.first?.hasPrefix("namespace terminating") == true, "\(heard.withLock { $0 })")
            }
        }
    }
}
