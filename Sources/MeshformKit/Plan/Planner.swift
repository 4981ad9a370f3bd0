import Foundation
import Synchronization
import KubeModel
import StateStore

/// Live objects read from the clusters, by resource address.
public struct LiveObjects: Sendable {
    public var objects: [String: JSON] = [:]
    /// Clusters that could not be read: cluster name -> what went wrong.
    public var unreachable: [String: String] = [:]
    public init(objects: [String: JSON] = [:], unreachable: [String: String] = [:]) {
        self.objects = objects; self.unreachable = unreachable
    }
}

public struct PlanOptions: Sendable {
    public var operation: Plan.Operation = .apply
    /// Read live objects (false: plan from state alone, assuming live equals what was applied).
    public var refresh = true
    /// Take objects that exist live but are unknown to state under management.
    public var adopt = false
    /// Take these addresses under management even without `adopt` (what an interrupted run created before it
    /// could record it).
    public var adoptAddresses: Set<String> = []
    /// Only these addresses and what they depend on (destroy: and what depends on them); empty: everything.
    public var targets: [String] = []
    /// Delete and recreate these addresses even if unchanged. Each must be a resource of the mesh file.
    public var replace: [String] = []
    /// Ask each API server for the exact result of every create and update (server-side apply, dry run).
    public var serverDryRun = false
    public init() {}
}

/// Desired (the compiler) vs state (what was applied) vs live: the plan. A pure function of its inputs, so the
/// same inputs give the same plan, byte for byte.
public struct Planner: Sendable {
    public var mesh: CompiledMesh
    public var state: StateSnapshot?
    public var live: LiveObjects
    public var endpoints: [String: ClusterEndpoint]
    /// Replaces secret values by the state's keyed hash (see `SecretMasking`).
    public var mask: @Sendable (JSON) -> JSON
    public var meshFile: String

    public init(mesh: CompiledMesh, state: StateSnapshot?, live: LiveObjects, endpoints: [String: ClusterEndpoint],
                meshFile: String, mask: @escaping @Sendable (JSON) -> JSON) {
        self.mesh = mesh; self.state = state; self.live = live; self.endpoints = endpoints
        self.meshFile = meshFile; self.mask = mask
    }

