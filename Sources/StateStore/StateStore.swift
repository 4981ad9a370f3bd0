import Foundation
import KubeModel

/// One mesh's state: lineage and serial, every managed object, the run history with each run's journal, the
/// write lock, drift events and how each cluster was reached.
///
/// It lives in a SQLite file (`state/<mesh>.db`, the embedded default: `SQLiteBackend`) or, for a team, in a
/// schema of a PostgreSQL database (`postgres://USER@HOST:PORT/DB?sslmode=...&schema=...`: `PostgresBackend`).
/// The engine holds a `StateStore` and does not know which: the model is written once, here and in the
/// extensions, in SQL both databases run; the backend gives transactions, migrations and the lock.
///
/// Guarantees, on either backend:
/// - Every change to managed objects happens in one transaction with a serial bump; the serial never
///   moves for anything else (runs, journal, lock, drift events), so a saved plan is stale exactly when
///   the objects it was computed against changed.
/// - Secret values never reach the database in clear: object bodies and journal entries pass through
///   `maskSecrets` (a keyed hash whose key lives in the state's own metadata and is never printed).
/// - Readers see one consistent snapshot and never wait for a writer.
/// - A damaged, foreign or too-new state gives a `StateError` naming it, never a crash.
///
/// Opening does not lock: the write lock (`acquireLock`) is taken explicitly by writers.
public final class StateStore: Sendable {
    /// Where the state lives, as given: a file path or a `postgres://` URL (which never holds a password).
    public let path: String
    /// A UUID fixed when the state was created; a saved plan from another lineage is never applied here.
    public let lineage: String
    /// True for `openReadOnly`: every write throws `StateError.readOnly`.
    public var isReadOnly: Bool { backend.isReadOnly }
    let backend: any StateBackend
    /// Masks secret values with this state's keyed hash (its key is never printed).
    public let secretMask: SecretMask
    /// Apply's journal entries, committed together when several steps write at once.
    let journalWrites = GroupCommit()

    init(backend: any StateBackend) throws {
        self.backend = backend
        self.path = backend.location
        let meta = try backend.read { tx in
            Dictionary(try tx.rows("SELECT key, value FROM meta").map { ($0.text("key"), $0["value"]) }, uniquingKeysWith: { a, _ in a })
        }
        guard let lineage = meta["lineage"]?.text, let keyHex = meta["secret_key"]?.text, let key = Hex.decode(keyHex), key.count == 32
        else { throw StateError.corrupt(path: backend.location, detail: "metadata lacks lineage or hash key") }
        self.lineage = lineage
        self.secretMask = SecretMask(key: key)
    }

    deinit { backend.close() }

    /// Opens (and by default creates) the state at `path`: a file path, or a `postgres://` URL
    /// (`StateLocation`), migrating an older schema forward.
    ///
    /// Throws `StateError.notFound` (none there and `create == false`), `.foreign`, `.corrupt`, `.newerSchema`,
    /// `.badLocation`, `.io` (an unreachable database, a refused password).
    public static func open(path: String, create: Bool = true) throws -> StateStore {
        switch try StateLocation(path) {
        case .file(let p): return try StateStore(backend: SQLiteBackend.open(path: p, create: create))
        case .postgres(let pg): return try StateStore(backend: PostgresBackend.open(pg, create: create, readOnly: false))
        }
    }

    /// Opens existing state for reading only: no lock, no writes, never blocks or is blocked by a writer.
    /// An older schema is first migrated forward (a schema upgrade, not a state change: the serial does not move).
    public static func openReadOnly(path: String) throws -> StateStore {
        switch try StateLocation(path) {
        case .file(let p): return try StateStore(backend: SQLiteBackend.openReadOnly(path: p))
        case .postgres(let pg): return try StateStore(backend: PostgresBackend.open(pg, create: false, readOnly: true))
        }
    }

    /// Whether state exists at `path` (a file, or a PostgreSQL schema holding Meshform state).
    public static func exists(at path: String) throws -> Bool {
        switch try StateLocation(path) {
        case .file(let p): return FileManager.default.fileExists(atPath: p)
        case .postgres(let pg): return try PostgresBackend.exists(pg)
        }
    }

    /// The current serial: bumped by every change to managed objects.
    public func serial() throws -> Int {
        try read { try Self.serial($0) }
    }

    /// The schema migrations applied to this state, oldest first (for `state` diagnostics and tests).
    public func schemaMigrations() throws -> [String] {
        try backend.schemaMigrations()
    }

    // MARK: - Internals shared by the extensions

    static func serial(_ tx: any SQLTx) throws -> Int {
        Int(try tx.value("SELECT CAST(value AS INTEGER) AS serial FROM meta WHERE key = 'serial'")?.int ?? 0)
    }

    /// Bumps the serial inside the caller's transaction and returns the new value.
    static func bumpSerial(_ tx: any SQLTx) throws -> Int {
        try tx.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'serial'", [])
        return try serial(tx)
    }

    func read<T>(_ body: (any SQLTx) throws -> T) throws -> T { try backend.read(body) }
    @discardableResult func write<T>(_ body: (any SQLTx) throws -> T) throws -> T { try backend.write(body) }
}
