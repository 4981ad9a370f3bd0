import Foundation
import Synchronization
import KubeClient
import KubeModel
import StateStore

public struct ApplyOptions: Sendable {
    public var parallelism = 10
    /// Undo this run's completed steps when a step fails for good.
    public var rollback = true
    /// How long to wait for readiness (CRD Established, Deployment Available, load balancer address, token).
    public var readinessTimeout: Duration = .seconds(300)
    /// How long destroy waits for an object to be gone (finalizers).
    public var deletionTimeout: Duration = .seconds(120)
    /// How long the gate before the remote webhooks waits for the gateway's address and a TLS handshake (`ReachabilityGate`).
    public var reachabilityTimeout: Duration = .seconds(120)
    public var who = StateStore.currentUser()
    public init() {}
}

/// How many of a run's steps each cluster has left, so its connections close once its last step is done
/// (`KubeClient.closeConnections`): an open HTTP/2 connection keeps the buffer of its last large read, and an apply
/// over a fleet held every cluster's until it ended (#17). A cluster read again afterwards by another cluster's step
/// (the reachability gate, a computed value) connects anew and is closed again after that step; a rollback's
/// connections stay open until the run ends.
final class StepsLeft: Sendable {
    private let left: Mutex<[String: Int]>
    init(_ clusters: [String]) { left = Mutex(Dictionary(clusters.map { ($0, 1) }, uniquingKeysWith: +)) }
    /// Whether `cluster` has steps in this run at all.
    func has(_ cluster: String) -> Bool { left.withLock { $0[cluster] != nil } }
    /// Whether `cluster` has no step left to run (none done yet counts as left).
    func none(_ cluster: String) -> Bool { left.withLock { ($0[cluster] ?? 0) == 0 } }
    /// Counts one step of `cluster` done; true when it was the last.
    func done(_ cluster: String) -> Bool {
        left.withLock { l in
            guard let n = l[cluster] else { return false }
            l[cluster] = n - 1
            return n == 1
        }
    }
}

/// Runs a plan: the dependency graph with bounded parallelism across clusters, server-side apply under field
/// manager `meshform`, readiness waits, computed values resolved as their producers finish, every step journalled
/// before and after and the state written step by step; on a failure, the completed steps are undone in reverse.
public final class Executor: Sendable {
    let mesh: CompiledMesh
    let clients: [String: KubeClient]
    let endpoints: [String: ClusterEndpoint]
    let store: StateStore
    let options: ApplyOptions
    let emit: @Sendable (ApplyEvent) -> Void
    /// The renewal of the state lock this run holds: once it is lost, no further step starts.
    let lease: LockRenewal?

    /// The values computed so far (seeded by the plan, filled in as producers finish) and the steps done.
    private struct Progress { var computed: ComputedValues; var done: [CompletedStep] = [] }
    private let progress: Mutex<Progress>
    private let gate: ReachabilityGate
    /// The computed values each producer resolves, indexed once: looking them up by scanning every resource after
    /// every step made apply quadratic in the mesh's size (#17: CPU per object grew from 1.6 to 5 ms, 10 to 1,000
    /// clusters).
    private let producedBy: [ResourceAddress: [ComputedValue]]
    /// What each step that may have written needs to be undone, in the order the steps started. Secret bodies live
    /// only here, in memory, for the run's duration; the journal holds them masked.

    struct CompletedStep: Sendable {
        var address: ResourceAddress
        var action: Action
        var target: ObjectRef
        /// The object's previous applied version (state) and live version before this step, if any.
        var previous: ManagedObject?
        var previousLive: JSON?
    }

    public init(mesh: CompiledMesh, clients: [String: KubeClient], endpoints: [String: ClusterEndpoint], store: StateStore,
                computed: ComputedValues, options: ApplyOptions, lease: LockRenewal? = nil,
                emit: @escaping @Sendable (ApplyEvent) -> Void) {
        self.mesh = mesh; self.clients = clients; self.endpoints = endpoints; self.store = store
        self.progress = Mutex(Progress(computed: computed)); self.options = options; self.lease = lease; self.emit = emit
        gate = ReachabilityGate(topology: mesh.topology, clients: clients, timeout: options.reachabilityTimeout, emit: emit)
        producedBy = Dictionary(grouping: mesh.resources.flatMap(\.computed), by: \.producer)
    }

