import KubeModel

/// Cycle detection (Tarjan's strongly connected components): a cycle means no apply order exists, and the
/// report names every resource in each cycle so the user can see which dependency to break.
public struct GraphCycleError: Error, CustomStringConvertible, Equatable {
    /// Each cycle's addresses, smallest first, in dependency order.
    public var cycles: [[ResourceAddress]]

    public var description: String {
        "the dependency graph has \(cycles.count) cycle(s), so no apply order exists:\n"
            + cycles.map { c in "  " + (c + [c[0]]).map(\.description).joined(separator: " -> ") }.joined(separator: "\n")
    }
}

extension ResourceGraph {
    /// Every cycle (strongly connected component with more than one vertex, or a self-loop), deterministic.
    public func cycles() -> [[ResourceAddress]] {
        var index = 0
        var indices: [ResourceAddress: Int] = [:]
        var low: [ResourceAddress: Int] = [:]
        var onStack: Set<ResourceAddress> = []
        var stack: [ResourceAddress] = []
        var result: [[ResourceAddress]] = []

        // Iterative Tarjan, so deep graphs cannot overflow the call stack.
        for root in addresses where indices[root] == nil {
            var work: [(ResourceAddress, Int)] = [(root, 0)]
            while let (v, i) = work.last {
                if i == 0 {
                    indices[v] = index; low[v] = index; index += 1
                    stack.append(v); onStack.insert(v)
                }
                let deps = dependencies[v] ?? []
                if i < deps.count {
                    work[work.count - 1].1 = i + 1
                    let w = deps[i]
                    if indices[w] == nil { work.append((w, 0)) }
                    else if onStack.contains(w) { low[v] = min(low[v]!, indices[w]!) }
                    continue
                }
                work.removeLast()
                if let (parent, _) = work.last { low[parent] = min(low[parent]!, low[v]!) }
                if low[v] == indices[v] {
                    var component: [ResourceAddress] = []
                    while let w = stack.popLast() {
                        onStack.remove(w); component.append(w)
                        if w == v { break }
                    }
                    if component.count > 1 || (dependencies[v] ?? []).contains(v) {
                        result.append(orderCycle(Set(component)))
                    }
                }
            }
        }
        return result.sorted { $0[0] < $1[0] }
    }

    /// A walk through the component starting at its smallest address, following dependencies.
    private func orderCycle(_ members: Set<ResourceAddress>) -> [ResourceAddress] {
        let start = members.min()!
        var path = [start]
        var seen: Set<ResourceAddress> = [start]
        var cur = start
        while let next = (dependencies[cur] ?? []).first(where: { members.contains($0) && !seen.contains($0) }) {
            path.append(next); seen.insert(next); cur = next
        }
        // Members not on the simple walk still belong to the component; list them after it.
        return path + members.subtracting(seen).sorted()
    }
}
