import HeapModule
import KubeModel

/// The dependency graph of a compiled mesh: vertices are resources, an edge `a -> b` means `a` depends on `b`
/// (so `b` is applied first).
///
/// Edges to addresses that are not vertices are dropped (they name objects Meshform does not manage, e.g. a
/// namespace the cluster already has), and recorded in `danglingDependencies` so callers can report them.
/// Everything here is deterministic: the same resources give the same orders and the same DOT text.
public struct ResourceGraph: Sendable {
    public let resources: [ResourceAddress: Resource]
    /// `dependencies[a]` = what `a` waits for.
    public let dependencies: [ResourceAddress: [ResourceAddress]]
    /// `dependentsByAddress[b]` = what waits for `b`.
    private let dependentsByAddress: [ResourceAddress: [ResourceAddress]]
    public let danglingDependencies: [(from: ResourceAddress, to: ResourceAddress)]

    public init(resources: [Resource]) {
        var byAddress: [ResourceAddress: Resource] = [:]
        for r in resources { byAddress[r.address] = r }
        var deps: [ResourceAddress: [ResourceAddress]] = [:]
        var rdeps: [ResourceAddress: [ResourceAddress]] = [:]
        var dangling: [(ResourceAddress, ResourceAddress)] = []
        for (a, r) in byAddress {
            var mine: [ResourceAddress] = []
            for d in r.dependsOn where d != a {
                if byAddress[d] != nil { mine.append(d); rdeps[d, default: []].append(a) } else { dangling.append((a, d)) }
            }
            deps[a] = mine.sorted()
        }
        for k in rdeps.keys { rdeps[k]!.sort() }
        self.resources = byAddress
        self.dependencies = deps
        self.dependentsByAddress = rdeps
        self.danglingDependencies = dangling.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
    }

    public var addresses: [ResourceAddress] { resources.keys.sorted() }

    /// The resources that directly wait for `address`.
    public func dependents(of address: ResourceAddress) -> [ResourceAddress] { dependentsByAddress[address] ?? [] }

    /// Everything `address` waits for, directly or through others.
    public func ancestors(of address: ResourceAddress) -> Set<ResourceAddress> {
        var seen: Set<ResourceAddress> = []
        var stack = dependencies[address] ?? []
        while let n = stack.popLast() {
            guard seen.insert(n).inserted else { continue }
            stack.append(contentsOf: dependencies[n] ?? [])
        }
        return seen
    }

    /// Every resource after all of its dependencies; among resources that are ready at the same time the
    /// smallest address comes first, so the order is a pure function of the graph.
    /// Throws `GraphCycleError` (listing each cycle) if there is none.
    public func topologicalOrder() throws -> [ResourceAddress] {
        var remaining: [ResourceAddress: Int] = [:]
        for (a, d) in dependencies { remaining[a] = d.count }
        var ready = Heap<ReadyAddress>()
        for (a, n) in remaining where n == 0 { ready.insert(ReadyAddress(a)) }
        var order: [ResourceAddress] = []
        order.reserveCapacity(resources.count)
        while let a = ready.popMin()?.address {
            order.append(a)
            for d in dependents(of: a) {
                remaining[d]! -= 1
                if remaining[d]! == 0 { ready.insert(ReadyAddress(d)) }
            }
        }
        if order.count != resources.count { throw GraphCycleError(cycles: cycles()) }
        return order
    }

    /// The order for tear-down: dependents before what they depend on.
    public func reverseOrder() throws -> [ResourceAddress] { try topologicalOrder().reversed() }
}

/// An address in the ready set of the topological sort (swift-collections' `Heap`), ordered by its text, computed once.
private struct ReadyAddress: Comparable {
    let key: String
    let address: ResourceAddress
    init(_ a: ResourceAddress) { key = a.description; address = a }
    static func < (a: Self, b: Self) -> Bool { a.key < b.key }
    static func == (a: Self, b: Self) -> Bool { a.key == b.key }
}