    /// Applies `plan`. The caller holds the state lock (renewed by `lease`) and has checked the plan is current.
    ///
    /// Throws `ApplyError.leaseLost` when the lock was lost mid-run: the run stops before its next step, writes
    /// nothing more (no rollback: someone else now holds the lock) and stays unfinished, for `meshform recover`.
    public func run(_ plan: Plan) async throws -> ApplyResult {
        try await gate.preflight(plan, mesh: mesh)
        let run = try store.beginRun(kind: plan.operation == .destroy ? .destroy : .apply, who: options.who,
                                     configHash: plan.configHash)
        if let lease { try store.attachRun(run, to: lease.lock) }
        let stateBefore = Dictionary((try store.objects()).compactMap { o in (try? ResourceAddress(parsing: o.address)).map { ($0, o) } },
                                     uniquingKeysWith: { a, _ in a })
        let steps = plan.changes.filter { $0.action.changes && ($0.action != .adopt || $0.adoptApproved) }
        let byAddress = Dictionary(steps.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        var summary = ApplySummary()
        // Each cluster's connections close once its last step is done, and at once for the clusters the plan read but
        // no step changes (`StepsLeft`).
        let stepsLeft = StepsLeft(steps.map(\.cluster))
        for (name, client) in clients where !stepsLeft.has(name) { await client.closeConnections() }

        // Phase 1: creates, updates, replaces, adoptions, in dependency order.
        let forward = steps.filter { $0.action != .delete }.map(\.address)
        var deps: [ResourceAddress: Set<ResourceAddress>] = [:]
        for a in forward {
            guard let r = mesh.resource(at: a) else { continue }
            deps[a] = Set(r.dependsOn).union(r.computed.map(\.producer))
        }
        var outcome = await GraphWalk.run(vertices: forward, dependencies: deps, parallelism: options.parallelism) { a in
            try await self.applyStep(byAddress[a]!, run: run, previous: stateBefore[a])
            await self.finished(byAddress[a]!, stepsLeft)
        }
        // Phase 2: deletions, dependents first (the plan lists them in that order).
        if outcome.succeeded {
            let backward = steps.filter { $0.action == .delete }.map(\.address)
            var reverse: [ResourceAddress: Set<ResourceAddress>] = [:]
            for a in backward {
                for d in (stateBefore[a]?.dependencies ?? []).compactMap({ try? ResourceAddress(parsing: $0) })
                where byAddress[d]?.action == .delete { reverse[d, default: []].insert(a) }
            }
            let deletes = await GraphWalk.run(vertices: backward, dependencies: reverse, parallelism: options.parallelism) { a in
                try await self.deleteStep(byAddress[a]!, run: run, previous: stateBefore[a])
                await self.finished(byAddress[a]!, stepsLeft)
            }
            outcome.completed += deletes.completed; outcome.failed += deletes.failed; outcome.notStarted += deletes.notStarted
        }
        for a in outcome.completed { summary.count(byAddress[a]!.action) }

        guard let failure = outcome.failed.first else {
            try store.finishRun(run, outcome: .succeeded, message: nil)
            return .succeeded(summary)
        }
        if outcome.failed.contains(where: { $0.error is LeaseLost }) { throw leaseLost(run: run) }
        // The state could not be written (a lost database connection, a full disk): an undo could not be journalled
        // either, so nothing more is done. The run stays unfinished for `meshform recover`, from any machine.
        if let unwritable = outcome.failed.first(where: { $0.error is StateError })?.error { throw unwritable }
        let message = Self.describe(failure.error)
        guard options.rollback else {
            try store.finishRun(run, outcome: .failed, message: "\(failure.vertex): \(message)")
            return .failedKept(failed: failure.vertex.description, error: message, summary: summary)
        }
        let left = await rollback(run: run)
        if lease?.lost == true { throw leaseLost(run: run) }
        if left.isEmpty {
            try store.finishRun(run, outcome: .rolledBack, message: "\(failure.vertex): \(message)")
            return .rolledBack(failed: failure.vertex.description, error: message)
        }
        try store.finishRun(run, outcome: .rollbackFailed, message: left.joined(separator: "\n"))
        return .rollbackFailed(failed: failure.vertex.description, error: message, left: left)
    }

    // MARK: - The lease

    /// Thrown by a step that finds the lease lost before it starts.
    struct LeaseLost: Error {}

    private func checkLease() throws {
        if lease?.lost == true { throw LeaseLost() }
    }

    /// Journals the loss (one entry for the run, no address) and says what to do. The run is left unfinished.
    private func leaseLost(run: RunID) -> ApplyError {
        let message = "the state lock's lease was lost (it expired and was taken over, or was broken with `meshform state unlock`); "
            + "this run stopped before its next step"
        try? store.journal(run, step: .leaseLost(message))
        emit(.note("Stopped: \(message)."))
        return .leaseLost(run: run.rawValue)
    }

    // MARK: - Steps

    /// After a step succeeded: its cluster's connections close if it was the cluster's last step, and so do those of
    /// the other clusters it read (`readsElsewhere`) that have no step left, which the read opened again. (After a
    /// failure they stay open, for the rollback.)
    private func finished(_ change: PlannedChange, _ left: StepsLeft) async {
        if left.done(change.cluster) { await clients[change.cluster]?.closeConnections() }
        for other in readsElsewhere(change) where other != change.cluster && left.none(other) {
            await clients[other]?.closeConnections()
        }
    }

    /// The clusters a step may read besides its own: the external cluster for the reachability gate, and the
    /// clusters of its computed values' producers (`resolveFromUnchangedProducers`).
    private func readsElsewhere(_ change: PlannedChange) -> Set<String> {
        guard change.action != .delete, let r = mesh.resource(at: change.address) else { return [] }
        var clusters = Set(r.computed.map(\.producer.cluster))
        if ReachabilityGate.guards(r, in: mesh.topology) { clusters.insert(mesh.topology.externalCluster.name) }
        return clusters
    }

    private func client(_ cluster: String) throws -> KubeClient {
        guard let c = clients[cluster] else { throw ApplyError.noConnection(cluster: cluster) }
        return c
    }

    /// Keeps what undoing a step needs. Called before the step's first write: an undo looks at what is live, so
    /// undoing a step whose write never happened changes nothing.
    private func remember(_ step: CompletedStep) {
        progress.withLock { $0.done.append(step) }
    }

    private func applyStep(_ change: PlannedChange, run: RunID, previous: ManagedObject?) async throws {
        try checkLease()
        guard let r = mesh.resource(at: change.address) else { throw ApplyError.notInMesh(change.address) }
        let started = ContinuousClock.now
        emit(.started(address: change.address, action: change.action))
        let c = try client(r.address.cluster)
        let target = ObjectRef(cluster: r.address.cluster, object: r.body)
        // A create's plan saw nothing live: no need to ask again (one request fewer per new object).
        let previousLive = change.action == .create ? nil : try await c.get(target.gvk, namespace: target.namespace, name: target.name)
        let dependencies = r.dependsOn.map(\.description).sorted()
        try await store.journal(run, step: JournalStep(address: change.address, action: change.action, phase: .started,
                                                 before: previous?.applied, after: nil, error: nil, dependencies: dependencies))
        remember(CompletedStep(address: change.address, action: change.action, target: target,
                               previous: previous, previousLive: previousLive))
        do {
            if ReachabilityGate.guards(r, in: mesh.topology) { try await gate.check() }
            if change.action == .replace, previousLive != nil {
                _ = try await c.delete(target.gvk, namespace: target.namespace, name: target.name, propagation: "Foreground",
                                       waitUntilGone: options.deletionTimeout)
            }
            try await resolveFromUnchangedProducers(r)
            let body = try bodyToApply(r, live: change.action == .replace ? nil : previousLive)
            // The body rendered once, for the request, the state and both journal entries (an Istio CRD is a few
            // hundred KB; rendering it four times was most of apply's CPU with all-on.yaml on every cluster, #17).
            // Masking changes only a Secret: any other body is sent as the text the state stores.
            let stored = StoredBody(body, maskedBy: store)
            let applied = try await c.apply(body, text: SecretBody.isSecret(body) ? nil : stored.text,
                                            fieldManager: ManagedFields.meshform, force: true,
                                            leavingOut: Readiness.unread(by: r.readiness.condition))
            // Accepted: the state records it now, whatever happens next, so a failed readiness wait or a crash
            // leaves nothing that neither the state nor a rollback knows.
            // The object and its journal entry (`written` if a readiness wait follows, else `done`) are one transaction.
            let record = managedObject(r, sent: body, stored: stored, live: applied, previous: previous, dependencies: dependencies)
            let waitFor = r.readiness.condition
            try await store.journal(run, step: JournalStep(address: change.address, action: change.action,
                                                     phase: waitFor == nil ? .done : .written, before: previous?.applied,
                                                     after: record.applied, error: nil, dependencies: dependencies),
                              recording: .upsert(record), afterBody: stored)
            var ready = applied
            if waitFor != nil {
                if let live = try await r.readiness.wait(for: r, applied: applied, client: c, timeout: options.readinessTimeout, progress: { [emit] in
                    emit(.waiting(address: change.address, what: $0))
                }) { ready = live }
                try await store.journal(run, step: JournalStep(address: change.address, action: change.action, phase: .done,
                                                         before: previous?.applied, after: record.applied, error: nil,
                                                         dependencies: dependencies), afterBody: stored)
            }
            resolveProduced(by: r.address, from: ready)
            emit(.finished(address: change.address, action: change.action, elapsed: ContinuousClock.now - started))
        } catch {
            let message = Self.describe(error)
            try? await store.journal(run, step: JournalStep(address: change.address, action: change.action, phase: .failed,
                                                      before: previous?.applied, after: nil, error: message, dependencies: dependencies))
            emit(.failed(address: change.address, action: change.action, error: message))
            throw error
        }
    }

    private func deleteStep(_ change: PlannedChange, run: RunID, previous: ManagedObject?) async throws {
        try checkLease()
        let started = ContinuousClock.now
        emit(.started(address: change.address, action: .delete))
        let target = try deletionTarget(change, previous: previous)
        let c = try client(target.cluster)
        let previousLive = try await c.get(target.gvk, namespace: target.namespace, name: target.name)
        let dependencies = previous?.dependencies
        try await store.journal(run, step: JournalStep(address: change.address, action: .delete, phase: .started,
                                                 before: previous?.applied, after: nil, error: nil, dependencies: dependencies))
        remember(CompletedStep(address: change.address, action: .delete, target: target, previous: previous, previousLive: previousLive))
        do {
            if previousLive != nil {
                _ = try await c.delete(target.gvk, namespace: target.namespace, name: target.name, propagation: "Background",
                                       waitUntilGone: options.deletionTimeout) { [emit] in
                    emit(.waiting(address: change.address, what: "deletion (\($0))"))
                }
            }
            try await store.journal(run, step: JournalStep(address: change.address, action: .delete, phase: .done,
                                                     before: previous?.applied, after: nil, error: nil, dependencies: dependencies),
                              recording: .remove(change.address.description))
            emit(.finished(address: change.address, action: .delete, elapsed: ContinuousClock.now - started))
        } catch {
            let message = Self.describe(error)
            try? await store.journal(run, step: JournalStep(address: change.address, action: .delete, phase: .failed,
                                                      before: previous?.applied, after: nil, error: message, dependencies: dependencies))
            emit(.failed(address: change.address, action: .delete, error: message))
            throw error
        }
    }

    func deletionTarget(_ change: PlannedChange, previous: ManagedObject?) throws -> ObjectRef {
        if let p = previous { return ObjectRef(p) }
        guard let b = change.before, b.name != nil else { throw ApplyError.notInMesh(change.address) }
        return ObjectRef(cluster: change.cluster, object: b)
    }

    func bodyToApply(_ r: Resource, live: JSON?) throws -> JSON {
        try ApplyBody.make(r, computed: progress.withLock { $0.computed }, live: live)
    }

    /// A computed value whose producer is not a step of this run (it is live already, e.g. created by a run that
    /// died) but was not ready when the plan read it: waits for the producer's readiness, as its own step would.
    private func resolveFromUnchangedProducers(_ r: Resource) async throws {
        for cv in r.computed where progress.withLock({ $0.computed[cv.placeholder] }) == nil {
            guard let p = mesh.resource(at: cv.producer), let ready = p.readiness.condition,
                  let c = clients[cv.producer.cluster] else { continue }
            let t = ObjectRef(cluster: cv.producer.cluster, object: p.body)
            let live = try await c.wait(for: ready, gvk: t.gvk, namespace: t.namespace, name: t.name, timeout: options.readinessTimeout)
            resolveProduced(by: cv.producer, from: live)
        }
    }

    private func resolveProduced(by address: ResourceAddress, from live: JSON) {
        for cv in producedBy[address] ?? [] {
            if let v = ComputedValues.resolve(cv, producer: live, endpoint: { self.endpoints[$0] }) {
                progress.withLock { $0.computed[cv.placeholder] = v }
            }
        }
    }

    /// `dependencies`: the step's, as its journal entries name them (made once per step).
    /// `stored`: `sent` as the state stores it (`StoredBody(sent, maskedBy: store)`).
    func managedObject(_ r: Resource, sent: JSON, stored: StoredBody, live: JSON, previous: ManagedObject?, dependencies: [String]) -> ManagedObject {
        ManagedObject(
            address: r.address.description, cluster: r.address.cluster, apiVersion: sent.apiVersion ?? "v1",
            kind: sent.kind ?? "", namespace: sent.namespace, name: sent.name ?? "", uid: live.uid,
            resourceVersion: live.resourceVersion, stored: stored,
            dependencies: dependencies, sensitive: r.sensitive,
            createdAt: previous?.createdAt ?? Date(), updatedAt: Date())
    }

    static func describe(_ error: any Error) -> String { String(describing: error) }

    // MARK: - Rollback

    /// Undoes the steps that may have written, in reverse order of their start (so dependencies are recreated
    /// before their dependents, and dependents deleted before their dependencies). Returns what could not be
    /// undone (empty: all undone).
    func rollback(run: RunID) async -> [String] {
        let steps = Array(progress.withLock { $0.done }.reversed())
        for (i, step) in steps.enumerated() {
            let what = Self.undoDescription(step)
            let notUndone = { steps[$0...].map { "\($0.address): not undone (\(Self.undoDescription($0)))" } }
            if lease?.lost == true { return notUndone(i) }
            emit(.undoStarted(address: step.address, what: what))
            do {
                try await store.journal(run, step: JournalStep(address: step.address, action: step.action, phase: .undoStarted,
                                                         before: nil, after: step.previous?.applied, error: nil))
                try await undo(step, run: run)
                try await store.journal(run, step: JournalStep(address: step.address, action: step.action, phase: .undone,
                                                         before: nil, after: step.previous?.applied, error: nil))
                emit(.undone(address: step.address, what: what))
            } catch {
                let message = Self.describe(error)
                try? await store.journal(run, step: JournalStep(address: step.address, action: step.action, phase: .undoFailed,
                                                          before: nil, after: nil, error: message))
                emit(.undoFailed(address: step.address, what: what, error: message))
                // Stop here: later undos may depend on this one. Say exactly what is left.
                return ["\(step.address): \(what) failed: \(message)"] + notUndone(i + 1)
            }
        }
        return []
    }

    static func undoDescription(_ s: CompletedStep) -> String { s.action.undo(existed: s.previousLive != nil) }

    /// Puts one object back as it was before the step, from what is live now (so it is exact however far the step
    /// got), and the state with it.
    private func undo(_ s: CompletedStep, run: RunID) async throws {
        let c = try client(s.target.cluster)
        let t = s.target
        let live = try await c.get(t.gvk, namespace: t.namespace, name: t.name)
        guard let old = s.previousLive else {
            // It did not exist before this run: delete it.
            if live != nil {
                _ = try await c.delete(t.gvk, namespace: t.namespace, name: t.name, propagation: "Foreground",
                                       waitUntilGone: options.deletionTimeout)
            }
            try store.remove(address: s.address.description, run: run)
            return
        }
        // It existed: put back the version that was live before (secret values kept in memory for this run only).
        let restored: JSON
        if let live, live.uid == old.uid, live.resourceVersion == old.resourceVersion {
            restored = live  // the step never wrote to it
        } else if s.action == .delete || s.action == .replace {
            if let live, live.uid == old.uid, !live.isTerminating {
                restored = live  // the step never got to delete it
            } else {
                if live != nil, live?.isTerminating == false {
                    // The replacement: deleted, then the old object recreated under its name.
                    _ = try await c.delete(t.gvk, namespace: t.namespace, name: t.name, propagation: "Foreground",
                                           waitUntilGone: options.deletionTimeout)
                }
                restored = try await Recreation.recreate(ServerOwnedFields.restorable(old), client: c, serverSideApply: false, timeout: options.readinessTimeout) {
                    [emit] in emit(.waiting(address: s.address, what: $0))
                }
            }
        } else if let p = s.previous, !p.sensitive {
            // Re-applying the previous applied version restores Meshform's fields exactly and drops the ones it added.
            restored = try await c.apply(p.applied, fieldManager: ManagedFields.meshform, force: true)
        } else {
            restored = try await c.apply(ServerOwnedFields.restorable(old), fieldManager: ManagedFields.meshform, force: true)
        }
        if var p = s.previous {
            p.uid = restored.uid; p.resourceVersion = restored.resourceVersion
            try store.upsert(p, run: run)
        } else {
            try store.remove(address: s.address.description, run: run)
        }
    }
}

/// Where an object lives: what a delete, a recreate or an undo addresses.
struct ObjectRef: Sendable {
    var cluster: String; var gvk: GroupVersionKind; var namespace: String?; var name: String
    init(cluster: String, object o: JSON) {
        self.cluster = cluster; gvk = GroupVersionKind(apiVersion: o.apiVersion ?? "v1", kind: o.kind ?? "")
        namespace = o.namespace; name = o.name ?? ""
    }
    init(_ o: ManagedObject) {
        cluster = o.cluster; gvk = GroupVersionKind(apiVersion: o.apiVersion, kind: o.kind); namespace = o.namespace; name = o.name
    }
}

public enum ApplyError: Error, CustomStringConvertible {
    case noConnection(cluster: String)
    case notInMesh(ResourceAddress)
    case computedUnknown(address: String, producer: String)
    case leaseLost(run: String)
    public var description: String {
        switch self {
        case .noConnection(let c): return "no connection to cluster \(c); check its context in the mesh file and your kubeconfig"
        case .notInMesh(let a): return "\(a) is not in the compiled mesh; re-run plan"
        case .computedUnknown(let a, let p):
            return "\(a) needs a value computed from \(p), which is not known yet; \(p) must be applied and ready first"
        case .leaseLost(let run):
            return "the state lock was lost during run \(run), which stopped before its next step; "
                + "once no other Meshform run is working on this state, finish it with `meshform recover --rollback` or `--continue`"
        }
    }
}
