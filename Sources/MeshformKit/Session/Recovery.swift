import Foundation
import KubeClient
import KubeModel
import StateStore

extension MeshSession {
    public enum RecoveryMode: String, Sendable { case rollback, `continue` }

    /// What `recover` is about to do, shown before it asks for confirmation (as apply shows its plan).
    public enum RecoveryProposal: Sendable {
        /// `--continue`: the plan that finishes the interrupted run.
        case plan(Plan)
        /// `--rollback`: the interrupted run, and one line per object it will undo, in the order it will undo them.
        case rollback(run: Run, undo: [String])
    }

    /// Finishes a run that died mid-way (kill -9, power loss): its journal is still open.
    ///
    /// `.rollback` undoes, in reverse, every step the journal shows as started, written or done, from what is live
    /// (so a step that got halfway is undone exactly): an object the run created is deleted; an updated one gets
    /// its previous applied version back; a deleted (or replaced) one is recreated from it, its CRD established and
    /// its namespace active first, and recorded in state again. A Secret's previous values were never stored: it
    /// is restored when its previous version holds no value, or re-derived when the mesh file still declares it
    /// and its values can be computed again (a remote secret from its live token); otherwise it is listed as left.
    /// `.continue` applies the mesh file again (or destroys, for a destroy), taking over what the dead run created,
    /// which converges from wherever it stopped. Both ask `confirm` first, as apply does; declining changes nothing.
    public func recover(_ mode: RecoveryMode, request: ApplyRequest,
                        confirm: @escaping @Sendable (RecoveryProposal) async -> Bool,
                        emit: @escaping @Sendable (ApplyEvent) -> Void) async throws -> ApplyResult {
        let store = try StateStore.open(path: statePath, create: false)
        guard let (run, steps) = try store.unfinishedRun() else {
            emit(.note("No unfinished run: nothing to recover."))
            return .succeeded(ApplySummary())
        }
        switch mode {
        case .continue:
            var r = request
            r.plan.operation = run.kind == .destroy ? .destroy : .apply
            // Objects the dead run created but could not record are its own work, not someone else's: take them over.
            r.plan.adoptAddresses = Set(steps.compactMap { $0.address?.description })
            r.continuing = run.id
            return try await apply(r, confirm: { await confirm(.plan($0)) }, emit: emit).1
        case .rollback:
            // The dead run's lock: the store takes over a lease whose holder is gone (dead pid here, or expired).
            let lease = try await Self.takeLock(store, who: request.apply.who, operation: "recover", timeout: request.lockTimeout,
                                                lease: request.lease, emit: emit)
            defer { Self.release(lease, store) }
            // Re-read under the lock: the run may have been finished meanwhile.
            guard let (run, steps) = try store.unfinishedRun() else {
                emit(.note("No unfinished run: nothing to recover."))
                return .succeeded(ApplySummary())
            }
            try store.attachRun(run.id, to: lease.lock)
            let undo = Self.undoOrder(steps)
            let lines = undo.map { "\($0.address?.description ?? ""): undo \($0.actionWord) (\($0.phase.rawValue))" }
            guard await confirm(.rollback(run: run, undo: lines)) else { throw SessionError.notConfirmed }
            let clusters = try Clusters(topology: mesh.topology, recorded: try store.clusters(), environment: environment,
                                        options: clientOptions)
            return try await withCleanup {
                let undoer = JournalUndo(mesh: mesh, store: store, clients: clusters.clients, endpoints: clusters.endpoints, emit: emit)
                var left: [String] = []
                var undoneCount = 0
                var deferred: [JournalStep] = []
                for step in undo {
                    guard let address = step.address else { continue }
                    if lease.lost { left.append("\(address): not undone (the state lock was lost)"); continue }
                    do {
                        switch try await undoer.undo(step) {
                        case .undone: undoneCount += 1
                        case .nothing: break
                        case .derive: deferred.append(step)
                        case .left(let why): left.append("\(address): \(why)")
                        }
                    } catch {
                        left.append("\(address): \(error)")
                        emit(.undoFailed(address: address, what: "undo \(step.actionWord)", error: String(describing: error)))
                    }
                }
                // Secrets re-derived from live objects last, once every object they are computed from is back.
                for step in deferred {
                    guard let address = step.address else { continue }
                    do {
                        if let why = try await undoer.rederive(step) { left.append("\(address): \(why)") } else { undoneCount += 1 }
                    } catch {
                        left.append("\(address): \(error)")
                        emit(.undoFailed(address: address, what: "re-derive the secret", error: String(describing: error)))
                    }
                }
                if left.isEmpty {
                    try store.finishRun(run.id, outcome: .rolledBack, message: "rolled back by `meshform recover --rollback` (\(undoneCount) steps undone)")
                    return .rolledBack(failed: "(interrupted run \(run.id))", error: "recovered")
                }
                try store.finishRun(run.id, outcome: .rollbackFailed, message: left.joined(separator: "\n"))
                return .rollbackFailed(failed: "(interrupted run \(run.id))", error: "recover --rollback", left: left)
            } cleanup: { await clusters.shutdown() }
        }
    }

