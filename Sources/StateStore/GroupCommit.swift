import Synchronization

/// Journal entries written at the same time (apply's parallel steps) committed together: one transaction for all
/// that are waiting, each entry in its own savepoint. Every caller still returns only once its own entry is committed
/// (so "journal before and after each step" holds), and an entry that fails is undone alone and fails only its
/// caller. A commit per entry made writing the state about 15% of apply's CPU at 50 remotes (#17): each commit
/// writes every page it touched (journal, objects, their indexes, the serial) to the WAL again.
///
/// Leader hand-off, without a task of its own: the first caller to find nobody writing commits the batch, wakes its
/// waiters, then makes the oldest caller still waiting the next writer.
final class GroupCommit: Sendable {
    typealias Body = @Sendable (any SQLTx) throws -> Void

    private enum Turn { case committed, write }
    private struct Entry {
        let body: Body
        var waiter: CheckedContinuation<Turn, any Error>?
    }
    private struct Queue {
        var entries: [Entry] = []
        var writing = false
    }
    private let queue = Mutex(Queue())

    /// Runs `body` in a transaction on `backend`, with whatever other entries are waiting; returns once it committed.
    func write(_ body: @escaping Body, on backend: any StateBackend) async throws {
        let turn: Turn = try await withCheckedThrowingContinuation { waiter in
            let lead = queue.withLock { q in
                q.entries.append(Entry(body: body, waiter: waiter))
                guard !q.writing else { return false }
                q.writing = true
                q.entries[q.entries.count - 1].waiter = nil
                return true
            }
            if lead { waiter.resume(returning: .write) }
        }
        if case .committed = turn { return }
        try await commitWaiting(on: backend)
    }

    /// Commits every waiting entry, wakes their callers, hands the writer's turn on; returns this caller's own outcome
    /// (its entry is the one without a waiter).
    private func commitWaiting(on backend: any StateBackend) async throws {
        let batch = queue.withLock { q in
            let taken = q.entries
            q.entries = []
            return taken
        }
        let bodies = batch.map(\.body)
        var outcomes: [Result<Void, any Error>]
        do {
            outcomes = try await backend.writeWithoutBlocking { tx in
                bodies.map { body in Result { try tx.savepoint { try body(tx) } } }
            }
        } catch {
            outcomes = Array(repeating: .failure(error), count: batch.count)
        }
        var own: Result<Void, any Error> = .success(())
        for (entry, outcome) in zip(batch, outcomes) {
            guard let waiter = entry.waiter else { own = outcome.mapError(backend.stateError); continue }
            switch outcome {
            case .success: waiter.resume(returning: .committed)
            case .failure(let error): waiter.resume(throwing: backend.stateError(error))
            }
        }
        let next: CheckedContinuation<Turn, any Error>? = queue.withLock { q in
            guard !q.entries.isEmpty else { q.writing = false; return nil }
            defer { q.entries[0].waiter = nil }
            return q.entries[0].waiter
        }
        next?.resume(returning: .write)
        try own.get()
    }
}
