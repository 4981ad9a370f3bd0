import Foundation
import KubeClient
import KubeModel
import StateStore
import Synchronization

/// One mesh file, compiled, with its state file: the operations the CLI offers (plan, apply, destroy, drift,
/// recover), each with the guarantees users rely on. The CLI only parses arguments and prints.
public final class MeshSession: Sendable {
    public let meshFile: String
    public let statePath: String
    public let environment: [String: String]
    /// How every cluster is reached (timeouts, retries), fixed for the session's life.
    public let clientOptions: ClientOptions
    /// The mesh file's own compiled mesh, before day 2 aligns it with the state (`DayTwo.prepare`).
    let compiled: CompiledMesh
    /// `apply -finalize`: a canary upgrade's last phase may run.
    let finalize: Bool
    /// Whether `mesh` and `upgrade` follow the state (a mesh file's session) or are fixed (a day-2 operation's own
    /// mesh, e.g. a rotation's, and the session `prepared` returns).
    private let followsState: Bool
    /// `mesh` and `upgrade` as the last state snapshot this session read has them (nil: none read yet).
    private let dayTwo: Mutex<DayTwoView?>

    /// What day 2 makes of the compiled mesh for one state snapshot (see `DayTwo.prepare`).
    struct DayTwoView: Sendable { var mesh: CompiledMesh; var upgrade: UpgradeStatus? }

    /// The mesh plan and apply work towards: the mesh file's, with the remote-secret tokens named as the state has
    /// them and, during a canary upgrade, the next phase. Plan, apply and drift derive it from the one state snapshot
    /// each reads (apply: under the write lock); read here first, the state is read once for it. Should the state
    /// refuse it (an `UpgradeError`, an unreadable state), this is the mesh file's own mesh, and plan and apply
    /// throw that error.
    public var mesh: CompiledMesh { current.mesh }
    /// The canary upgrade in progress, and the phase `mesh` is (nil: none). See `CanaryUpgrade` and `mesh`.
    public var upgrade: UpgradeStatus? { current.upgrade }

    /// Loads and compiles `meshFile` (running istioctl or helm when the mesh file asks for them). Errors name the file,
    /// line and column. `finalize`: a canary upgrade's last phase may run (`apply -finalize`). Reads no state: the
    /// day-2 view of the mesh comes from the snapshot each operation reads.
    public init(meshFile: String, statePath: String? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment,
                clientOptions: ClientOptions = ClientOptions(), finalize: Bool = false) async throws {
        self.meshFile = meshFile
        self.environment = environment
        self.clientOptions = clientOptions
        self.finalize = finalize
        let topology = try MeshFile.load(path: meshFile, environment: environment)
        compiled = try await Compiler(renderer: Compiler.renderer(for: topology)).compile(topology)
        // `--state` or MESHFORM_STATE (the caller's `statePath`), else the mesh file's `state:`, else state/<mesh>.db.
        // A PostgreSQL URL gets this mesh's own schema when it names none.
        self.statePath = StateLocation.forMesh(statePath ?? topology.state ?? "state/\(topology.name).db", mesh: topology.name)
        followsState = true
        dayTwo = Mutex(nil)
    }

    /// The same mesh file and state with another compiled mesh (a day-2 operation's, e.g. a rotation's).
    convenience init(_ other: MeshSession, mesh: CompiledMesh) {
        self.init(other, fixed: DayTwoView(mesh: mesh, upgrade: nil))
    }

    private init(_ other: MeshSession, fixed view: DayTwoView) {
        meshFile = other.meshFile; environment = other.environment; statePath = other.statePath
        clientOptions = other.clientOptions; finalize = other.finalize
        compiled = view.mesh; followsState = false; dayTwo = Mutex(view)
    }

    /// This session as the state snapshot `state` has it: a session whose `mesh` and `upgrade` are fixed to that
    /// snapshot's, so one operation plans and applies against the state it read. Remembered as this session's view.
    func prepared(_ state: StateSnapshot?) throws -> MeshSession {
        guard followsState else { return self }
        let (mesh, upgrade) = try DayTwo.prepare(compiled, state: state, finalize: finalize)
        let view = DayTwoView(mesh: mesh, upgrade: upgrade)
        dayTwo.withLock { $0 = view }
        return MeshSession(self, fixed: view)
    }

