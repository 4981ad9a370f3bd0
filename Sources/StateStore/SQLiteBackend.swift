import Foundation
import GRDB
import KubeModel

/// The embedded default backend: one SQLite file per mesh (`state/<mesh>.db`).
///
/// - The file is created with mode 0600 (SQLite gives its `-wal` and `-shm` files the same mode) and runs
///   in WAL mode through a `DatabasePool`: readers see a consistent snapshot and never wait for a writer,
///   so `plan` and `drift` never block an `apply`, and an `apply` never blocks them.
/// - A damaged, foreign or too-new file gives a `StateError` naming the file, never a crash.
/// - The write lock is a lease row that expires unless renewed; a holder whose process is gone on this host
///   is taken over at once.
final class SQLiteBackend: StateBackend, Sendable {
    let path: String
    let isReadOnly: Bool
    let pool: DatabasePool
    var location: String { path }

    private init(path: String, pool: DatabasePool, readOnly: Bool) {
        self.path = path; self.pool = pool; self.isReadOnly = readOnly
    }

    /// Opens (and by default creates) the state file at `path`, migrating an older schema forward.
    ///
    /// Creates missing parent directories (mode 0700) and the file itself with mode 0600.
    /// Throws `StateError.notFound` (no file and `create == false`), `.foreign`, `.corrupt`, `.newerSchema`.
    ///
    /// Only a file this call creates is initialised. An existing file (even an empty one) is inspected
    /// read-only first (`inspect`), so an empty, foreign, newer or corrupt file is refused by every command
    /// alike, before anything (WAL mode, a migration, a lock) is written to it.
    static func open(path: String, create: Bool) throws -> SQLiteBackend {
        var created = false
        if !FileManager.default.fileExists(atPath: path) {
            guard create else { throw StateError.notFound(path: path) }
            created = try createFile(path)
        }
        if !created { try inspect(path) }
        let pool = try guarded(path) { try DatabasePool(path: path, configuration: configuration(readOnly: false)) }
        let before = try guarded(path) { try pool.read { try Schema.migrator.appliedIdentifiers($0) } }
        try guarded(path) { try Schema.migrator.migrate(pool) }
        if !created, !before.isEmpty, !before.contains(Schema.v5) {
            // `v5-bodies` leaves most of an older file free (every cluster's copy of every body, every journal
            // entry's): give it back once, as SQLite only reuses free pages and never shrinks the file by itself.
            // Not vacuuming costs disk space only, never state, so a file another process holds open stays as it is.
            // In WAL mode the vacuumed copy is written through the WAL: truncate it too, or it keeps the old size.
            try? pool.vacuum()
            try? pool.writeWithoutTransaction { _ = try $0.checkpoint(.truncate) }
        }
        return SQLiteBackend(path: path, pool: pool, readOnly: false)
    }

    /// Opens an existing state file for reading only: no lock, no writes, never blocks or is blocked by a writer.
    ///
    /// A file of an older schema is first migrated forward (a schema upgrade in one transaction, not a
    /// state change: the serial does not move), then reopened read-only.
    static func openReadOnly(path: String) throws -> SQLiteBackend {
        guard FileManager.default.fileExists(atPath: path) else { throw StateError.notFound(path: path) }
        try inspect(path)
        var pool = try guarded(path) { try DatabasePool(path: path, configuration: configuration(readOnly: true)) }
        let complete = try guarded(path) { try pool.read { try Schema.migrator.hasCompletedMigrations($0) } }
        if !complete {
            _ = try open(path: path, create: false)
            pool = try guarded(path) { try DatabasePool(path: path, configuration: configuration(readOnly: true)) }
        }
        return SQLiteBackend(path: path, pool: pool, readOnly: true)
    }

    func schemaMigrations() throws -> [String] {
        try Self.guarded(path) { try pool.read { try Schema.migrator.appliedMigrations($0) } }
    }

    func read<T>(_ body: (any SQLTx) throws -> T) throws -> T {
        try Self.guarded(path) { try pool.read { try body(GRDBTx(db: $0)) } }
    }

    func write<T>(_ body: (any SQLTx) throws -> T) throws -> T {
        guard !isReadOnly else { throw StateError.readOnly(path: path) }
        return try Self.guarded(path) { try pool.write { try body(GRDBTx(db: $0)) } }
    }

