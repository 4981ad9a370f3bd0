import Foundation
import KubeModel

/// The few value types the state stores: whole numbers, text and NULL. Both backends hold exactly these
/// (SQLite INTEGER/TEXT, PostgreSQL BIGINT/TEXT), so every query above `StateBackend` is written once.
enum SQLValue: Sendable, Equatable {
    case null, int(Int64), text(String)
}

/// Something a query can bind.
protocol SQLBindable { var sqlValue: SQLValue { get } }
extension String: SQLBindable { var sqlValue: SQLValue { .text(self) } }
extension Int: SQLBindable { var sqlValue: SQLValue { .int(Int64(self)) } }
extension Int64: SQLBindable { var sqlValue: SQLValue { .int(self) } }
extension Bool: SQLBindable { var sqlValue: SQLValue { .int(self ? 1 : 0) } }
extension SQLValue: SQLBindable { var sqlValue: SQLValue { self } }

/// One result row, by column name.
struct SQLRow: Sendable {
    var values: [String: SQLValue]
    subscript(_ column: String) -> SQLValue { values[column] ?? .null }
    func text(_ c: String) -> String { optText(c) ?? "" }
    func optText(_ c: String) -> String? { self[c].text }
    func int(_ c: String) -> Int64 { optInt(c) ?? 0 }
    func optInt(_ c: String) -> Int64? { self[c].int }
}

extension SQLValue {
    var text: String? {
        switch self { case .text(let s): return s; case .int(let i): return String(i); case .null: return nil }
    }
    var int: Int64? {
        switch self { case .int(let i): return i; case .text(let s): return Int64(s); case .null: return nil }
    }
}

/// A transaction on the state database. SQL is written with `?` placeholders in the dialect both databases
/// share (standard SQL plus `INSERT ... ON CONFLICT ... DO UPDATE`, which SQLite and PostgreSQL both accept).
protocol SQLTx {
    func rows(_ sql: String, _ arguments: [(any SQLBindable)?]) throws -> [SQLRow]
    /// `rows`, one at a time: a backend that can hands each row over as it is read, never holding them all.
    func forEachRow(_ sql: String, _ arguments: [(any SQLBindable)?], _ body: (SQLRow) throws -> Void) throws
    /// Runs a statement and returns the number of rows it changed.
    @discardableResult func execute(_ sql: String, _ arguments: [(any SQLBindable)?]) throws -> Int
    /// Runs `body` in a savepoint of the transaction: if it throws, what it wrote is undone and the error rethrown,
    /// and the transaction goes on (`GroupCommit` commits several callers' entries in one transaction).
    func savepoint(_ body: () throws -> Void) throws
}

extension SQLTx {
    /// Standard SQL savepoints, which SQLite and PostgreSQL both run.
    func savepoint(_ body: () throws -> Void) throws {
        try execute("SAVEPOINT meshform_entry", [])
        do { try body() } catch {
            try execute("ROLLBACK TO SAVEPOINT meshform_entry", [])
            try execute("RELEASE SAVEPOINT meshform_entry", [])
            throw error
        }
        try execute("RELEASE SAVEPOINT meshform_entry", [])
    }

    func forEachRow(_ sql: String, _ arguments: [(any SQLBindable)?], _ body: (SQLRow) throws -> Void) throws {
        for row in try rows(sql, arguments) { try body(row) }
    }
    func forEachRow(_ sql: String, _ body: (SQLRow) throws -> Void) throws { try forEachRow(sql, [], body) }
    func rows(_ sql: String) throws -> [SQLRow] { try rows(sql, []) }
    func row(_ sql: String, _ arguments: [(any SQLBindable)?] = []) throws -> SQLRow? { try rows(sql, arguments).first }
    /// The first column of the first row.
    func value(_ sql: String, _ arguments: [(any SQLBindable)?] = []) throws -> SQLValue? {
        guard let r = try row(sql, arguments) else { return nil }
        return r.values.count == 1 ? r.values.first!.value : nil
    }
    /// The first (only) column of every row, as text.
    func texts(_ sql: String, _ arguments: [(any SQLBindable)?] = []) throws -> [String] {
        try rows(sql, arguments).compactMap { $0.values.first?.value.text }
    }
}

/// Where one mesh's state lives. `StateStore` holds the model (objects, runs, journal, drift, clusters, the
/// lease row) once, in SQL both databases run; a backend supplies transactions, its schema and migrations,
/// and what only it can do: how the write lock is claimed and when it is live.
protocol StateBackend: AnyObject, Sendable {
    /// For messages: a file path, or a `postgres://` URL (never with a password).
    var location: String { get }
    var isReadOnly: Bool { get }
    /// A read-only transaction seeing one consistent snapshot; never waits for a writer.
    func read<T>(_ body: (any SQLTx) throws -> T) throws -> T
    /// One write transaction: all of `body` or nothing.
    func write<T>(_ body: (any SQLTx) throws -> T) throws -> T
    /// `write` for async callers: waiting for the database does not hold a cooperative-pool thread.
    func writeWithoutBlocking<T: Sendable>(_ body: @escaping @Sendable (any SQLTx) throws -> T) async throws -> T
    /// The error a write that failed with `error` throws (a `StateError` naming the state), for a failure caught
    /// inside a transaction (`GroupCommit`'s savepoints) rather than thrown out of it.
    func stateError(_ error: any Error) -> any Error
    /// The applied migration names, oldest first.
    func schemaMigrations() throws -> [String]
    /// One attempt to take the write lock as `mine`, or the live holder.
    func tryLock(_ mine: StateLock) throws -> LockAttempt
    /// The lease row if it is live (its holder still holds it), else nil.
    func liveLock(_ tx: any SQLTx) throws -> StateLock?
    /// After the lease row `l` was deleted by its holder.
    func released(_ l: StateLock) throws
    /// After `state unlock` deleted the lease row of another holder: make sure it is no longer held.
    func broken(_ l: StateLock) throws
    /// Database-level checks beyond the model's own (SQLite's integrity_check).
    func storageProblems() throws -> [String]
    /// After rows with explicit ids were copied in (`state migrate`): let generated ids continue above them.
    func copiedRows(_ tx: any SQLTx) throws
    func close()
}

extension StateBackend {
    /// A backend whose statements throw `StateError`s already (PostgreSQL's) has nothing to translate.
    func stateError(_ error: any Error) -> any Error { error }

    /// A backend without an async client runs the transaction as `write` does.
    func writeWithoutBlocking<T: Sendable>(_ body: @escaping @Sendable (any SQLTx) throws -> T) async throws -> T {
        try write(body)
    }
}

enum LockAttempt { case acquired(StateLock), heldBy(StateLock) }

/// A list of texts in one column (an object's dependencies, a drift event's fields): a JSON array, written and read
/// with KubeModel's `JSON`, the state's one JSON codec (objects' bodies are stored with it too).
extension Array: SQLBindable where Element == String {
    var sqlValue: SQLValue { .text(JSON.array(map(JSON.string)).canonicalText) }
}

extension SQLRow {
    /// A column written as a list of texts; throws unless it holds a JSON array of strings.
    func textList(_ c: String) throws -> [String] {
        let items = try JSON.parse(Data(text(c).utf8)).array ?? [JSON.null]
        return try items.map { item in
            guard let s = item.string else {
                throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "column \(c) is not a JSON array of strings"))
            }
            return s
        }
    }

    func optTextList(_ c: String) throws -> [String]? { optText(c) == nil ? nil : try textList(c) }
}
