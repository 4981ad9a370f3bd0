import Foundation
import Testing
import KubeModel
@testable import StateStore

/// Apply's journal entries written at once are committed together (`GroupCommit`); each must still be committed when
/// its own call returns, and one that fails must fail alone.
@Suite struct GroupCommitTests {
    static let steps = 40

    static func step(_ i: Int, phase: JournalPhase = .done) throws -> JournalStep {
        JournalStep(address: try ResourceAddress(parsing: "remote1/apps/Deployment/sample/d\(i)"), action: .create, phase: phase,
                    after: deployment("d\(i)"))
    }

    @Test func entriesWrittenAtOnceAreEachCommittedWhenTheirCallReturns() async throws {
        let t = TempState(), path = t.path
        let store = try StateStore.open(path: path)
        let run = try store.beginRun(kind: .apply, who: "alice", configHash: nil)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<Self.steps {
                group.addTask {
                    let object = managed(deployment("d\(i)"))
                    try await store.journal(run, step: try Self.step(i), recording: .upsert(object))
                    // Read through another connection: what this call wrote is already committed, object and entry alike.
                    let reader = try StateStore.openReadOnly(path: path)
                    #expect(try reader.object(address: object.address)?.uid == object.uid)
                    #expect(try reader.journal(of: run).contains { $0.address?.name == "d\(i)" && $0.phase == .done })
                }
            }
            try await group.waitForAll()
        }
        #expect(try store.journal(of: run).count == Self.steps)
        #expect(try store.objects().count == Self.steps)
        #expect(try store.serial() == Self.steps)
    }

    @Test func anEntryThatFailsIsUndoneAloneAndFailsOnlyItsCaller() async throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        let run = try store.beginRun(kind: .apply, who: "alice", configHash: nil)
        // The journal's run must exist (a foreign key): entries for an unknown run fail inside the shared transaction.
        let unknown = RunID(rawValue: "no-such-run")
        let outcomes = try await withThrowingTaskGroup(of: (Int, (any Error)?).self) { group in
            for i in 0..<Self.steps {
                group.addTask {
                    do {
                        try await store.journal(i % 4 == 0 ? unknown : run, step: try Self.step(i),
                                                recording: .upsert(managed(deployment("d\(i)"))))
                        return (i, nil)
                    } catch { return (i, error) }
                }
            }
            return try await group.reduce(into: [Int: (any Error)?]()) { $0[$1.0] = $1.1 }
        }
        let objects = Set(try store.objects().map(\.name))
        for i in 0..<Self.steps {
            if i % 4 == 0 {
                guard case .io? = outcomes[i]! as? StateError else {
                    Issue.record("entry \(i) for an unknown run: expected StateError.io, got \(String(describing: outcomes[i]!))")
                    continue
                }
                #expect(!objects.contains("d\(i)"), "the failed entry's object write was undone with it")
            } else {
                #expect(outcomes[i]! == nil)
                #expect(objects.contains("d\(i)"))
            }
        }
        #expect(try store.journal(of: run).count == Self.steps - Self.steps / 4)
        #expect(try store.serial() == Self.steps - Self.steps / 4)
    }
}