    /// The last entry of each step that may have written (started, written or done), latest-started first: the
    /// reverse of the order the steps started, so dependents are undone before what they depend on, and deleted
    /// dependencies are recreated before their dependents.
    static func undoOrder(_ steps: [JournalStep]) -> [JournalStep] {
        var last: [ResourceAddress: JournalStep] = [:]
        var order: [ResourceAddress] = []
        for s in steps where [.started, .written, .done].contains(s.phase) {
            guard let address = s.address else { continue }
            if last[address] == nil { order.append(address) }
            last[address] = s
        }
        return order.reversed().compactMap { last[$0] }
    }
}

/// Undoes one journalled step of a dead run from what the journal, the state and the cluster hold.
struct JournalUndo {
    enum Outcome { case undone, nothing, derive, left(String) }

    let mesh: CompiledMesh
    let store: StateStore
    let clients: [String: KubeClient]
    let endpoints: [String: ClusterEndpoint]
    let emit: @Sendable (ApplyEvent) -> Void
    let timeout: Duration = .seconds(300)

    init(mesh: CompiledMesh, store: StateStore, clients: [String: KubeClient], endpoints: [String: ClusterEndpoint],
         emit: @escaping @Sendable (ApplyEvent) -> Void) {
        self.mesh = mesh; self.store = store; self.clients = clients; self.endpoints = endpoints; self.emit = emit
    }

    func undo(_ step: JournalStep) async throws -> Outcome {
        guard let address = step.address else { return .nothing }
        guard let client = clients[address.cluster] else { throw ApplyError.noConnection(cluster: address.cluster) }
        guard let reference = step.after ?? step.before ?? mesh.resource(at: address)?.body, reference.name != nil else {
            return .nothing
        }
        let t = ObjectRef(cluster: address.cluster, object: reference)
        let live = try await client.get(t.gvk, namespace: t.namespace, name: t.name)
        let present = live.map { !$0.isTerminating } ?? false

        guard let action = step.action else { return .nothing }
        switch action {
        case .adopt where step.before == nil:
            // It existed before the run, unknown to state: released, left in the cluster.
            try store.remove(address: address.description, run: nil)
            emit(.undone(address: address, what: "released from state, left in the cluster"))
            return .undone
        case .create, .adopt:
            // It did not exist before the run: delete it if it got created.
            if live != nil {
                emit(.undoStarted(address: address, what: action.undo(existed: false)))
                _ = try await client.delete(t.gvk, namespace: t.namespace, name: t.name, propagation: "Foreground", waitUntilGone: timeout)
            }
            if let before = step.before {
                // In state but deleted outside Meshform before the run: the state goes back to that record.
                try store.upsert(record(step, at: address, body: before, live: nil), run: nil)
            } else {
                try store.remove(address: address.description, run: nil)
            }
            if live != nil { emit(.undone(address: address, what: "deleted")) }
            return live != nil ? .undone : .nothing
        case .update:
            guard let before = step.before else { return .nothing }
            if SecretBody.isSecret(before), SecretBody.holdsValues(before) { return .derive }
            emit(.undoStarted(address: address, what: action.undo(existed: true)))
            let restored = try await client.apply(before, fieldManager: ManagedFields.meshform, force: true)
            try store.upsert(record(step, at: address, body: before, live: restored), run: nil)
            emit(.undone(address: address, what: "restored"))
            return .undone
        case .delete, .replace:
            guard let before = step.before else { return .nothing }
            if present, let live {
                // Still the object from before the run (a delete that never happened, a replace that had not deleted
                // yet): keep it, and make sure the state records it.
                let recorded = try store.object(address: address.description)
                if action == .delete || (step.phase == .started && recorded?.uid == live.uid) {
                    try store.upsert(record(step, at: address, body: before, live: live), run: nil)
                    return .nothing
                }
                // A replace's new object: delete it, then recreate the previous one.
                emit(.undoStarted(address: address, what: "delete the replacement"))
                _ = try await client.delete(t.gvk, namespace: t.namespace, name: t.name, propagation: "Foreground", waitUntilGone: timeout)
            }
            if SecretBody.isSecret(before), SecretBody.holdsValues(before) { return .derive }
            emit(.undoStarted(address: address, what: Action.delete.undo(existed: true)))
            var restored = try await Recreation.recreate(before, client: client, serverSideApply: true, timeout: timeout)
            // Objects others compute values from (a token, an address) are waited for, so those values can be derived.
            if let r = mesh.resource(at: address), let ready = r.readiness.condition, producers.contains(address) {
                restored = try await client.wait(for: ready, gvk: t.gvk, namespace: t.namespace, name: t.name, timeout: timeout)
            }
            try store.upsert(record(step, at: address, body: before, live: restored), run: nil)
            emit(.undone(address: address, what: "recreated"))
            return .undone
        case .noOp:
            return .nothing
        }
    }