    /// `mesh` and `upgrade`, reading the state for them if no operation has yet; throws what `DayTwo.prepare` or the
    /// state throws (day-2 operations that must refuse a state a plan would refuse).
    func dayTwoView() throws -> DayTwoView {
        if let view = dayTwo.withLock({ $0 }) { return view }
        let state = try stateExists ? try StateStore.openReadOnly(path: statePath).snapshot() : nil
        _ = try prepared(state)
        return dayTwo.withLock { $0 }!
    }

    private var current: DayTwoView { (try? dayTwoView()) ?? DayTwoView(mesh: compiled, upgrade: nil) }

    /// Whether the state exists yet (a file, or a PostgreSQL schema); an unreachable database is an error, not "no".
    public var stateExists: Bool { get throws { try StateStore.exists(at: statePath) } }

    // MARK: - Plan (read-only, lock-free)

    /// The plan against the current state and live objects. Takes no lock and writes nothing.
    public func plan(_ options: PlanOptions) async throws -> (Plan, ComputedValues) {
        let store = try stateExists ? try StateStore.openReadOnly(path: statePath) : nil
        let clusters = options.refresh
            ? try Clusters(topology: compiled.topology, recorded: try store?.clusters() ?? [], environment: environment, options: clientOptions)
            : nil
        return try await withCleanup {
            // The state and the desired objects' live versions are both large: read them at the same time (the mesh
            // file's objects; those day 2 adds or renames are read once the state says which).
            let targets = compiled.resources.map(LiveTarget.init)
            async let desiredLive: LiveObjects? = readLive(targets, clusters: clusters)
            let snapshot = try store?.snapshot()
            let prefetched = await desiredLive
            if let run = snapshot?.unfinishedRun { throw SessionError.unfinishedRun(id: run.id.rawValue, kind: run.kind.rawValue, startedAt: "\(run.startedAt)") }
            let masking = store.map(SecretMasking.init(store:)) ?? SecretMasking.ephemeral()
            return try await prepared(snapshot).makePlan(options, snapshot: snapshot, clusters: clusters, masking: masking,
                                                         prefetched: prefetched.map { (Set(targets.map(\.address)), $0) })
        } cleanup: { await clusters?.shutdown() }
    }

    /// Where every desired object would be live.
    var desiredTargets: [LiveTarget] { mesh.resources.map(LiveTarget.init) }

    private func readLive(_ targets: [LiveTarget], clusters: Clusters?) async -> LiveObjects? {
        guard let clusters else { return nil }
        // The read-only plan's one read of each cluster (a second, of objects only the state names, opens a new connection).
        return await LiveReader(clients: clusters.clients, closingConnections: true).read(targets)
    }

    /// `prefetched`: live versions already read, and of which addresses (plan reads the mesh file's objects while it
    /// reads state). Called on a session `prepared` from `snapshot`.
    func makePlan(_ options: PlanOptions, snapshot: StateSnapshot?, clusters: Clusters?,
                  masking: SecretMasking, prefetched: (addresses: Set<String>, live: LiveObjects)? = nil) async throws -> (Plan, ComputedValues) {
        var live = LiveObjects()
        if let clusters {
            let desired = Set(mesh.resources.map { $0.address.description })
            let stateOnly = (snapshot?.objects ?? []).filter { !desired.contains($0.address) }.map(LiveTarget.init)
            if let prefetched {
                live = prefetched.live
                let missing = (desiredTargets + stateOnly).filter { !prefetched.addresses.contains($0.address) }
                let rest = missing.isEmpty ? LiveObjects() : await LiveReader(clients: clusters.clients).read(missing)
                live.objects.merge(rest.objects) { a, _ in a }
                live.unreachable.merge(rest.unreachable) { a, _ in a }
            } else {
                live = await LiveReader(clients: clusters.clients).read(desiredTargets + stateOnly)
            }
            if !live.unreachable.isEmpty { throw SessionError.unreachable(live.unreachable) }
        } else {
            // --refresh=false: assume every object is live exactly as it was applied.
            for o in snapshot?.objects ?? [] { live.objects[o.address] = o.applied }
        }
        let planner = Planner(mesh: mesh, state: snapshot, live: live, endpoints: clusters?.endpoints ?? [:],
                              meshFile: meshFile, mask: masking.mask)
        var (plan, computed) = try planner.plan(options)
        await annotateUpgrade(&plan, clients: clusters?.clients)
        if options.serverDryRun, let clusters {
            plan.changes = await ServerDryRun(mesh: mesh, clients: clusters.clients, computed: computed, mask: masking.mask)
                .refine(plan.changes, live: live)
        }
        return (plan, computed)
    }