    /// The plan, and the computed values it could already resolve from live objects.
    public func plan(_ options: PlanOptions) throws -> (Plan, ComputedValues) {
        let stateObjects = Dictionary((state?.objects ?? []).map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        let computed = resolveComputed()
        var changes: [PlannedChange] = []
        let selected = try selection(options.targets, operation: options.operation)
        let desiredAddresses = Set(mesh.resources.map { $0.address.description })
        for a in options.replace where !desiredAddresses.contains(a) { throw PlanError.unknownReplace(a) }

        if options.operation == .apply {
            let wanted = mesh.resources.filter { selected?.contains($0.address.description) ?? true }
            let hashes = BodyHashes(), diffs = FieldDiff.Memo()
            changes = try Self.concurrentMap(wanted) { r in
                try change(for: r, state: stateObjects[r.address.description], computed: computed, options: options,
                           hashes: hashes, diffs: diffs)
            }
        }
        // Deletions: everything in state that is no longer desired (destroy: everything in state).
        let desired = Set(mesh.resources.map { $0.address.description })
        let gone = (state?.objects ?? []).filter { options.operation == .destroy || !desired.contains($0.address) }
        for o in DestroyOrder.sorted(gone) where selected?.contains(o.address) ?? true {
            let liveObject = live.objects[o.address]
            changes.append(PlannedChange(
                address: try ResourceAddress(parsing: o.address), cluster: o.cluster, action: .delete,
                reason: liveObject == nil ? "already gone; removed from state" :
                    (options.operation == .destroy ? nil : "no longer in the mesh file"),
                fields: [], before: liveObject.map(masked), after: nil, afterUnknown: [], sensitive: o.sensitive))
        }
        // Terraform's prevent_destroy: any plan that would delete or replace a protected object is refused, whatever
        // the operation (https://developer.hashicorp.com/terraform/language/meta-arguments/lifecycle#prevent_destroy).
        for c in changes where c.action == .delete || c.action == .replace {
            if let r = mesh.resource(at: c.address), r.preventDestroy { throw PlanError.preventDestroy(address: c.address.description, action: c.action) }
        }
        let plan = Plan(operation: options.operation, mesh: mesh.topology.name, meshFile: meshFile,
                        stateLineage: state?.lineage, stateSerial: state?.serial, configHash: mesh.configHash,
                        createdAt: Date(), changes: changes, refreshed: options.refresh)
        return (plan, computed)
    }

    private func change(for r: Resource, state s: ManagedObject?, computed: ComputedValues, options: PlanOptions,
                        hashes: BodyHashes, diffs: FieldDiff.Memo) throws -> PlannedChange {
        let address = r.address.description
        let intended = r.computed.isEmpty ? r.body : computed.substitute(in: r.body, placeholders: r.computed.map(\.placeholder))
        // Secrets are compared as the server stores them (`data`), so an unknown `stringData` value shows under `data`.
        let unknown = ComputedValues.unknownPaths(in: intended, placeholders: r.computed.map(\.placeholder))
            .map { $0.hasPrefix(".stringData.") ? ".data." + $0.dropFirst(".stringData.".count) : $0 }
        let maskedIntended = masked(intended)
        var c = PlannedChange(address: r.address, cluster: r.address.cluster, action: .noOp, reason: nil, fields: [],
                              before: nil, after: maskedIntended, afterUnknown: unknown, sensitive: r.sensitive)
        guard let liveObject = live.objects[address] else {
            c.action = .create
            if s != nil { c.reason = "deleted outside Meshform" }
            return c
        }
        let maskedLive = masked(liveObject)
        c.before = maskedLive
        if s == nil {
            c.action = .adopt
            c.adoptApproved = options.adopt || options.adoptAddresses.contains(address)
            c.reason = "exists in the cluster but not in state"
        }
        let ignore = r.ignoreFields.map(FieldPattern.init)
        // When the state's hash of what was applied is the intended body's, no field was dropped since: the stored body
        // is not even parsed.
        let previous = s.flatMap { $0.appliedHash == hashes.hash(maskedIntended) ? nil : $0.applied }
        var fields = FieldDiff.compare(intended: maskedIntended, live: maskedLive,
                                       previouslyApplied: previous, ignoring: ignore, memo: diffs)
        // A field whose value is still unknown shows as known after apply. Planning from state alone, nothing can
        // resolve it, so it is assumed unchanged rather than reported on every offline plan.
        let isUnknown = { (f: FieldChange) in unknown.contains { f.path.hasPrefix($0) || $0.hasPrefix(f.path) } }
        fields = fields.compactMap { f in
            guard isUnknown(f) else { return f }
            guard options.refresh else { return nil }
            var f = f
            f.after = .string(ComputedValue.displayText)
            return f
        }
        c.fields = fields
        let immutable = fields.first(where: { ImmutableFields.contains(kind: r.body.kind ?? "", path: $0.path) })
        // An object not in state is never deleted unless the user takes it over (`--adopt`).
        if c.action == .adopt, !c.adoptApproved {
            if options.replace.contains(address) { throw PlanError.replaceUnmanaged(address) }
            if let immutable { c.reason = "exists in the cluster but not in state; adopting it replaces it (immutable field \(immutable.path) changed)" }
            return c
        }
        if options.replace.contains(address) {
            c.action = .replace; c.reason = "replacement requested"
        } else if let immutable {
            c.action = .replace; c.reason = "immutable field \(immutable.path) changed"
        } else if c.action != .adopt, !fields.isEmpty {
            c.action = .update
        }
        return c
    }

    /// `transform` of every element, in order, on every core: each object's change (its hash, its comparison) depends on
    /// nothing but its own inputs, and it is most of a plan's work. The first error thrown, in element order, is thrown.
    static func concurrentMap<T: Sendable, R: Sendable>(_ items: [T], _ transform: @Sendable (T) throws -> R) throws -> [R] {
        let chunkSize = 32
        let chunks = (items.count + chunkSize - 1) / chunkSize
        guard chunks > 1 else { return try items.map(transform) }
        let results = Mutex<[Int: Result<[R], any Error>]>([:])
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let part = items[(c * chunkSize)..<min(items.count, (c + 1) * chunkSize)]
            let result = Result { try part.map(transform) }
            results.withLock { $0[c] = result }
        }
        return try results.withLock { all in try (0..<chunks).flatMap { try all[$0]!.get() } }
    }

    /// Secret values replaced by their keyed hash, `stringData` folded into `data`: what may be shown and compared.
    func masked(_ o: JSON) -> JSON { mask(SecretBody.foldingStringData(o)) }

    /// Computed values whose producer is live and ready.
    func resolveComputed() -> ComputedValues {
        var values = ComputedValues()
        for r in mesh.resources {
            for cv in r.computed where values[cv.placeholder] == nil {
                values[cv.placeholder] = ComputedValues.resolve(cv, producer: live.objects[cv.producer.description],
                                                                endpoint: { endpoints[$0] })
            }
        }
        return values
    }