    /// Re-derives a Secret whose previous values were never stored: from the mesh file, with its computed values
    /// taken from the live objects they come from, exactly as the next apply would write it; values written in the
    /// mesh file only when their keyed hash shows they are the previous ones. Returns why it could not, or nil.
    func rederive(_ step: JournalStep) async throws -> String? {
        let cannot = "not restored: its previous values were never stored (secrets never are)"
        guard let address = step.address, let r = mesh.resource(at: address), let client = clients[address.cluster] else {
            return "\(cannot), and the mesh file no longer declares it; recreate it by hand"
        }
        var values = ComputedValues()
        for cv in r.computed {
            guard let producerClient = clients[cv.producer.cluster], let p = mesh.resource(at: cv.producer) else { continue }
            let t = ObjectRef(cluster: cv.producer.cluster, object: p.body)
            let live = try await producerClient.get(t.gvk, namespace: t.namespace, name: t.name)
            values[cv.placeholder] = ComputedValues.resolve(cv, producer: live, endpoint: { endpoints[$0] })
        }
        guard let body = try? ApplyBody.make(r, computed: values, live: nil) else {
            return "\(cannot), and what it is computed from is not live; run `meshform apply` to regenerate it"
        }
        // Values written in the mesh file are a restore only if they are the ones that were there (same keyed hash);
        // computed ones follow what they are computed from (a recreated token is a new token).
        if r.computed.isEmpty, let before = step.before, store.maskSecrets(body) != before {
            return "\(cannot), and the mesh file now declares other values; run `meshform apply` to write those"
        }
        emit(.undoStarted(address: address, what: "re-derive the secret from the mesh file"))
        let restored = try await client.apply(body, fieldManager: ManagedFields.meshform, force: true)
        try store.upsert(record(step, at: address, body: store.maskSecrets(body), live: restored), run: nil)
        emit(.undone(address: address, what: "re-derived"))
        return nil
    }

    /// Addresses whose live object yields a computed value for another resource.
    var producers: Set<ResourceAddress> { Set(mesh.resources.flatMap { $0.computed.map(\.producer) }) }

    /// The state record of an object put back: what was applied before the run, its dependencies as journalled.
    func record(_ step: JournalStep, at address: ResourceAddress, body: JSON, live: JSON?) throws -> ManagedObject {
        let existing = try store.object(address: address.description)
        let r = mesh.resource(at: address)
        return ManagedObject(
            address: address.description, cluster: address.cluster, apiVersion: body.apiVersion ?? "v1", kind: body.kind ?? "",
            namespace: body.namespace, name: body.name ?? "", uid: live?.uid, resourceVersion: live?.resourceVersion,
            applied: body, dependencies: step.dependencies ?? existing?.dependencies ?? r?.dependsOn.map(\.description).sorted() ?? [],
            sensitive: existing?.sensitive ?? r?.sensitive ?? SecretBody.isSecret(body), createdAt: existing?.createdAt ?? Date())
    }
}