    // MARK: - Apply and destroy (write lock)

    public struct ApplyRequest: Sendable {
        public var plan = PlanOptions()
        public var apply = ApplyOptions()
        /// A plan saved with `-out`, to be applied exactly.
        public var saved: Plan?
        public var lockTimeout: Duration = .zero
        /// How long the lock holds without renewal (renewed every third of it); a killed run's lock expires after it.
        public var lease: Duration = .seconds(120)
        /// `recover --continue`: the interrupted run this apply finishes (closed once confirmed).
        var continuing: RunID?
        public init() {}
    }

    /// Plans (or checks the saved plan), asks `confirm`, and runs it. Holds the state's write lock throughout.
    public func apply(_ request: ApplyRequest, confirm: @escaping @Sendable (Plan) async -> Bool,
                      emit: @escaping @Sendable (ApplyEvent) -> Void) async throws -> (Plan, ApplyResult) {
        let existed = try stateExists
        // StateStore.open creates missing parent directories itself, mode 0700.
        let store = try StateStore.open(path: statePath, create: true)
        let lease = try await Self.takeLock(store, who: request.apply.who, operation: request.plan.operation.rawValue,
                                            timeout: request.lockTimeout, lease: request.lease, emit: emit)
        defer { Self.release(lease, store) }

        let snapshot = try store.snapshot()
        if let run = snapshot.unfinishedRun, run.id != request.continuing { throw SessionError.unfinishedRun(id: run.id.rawValue, kind: run.kind.rawValue, startedAt: "\(run.startedAt)") }
        // The mesh and upgrade phase as this snapshot, read under the lock, has them.
        return try await prepared(snapshot).applyHoldingLock(request, existed: existed, store: store, lease: lease, snapshot: snapshot,
                                                             confirm: confirm, emit: emit)
    }

    private func applyHoldingLock(_ request: ApplyRequest, existed: Bool, store: StateStore, lease: LockRenewal, snapshot: StateSnapshot,
                                  confirm: @escaping @Sendable (Plan) async -> Bool,
                                  emit: @escaping @Sendable (ApplyEvent) -> Void) async throws -> (Plan, ApplyResult) {
        let clusters = try Clusters(topology: mesh.topology, recorded: snapshot.clusters, environment: environment, options: clientOptions)
        return try await withCleanup {
            for c in mesh.topology.clusters {
                try store.recordCluster(ClusterRecord(name: c.name, context: c.context, kubeconfig: c.kubeconfig))
            }

            var (plan, computed) = try await makePlan(request.saved.map { var o = request.plan; o.operation = $0.operation; return o } ?? request.plan,
                                                      snapshot: snapshot, clusters: clusters, masking: SecretMasking(store: store))
            if let upgrade { try await CanaryUpgrade.checkBetweenPhases(upgrade, mesh: mesh, clients: clusters.clients, endpoints: clusters.endpoints) }
            if let saved = request.saved {
                try Self.checkSaved(saved, existed: existed, snapshot: snapshot, configHash: mesh.configHash)
                plan = saved
            } else if plan.hasChanges, !(await confirm(plan)) {
                throw SessionError.notConfirmed
            }
            if let dead = request.continuing {
                try store.finishRun(dead, outcome: .failed, message: "died mid-run; continued by `meshform recover --continue`")
            }
            guard plan.hasChanges else { return (plan, .succeeded(ApplySummary())) }
            let executor = Executor(mesh: mesh, clients: clusters.clients, endpoints: clusters.endpoints, store: store,
                                    computed: computed, options: request.apply, lease: lease, emit: emit)
            return (plan, try await executor.run(plan))
        } cleanup: { await clusters.shutdown() }
    }

