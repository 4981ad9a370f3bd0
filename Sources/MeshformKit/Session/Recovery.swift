import Foundation
import KubeClient
import KubeModel
import StateStore

extension MeshSession {
    public enum RecoveryMode: String, Sendable { case rollback, `continue` }

    /// Finishes a run that died mid-way (kill -9, power loss): its journal is still open.
    ///
    /// `.rollback` undoes, in reverse, every step the journal shows as started or done (an object that was being
    /// created is deleted if it exists; an updated one gets its previous applied version back; a deleted one is
    /// recreated from it). `.continue` closes the old run and applies the mesh file again, which converges from
    /// wherever the dead run stopped.
    public func recover(_ mode: RecoveryMode, request: ApplyRequest, emit: @escaping @Sendable (ApplyEvent) -> Void)
        async throws -> ApplyResult
    {
        let store = try StateStore.open(path: statePath, create: false)
        // The dead run's lock: the store takes over a lease whose holder is gone (dead pid here, or expired).
        let lock = try store.acquireLock(who: request.apply.who, operation: "recover", timeout: request.lockTimeout)
        var released = false
        defer { if !released { try? store.releaseLock(lock) } }
        guard let (run, steps) = try store.unfinishedRun() else {
            emit(.note("No unfinished run: nothing to recover."))
            return .succeeded(ApplySummary())
        }
        switch mode {
        case .continue:
            try store.finishRun(run.id, outcome: .failed, message: "died mid-run; continued by `meshform recover --continue`")
            try store.releaseLock(lock); released = true
            var r = request
            r.plan.operation = run.kind == .destroy ? .destroy : .apply
            // Objects the dead run created but could not record are its own work, not someone else's: take them over.
            r.plan.adoptAddresses = Set(steps.map(\.address))
            return try await apply(r, confirm: { _ in true }, emit: emit).1
        case .rollback:
            let clusters = try Clusters(topology: mesh.topology, recorded: try store.clusters(), environment: environment,
                                        options: clientOptions)
            defer { Task { await clusters.shutdown() } }
            var left: [String] = []
            var undoneCount = 0
            // The last journal entry per address says how far that step got.
            var last: [String: JournalStep] = [:]
            var order: [String] = []
            for s in steps where s.phase == .started || s.phase == .done {
                if last[s.address] == nil { order.append(s.address) }
                last[s.address] = s
            }
            for address in order.reversed() {
                guard let step = last[address] else { continue }
                do {
                    if try await undo(step, store: store, clusters: clusters, emit: emit) { undoneCount += 1 }
                } catch {
                    left.append("\(address): \(error)")
                    emit(.undoFailed(address: address, what: "undo", error: String(describing: error)))
                }
            }
            if left.isEmpty {
                try store.finishRun(run.id, outcome: .rolledBack, message: "rolled back by `meshform recover --rollback` (\(undoneCount) steps undone)")
                return .rolledBack(failed: "(interrupted run \(run.id))", error: "recovered")
            }
            try store.finishRun(run.id, outcome: .rollbackFailed, message: left.joined(separator: "\n"))
            return .rollbackFailed(failed: "(interrupted run \(run.id))", error: "recover --rollback", left: left)
        }
    }

    /// Undoes one journalled step from what the journal and the state hold. Returns whether anything was done.
    private func undo(_ step: JournalStep, store: StateStore, clusters: Clusters,
                      emit: @escaping @Sendable (ApplyEvent) -> Void) async throws -> Bool {
        let address = try ResourceAddress(parsing: step.address)
        guard let client = clusters.clients[address.cluster] else { throw ApplyError.noConnection(cluster: address.cluster) }
        let reference = step.after ?? step.before ?? mesh.resource(at: step.address)?.body
        guard let reference, let name = reference.name else { return false }
        let gvk = GroupVersionKind(apiVersion: reference.apiVersion ?? "v1", kind: reference.kind ?? "")
        let live = try await client.get(gvk, namespace: reference.namespace, name: name)
        if let before = step.before {
            if SecretBody.isSecret(before) {
                // Secret values are never kept at rest; the previous version cannot be restored from the journal.
                emit(.undoFailed(address: step.address, what: "restore previous version",
                                 error: "its previous values were not kept (secrets are never stored); run meshform apply to regenerate it"))
                return false
            }
            emit(.undoStarted(address: step.address, what: live == nil ? "recreate" : "restore previous version"))
            let restored = try await client.apply(before, fieldManager: Executor.fieldManager, force: true)
            if var o = try store.object(address: step.address) {
                o.applied = before; o.uid = restored.uid; o.resourceVersion = restored.resourceVersion
                try store.upsert(o, run: nil)
            }
            emit(.undone(address: step.address, what: "restored"))
            return true
        }
        // It did not exist before the run: delete it if it got created.
        guard live != nil else { try store.remove(address: step.address, run: nil); return false }
        emit(.undoStarted(address: step.address, what: "delete the created object"))
        _ = try await client.delete(gvk, namespace: reference.namespace, name: name, propagation: "Foreground",
                                    waitUntilGone: .seconds(120))
        try store.remove(address: step.address, run: nil)
        emit(.undone(address: step.address, what: "deleted"))
        return true
    }
}
