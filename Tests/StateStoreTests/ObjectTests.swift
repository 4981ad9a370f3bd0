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

    /// The snapshot holds equal bodies once (the same CRD in every cluster of a fleet); every object still gets its own
    /// body, and the integrity check sees a body that no longer matches its hash even where another row has that hash.
    @Test func equalBodiesAreReadOnceAndEveryObjectGetsItsOwn() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        let same = deployment("app"), other = deployment("app", replicas: 5)
        try store.upsert([managed(same, cluster: "r1"), managed(same, cluster: "r2"), managed(other, cluster: "r3")], run: nil)
        let read = try store.snapshot().objects
        #expect(read.map(\.cluster) == ["r1", "r2", "r3"])
        #expect(read.map(\.applied) == [same, same, other])
        #expect(try store.integrityProblems() == [])
        // A body changed behind the state's back, its hash kept.
        try DatabaseQueue(path: t.path).write {
            try $0.execute(sql: "UPDATE objects SET applied = ? WHERE cluster = 'r2'", arguments: [deployment("app", replicas: 9).canonicalText])
        }
        #expect(try StateStore.open(path: t.path).integrityProblems() == ["r2/apps/Deployment/sample/app: applied_hash does not match its applied body"])
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
