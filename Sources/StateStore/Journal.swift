import Foundation
import Synchronization
import KubeModel

/// Where one step of a run stands. Apply writes `started` before touching the cluster, `written` the moment
/// the server accepted a write that is still waiting for readiness, and `done` or `failed` after; rollback
/// writes `undoStarted` then `undone` or `undoFailed`. A crash therefore leaves a `started` (or `written`)
/// without its end, and recovery knows exactly which object was in flight.
public enum JournalPhase: String, Codable, Sendable, CaseIterable {
    case started, written, done, failed, undoStarted, undone, undoFailed
}

/// One journal entry: one object, one action, one phase, with what is needed to undo it.
public struct JournalStep: Codable, Sendable, Equatable {
    /// The object; nil only for the entry about the run itself (`leaseLost`), stored as an empty address.
    public var address: ResourceAddress?
    /// The planner's action on the object, stored as its `rawValue`. Nil for the one entry about the run itself
    /// rather than an object (`leaseLost`), stored as the word `lock`.
    public var action: Action?
    public var phase: JournalPhase
    /// The object as applied before this step (what an undo restores), secrets masked.
    public var before: JSON?
    /// The object this step applies, secrets masked.
    public var after: JSON?
    public var error: String?
    public var at: Date
    /// The addresses the object depends on (nil in entries written before schema v4): what recovery records
    /// again when it recreates an object this run deleted.
    public var dependencies: [String]?

    public init(address: ResourceAddress?, action: Action?, phase: JournalPhase, before: JSON? = nil, after: JSON? = nil,
                error: String? = nil, at: Date = Date(), dependencies: [String]? = nil) {
        self.address = address; self.action = action; self.phase = phase
        self.before = before; self.after = after; self.error = error; self.at = at; self.dependencies = dependencies
    }

    /// The entry a run writes when its lock's lease is lost and it stops: about the run, not an object.
    public static func leaseLost(_ message: String) -> JournalStep {
        JournalStep(address: nil, action: nil, phase: .failed, error: message)
    }

    /// The `action` column's word: the action's raw value, or `lock` for `leaseLost`.
    public var actionWord: String { action?.rawValue ?? "lock" }

    init(row: SQLRow) throws {
        address = row.text("address").isEmpty ? nil : try ResourceAddress(parsing: row.text("address"))
        action = Action(rawValue: row.text("action")); phase = JournalPhase(rawValue: row.text("phase")) ?? .failed
        // `before` and `after` are the bodies the entry names, joined in by `StateStore.journal(_:run:)`.
        before = try row.optText("before").map { try JSON.parse(Data($0.utf8)) }
        after = try row.optText("after").map { try JSON.parse(Data($0.utf8)) }
        error = row.optText("error"); at = Millis.date(row.int("at"))
        dependencies = try row.optTextList("dependencies")
    }
}

extension StateStore {
    /// What a journalled step changes in the recorded objects, in the entry's own transaction.
    public enum StepRecord: Sendable {
        /// The object as the server accepted it (`upsert`).
        case upsert(ManagedObject)
        /// The object is gone (`remove`).
        case remove(String)
    }

    /// Appends a step to a run's journal, durably (committed before this returns), and records the object change it
    /// made, in one transaction: the state and the journal never disagree about a step, whichever backend and whenever
    /// the process dies. Secret values in `before`/`after` are masked: a Secret's previous clear value is NOT
    /// recoverable from the journal, so undoing a Secret change must re-derive its value (e.g. re-render the remote secret).
    public func journal(_ id: RunID, step: JournalStep, recording change: StepRecord? = nil) throws {
        try write(try journalTransaction(id, step: step, recording: change))
        CrashPoint.afterJournalEntry()
    }

    /// `journal` for async code (the executor, once per step): the write does not hold a cooperative-pool thread, and
    /// entries written by several steps at once are committed in one transaction (`GroupCommit`), each still committed
    /// before its call returns.
    /// `afterBody`: `step.after` as stored (`StoredBody`), when the caller has rendered it already.
    public func journal(_ id: RunID, step: JournalStep, recording change: StepRecord? = nil, afterBody: StoredBody? = nil) async throws {
        guard !isReadOnly else { throw StateError.readOnly(path: path) }
        try await journalWrites.write(try journalTransaction(id, step: step, recording: change, afterBody: afterBody), on: backend)
        CrashPoint.afterJournalEntry()
    }

    /// The one transaction both `journal`s run.
    private func journalTransaction(_ id: RunID, step: JournalStep, recording change: StepRecord?,
                                    afterBody: StoredBody? = nil) throws -> @Sendable (any SQLTx) throws -> Void {
        let dependencies = step.dependencies
        let object = change.flatMap { if case .upsert(let o) = $0 { return masked(o) } else { return nil } }
        let before = step.before.map { StoredBody($0, maskedBy: self) }
        let after = step.after == nil ? nil : afterBody ?? step.after.map { StoredBody($0, maskedBy: self) }
        return { [self] tx in
            switch change {
            case .upsert?: try insert(object!, run: id, tx); _ = try Self.bumpSerial(tx)
            case .remove(let address)?: try removeObject(address, tx)
            case nil: break
            }
            let beforeHash = try before.map { try Self.storeBody($0, tx) }, afterHash = try after.map { try Self.storeBody($0, tx) }
            try tx.execute("""
                INSERT INTO journal (run, address, action, phase, before_hash, after_hash, error, at, dependencies) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [id.rawValue, step.address?.description ?? "", step.actionWord, step.phase.rawValue, beforeHash, afterHash,
                      step.error, Millis.from(step.at), dependencies])
        }
    }

    /// Every address the state knows right now: its objects and the steps of an unfinished run (which may have
    /// created an object before recording it). One short read; drift calls it after listing live objects, so an
    /// object a running apply creates meanwhile is never taken for an orphan.
    public func knownAddresses() throws -> (addresses: Set<String>, runUnfinished: Bool) {
        try read { tx in
            var known = Set(try tx.texts("SELECT address FROM objects"))
            let unfinished = try Self.unfinishedRun(tx)
            for s in unfinished?.1 ?? [] { if let a = s.address { known.insert(a.description) } }
            return (known, unfinished != nil)
        }
    }

    /// A run's journal, in the order it was written.
    public func journal(of id: RunID) throws -> [JournalStep] {
        try read { tx in try Self.journal(tx, run: id) }
    }

    static func journal(_ tx: any SQLTx, run: RunID) throws -> [JournalStep] {
        try tx.rows("""
            SELECT j.*, b.text AS before, a.text AS after FROM journal j
                LEFT JOIN bodies b ON b.hash = j.before_hash LEFT JOIN bodies a ON a.hash = j.after_hash
            WHERE j.run = ? ORDER BY j.id
            """, [run.rawValue]).map(JournalStep.init(row:))
    }
}

/// Fault injection for the crash test (`Tests/EndToEndTests/CrashEndToEndTests.swift`, `Benchmarks/crash-sweep`):
/// with `MESHFORM_CRASH_AFTER_JOURNAL_ENTRY=N` in its environment, the process kills itself with SIGKILL right
/// after its N-th journal entry is committed: a real kill -9 at an exact journal point. Unset, it costs one
/// comparison per entry.
enum CrashPoint {
    static let target: Int? = ProcessInfo.processInfo.environment["MESHFORM_CRASH_AFTER_JOURNAL_ENTRY"].flatMap(Int.init)
    private static let written = Mutex(0)

    static func afterJournalEntry() {
        guard let target else { return }
        let n = written.withLock { $0 += 1; return $0 }
        if n == target { kill(getpid(), SIGKILL) }
    }
}
