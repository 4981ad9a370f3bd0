import Foundation
import GRDB
import KubeModel

/// Where one step of a run stands. Apply writes `started` before touching the cluster and `done` or
/// `failed` after; rollback writes `undoStarted` then `undone` or `undoFailed`. A crash therefore leaves
/// a `started` without its end, and recovery knows exactly which object was in flight.
public enum JournalPhase: String, Codable, Sendable, CaseIterable {
    case started, done, failed, undoStarted, undone, undoFailed
}

/// One journal entry: one object, one action, one phase, with what is needed to undo it.
public struct JournalStep: Codable, Sendable, Equatable {
    public var address: String
    /// The planner's action name (`create`, `update`, `replace`, `delete`, `adopt`): the journal stores
    /// the word, the `Action` type lives with the planner.
    public var action: String
    public var phase: JournalPhase
    /// The object as applied before this step (what an undo restores), secrets masked.
    public var before: JSON?
    /// The object this step applies, secrets masked.
    public var after: JSON?
    public var error: String?
    public var at: Date

    public init(address: String, action: String, phase: JournalPhase, before: JSON? = nil, after: JSON? = nil,
                error: String? = nil, at: Date = Date()) {
        self.address = address; self.action = action; self.phase = phase
        self.before = before; self.after = after; self.error = error; self.at = at
    }

    init(row: Row) throws {
        address = row["address"]; action = row["action"]; phase = JournalPhase(rawValue: row["phase"]) ?? .failed
        before = try (row["before"] as String?).map { try JSON.parse(Data($0.utf8)) }
        after = try (row["after"] as String?).map { try JSON.parse(Data($0.utf8)) }
        error = row["error"]; at = Millis.date(row["at"])
    }
}

extension StateStore {
    /// Appends a step to a run's journal, durably (committed before this returns). Secret values in
    /// `before`/`after` are masked: a Secret's previous clear value is NOT recoverable from the journal,
    /// so undoing a Secret change must re-derive its value (e.g. re-render the remote secret).
    public func journal(_ id: RunID, step: JournalStep) throws {
        try write { db in
            try db.execute(sql: """
                INSERT INTO journal (run, address, action, phase, before, after, error, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id.rawValue, step.address, step.action, step.phase.rawValue,
                                 step.before.map { maskSecrets($0).canonicalText }, step.after.map { maskSecrets($0).canonicalText },
                                 step.error, Millis.from(step.at)])
        }
    }

    /// A run's journal, in the order it was written.
    public func journal(of id: RunID) throws -> [JournalStep] {
        try read { db in try Self.journal(db, run: id) }
    }

    static func journal(_ db: Database, run: RunID) throws -> [JournalStep] {
        try Row.fetchAll(db, sql: "SELECT * FROM journal WHERE run = ? ORDER BY id", arguments: [run.rawValue]).map(JournalStep.init(row:))
    }
}
