import Foundation
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

    init(row: SQLRow) {
        id = RunID(rawValue: row.text("id")); kind = RunKind(rawValue: row.text("kind")) ?? .plan
        who = row.text("who"); host = row.text("host"); pid = Int(row.int("pid")); startedAt = Millis.date(row.int("started_at"))
        finishedAt = row.optInt("finished_at").map(Millis.date); configHash = row.optText("config_hash")
        serialBefore = Int(row.int("serial_before")); serialAfter = row.optInt("serial_after").map { Int($0) }
        outcome = row.optText("outcome").flatMap(RunOutcome.init(rawValue:)); message = row.optText("message")
    }
}

extension StateStore {
    /// Records the start of a run (its serial before) and returns its ID. Does not bump the serial.
    public func beginRun(kind: RunKind, who: String, configHash: String?) throws -> RunID {
        let id = RunID(rawValue: UUID().uuidString.lowercased())
        try write { tx in
            try tx.execute("""
                INSERT INTO runs (id, kind, who, host, pid, started_at, config_hash, serial_before)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [id.rawValue, kind.rawValue, who, ProcessInfo.processInfo.hostName,
                      Int(ProcessInfo.processInfo.processIdentifier), Millis.now, configHash, try Self.serial(tx)])
        }
        return id
    }

    /// Records how a run ended and the serial it left. Also used by `recover` to close a crashed run.
    public func finishRun(_ id: RunID, outcome: RunOutcome, message: String?) throws {
        try write { tx in
            if try tx.execute("UPDATE runs SET finished_at = ?, outcome = ?, message = ?, serial_after = ? WHERE id = ?",
                              [Millis.now, outcome.rawValue, message, try Self.serial(tx), id.rawValue]) == 0 {
                throw StateError.noSuchRun(path: path, id: id.rawValue)
            }
            // A run that changed objects may have left bodies nothing names any more (`pruneBodies`).
            if let kind = try tx.value("SELECT kind FROM runs WHERE id = ?", [id.rawValue])?.text,
               RunKind(rawValue: kind)?.changesObjects == true {
                try Self.pruneBodies(tx)
            }
        }
    }

    /// The run with this ID, or nil.
    public func run(_ id: RunID) throws -> Run? {
        try read { tx in try tx.row("SELECT * FROM runs WHERE id = ?", [id.rawValue]).map(Run.init(row:)) }
    }

    /// The most recent runs, newest first.
    public func runs(limit: Int) throws -> [Run] {
        try read { tx in
            try tx.rows("SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", [limit]).map(Run.init(row:))
        }
    }

    /// The newest apply/destroy/recover run that never finished, with its journal: a crashed run for
    /// `meshform recover`, or one in progress right now (then the lock is held: see `StateSnapshot`).
    public func unfinishedRun() throws -> (Run, [JournalStep])? {
        try read { tx in try Self.unfinishedRun(tx) }
    }

    /// (`rowid` is SQLite's insertion order; the PostgreSQL schema has an identity column of that name.)
    static func unfinishedRun(_ tx: any SQLTx) throws -> (Run, [JournalStep])? {
        let kinds = RunKind.allCases.filter(\.changesObjects).map { "'\($0.rawValue)'" }.joined(separator: ",")
        guard let row = try tx.row("""
            SELECT * FROM runs WHERE finished_at IS NULL AND kind IN (\(kinds)) ORDER BY started_at DESC, rowid DESC LIMIT 1
            """) else { return nil }
        let run = Run(row: row)
        return (run, try journal(tx, run: run.id))
    }
}
