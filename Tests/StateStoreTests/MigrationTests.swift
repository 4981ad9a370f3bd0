import Foundation
import Testing
import GRDB
import KubeModel
@testable import StateStore

/// A state file written by the previous schema (v1: no drift_events, no objects.last_run) opens, keeps
/// its lineage, serial, objects and runs, and gains the new schema.
@Suite struct MigrationTests {
    @Test func previousSchemaFileOpensAndIsMigrated() throws {
        let t = TempState()
        try FileManager.default.createDirectory(atPath: t.dir + "/state", withIntermediateDirectories: true)
        // Build a v1 file exactly as the v1 Meshform did: the same registered migration, stopped at v1.
        let q = try DatabaseQueue(path: t.path)
        try Schema.migrator.migrate(q, upTo: Schema.v1)
        try q.write { db in
            try db.execute(sql: """
                INSERT INTO objects (address, cluster, api_version, kind, namespace, name, uid, resource_version, applied,
                                     applied_hash, dependencies, sensitive, created_at, updated_at)
                VALUES ('remote1/core/Namespace/_/sample', 'remote1', 'v1', 'Namespace', NULL, 'sample', 'u-1', '7',
                        '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"sample"}}', 'sha256:x', '[]', 0, 1700000000000, 1700000000000);
                UPDATE meta SET value = 3 WHERE key = 'serial';
                INSERT INTO runs (id, kind, who, host, pid, started_at, finished_at, config_hash, serial_before, serial_after, outcome)
                VALUES ('run-1', 'apply', 'alice', 'h', 1, 1700000000000, 1700000001000, 'cfg', 2, 3, 'succeeded');
                """)
        }
        let lineage = try q.read { try String.fetchOne($0, sql: "SELECT value FROM meta WHERE key='lineage'") }
        let hasDrift = try q.read { try $0.tableExists("drift_events") }
        #expect(!hasDrift)
        try q.close()

        let store = try StateStore.open(path: t.path, create: false)
        #expect(try store.schemaMigrations() == [Schema.v1, Schema.v2, Schema.v3, Schema.v4])
        #expect(store.lineage == lineage)
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
        try FileManager.default.createDirectory(atPath: t.dir + "/state", withIntermediateDirectories: true)
        let q = try DatabaseQueue(path: t.path)
        try Schema.migrator.migrate(q, upTo: Schema.v1)
        try q.close()
        let ro = try StateStore.openReadOnly(path: t.path)
        #expect(try ro.schemaMigrations() == [Schema.v1, Schema.v2, Schema.v3, Schema.v4])
        #expect(try ro.serial() == 0)
        #expect(try ro.driftHistory().isEmpty)
    }
}
