import Foundation

extension StateStore {
    /// The model's tables and the columns `state migrate` copies (the lease row is not state: it is not copied).
    /// `runs.rowid` keeps the run order (SQLite's implicit row id, PostgreSQL's identity column of that name).
    static let copiedTables: [(table: String, columns: [String])] = [
        ("bodies", ["hash", "text"]),
        ("objects", ["address", "cluster", "api_version", "kind", "namespace", "name", "uid", "resource_version", "applied_hash",
                     "dependencies", "sensitive", "created_at", "updated_at", "last_run"]),
        ("runs", ["rowid", "id", "kind", "who", "host", "pid", "started_at", "finished_at", "config_hash", "serial_before",
                  "serial_after", "outcome", "message"]),
        ("journal", ["id", "run", "address", "action", "phase", "before_hash", "after_hash", "error", "at", "dependencies"]),
        ("drift_events", ["id", "address", "cluster", "kind", "fields", "first_seen", "last_seen", "resolved_at"]),
        ("clusters", ["name", "context", "kubeconfig", "updated_at"]),
    ]

    /// Copies this state into `target` (`meshform state migrate --to`): lineage, serial, keyed-hash key, objects,
    /// runs with their journals, drift history and clusters, exactly (bodies are already masked with the same key).
    ///
    /// Both write locks are held meanwhile, so no run changes either side. The target must be new (no objects, no
    /// runs) or hold this same lineage (then its contents are replaced); a target of another lineage is refused
    /// and nothing is written. The copy is one transaction on the target: all of it or nothing.
    public func migrate(to target: StateStore, who: String) async throws -> (objects: Int, runs: Int) {
        let mine = try await acquireLock(who: who, operation: "state migrate", timeout: .zero)
        defer { try? releaseLock(mine) }
        let theirs = try await target.acquireLock(who: who, operation: "state migrate", timeout: .zero)
        defer { try? target.releaseLock(theirs) }

        let (meta, tables) = try read { tx in
            (try tx.rows("SELECT key, value FROM meta"),
             try Self.copiedTables.map { t in try tx.rows("SELECT \(t.columns.map { "\($0) AS \($0)" }.joined(separator: ", ")) FROM \(t.table)") })
        }
        try target.write { tx in
            let used = (try tx.value("SELECT COUNT(*) AS n FROM objects")?.int ?? 0) + (try tx.value("SELECT COUNT(*) AS n FROM runs")?.int ?? 0)
            let theirLineage = try tx.value("SELECT value FROM meta WHERE key = 'lineage'")?.text
            if used > 0, theirLineage != lineage {
                throw StateError.lineageMismatch(path: target.path, theirs: theirLineage ?? "?", ours: lineage)
            }
            for t in Self.copiedTables.reversed() { try tx.execute("DELETE FROM \(t.table)", []) }
            try tx.execute("DELETE FROM meta", [])
            for m in meta {
                // The serial is a number in either database (SQLite's checks insist on an integer).
                let value: SQLValue = m.text("key") == "serial" ? .int(m.int("value")) : m["value"]
                try tx.execute("INSERT INTO meta (key, value) VALUES (?, ?)", [m.text("key"), value])
            }
            for (t, rows) in zip(Self.copiedTables, tables) {
                let sql = "INSERT INTO \(t.table) (\(t.columns.joined(separator: ", "))) VALUES (\(t.columns.map { _ in "?" }.joined(separator: ", ")))"
                for r in rows { try tx.execute(sql, t.columns.map { r[$0] }) }
            }
            try target.backend.copiedRows(tx)
        }
        return (tables[1].count, tables[2].count)
    }
}