    /// The addresses `targets` select, as Terraform's `-target` does: for apply, each target with everything it
    /// depends on (they must exist first); for destroy, each target with everything that depends on it (which
    /// cannot outlive it), never what it depends on. Dependencies are the mesh file's and, for objects only in
    /// state, the ones recorded with them. Nil when no target is given.
    /// (https://developer.hashicorp.com/terraform/cli/commands/plan#target-address)
    func selection(_ targets: [String], operation: Plan.Operation) throws -> Set<String>? {
        guard !targets.isEmpty else { return nil }
        var dependencies: [String: Set<String>] = [:]
        for o in state?.objects ?? [] { dependencies[o.address, default: []].formUnion(o.dependencies) }
        for r in mesh.resources { dependencies[r.address.description, default: []].formUnion(r.dependsOn.map(\.description)) }
        for t in targets where dependencies[t] == nil { throw PlanError.unknownTarget(t) }
        var edges = dependencies
        if operation == .destroy {
            edges = [:]
            for (a, deps) in dependencies { for d in deps { edges[d, default: []].insert(a) } }
        }
        var out = Set<String>()
        var queue = targets
        while let a = queue.popLast() {
            guard out.insert(a).inserted else { continue }
            queue += edges[a] ?? []
        }
        return out
    }
}

public enum PlanError: Error, CustomStringConvertible, Equatable {
    case preventDestroy(address: String, action: Action)
    case unknownTarget(String)
    case unknownReplace(String)
    case replaceUnmanaged(String)
    public var description: String {
        switch self {
        case .preventDestroy(let a, let action):
            return "\(a) has preventDestroy set in the mesh file, and this plan would \(action == .replace ? "replace (delete and recreate)" : "delete") it; "
                + "nothing was changed. Remove the flag (lifecycle.preventDestroy) if you mean it."
        case .unknownTarget(let t):
            return "-target \(t): no resource has this address; `meshform state list` and `meshform graph` show the addresses."
        case .unknownReplace(let t):
            return "-replace \(t): no resource of the mesh file has this address; `meshform graph` shows the addresses."
        case .replaceUnmanaged(let t):
            return "-replace \(t): the object exists in the cluster but Meshform does not manage it (not in state); "
                + "add --adopt to take it over and replace it."
        }
    }
}

/// Fields Kubernetes refuses to change in place: a change to one of them is a replace.
enum ImmutableFields {
    static let table: [String: [String]] = [
        "Deployment": [".spec.selector"], "StatefulSet": [".spec.selector"], "DaemonSet": [".spec.selector"],
        "Job": [".spec.selector", ".spec.template"], "Service": [".spec.clusterIP"],
        "RoleBinding": [".roleRef"], "ClusterRoleBinding": [".roleRef"], "Secret": [".type"],
    ]
    static func contains(kind: String, path: String) -> Bool {
        (table[kind] ?? []).contains { path == $0 || path.hasPrefix($0 + ".") || path.hasPrefix($0 + "[") }
    }
}

/// Order for deletions: dependents before what they depend on (the reverse of apply order).
enum DestroyOrder {
    static func sorted(_ objects: [ManagedObject]) -> [ManagedObject] {
        let byAddress = Dictionary(objects.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        var visited = Set<String>()
        var applyOrder: [ManagedObject] = []
        // Post-order depth-first walk with its own stack (no recursion: state can hold long dependency chains).
        for root in byAddress.keys.sorted() {
            guard let o = byAddress[root], visited.insert(root).inserted else { continue }
            var work: [(object: ManagedObject, deps: [String], next: Int)] = [(o, o.dependencies.sorted(), 0)]
            while let (o, deps, i) = work.last {
                if i < deps.count {
                    work[work.count - 1].next = i + 1
                    if let d = byAddress[deps[i]], visited.insert(deps[i]).inserted { work.append((d, d.dependencies.sorted(), 0)) }
                    continue
                }
                work.removeLast()
                applyOrder.append(o)
            }
        }
        return applyOrder.reversed()
    }
}

/// `StateStore.contentHash` of the intended bodies of one plan, each distinct body hashed once (#17): a fleet applies
/// the same body (an Istio CRD) in every cluster, and writing its canonical text was a sixth of a plan. Bodies are
/// looked up by kind and name and told apart by `==`, which is cheap for them: the compiler builds each cluster's copy
/// from one parsed manifest, so their large parts are the same storage and compare without being walked. The newest body
/// of each name is kept (as `FieldDiff.Memo` does): an equal one takes its place, so the remotes compare with a remote's
/// copy rather than the external cluster's, whose manifests are parsed apart; a different one is hashed and kept.
final class BodyHashes: Sendable {
    private let known = Mutex<[String: (body: JSON, hash: String)]>([:])

    func hash(_ body: JSON) -> String {
        let key = (body.apiVersion ?? "") + "/" + (body.kind ?? "") + "/" + (body.namespace ?? "") + "/" + (body.name ?? "")
        let hash = known.withLock({ $0[key] }).flatMap { $0.body == body ? $0.hash : nil } ?? StateStore.contentHash(body)
        known.withLock { $0[key] = (body, hash) }
        return hash
    }
}
