import Foundation
import GRDB
import KubeModel

/// One mesh's state: a SQLite file (`state/<mesh>.db` by default) holding the lineage and serial, every
/// managed object, the run history with each run's journal, the write lock, and drift events.
///
/// Guarantees:
/// - The file is created with mode 0600 (SQLite gives its `-wal` and `-shm` files the same mode) and runs
///   in WAL mode through a `DatabasePool`: readers see a consistent snapshot and never wait for a writer,
///   so `plan` and `drift` never block an `apply`, and an `apply` never blocks them.
/// - Every change to managed objects happens in one transaction with a serial bump; the serial never
///   moves for anything else (runs, journal, lock, drift events), so a saved plan is stale exactly when
///   the objects it was computed against changed.
/// - Secret values never reach the file in clear: object bodies and journal entries pass through
///   `maskSecrets` (a keyed hash whose key lives in the file's own metadata and is never printed).
/// - A damaged, foreign or too-new file gives a `StateError` naming the file, never a crash.
///
/// Opening does not lock: the write lock is a lease (`acquireLock`) that writers take explicitly.
public final class StateStore: Sendable {
    /// The path the store was opened from.
    public let path: String
    /// A UUID fixed when the file was created; a saved plan from another lineage is never applied here.
    public let lineage: String
    /// True for `openReadOnly`: every write throws `StateError.readOnly`.
    public let isReadOnly: Bool
    let pool: DatabasePool
    /// The keyed-hash key. Never printed, never part of any error or description.
    let secretKey: [UInt8]

    private init(path: String, pool: DatabasePool, readOnly: Bool) throws {
        self.path = path
        self.pool = pool
        self.isReadOnly = readOnly
        let meta = try Self.guarded(path) {
            try pool.read { db in
                try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT key, value FROM meta").map {
                    (String.fromDatabaseValue($0["key"]) ?? "", $0["value"] as DatabaseValue)
                })
            }
        }
        guard let lineage = meta["lineage"].flatMap(String.fromDatabaseValue),
              let keyHex = meta["secret_key"].flatMap(String.fromDatabaseValue), let key = Hex.decode(keyHex), key.count == 32
        else { throw StateError.corrupt(path: path, detail: "metadata lacks lineage or hash key") }
        self.lineage = lineage
        self.secretKey = key
    }

    /// Opens (and by default creates) the state file at `path`, migrating an older schema forward.
    ///
    /// Creates missing parent directories (mode 0700) and the file itself with mode 0600.
    /// Throws `StateError.notFound` (no file and `create == false`), `.foreign`, `.corrupt`, `.newerSchema`.
    ///
    /// Only a file this call creates is initialised. An existing file (even an empty one) is inspected
    /// read-only first (`inspect`), so an empty, foreign, newer or corrupt file is refused by every command
    /// alike, before anything (WAL mode, a migration, a lock) is written to it.
    public static func open(path: String, create: Bool = true) throws -> StateStore {
        var created = false
        if !FileManager.default.fileExists(atPath: path) {
            guard create else { throw StateError.notFound(path: path) }
            created = try createFile(path)
        }
        if !created { try inspect(path) }
        let pool = try guarded(path) { try DatabasePool(path: path, configuration: configuration(readOnly: false)) }
        try guarded(path) { try Schema.migrator.migrate(pool) }
        return try StateStore(path: path, pool: pool, readOnly: false)
    }

    /// Opens an existing state file for reading only: no lock, no writes, never blocks or is blocked by a writer.
    ///
    /// A file of an older schema is first migrated forward (a schema upgrade in one transaction, not a
    /// state change: the serial does not move), then reopened read-only.
    public static func openReadOnly(path: String) throws -> StateStore {
        guard FileManager.default.fileExists(atPath: path) else { throw StateError.notFound(path: path) }
        try inspect(path)
        var pool = try guarded(path) { try DatabasePool(path: path, configuration: configuration(readOnly: true)) }
        let complete = try guarded(path) { try pool.read { try Schema.migrator.hasCompletedMigrations($0) } }
        if !complete {
            _ = try open(path: path, create: false)
            pool = try guarded(path) { try DatabasePool(path: path, configuration: configuration(readOnly: true)) }
        }
        return try StateStore(path: path, pool: pool, readOnly: true)
    }

    /// The current serial: bumped by every change to managed objects.
    public func serial() throws -> Int {
        try read { try Self.serial($0) }
    }

    /// The schema migrations applied to this file, oldest first (for `state` diagnostics and tests).
    public func schemaMigrations() throws -> [String] {
        try read { try Schema.migrator.appliedMigrations($0) }
    }

    // MARK: - Internals shared by the extensions

    static func serial(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'serial'") ?? 0
    }

    /// Bumps the serial inside the caller's transaction and returns the new value.
    static func bumpSerial(_ db: Database) throws -> Int {
        try db.execute(sql: "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'serial'")
        return try serial(db)
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        try Self.guarded(path) { try pool.read(body) }
    }

    func write<T>(_ body: (Database) throws -> T) throws -> T {
        guard !isReadOnly else { throw StateError.readOnly(path: path) }
        return try Self.guarded(path) { try pool.write(body) }
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
        close(fd)
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
