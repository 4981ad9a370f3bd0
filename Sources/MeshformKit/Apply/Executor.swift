import Foundation
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
    public var who = ProcessInfo.processInfo.environment["USER"] ?? "unknown"
    public init() {}
}

/// Runs a plan: the dependency graph with bounded parallelism across clusters, server-side apply under field
/// manager `meshform`, readiness waits, computed values resolved as their producers finish, every step journalled
/// before and after and the state written step by step; on a failure, the completed steps are undone in reverse.
public final class Executor: @unchecked Sendable {
    public static let fieldManager = "meshform"

    let mesh: CompiledMesh
    let clients: [String: KubeClient]
    let endpoints: [String: ClusterEndpoint]
    let store: StateStore
    let options: ApplyOptions
    let emit: @Sendable (ApplyEvent) -> Void

    private let lock = NSLock()
    private var computed: ComputedValues
    private let gate: ReachabilityGate
    /// What each completed step needs to be undone, in completion order. Secret bodies live only here, in memory,
    /// for the run's duration; the journal holds them masked.
    private var done: [CompletedStep] = []

    struct CompletedStep {
        var address: String
        var cluster: String
        var action: Action
        /// The object's previous applied version (state) and live version before this step, if any.
        var previous: ManagedObject?
        var previousLive: JSON?
    }

    public init(mesh: CompiledMesh, clients: [String: KubeClient], endpoints: [String: ClusterEndpoint], store: StateStore,
                computed: ComputedValues, options: ApplyOptions, emit: @escaping @Sendable (ApplyEvent) -> Void) {
        self.mesh = mesh; self.clients = clients; self.endpoints = endpoints; self.store = store
        self.computed = computed; self.options = options; self.emit = emit
        gate = ReachabilityGate(topology: mesh.topology, clients: clients, timeout: options.reachabilityTimeout, emit: emit)
    }

