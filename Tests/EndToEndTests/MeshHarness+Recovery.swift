import Foundation
import StateStore
import Testing
@testable import MeshformKit

/// What the crash and recovery tests share: waiting for a run to reach a step, and what a user checks after `recover`.
extension MeshHarness {
    /// Waits (polling the state, at most `timeout`) until an unfinished run's journal shows a step started whose address
    /// ends with `addressSuffix`; returns whether it did. The state is `statePath` unless given.
    func waitForStartedStep(_ addressSuffix: String, state: String? = nil, timeout: Duration = .seconds(15)) async throws -> Bool {
        let path = state ?? statePath
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let snap = try? StateStore.openReadOnly(path: path).snapshot(),
               snap.unfinishedJournal.contains(where: { $0.address?.description.hasSuffix(addressSuffix) == true }) { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// What a user checks after `meshform recover --<mode>` ended with `output`: the run is finished; rolled back,
    /// nothing Meshform made is left live or in state; continued, what is live is what state holds and the next plan
    /// of `file` has nothing to do.
    func expectRecovered(_ mode: MeshSession.RecoveryMode, file: String, output: String,
                         sourceLocation: Testing.SourceLocation = #_sourceLocation) async throws {
        let store = try StateStore.openReadOnly(path: statePath)
        #expect(try store.unfinishedRun() == nil, sourceLocation: sourceLocation)
        let managed = Set(try await managedObjects())
        switch mode {
        case .rollback:
            #expect(managed.isEmpty, "left behind: \(managed.sorted())", sourceLocation: sourceLocation)
            #expect(try store.objects().isEmpty, sourceLocation: sourceLocation)
        case .continue:
            let stateAddresses = Set(try store.objects().map(\.address))
            #expect(managed == stateAddresses, "orphaned or lost: \(managed.symmetricDifference(stateAddresses).sorted())",
                    sourceLocation: sourceLocation)
            let (after, _) = try await session(file).plan(PlanOptions())
            #expect(!after.hasChanges, "\(after.changes.filter { $0.action.changes }.map { "\($0.action) \($0.address) \($0.fields.map(\.path))" }) after:\n\(output)",
                    sourceLocation: sourceLocation)
        }
    }
}