    /// GRDB's async write: the transaction runs on the pool's writer queue while the caller is suspended.
    func writeWithoutBlocking<T: Sendable>(_ body: @escaping @Sendable (any SQLTx) throws -> T) async throws -> T {
        guard !isReadOnly else { throw StateError.readOnly(path: path) }
        do { return try await pool.write { try body(GRDBTx(db: $0)) } } catch {
            return try Self.guarded(path) { throw error }
        }
    }

    func stateError(_ error: any Error) -> any Error {
        do { return try Self.guarded(path) { throw error } } catch { return error }
    }

    /// The pool closes (and checkpoints the WAL) when the last reference goes.
    func close() {}

    // MARK: - The lease

    /// One attempt, in one write transaction: take the lock if it is free, expired or stale.
    func tryLock(_ mine: StateLock) throws -> LockAttempt {
        try write { tx in
            if let row = try tx.row("SELECT * FROM lock WHERE singleton = 1") {
                let cur = StateLock(row: row)
                if cur.isLive(at: Date()) { return .heldBy(cur) }
            }
            try tx.execute("DELETE FROM lock", [])
            try StateLock.insert(mine, tx)
            return .acquired(mine)
        }
    }

    func liveLock(_ tx: any SQLTx) throws -> StateLock? {
        try tx.row("SELECT * FROM lock WHERE singleton = 1").map(StateLock.init(row:)).flatMap { $0.isLive(at: Date()) ? $0 : nil }
    }

    func released(_ l: StateLock) throws {}
    func broken(_ l: StateLock) throws {}
    func copiedRows(_ tx: any SQLTx) throws {}

    func storageProblems() throws -> [String] {
        try Self.guarded(path) {
            try pool.read { db in
                try String.fetchAll(db, sql: "PRAGMA integrity_check").filter { $0 != "ok" }
                    + Row.fetchAll(db, sql: "PRAGMA foreign_key_check").map { "foreign key: \($0)" }
            }
        }
    }

    /// Runs `body`, turning SQLite errors into `StateError`s that name the file.
    static func guarded<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as StateError { throw e } catch let e as DatabaseError {
            switch e.resultCode {
            case .SQLITE_CORRUPT: throw StateError.corrupt(path: path, detail: e.message ?? "SQLite reports corruption")
            case .SQLITE_NOTADB: throw StateError.foreign(path: path, detail: "not a SQLite database")
            case .SQLITE_READONLY: throw StateError.readOnly(path: path)
            default: throw StateError.io(path: path, detail: e.message ?? "\(e.resultCode)")
            }
        } catch { throw StateError.io(path: path, detail: "\(error)") }
    }

    private static func configuration(readOnly: Bool) -> Configuration {
        var c = Configuration()
        c.readonly = readOnly
        c.label = "meshform-state"
        // Another process's write transaction (an apply) is short; wait for it rather than fail.
        c.busyMode = .timeout(10)
        // WAL with synchronous=NORMAL: a committed step survives the process being killed (kill -9 mid-apply is
        // what the journal is for); only an OS crash or power loss can lose the last few commits. FULL would fsync
        // every journal entry, which dominated apply time.
        if !readOnly { c.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") } }
        return c
    }

    /// True if this call created the file; false if another process created it first.
    private static func createFile(_ path: String) throws -> Bool {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty && !FileManager.default.fileExists(atPath: dir) {
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) }
            catch { throw StateError.io(path: path, detail: "cannot create directory \(dir): \(error.localizedDescription)") }
        }
        let fd = Foundation.open(path, O_CREAT | O_EXCL | O_WRONLY, 0o600)
        if fd < 0 {
            if errno == EEXIST { return false }
            throw StateError.io(path: path, detail: "cannot create file: \(String(cString: strerror(errno)))")
        }
        fchmod(fd, 0o600)  // not subject to the umask
        Foundation.close(fd)
        return true
    }

    /// An existing file, checked through a read-only connection that changes nothing: header, integrity,
    /// ownership, schema age, then the values later code relies on (`Schema.valueProblem`).
    static func inspect(_ path: String) throws {
        try checkHeader(path)
        var c = Configuration()
        c.readonly = true
        c.label = "meshform-state-inspect"
        c.busyMode = .timeout(10)
        let queue = try guarded(path) { try DatabaseQueue(path: path, configuration: c) }
        defer { try? queue.close() }
        try verify(queue, path: path)
    }

    /// A file that does not start with the SQLite header is foreign (an empty one is damaged): say so before SQLite does.
    private static func checkHeader(_ path: String) throws {
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw StateError.io(path: path, detail: "cannot read file (permissions?)")
        }
        defer { try? h.close() }
        let head = (try? h.read(upToCount: 16)) ?? Data()
        if head.isEmpty {
            throw StateError.corrupt(path: path, detail: "the file is empty (0 bytes), as after a failed copy or a full disk")
        }
        if head != Data("SQLite format 3\0".utf8) {
            throw StateError.foreign(path: path, detail: "not a SQLite database")
        }
    }

    /// Integrity, ownership and schema-age checks, before anything is migrated or read.
    private static func verify(_ reader: some DatabaseReader, path: String) throws {
        try guarded(path) {
            try reader.read { db in
                let check = try String.fetchAll(db, sql: "PRAGMA quick_check")
                if check != ["ok"] {
                    throw StateError.corrupt(path: path, detail: check.prefix(3).joined(separator: "; "))
                }
                let tables = Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
                if tables.isEmpty { throw StateError.foreign(path: path, detail: "a SQLite database without tables") }
                guard tables.contains("meta"),
                      try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'format'") == Schema.format
                else { throw StateError.foreign(path: path, detail: "SQLite database with tables \(tables.sorted().prefix(5).joined(separator: ", "))") }
                if try Schema.migrator.hasBeenSuperseded(db) {
                    let unknown = try Schema.migrator.appliedIdentifiers(db).subtracting(Schema.migrator.migrations)
                    throw StateError.newerSchema(path: path, unknownMigrations: unknown.sorted())
                }
                if let problem = try Schema.valueProblem(db, tables: tables) {
                    throw StateError.corrupt(path: path, detail: problem)
                }
            }
        }
    }
}