    /// Applies `plan`. The caller holds the state lock and has checked the plan is current.
    public func run(_ plan: Plan) async throws -> ApplyResult {
        try await gate.preflight(plan, mesh: mesh)
        let run = try store.beginRun(kind: plan.operation == .destroy ? .destroy : .apply, who: options.who,
                                     configHash: plan.configHash)
        let stateBefore = Dictionary((try store.objects()).map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        let steps = plan.changes.filter { $0.action.changes && ($0.action != .adopt || $0.adoptApproved) }
        let byAddress = Dictionary(steps.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        var summary = ApplySummary()

        // Phase 1: creates, updates, replaces, adoptions, in dependency order.
        let forward = steps.filter { $0.action != .delete }.map(\.address)
        var deps: [String: Set<String>] = [:]
        for a in forward {
            guard let r = mesh.resource(at: a) else { continue }
            deps[a] = Set(r.dependsOn.map(\.description)).union(r.computed.map { $0.producer.description })
        }
        var outcome = await GraphWalk.run(vertices: forward, dependencies: deps, parallelism: options.parallelism) { a in
            try await self.applyStep(byAddress[a]!, run: run, previous: stateBefore[a])
        }
        // Phase 2: deletions, dependents first (the plan lists them in that order).
        if outcome.succeeded {
            let backward = steps.filter { $0.action == .delete }.map(\.address)
            var reverse: [String: Set<String>] = [:]
            for a in backward {
                for d in stateBefore[a]?.dependencies ?? [] where byAddress[d]?.action == .delete { reverse[d, default: []].insert(a) }
            }
            let deletes = await GraphWalk.run(vertices: backward, dependencies: reverse, parallelism: options.parallelism) { a in
                try await self.deleteStep(byAddress[a]!, run: run, previous: stateBefore[a])
            }
            outcome.completed += deletes.completed; outcome.failed += deletes.failed; outcome.notStarted += deletes.notStarted
        }
        for a in outcome.completed { summary.count(byAddress[a]!.action) }

        guard let failure = outcome.failed.first else {
            try store.finishRun(run, outcome: .succeeded, message: nil)
            return .succeeded(summary)
        }
        let message = Self.describe(failure.error)
        guard options.rollback else {
            try store.finishRun(run, outcome: .failed, message: "\(failure.vertex): \(message)")
            return .failedKept(failed: failure.vertex, error: message, summary: summary)
        }
        let left = await rollback(run: run)
        if left.isEmpty {
            try store.finishRun(run, outcome: .rolledBack, message: "\(failure.vertex): \(message)")
            return .rolledBack(failed: failure.vertex, error: message)
        }
        try store.finishRun(run, outcome: .rollbackFailed, message: left.joined(separator: "\n"))
        return .rollbackFailed(failed: failure.vertex, error: message, left: left)
    }

    // MARK: - Steps

    private func client(_ cluster: String) throws -> KubeClient {
        guard let c = clients[cluster] else { throw ApplyError.noConnection(cluster: cluster) }
        return c
    }

    private func applyStep(_ change: PlannedChange, run: RunID, previous: ManagedObject?) async throws {
        guard let r = mesh.resource(at: change.address) else { throw ApplyError.notInMesh(change.address) }
        let started = ContinuousClock.now
        emit(.started(address: change.address, action: change.action))
        let c = try client(r.address.cluster)
        let gvk = GroupVersionKind(apiVersion: r.body.apiVersion ?? "v1", kind: r.body.kind ?? "")
        // A create's plan saw nothing live: no need to ask again (one request fewer per new object).
        let previousLive = change.action == .create ? nil : try await c.get(gvk, namespace: r.body.namespace, name: r.body.name ?? "")
        try store.journal(run, step: JournalStep(address: change.address, action: change.action.rawValue, phase: .started,
                                                 before: previous?.applied, after: nil, error: nil))
        do {
            if ReachabilityGate.guards(r, in: mesh.topology) { try await gate.check() }
            if change.action == .replace, previousLive != nil {
                _ = try await c.delete(gvk, namespace: r.body.namespace, name: r.body.name ?? "", propagation: "Foreground",
                                       waitUntilGone: options.deletionTimeout)
            }
            let body = try bodyToApply(r, live: change.action == .replace ? nil : previousLive)
            var applied = try await c.apply(body, fieldManager: Self.fieldManager, force: true)
            if let ready = try await r.readiness.wait(for: r, client: c, timeout: options.readinessTimeout, progress: { [emit] in
                emit(.waiting(address: change.address, what: $0))
            }) { applied = ready }
            resolveProduced(by: r.address, from: applied)
            let record = managedObject(r, sent: body, live: applied, previous: previous)
            try store.upsert(record, run: run)
            lock.withLock {
                done.append(CompletedStep(address: change.address, cluster: r.address.cluster, action: change.action,
                                          previous: previous, previousLive: previousLive))
            }
            try store.journal(run, step: JournalStep(address: change.address, action: change.action.rawValue, phase: .done,
                                                     before: previous?.applied, after: record.applied, error: nil))
            emit(.finished(address: change.address, action: change.action, elapsed: ContinuousClock.now - started))
        } catch {
            let message = Self.describe(error)
            try? store.journal(run, step: JournalStep(address: change.address, action: change.action.rawValue, phase: .failed,
                                                      before: previous?.applied, after: nil, error: message))
            emit(.failed(address: change.address, action: change.action, error: message))
            throw error
        }
    }

    private func deleteStep(_ change: PlannedChange, run: RunID, previous: ManagedObject?) async throws {
        let started = ContinuousClock.now
        emit(.started(address: change.address, action: .delete))
        let target = try deletionTarget(change, previous: previous)
        let c = try client(target.cluster)
        let previousLive = try await c.get(target.gvk, namespace: target.namespace, name: target.name)
        try store.journal(run, step: JournalStep(address: change.address, action: Action.delete.rawValue, phase: .started,
                                                 before: previous?.applied, after: nil, error: nil))
        do {
            if previousLive != nil {
                _ = try await c.delete(target.gvk, namespace: target.namespace, name: target.name, propagation: "Background",
                                       waitUntilGone: options.deletionTimeout) { [emit] in
                    emit(.waiting(address: change.address, what: "deletion (\($0))"))
                }
            }
            try store.remove(address: change.address, run: run)
            lock.withLock {
                done.append(CompletedStep(address: change.address, cluster: target.cluster, action: .delete,
                                          previous: previous, previousLive: previousLive))
            }
            try store.journal(run, step: JournalStep(address: change.address, action: Action.delete.rawValue, phase: .done,
                                                     before: previous?.applied, after: nil, error: nil))
            emit(.finished(address: change.address, action: .delete, elapsed: ContinuousClock.now - started))
        } catch {
            let message = Self.describe(error)
            try? store.journal(run, step: JournalStep(address: change.address, action: Action.delete.rawValue, phase: .failed,
                                                      before: previous?.applied, after: nil, error: message))
            emit(.failed(address: change.address, action: .delete, error: message))
            throw error
        }
    }

    struct DeletionTarget { var cluster: String; var gvk: GroupVersionKind; var namespace: String?; var name: String }

    func deletionTarget(_ change: PlannedChange, previous: ManagedObject?) throws -> DeletionTarget {
        if let p = previous {
            return DeletionTarget(cluster: p.cluster, gvk: GroupVersionKind(apiVersion: p.apiVersion, kind: p.kind),
                                  namespace: p.namespace, name: p.name)
        }
        guard let b = change.before, let name = b.name else { throw ApplyError.notInMesh(change.address) }
        return DeletionTarget(cluster: change.cluster, gvk: GroupVersionKind(apiVersion: b.apiVersion ?? "v1", kind: b.kind ?? ""),
                              namespace: b.namespace, name: name)
    }

    func bodyToApply(_ r: Resource, live: JSON?) throws -> JSON {
        try ApplyBody.make(r, computed: lock.withLock { computed }, live: live)
    }

    private func resolveProduced(by address: ResourceAddress, from live: JSON) {
        for r in mesh.resources {
            for cv in r.computed where cv.producer == address {
                if let v = ComputedValues.resolve(cv, producer: live, endpoint: { self.endpoints[$0] }) {
                    lock.withLock { computed[cv.placeholder] = v }
                }
            }
        }
    }

    func managedObject(_ r: Resource, sent: JSON, live: JSON, previous: ManagedObject?) -> ManagedObject {
        let masked = store.maskSecrets(sent)
        return ManagedObject(
            address: r.address.description, cluster: r.address.cluster, apiVersion: sent.apiVersion ?? "v1",
            kind: sent.kind ?? "", namespace: sent.namespace, name: sent.name ?? "", uid: live.uid,
            resourceVersion: live.resourceVersion, applied: masked, appliedHash: StateStore.contentHash(masked),
            dependencies: r.dependsOn.map(\.description).sorted(), sensitive: r.sensitive,
            createdAt: previous?.createdAt ?? Date(), updatedAt: Date())
    }

    static func describe(_ error: any Error) -> String { String(describing: error) }

    // MARK: - Rollback

    /// Undoes the completed steps in reverse order. Returns what could not be undone (empty: all undone).
    func rollback(run: RunID) async -> [String] {
        let steps = Array(lock.withLock { done }.reversed())
        for (i, step) in steps.enumerated() {
            let what = Self.undoDescription(step)
            emit(.undoStarted(address: step.address, what: what))
            do {
                try await undo(step, run: run)
                try store.journal(run, step: JournalStep(address: step.address, action: step.action.rawValue, phase: .undone,
                                                         before: nil, after: step.previous?.applied, error: nil))
                emit(.undone(address: step.address, what: what))
            } catch {
                let message = Self.describe(error)
                try? store.journal(run, step: JournalStep(address: step.address, action: step.action.rawValue, phase: .undoFailed,
                                                          before: nil, after: nil, error: message))
                emit(.undoFailed(address: step.address, what: what, error: message))
                // Stop here: later undos may depend on this one. Say exactly what is left.
                return ["\(step.address): \(what) failed: \(message)"]
                    + steps[(i + 1)...].map { "\($0.address): not undone (\(Self.undoDescription($0)))" }
            }
        }
        return []
    }

    static func undoDescription(_ s: CompletedStep) -> String {
        switch s.action {
        case .create, .adopt: return s.previousLive == nil ? "delete the created object" : "restore the previous version"
        case .update, .replace: return "restore the previous version"
        case .delete: return "recreate the deleted object"
        case .noOp: return "nothing"
        }
    }

    private func undo(_ s: CompletedStep, run: RunID) async throws {
        let c = try client(s.cluster)
        if s.previousLive == nil {
            // It did not exist before this run: delete it.
            guard let r = mesh.resource(at: s.address) else { return }
            let gvk = GroupVersionKind(apiVersion: r.body.apiVersion ?? "v1", kind: r.body.kind ?? "")
            _ = try await c.delete(gvk, namespace: r.body.namespace, name: r.body.name ?? "", propagation: "Foreground",
                                   waitUntilGone: options.deletionTimeout)
            try store.remove(address: s.address, run: run)
            return
        }
        // It existed: put back the version that was live before (secret values kept in memory for this run only).
        let live: JSON
        if s.action == .delete || s.action == .replace {
            try await Recreation.waitUntilPossible(s.previousLive!, client: c, timeout: options.deletionTimeout) { [emit] in
                emit(.waiting(address: s.address, what: $0))
            }
            live = try await c.create(Self.restorable(s.previousLive!))
        } else if let p = s.previous, !p.sensitive {
            // Re-applying the previous applied version restores Meshform's fields exactly and drops the ones it added.
            live = try await c.apply(p.applied, fieldManager: Self.fieldManager, force: true)
        } else {
            live = try await c.apply(Self.restorable(s.previousLive!), fieldManager: Self.fieldManager, force: true)
        }
        if var p = s.previous {
            p.uid = live.uid; p.resourceVersion = live.resourceVersion
            try store.upsert(p, run: run)
        } else {
            try store.remove(address: s.address, run: run)
        }
    }

    /// A live object stripped of what the server owns (identity, bookkeeping, status): ready to be written back,
    /// or shown as what an object would become.
    static func restorable(_ live: JSON) -> JSON {
        var o = live
        o["status"] = nil
        for k in ["uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "deletionTimestamp"] {
            o[path: ["metadata", k]] = nil
        }
        return o
    }
}

/// The body sent to the API server for a resource: computed values filled in, secret `stringData` folded into
/// `data`, and, once the object exists (`live`), the fields other controllers own by rule (webhook caBundle...) released
/// without being reset (`ManagedFields.releasing`). Apply and `plan --server-dry-run` send exactly this.
enum ApplyBody {
    static func make(_ r: Resource, computed: ComputedValues, live: JSON?) throws -> JSON {
        var body = r.computed.isEmpty ? r.body : computed.substitute(in: r.body)
        if let missing = r.computed.first(where: { body.jsonString.contains($0.placeholder) }) {
            throw ApplyError.computedUnknown(address: r.address.description, producer: missing.producer.description)
        }
        body = SecretBody.foldingStringData(body)
        if let live { body = ManagedFields.releasing(r.ignoreFields.map(FieldPattern.init), in: body, live: live, manager: Executor.fieldManager) }
        return body
    }
}

public enum ApplyError: Error, CustomStringConvertible {
    case noConnection(cluster: String)
    case notInMesh(String)
    case computedUnknown(address: String, producer: String)
    public var description: String {
        switch self {
        case .noConnection(let c): return "no connection to cluster \(c); check its context in the mesh file and your kubeconfig"
        case .notInMesh(let a): return "\(a) is not in the compiled mesh; re-run plan"
        case .computedUnknown(let a, let p):
            return "\(a) needs a value computed from \(p), which is not known yet; \(p) must be applied and ready first"
        }
    }
}