    /// The state's write lock, waited for without blocking a thread, and renewed until `release` by the store's one
    /// renewal mechanism (`keepRenewing`).
    /// A killed run stops renewing, so its lease expires by itself (or is taken over at once on this host).
    /// While it waits, `emit` says who holds the lock.
    static func takeLock(_ store: StateStore, who: String, operation: String, timeout: Duration,
                         lease: Duration = .seconds(120), emit: (@Sendable (ApplyEvent) -> Void)? = nil) async throws -> LockRenewal {
        let lock = try await store.acquireLock(who: who, operation: operation, timeout: timeout, lease: lease) { holder in
            emit?(.note("waiting for the state lock, held by \(holder.summary)"))
        }
        return store.keepRenewing(lock, lease: lease)
    }

    static func release(_ lease: LockRenewal, _ store: StateStore) {
        lease.stop()
        try? store.releaseLock(lease.lock)
    }

    /// A saved plan is applied only against the exact state it was made from.
    static func checkSaved(_ saved: Plan, existed: Bool, snapshot: StateSnapshot, configHash: String) throws {
        if saved.formatVersion != Plan.formatVersion { throw SessionError.stalePlan("it was written by another Meshform version") }
        switch saved.stateLineage {
        case nil where existed && (snapshot.serial > 0 || !snapshot.objects.isEmpty):
            throw SessionError.stalePlan("it was made when no state existed, and state \(snapshot.lineage) has been written since")
        case let lineage? where lineage != snapshot.lineage:
            throw SessionError.stalePlan("it was made against state lineage \(lineage), not \(snapshot.lineage)")
        case _? where saved.stateSerial != snapshot.serial:
            throw SessionError.stalePlan("the state's serial moved from \(saved.stateSerial ?? 0) to \(snapshot.serial)")
        default: break
        }
        if saved.configHash != configHash { throw SessionError.stalePlan("the mesh file or rendered components changed") }
    }

    // MARK: - Drift (read-only, lock-free)

    /// `maxTokenAge`: warn about remote-secret tokens older than this (and about their ServiceAccounts gone).
    public func drift(maxTokenAge: Duration? = nil) async throws -> DriftReport {
        // No lock: drift only adds its findings to the drift history, which never conflicts with an apply.
        let store = try StateStore.open(path: statePath, create: false)
        let snapshot = try store.snapshot()
        let mesh = try prepared(snapshot).mesh
        let clusters = try Clusters(topology: mesh.topology, recorded: snapshot.clusters, environment: environment, options: clientOptions)
        return try await withCleanup {
            var ignore: [String: [String]] = [:]
            for r in mesh.resources where !r.ignoreFields.isEmpty { ignore[r.address.description] = r.ignoreFields }
            var detector = DriftDetector(snapshot: snapshot, clients: clusters.clients, mesh: mesh.topology.name,
                                         ignoreFields: ignore, mask: { store.maskSecrets($0) })
            detector.recheck = { try? store.knownAddresses() }
            let configDrift = snapshot.lastApplyConfigHash.map { $0 != mesh.configHash }
            // The token ages first: the check closes each cluster's connections once it is done with the cluster.
            let warnings: [String]? = if let maxTokenAge { await RemoteSecretAge.warnings(mesh: mesh, clients: clusters.clients, maxAge: maxTokenAge) } else { nil }
            var report = await detector.check(configDrift: configDrift)
            report.warnings = warnings
            try store.recordDriftCheck(findings: report.records, at: report.checkedAt, clusters: Set(clusters.clients.keys).subtracting(report.unreachable.keys))
            return report
        } cleanup: { await clusters.shutdown() }
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}

/// Runs `body`, then `cleanup`, whether `body` returned or threw: structured cleanup of async resources (cluster
/// clients), which a `defer` cannot await.
func withCleanup<T>(_ body: () async throws -> T, cleanup: () async -> Void) async throws -> T {
    let result: T
    do { result = try await body() } catch {
        await cleanup()
        throw error
    }
    await cleanup()
    return result
}

extension MeshSession {
    /// The drift history: when each drift was first and last seen, and when it was resolved.
    public func driftHistory() throws -> [DriftEvent] {
        try StateStore.openReadOnly(path: statePath).driftHistory()
    }
}