/// `SQLTx` over a GRDB connection.
struct GRDBTx: SQLTx {
    let db: Database

    /// Statements are prepared once per connection and reused (`cachedStatement`): every apply step runs the same few,
    /// and preparing each again (parse, authorize) was a fifth of the journal's cost (#17). The state's SQL strings are
    /// a fixed set, so the cache stays small.
    func rows(_ sql: String, _ arguments: [(any SQLBindable)?]) throws -> [SQLRow] {
        try Row.fetchAll(db.cachedStatement(sql: sql), arguments: Self.arguments(arguments)).map(Self.row)
    }

    func forEachRow(_ sql: String, _ arguments: [(any SQLBindable)?], _ body: (SQLRow) throws -> Void) throws {
        let cursor = try Row.fetchCursor(db, sql: sql, arguments: Self.arguments(arguments))
        while let row = try cursor.next() { try body(Self.row(row)) }
    }

    static func row(_ row: Row) -> SQLRow {
        var values = [String: SQLValue](minimumCapacity: row.count)
        for (column, v) in row {
            switch v.storage {
            case .null: values[column] = .null
            case .int64(let i): values[column] = .int(i)
            case .double(let d): values[column] = .int(Int64(d))
            case .string(let s): values[column] = .text(s)
            case .blob(let b): values[column] = .text(String(decoding: b, as: UTF8.self))
            }
        }
        return SQLRow(values: values)
    }

    /// GRDB's own savepoints, which it keeps track of (raw SAVEPOINT statements would go behind its back).
    func savepoint(_ body: () throws -> Void) throws {
        try db.inSavepoint { try body(); return .commit }
    }

    func execute(_ sql: String, _ arguments: [(any SQLBindable)?]) throws -> Int {
        try db.cachedStatement(sql: sql).execute(arguments: Self.arguments(arguments))
        return db.changesCount
    }

    /// As optional existentials: GRDB's initializer for a sequence of concrete values maps them through a key path,
    /// which, unspecialized across modules, resolved its generic arguments at run time on every statement (#17).
    static func arguments(_ a: [(any SQLBindable)?]) -> StatementArguments {
        StatementArguments(a.map { v -> (any DatabaseValueConvertible)? in
            switch v?.sqlValue ?? .null {
            case .null: return nil
            case .int(let i): return i
            case .text(let s): return s
            }
        })
    }
}

extension StateStore {
    /// The SQLite pool behind a file store (tests and SQLite-only diagnostics).
    var pool: DatabasePool { (backend as! SQLiteBackend).pool }
}
