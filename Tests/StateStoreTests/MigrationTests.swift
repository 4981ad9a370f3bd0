import Foundation
import Testing
import GRDB
import KubeModel
@testable import StateStore

/// A state file written by the first schema (v1: no drift_events, no objects.last_run, no clusters, no
/// journal.dependencies) opens, keeps its lineage, serial, objects and runs, and gains today's schema.
///
/// The v1 file is a committed fixture (Fixtures/v1-state.db, written by Fixtures/make-v1-state.sh from the v1
/// migration's SQL in git history), not one built by today's migrator: a migration edited after it shipped would
/// build a "v1 file" that no release ever wrote, and this test would not see it.
@Suite struct MigrationTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/v1-state.db")

    /// A private copy of the fixture at `t.path` (migrating writes to it).
    func v1File(_ t: TempState) throws -> String {
        try FileManager.default.createDirectory(atPath: t.dir + "/state", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.fixture.path, toPath: t.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: t.path)
        return t.path
    }

    @Test func theFixtureIsAV1File() throws {
        let q = try DatabaseQueue(path: Self.fixture.path, configuration: { var c = Configuration(); c.readonly = true; return c }())
        defer { try? q.close() }
        #expect(try q.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations") } == [Schema.v1])
        #expect(try q.read { try !$0.tableExists("drift_events") && !$0.columns(in: "objects").contains { $0.name == "last_run" } })
    }

    @Test func previousSchemaFileOpensAndIsMigrated() throws {
        let t = TempState()
        let path = try v1File(t)
        let store = try StateStore.open(path: path, create: false)
        #expect(try store.schemaMigrations() == [Schema.v1, Schema.v2, Schema.v3, Schema.v4, Schema.v5])
        #expect(store.lineage == "0b5e9a4e-7c1d-4f4e-9d0a-6f3c2b1a0e11")
        #expect(try store.serial() == 3)
        let o = try #require(try store.object(address: "remote1/core/Namespace/_/sample"))
        #expect(o.uid == "u-1" && o.resourceVersion == "7" && o.applied.name == "sample")
        #expect(try store.runs(limit: 10).map(\.who) == ["alice"])
        #expect(try store.snapshot().lastApplyConfigHash == "cfg")
        // The v2 table works on the migrated file.
        try store.recordDriftCheck(findings: [DriftFinding(address: o.address, cluster: "remote1", kind: .deleted)], at: Date())
        #expect(try store.driftHistory().count == 1)
    }

    @Test func readOnlyOpenOfPreviousSchemaUpgradesWithoutMovingSerial() throws {
        let t = TempState()
        let path = try v1File(t)
        let ro = try StateStore.openReadOnly(path: path)
        #expect(try ro.schemaMigrations() == [Schema.v1, Schema.v2, Schema.v3, Schema.v4, Schema.v5])
        #expect(try ro.serial() == 3)
        #expect(try ro.driftHistory().isEmpty)
    }
}
