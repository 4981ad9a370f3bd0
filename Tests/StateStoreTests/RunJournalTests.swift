import Foundation
import Testing
import KubeModel
@testable import StateStore

@Suite struct RunJournalTests {
    @Test func runRecordsWhoWhenConfigAndSerials() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        let run = try store.beginRun(kind: .apply, who: "alice", configHash: "sha256:cfg")
        try store.upsert(managed(deployment("a")), run: run)
        try store.upsert(managed(deployment("b")), run: run)
        try store.finishRun(run, outcome: .succeeded, message: "2 added")
        let r = try #require(try store.runs(limit: 5).first)
        #expect(r.id == run && r.kind == .apply && r.who == "alice" && r.configHash == "sha256:cfg")
        #expect(r.serialBefore == 0 && r.serialAfter == 2 && r.outcome == .succeeded && r.message == "2 added")
        #expect(r.finishedAt != nil)
        #expect(try store.unfinishedRun() == nil)
        #expect(try store.snapshot().lastApplyConfigHash == "sha256:cfg")
    }

    @Test func crashLeavesAnUnfinishedJournalTheNextRunFinds() throws {
        let t = TempState()
        let crashedRun: RunID
        do {
            let store = try StateStore.open(path: t.path)
            crashedRun = try store.beginRun(kind: .apply, who: "alice", configHash: nil)
            let before = deployment("helloworld", replicas: 1), after = deployment("helloworld", replicas: 3)
            try store.journal(crashedRun, step: JournalStep(address: try ResourceAddress(parsing: "remote1/apps/Deployment/sample/a1"), action: .create, phase: .started, after: before))
            try store.journal(crashedRun, step: JournalStep(address: try ResourceAddress(parsing: "remote1/apps/Deployment/sample/a1"), action: .create, phase: .done, after: before))
            try store.journal(crashedRun, step: JournalStep(address: try ResourceAddress(parsing: "remote1/apps/Deployment/sample/a2"), action: .update, phase: .started, before: before, after: after))
            // ... the process dies here: no finishRun.
        }
        let next = try StateStore.open(path: t.path)
        let (run, steps) = try #require(try next.unfinishedRun())
        #expect(run.id == crashedRun && run.finishedAt == nil)
        #expect(steps.map(\.phase) == [.started, .done, .started])
        #expect(steps.last?.address?.name == "a2" && steps.last?.before?["spec"]?["replicas"] == 1)
        #expect(try next.snapshot().unfinishedRun?.id == crashedRun)
        // recover --rollback: undo, then close the crashed run.
        try next.journal(crashedRun, step: JournalStep(address: try ResourceAddress(parsing: "remote1/apps/Deployment/sample/a2"), action: .update, phase: .undoStarted))
        try next.journal(crashedRun, step: JournalStep(address: try ResourceAddress(parsing: "remote1/apps/Deployment/sample/a2"), action: .update, phase: .undoFailed, error: "409 Conflict"))
        try next.finishRun(crashedRun, outcome: .rollbackFailed, message: "a2: 409 Conflict")
        #expect(try next.unfinishedRun() == nil)
        #expect(try next.run(crashedRun)?.outcome == .rollbackFailed)
        #expect(try next.journal(of: crashedRun).last?.error == "409 Conflict")
    }

    @Test func unfinishedPlansAndDriftChecksAreNotRecoveryWork() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        _ = try store.beginRun(kind: .plan, who: "ci", configHash: nil)
        _ = try store.beginRun(kind: .drift, who: "cron", configHash: nil)
        #expect(try store.unfinishedRun() == nil)
    }

    @Test func finishingAnUnknownRunIsAClearError() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        #expect(throws: StateError.noSuchRun(path: t.path, id: "nope")) {
            try store.finishRun(RunID(rawValue: "nope"), outcome: .failed, message: nil)
        }
    }

    @Test func historyIsNewestFirst() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        let ids = try (0..<3).map { i -> RunID in
            let r = try store.beginRun(kind: .apply, who: "u\(i)", configHash: nil)
            try store.finishRun(r, outcome: .succeeded, message: nil)
            return r
        }
        #expect(try store.runs(limit: 2).map(\.id) == [ids[2], ids[1]])
    }
}
