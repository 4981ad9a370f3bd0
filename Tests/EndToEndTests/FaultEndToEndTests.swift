import Foundation
import KubeModel
import KubeSim
import StateStore
import Testing
@testable import MeshformKit

/// Apply under KubeSim's fault injection: transient faults are retried; a persistent one is rolled back so that
/// every cluster and the state are exactly as before.
extension EndToEnd {
@Suite struct FaultEndToEndTests {
    @Test func applyConvergesThroughRandomErrorsAndDroppedConnections() async throws {
        try await MeshHarness.with { h in
            for sim in h.sims.values {
                var f = FaultSettings()
                f.errorRate = 0.10
                f.dropRate = 0.02
                sim.setFaults(f)
            }
            let session = try await h.session(try h.multiRemote())
            let (_, result) = try await ApplyEndToEndTests.apply(session)
            guard case .succeeded = result else { Issue.record("apply under faults: \(result)"); return }
            for sim in h.sims.values { sim.setFaults(FaultSettings()) }
            let (plan, _) = try await session.plan(PlanOptions())
            #expect(!plan.hasChanges, "\(plan.changes.filter { $0.action.changes }.map(\.address.description))")
        }
    }

    @Test(arguments: StateKind.allCases) func aPersistentFailureRollsBackEveryClusterAndTheState(_ state: StateKind) async throws {
        try await MeshHarness.with(state: state) { h in
            // A first mesh without the second remote, applied cleanly.
            let before = try await h.session(try h.multiRemote([MeshEdits.removingSecondRemote]))
            let (_, first) = try await ApplyEndToEndTests.apply(before)
            guard case .succeeded = first else { Issue.record("first apply: \(first)"); return }
            var snapshots: [String: [String: JSON]] = [:]
            for c in h.sims.keys { snapshots[c] = try await h.snapshot(c) }
            let stateBefore = try StateStore.openReadOnly(path: h.statePath).objects().map { Comparable(o: $0) }

            // Then the whole mesh, with every write to helloworld-v2 on remote2 failing: late in the graph.
            var f = FaultSettings()
            f.failWrites = ["sample/helloworld-v2"]
            h.sims["remote2"]!.setFaults(f)
            let after = try await h.session(try h.multiRemote())
            let (_, result) = try await ApplyEndToEndTests.apply(after)
            guard case .rolledBack(let failed, _) = result else { Issue.record("expected a rollback, got \(result)"); return }
            #expect(failed.hasSuffix("/helloworld-v2"))

            for c in h.sims.keys {
                let now = try await h.snapshot(c)
                #expect(Set(now.keys) == Set(snapshots[c]!.keys), "\(c): \(Set(now.keys).symmetricDifference(Set(snapshots[c]!.keys)))")
                for (k, v) in snapshots[c]! where now[k] != v { Issue.record("\(c) \(k) differs after rollback") }
            }
            let stateAfter = try StateStore.openReadOnly(path: h.statePath).objects().map { Comparable(o: $0) }
            #expect(stateAfter == stateBefore)
        }
    }

    /// A state object without what legitimately changes when an object is re-applied unchanged.
    struct Comparable: Equatable {
        var address: String, applied: JSON, sensitive: Bool, dependencies: [String]
        init(o: ManagedObject) { address = o.address; applied = o.applied; sensitive = o.sensitive; dependencies = o.dependencies }
    }
}
}

extension EndToEnd {
/// When undoing fails too: stop, say exactly what is left and how to finish, and record it in state.
@Suite struct FailedRollbackTests {
    @Test(arguments: StateKind.allCases) func aRollbackThatFailsSaysWhatIsLeftAndTheNextApplyConverges(_ state: StateKind) async throws {
        try await MeshHarness.with(state: state) { h in
            let session = try await h.session(try h.multiRemote())
            let failing = "remote2/apps/Deployment/sample/helloworld-v2"
            let stuck = "remote2/core/Namespace/_/sample"
            let remote2 = h.sims["remote2"]!
            // When the failing step starts, the namespace it lives in (created earlier in this run) cannot be deleted either.
            var request = MeshSession.ApplyRequest()
            request.apply.readinessTimeout = .seconds(30)
            let (_, result) = try await session.apply(request, confirm: { _ in true }, emit: { event in
                if case .started(let address, _) = event, address.description == failing {
                    var f = FaultSettings(); f.failWrites = ["sample/helloworld-v2", "Namespace//sample"]
                    remote2.setFaults(f)
                }
            })
            guard case .rollbackFailed(let failed, _, let left) = result else { Issue.record("expected a failed rollback, got \(result)"); return }
            #expect(failed == failing)
            #expect(left.first?.hasPrefix(stuck) == true, "\(left)")
            #expect(left.dropFirst().allSatisfy { $0.contains("not undone") })
            let store = try StateStore.openReadOnly(path: h.statePath)
            #expect(try store.runs(limit: 1).first?.outcome == .rollbackFailed)
            #expect(try store.unfinishedRun() == nil)

            // The cause goes away; the next apply converges.
            remote2.setFaults(FaultSettings())
            let (_, again) = try await ApplyEndToEndTests.apply(session)
            guard case .succeeded = again else { Issue.record("apply after the failed rollback: \(again)"); return }
            let (plan, _) = try await session.plan(PlanOptions())
            #expect(!plan.hasChanges)
        }
    }
}
}
