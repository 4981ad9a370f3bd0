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
        var ready = AddressHeap()
        for (a, n) in remaining where n == 0 { ready.push(a) }
        var order: [ResourceAddress] = []
        order.reserveCapacity(resources.count)
        while let a = ready.pop() {
            order.append(a)
            for d in dependents(of: a) {
                remaining[d]! -= 1
                if remaining[d]! == 0 { ready.push(d) }
            }
        }
        if order.count != resources.count { throw GraphCycleError(cycles: cycles()) }
        return order
    }

    /// The order for tear-down: dependents before what they depend on.
    public func reverseOrder() throws -> [ResourceAddress] { try topologicalOrder().reversed() }
}

/// A binary min-heap of addresses: the ready set of the topological sort.
struct AddressHeap {
    private var items: [ResourceAddress] = []
    private var keys: [String] = []

    mutating func push(_ a: ResourceAddress) {
        items.append(a); keys.append(a.description)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if keys[i] < keys[p] { items.swapAt(i, p); keys.swapAt(i, p); i = p } else { break }
        }
    }

    mutating func pop() -> ResourceAddress? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        items.swapAt(0, items.count - 1); keys.swapAt(0, keys.count - 1)
        items.removeLast(); keys.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && keys[l] < keys[m] { m = l }
            if r < items.count && keys[r] < keys[m] { m = r }
            if m == i { break }
            items.swapAt(i, m); keys.swapAt(i, m); i = m
        }
        return top
    }
}
