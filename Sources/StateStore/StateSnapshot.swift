import Foundation

/// Everything a planner or drift check needs from state, read in one transaction: the objects, serial
/// and lineage always belong together, even while an apply is writing (SQLite's WAL snapshot, PostgreSQL's REPEATABLE READ).
public struct StateSnapshot: Sendable {
    public var lineage: String
    public var serial: Int
    public var objects: [ManagedObject]
    /// The config hash of the last successful apply, if any.
    public var lastApplyConfigHash: String?
    /// The live write lock, if any (an apply, destroy or recover in progress).
    public var lock: StateLock?
    /// The newest apply/destroy/recover run that has not finished, with its journal.
    public var unfinishedRun: Run?
    public var unfinishedJournal: [JournalStep]
    /// How each cluster with objects in state was reached at its last apply.
    public var clusters: [ClusterRecord] = []

    /// True when an apply is in progress or crashed: drift results may reflect a half-applied change.
    public var applyInProgress: Bool { lock != nil || unfinishedRun != nil }
}

extension StateStore {
    /// One consistent read of the whole state. Takes no lock and never waits for a writer.
    public func snapshot() throws -> StateSnapshot {
        try read { tx in
            let unfinished = try Self.unfinishedRun(tx)
            return StateSnapshot(
                lineage: lineage, serial: try Self.serial(tx), objects: try Self.objects(tx),
                lastApplyConfigHash: try tx.row("""
                    SELECT config_hash FROM runs WHERE kind = 'apply' AND outcome = 'succeeded' ORDER BY finished_at DESC, rowid DESC LIMIT 1
                    """)?.optText("config_hash"),
                lock: try backend.liveLock(tx), unfinishedRun: unfinished?.0, unfinishedJournal: unfinished?.1 ?? [],
                clusters: try Self.clusters(tx))
        }
    }
}
