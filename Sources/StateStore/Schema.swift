import Foundation
import GRDB
import KubeModel

/// The state file's schema, as an ordered list of named migrations.
///
/// Migrations are never edited once shipped: a schema change is a new migration appended here. A file
/// written by an older Meshform is migrated forward when opened; a file that has migrations this build
/// does not know is refused (`StateError.newerSchema`) rather than guessed at.
///
/// - `v1-initial`: meta (format, lineage, serial, keyed-hash key), objects, runs, journal, lock.
/// - `v2-drift`: drift_events, and `objects.last_run` (which run last wrote the object).
/// - `v3-clusters`: clusters (how each cluster with objects in state was reached), so a cluster removed from the
///   mesh file can still have its objects deleted.
/// - `v4-journal-dependencies`: `journal.dependencies`, so an object a crashed run deleted is recorded again with
///   its dependencies when `recover --rollback` recreates it.
/// - `v5-bodies`: `bodies(hash, text)`, each distinct object body once; `objects.applied` becomes `applied_hash` alone
///   and `journal.before`/`after` become `before_hash`/`after_hash` (see `Bodies.swift`, #17).
enum Schema {
    static let format = "meshform-state"
    static let v1 = "v1-initial"
    static let v2 = "v2-drift"
    static let v3 = "v3-clusters"
    static let v4 = "v4-journal-dependencies"
    static let v5 = "v5-bodies"

