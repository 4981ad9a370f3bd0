import Foundation
import GRDB
import Testing
import KubeModel
@testable import StateStore

@Suite struct ObjectTests {
    @Test func upsertRecordsEverythingAndBumpsSerial() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        let o = managed(deployment("helloworld", replicas: 2), deps: ["remote1/core/Namespace/_/sample"])
        try store.upsert(o, run: nil)
        #expect(try store.serial() == 1)
        let got = try #require(try store.object(address: o.address))
        #expect(got.applied == o.applied)
        #expect(got.appliedHash == StateStore.contentHash(o.applied))
        #expect(got.dependencies == o.dependencies)
        #expect(got.uid == o.uid && got.resourceVersion == "1" && got.namespace == "sample" && got.kind == "Deployment")
        #expect(abs(got.createdAt.timeIntervalSince(o.createdAt)) < 0.002)
    }

    @Test func updateKeepsCreatedAtAndBumpsSerialAgain() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        var o = managed(deployment("helloworld"))
        o.createdAt = Date(timeIntervalSince1970: 1_700_000_000)
        try store.upsert(o, run: nil)
        var changed = managed(deployment("helloworld", replicas: 3))
        changed.createdAt = Date()
        try store.upsert(changed, run: nil)
        let got = try #require(try store.object(address: o.address))
        #expect(got.applied["spec"]?["replicas"] == 3)
        #expect(got.createdAt == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(try store.serial() == 2)
        #expect(try store.objects().count == 1)
    }

    @Test func batchUpsertIsOneSerialBump() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        try store.upsert((0..<50).map { managed(deployment("app\($0)")) }, run: nil)
        #expect(try store.serial() == 1)
        #expect(try store.objects().map(\.name) == (0..<50).map { "app\($0)" }.sorted())
    }

    /// Equal bodies (the same CRD in every cluster of a fleet) are stored once and read once; every object still gets its
    /// own body, and the integrity check names every object whose body no longer matches its hash.
    @Test func equalBodiesAreStoredOnceAndEveryObjectGetsItsOwn() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        let same = deployment("app"), other = deployment("app", replicas: 5)
        try store.upsert([managed(same, cluster: "r1"), managed(same, cluster: "r2"), managed(other, cluster: "r3")], run: nil)
        #expect(try store.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM bodies") } == 2)
        let read = try store.snapshot().objects
        #expect(read.map(\.cluster) == ["r1", "r2", "r3"])
        #expect(read.map(\.applied) == [same, same, other])
        #expect(try store.object(address: read[1].address)?.applied == same)
        #expect(try store.integrityProblems() == [])
        // A body changed behind the state's back, its hash kept.
        try DatabaseQueue(path: t.path).write {
            try $0.execute(sql: "UPDATE bodies SET text = ? WHERE hash = ?", arguments: [deployment("app", replicas: 9).canonicalText, read[0].appliedHash])
        }
        #expect(try StateStore.open(path: t.path).integrityProblems() == [
            "r1/apps/Deployment/sample/app: applied_hash does not match its applied body",
            "r2/apps/Deployment/sample/app: applied_hash does not match its applied body",
        ])
    }

    /// A body stays while an object or a journal entry names it, and goes when a run that changes objects finishes
    /// and nothing names it any more (here: an object updated outside a run, so no journal entry kept its old body).
    @Test func bodiesNothingNamesAreForgottenWhenARunFinishes() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        let first = deployment("app"), second = deployment("app", replicas: 2), journalled = deployment("app", replicas: 3)
        try store.upsert(managed(first), run: nil)
        try store.upsert(managed(second), run: nil)
        let hashes = { Set(try store.pool.read { try String.fetchAll($0, sql: "SELECT hash FROM bodies") }) }
        #expect(try hashes() == [StateStore.contentHash(first), StateStore.contentHash(second)])
        let plan = try store.beginRun(kind: .plan, who: "ci", configHash: nil)
        try store.finishRun(plan, outcome: .succeeded, message: nil)
        #expect(try hashes().count == 2, "a plan changes no objects and leaves the bodies alone")
        let run = try store.beginRun(kind: .apply, who: "ci", configHash: nil)
        try store.journal(run, step: JournalStep(address: try ResourceAddress(parsing: managed(second).address), action: .update,
                                                 phase: .started, before: journalled, after: second))
        try store.finishRun(run, outcome: .succeeded, message: nil)
        #expect(try hashes() == [StateStore.contentHash(second), StateStore.contentHash(journalled)])
        #expect(try store.journal(of: run).map(\.before) == [journalled])
        #expect(try store.integrityProblems() == [])
    }

    @Test func removeBumpsSerialOnlyWhenSomethingWasRemoved() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        let o = managed(deployment("sleep"))
        try store.upsert(o, run: nil)
        try store.remove(address: "remote1/apps/Deployment/sample/nothing", run: nil)
        #expect(try store.serial() == 1)
        try store.remove(address: o.address, run: nil)
        #expect(try store.serial() == 2)
        #expect(try store.object(address: o.address) == nil)
    }

    @Test func aReaderSeesWritesFromAnotherConnection() throws {
        let t = TempState()
        let writer = try StateStore.open(path: t.path)
        let reader = try StateStore.openReadOnly(path: t.path)
        try writer.upsert(managed(deployment("a")), run: nil)
        #expect(try reader.serial() == 1)
        #expect(try reader.objects().count == 1)
    }
}
