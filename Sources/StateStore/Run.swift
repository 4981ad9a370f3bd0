import Foundation
import GRDB
import KubeModel

/// The ID of one run (a UUID), as recorded in `runs` and shown by `meshform state history`.
public struct RunID: RawRepresentable, Hashable, Codable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
}

/// What a run did.
public enum RunKind: String, Codable, Sendable, CaseIterable {
    case plan, apply, destroy, drift, recover
    /// Kinds that change objects and write a journal: an unfinished one of these needs `meshform recover`.
    public var changesObjects: Bool { self == .apply || self == .destroy || self == .recover }
}

/// How a run ended.
public enum RunOutcome: String, Codable, Sendable, CaseIterable {
    case succeeded, failed
    /// Failed, and every step done in the run was undone.
    case rolledBack
    /// Failed, and undoing it failed too: state and clusters may differ; the journal says where.
    case rollbackFailed
}

/// One run, as `meshform state history` shows it.
public struct Run: Codable, Sendable, Equatable {
    public var id: RunID
    public var kind: RunKind
    public var who: String
    public var host: String
    public var pid: Int
    public var startedAt: Date
    /// Nil while running, or forever if the process died: see `StateStore.unfinishedRun()`.
    public var finishedAt: Date?
    /// Hash of the mesh file and rendered components the run worked from.
    public var configHash: String?
    public var serialBefore: Int
    public var serialAfter: Int?
    public var outcome: RunOutcome?
    public var message: String?

    init(row: Row) {
        id = RunID(rawValue: row["id"]); kind = RunKind(rawValue: row["kind"]) ?? .plan
        who = row["who"]; host = row["host"]; pid = row["pid"]; startedAt = Millis.date(row["started_at"])
        finishedAt = (row["finished_at"] as Int64?).map(Millis.date); configHash = row["config_hash"]
        serialBefore = row["serial_before"]; serialAfter = row["serial_after"]
        outcome = (row["outcome"] as String?).flatMap(RunOutcome.init(rawValue:)); message = row["message"]
    }
}

extension StateStore {
    /// Records the start of a run (its serial before) and returns its ID. Does not bump the serial.
    public func beginRun(kind: RunKind, who: String, configHash: String?) throws -> RunID {
        let id = RunID(rawValue: UUID().uuidString.lowercased())
        try write { db in
            try db.execute(sql: """
                INSERT INTO runs (id, kind, who, host, pid, started_at, config_hash, serial_before)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id.rawValue, kind.rawValue, who, ProcessInfo.processInfo.hostName,
                                 Int(ProcessInfo.processInfo.processIdentifier), Millis.now, configHash, try Self.serial(db)])
        }
        return id
    }

    /// Records how a run ended and the serial it left. Also used by `recover` to close a crashed run.
    public func finishRun(_ id: RunID, outcome: RunOutcome, message: String?) throws {
        try write { db in
            try db.execute(sql: "UPDATE runs SET finished_at = ?, outcome = ?, message = ?, serial_after = ? WHERE id = ?",
                           arguments: [Millis.now, outcome.rawValue, message, try Self.serial(db), id.rawValue])
            if db.changesCount == 0 { throw StateError.noSuchRun(path: path, id: id.rawValue) }
        }
    }

    /// The run with this ID, or nil.
    public func run(_ id: RunID) throws -> Run? {
        try read { db in try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ?", arguments: [id.rawValue]).map(Run.init(row:)) }
    }

    /// The most recent runs, newest first.
    public func runs(limit: Int) throws -> [Run] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", arguments: [limit]).map(Run.init(row:))
        }
    }

    /// The newest apply/destroy/recover run that never finished, with its journal: a crashed run for
    /// `meshform recover`, or one in progress right now (then the lock is held: see `StateSnapshot`).
    public func unfinishedRun() throws -> (Run, [JournalStep])? {
        try read { db in try Self.unfinishedRun(db) }
    }

    static func unfinishedRun(_ db: Database) throws -> (Run, [JournalStep])? {
        let kinds = RunKind.allCases.filter(\.changesObjects).map { "'\($0.rawValue)'" }.joined(separator: ",")
        guard let row = try Row.fetchOne(db, sql: """
            SELECT * FROM runs WHERE finished_at IS NULL AND kind IN (\(kinds)) ORDER BY started_at DESC, rowid DESC LIMIT 1
            """) else { return nil }
        let run = Run(row: row)
        return (run, try journal(db, run: run.id))
    }
}