    /// `v5-bodies` after its `bodies` table exists, given the SQL of a function hashing a body's text (`hash(x)`, NULL
    /// for NULL) and of an insert that skips hashes already stored. A body is keyed by the hash of the text it has, so
    /// even an object whose stored hash had gone stale keeps the body it applied.
    static func v5Statements(hash: (String) -> String, insertIgnoring: (String) -> String) -> [String] {
        [
            "UPDATE objects SET applied_hash = \(hash("applied"))",
            "ALTER TABLE journal ADD COLUMN before_hash TEXT",
            "ALTER TABLE journal ADD COLUMN after_hash TEXT",
            "UPDATE journal SET before_hash = \(hash("before")), after_hash = \(hash("after")) WHERE before IS NOT NULL OR after IS NOT NULL",
            insertIgnoring("SELECT DISTINCT applied_hash, applied FROM objects"),
            insertIgnoring("SELECT DISTINCT before_hash, before FROM journal WHERE before IS NOT NULL"),
            insertIgnoring("SELECT DISTINCT after_hash, after FROM journal WHERE after IS NOT NULL"),
            "ALTER TABLE journal DROP COLUMN before",
            "ALTER TABLE journal DROP COLUMN after",
            "ALTER TABLE objects DROP COLUMN applied",
        ]
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration(v1) { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value NOT NULL);
                CREATE TABLE objects (
                    address TEXT PRIMARY KEY NOT NULL,
                    cluster TEXT NOT NULL,
                    api_version TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    namespace TEXT,
                    name TEXT NOT NULL,
                    uid TEXT,
                    resource_version TEXT,
                    applied TEXT NOT NULL,
                    applied_hash TEXT NOT NULL,
                    dependencies TEXT NOT NULL,
                    sensitive INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE INDEX objects_by_cluster ON objects(cluster, kind, namespace);
                CREATE TABLE runs (
                    id TEXT PRIMARY KEY NOT NULL,
                    kind TEXT NOT NULL,
                    who TEXT NOT NULL,
                    host TEXT NOT NULL,
                    pid INTEGER NOT NULL,
                    started_at INTEGER NOT NULL,
                    finished_at INTEGER,
                    config_hash TEXT,
                    serial_before INTEGER NOT NULL,
                    serial_after INTEGER,
                    outcome TEXT,
                    message TEXT
                );
                CREATE TABLE journal (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    run TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    address TEXT NOT NULL,
                    action TEXT NOT NULL,
                    phase TEXT NOT NULL,
                    before TEXT,
                    after TEXT,
                    error TEXT,
                    at INTEGER NOT NULL
                );
                CREATE INDEX journal_by_run ON journal(run, id);
                CREATE TABLE lock (
                    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
                    id TEXT NOT NULL,
                    holder TEXT NOT NULL,
                    operation TEXT NOT NULL,
                    pid INTEGER NOT NULL,
                    host TEXT NOT NULL,
                    run TEXT,
                    acquired_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL
                );
                """)
            // Identity and the keyed-hash key are fixed here, in the same transaction that creates the
            // file's tables: a state file never exists without its lineage.
            try initialMeta(GRDBTx(db: db))
        }
        m.registerMigration(v2) { db in
            try db.execute(sql: """
                CREATE TABLE drift_events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    address TEXT NOT NULL,
                    cluster TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    fields TEXT NOT NULL,
                    first_seen INTEGER NOT NULL,
                    last_seen INTEGER NOT NULL,
                    resolved_at INTEGER
                );
                CREATE UNIQUE INDEX drift_open ON drift_events(address, kind) WHERE resolved_at IS NULL;
                ALTER TABLE objects ADD COLUMN last_run TEXT;
                """)
        }
        m.registerMigration(v3) { db in
            try db.execute(sql: """
                CREATE TABLE clusters (
                    name TEXT PRIMARY KEY NOT NULL,
                    context TEXT NOT NULL,
                    kubeconfig TEXT,
                    updated_at INTEGER NOT NULL
                );
                """)
        }
        m.registerMigration(v4) { db in
            try db.execute(sql: "ALTER TABLE journal ADD COLUMN dependencies TEXT")
        }
        m.registerMigration(v5) { db in
            // SQLite has no SHA-256 of its own: the migration lends it Meshform's, for this connection only.
            let hash = DatabaseFunction("meshform_body_hash", argumentCount: 1, pure: true) { values in
                String.fromDatabaseValue(values[0]).map(StateStore.bodyHash)
            }
            db.add(function: hash)
            defer { db.remove(function: hash) }
            try db.execute(sql: "CREATE TABLE bodies (hash TEXT PRIMARY KEY NOT NULL, text TEXT NOT NULL)")
            for sql in v5Statements(hash: { "meshform_body_hash(\($0))" }, insertIgnoring: { "INSERT OR IGNORE INTO bodies (hash, text) \($0)" }) {
                try db.execute(sql: sql)
            }
        }
        return m
    }
}

extension Schema {
    /// The new state's identity: format, a fresh lineage, serial 0, a random keyed-hash key. Both backends'
    /// `v1-initial` migrations call this in the transaction that creates the tables.
    static func initialMeta(_ tx: any SQLTx) throws {
        var key = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in key.indices { key[i] = UInt8.random(in: .min ... .max, using: &rng) }
        try tx.execute("INSERT INTO meta(key, value) VALUES ('format', ?), ('lineage', ?), ('serial', 0), ('secret_key', ?), ('created_at', ?)",
                       [format, UUID().uuidString.lowercased(), Hex.encode(key), Millis.now])
    }

    /// The first value in the file that later code could not use, as "<table> row <key>: <problem>", or nil.
    ///
    /// SQLite stores whatever it is given, so a hand-edited or damaged file can hold a serial of `abc` (which
    /// `CAST` would silently read as 0) or an `applied` body of `[1,2,3]`. These checks run in SQLite's own
    /// JSON functions, once per open, before anything is written.
    static func valueProblem(_ db: Database, tables: Set<String>) throws -> String? {
        let serial = try Row.fetchOne(db, sql: "SELECT value, typeof(value) AS t FROM meta WHERE key = 'serial'")
        guard let serial else { return "meta has no serial row" }
        if serial["t"] as String != "integer" || (serial["value"] as Int64) < 0 {
            return "meta row 'serial': \(describe(serial["value"] as DatabaseValue)) is not a whole number of 0 or more"
        }
        for key in ["lineage", "secret_key", "format"] {
            if try String.fetchOne(db, sql: "SELECT typeof(value) FROM meta WHERE key = ?", arguments: [key]) != "text" {
                return "meta row '\(key)' is missing or not text"
            }
        }
        // Every column read back as a String or an Int must hold that type (GRDB stops the process on a
        // value it cannot convert): SQLite keeps 'abc' in an INTEGER column and a blob anywhere.
        for table in ["objects", "runs", "journal", "lock", "drift_events", "clusters", "bodies"] where tables.contains(table) {
            let columns = try Row.fetchAll(db, sql: "PRAGMA table_info(\(table))").map { (name: $0["name"] as String, type: ($0["type"] as String).uppercased()) }
            guard let key = columns.first?.name else { continue }
            for c in columns where c.type == "TEXT" || c.type == "INTEGER" {
                let want = c.type == "TEXT" ? "text" : "integer"
                if let row = try Row.fetchOne(db, sql: "SELECT \(key) AS k, typeof(\(c.name)) AS t FROM \(table) WHERE typeof(\(c.name)) NOT IN ('\(want)', 'null') LIMIT 1") {
                    return "\(table) row \(describe(row["k"] as DatabaseValue)): \(c.name) holds a \(row["t"] as String) value, not \(want)"
                }
            }
        }
        // Before `v5-bodies` (a file not migrated yet) the bodies are in the rows; from it on, each distinct body is
        // checked once, and every row must name a body that exists.
        var json: [(table: String, key: String, problem: String, condition: String)] = [
            ("objects", "address", "dependencies is not a JSON list of addresses",
             "json_valid(dependencies) = 0 OR json_type(dependencies) <> 'array' OR EXISTS (SELECT 1 FROM json_each(dependencies) WHERE type <> 'text')"),
        ]
        if tables.contains("bodies") {
            json += [
                ("objects", "address", "its applied body is missing", "applied_hash NOT IN (SELECT hash FROM bodies)"),
                ("journal", "id", "its before or after body is missing",
                 // (`NULL NOT IN` an empty table is true in SQL: an entry without bodies is checked for none.)
                 "(before_hash IS NOT NULL AND before_hash NOT IN (SELECT hash FROM bodies)) OR (after_hash IS NOT NULL AND after_hash NOT IN (SELECT hash FROM bodies))"),
                ("bodies", "hash", "text is not a JSON object", "json_valid(text) = 0 OR json_type(text) <> 'object'"),
            ]
        } else {
            json += [
                ("objects", "address", "applied is not a JSON object with a kind",
                 "json_valid(applied) = 0 OR json_type(applied) <> 'object' OR json_type(applied, '$.kind') IS NOT 'text'"),
                ("journal", "id", "before or after is not JSON",
                 "(before IS NOT NULL AND json_valid(before) = 0) OR (after IS NOT NULL AND json_valid(after) = 0)"),
            ]
        }
        for c in json where tables.contains(c.table) {
            if let key = try DatabaseValue.fetchOne(db, sql: "SELECT \(c.key) FROM \(c.table) WHERE \(c.condition) LIMIT 1") {
                return "\(c.table) row \(describe(key)): \(c.problem)"
            }
        }
        if tables.contains("bodies") {
            // An object's body must have a kind: checked once per distinct body, reported by the first object naming it.
            if let hash = try String.fetchOne(db, sql: """
                   SELECT hash FROM bodies WHERE hash IN (SELECT applied_hash FROM objects) AND json_type(text, '$.kind') IS NOT 'text' LIMIT 1
                   """),
               let address = try String.fetchOne(db, sql: "SELECT address FROM objects WHERE applied_hash = ? ORDER BY address LIMIT 1",
                                                 arguments: [hash]) {
                return "objects row '\(address)': applied is not a JSON object with a kind"
            }
        }
        return nil
    }

    /// A stored value for an error message: short, quoted text, never more than 80 characters.
    private static func describe(_ v: DatabaseValue) -> String {
        switch v.storage {
        case .null: return "NULL"
        case .int64(let i): return "\(i)"
        case .double(let d): return "\(d)"
        case .string(let s): return "'\(s.count > 80 ? s.prefix(77) + "..." : s)'"
        case .blob(let b): return "a \(b.count)-byte blob"
        }
    }
}

/// Timestamps are stored as integer milliseconds since the Unix epoch: exact, sortable, readable in `sqlite3`.
enum Millis {
    static var now: Int64 { from(Date()) }
    static func from(_ d: Date) -> Int64 { Int64((d.timeIntervalSince1970 * 1000).rounded()) }
    static func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }
}
