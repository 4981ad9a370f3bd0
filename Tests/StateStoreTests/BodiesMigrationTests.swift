import Foundation
import Testing
import KubeModel
@testable import StateStore

/// `v5-bodies` on a state that holds bodies in its rows, in SQLite and in PostgreSQL: each distinct body is stored
/// once, under the hash of its text, and every object and journal entry reads back the body it had.
///
/// The v4 state is made by taking a fresh state back to v4's shape (the columns v5 removes, without the `bodies` table
/// and v5's migration record) and writing v4 rows with SQL, so the same rows go through both backends' migrations.
@Suite struct BodiesMigrationTests {
    static let crd = deployment("crd"), web = deployment("web"), previous = deployment("web", replicas: 7)
    static let webAddress = "r1/apps/Deployment/sample/web"

    /// Takes `store` back to schema v4 and fills it: the same body applied in two clusters, one object whose stored
    /// hash went stale, and a journal entry with a before and an after.
    func fillV4(_ store: StateStore, migrationsTable: String) throws {
        let crd = Self.crd.canonicalText, web = Self.web.canonicalText
        try store.write { tx in
            for sql in ["DROP TABLE bodies", "ALTER TABLE objects ADD COLUMN applied TEXT", "ALTER TABLE journal DROP COLUMN before_hash",
                        "ALTER TABLE journal DROP COLUMN after_hash", "ALTER TABLE journal ADD COLUMN before TEXT",
                        "ALTER TABLE journal ADD COLUMN after TEXT", "DELETE FROM \(migrationsTable) WHERE identifier = '\(Schema.v5)'"] {
                try tx.execute(sql, [])
            }
            for (address, name, body, hash) in [("r1/apps/Deployment/sample/crd", "crd", crd, StateStore.bodyHash(crd)),
                                                ("r2/apps/Deployment/sample/crd", "crd", crd, StateStore.bodyHash(crd)),
                                                (Self.webAddress, "web", web, "sha256:stale")] {
                try tx.execute("""
                    INSERT INTO objects (address, cluster, api_version, kind, namespace, name, applied, applied_hash, dependencies,
                                         sensitive, created_at, updated_at)
                    VALUES (?, ?, 'apps/v1', 'Deployment', 'sample', ?, ?, ?, '[]', 0, 0, 0)
                    """, [address, String(address.prefix(2)), name, body, hash])
            }
            try tx.execute("""
                INSERT INTO runs (id, kind, who, host, pid, started_at, finished_at, serial_before, serial_after, outcome)
                VALUES ('run-1', 'apply', 'alice', 'h', 1, 0, 1, 0, 0, 'succeeded')
                """, [])
            try tx.execute("INSERT INTO journal (run, address, action, phase, before, after, at) VALUES ('run-1', ?, 'update', 'done', ?, ?, 0)",
                           [Self.webAddress, Self.previous.canonicalText, web])
        }
    }

    func expectMigrated(_ store: StateStore, otherBodies: Int = 0) throws {
        #expect(try store.schemaMigrations().last == Schema.v5)
        let objects = try store.objects()
        #expect(objects.map(\.address) == ["r1/apps/Deployment/sample/crd", Self.webAddress, "r2/apps/Deployment/sample/crd"])
        #expect(objects.map(\.applied) == [Self.crd, Self.web, Self.crd])
        #expect(objects.map(\.appliedHash) == [Self.crd, Self.web, Self.crd].map(StateStore.contentHash), "the stale hash is the text's own now")
        #expect(try store.journal(of: RunID(rawValue: "run-1")).map { [$0.before, $0.after] } == [[Self.previous, Self.web]])
        #expect(try store.read { try $0.value("SELECT COUNT(*) AS n FROM bodies")?.int } == Int64(3 + otherBodies))
        #expect(try store.integrityProblems() == [])
    }

    @Test func sqliteMovesBodiesOutOfTheRows() throws {
        let t = TempState()
        let v4 = try StateStore.open(path: t.path)
        try fillV4(v4, migrationsTable: "grdb_migrations")
        // A second run whose 300 entries each hold one large body: a megabyte in the rows, one body after v5.
        var large = Self.web
        large[path: ["metadata", "annotations", "large"]] = .string(String(repeating: "x", count: 4_000))
        try v4.write { tx in
            try tx.execute("INSERT INTO runs (id, kind, who, host, pid, started_at, serial_before) VALUES ('run-2', 'apply', 'bob', 'h', 1, 0, 0)", [])
            for _ in 0..<300 {
                try tx.execute("INSERT INTO journal (run, address, action, phase, after, at) VALUES ('run-2', ?, 'update', 'started', ?, 0)",
                               [Self.webAddress, large.canonicalText])
            }
        }
        let store = try StateStore.open(path: t.path, create: false)
        // The vacuumed copy went through the WAL, which is truncated after it rather than left at the old file's size.
        #expect(try FileManager.default.attributesOfItem(atPath: t.path + "-wal")[.size] as? Int == 0)
        try expectMigrated(store, otherBodies: 1)
        #expect(try store.journal(of: RunID(rawValue: "run-2")).map(\.after) == Array(repeating: large, count: 300))
        // The pages the old rows' bodies held are given back to the file system, not kept free inside the file.
        #expect(try store.pool.read { try Int.fetchOne($0, sql: "PRAGMA freelist_count") } == 0)
    }

    @Test func postgresMovesBodiesOutOfTheRows() throws {
        let pg = try postgres(), url = pg.url()
        try fillV4(try StateStore.open(path: url), migrationsTable: PostgresSchema.migrationsTable)
        try expectMigrated(try StateStore.open(path: url, create: false))
    }
}
