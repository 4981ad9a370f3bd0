/// Graphviz DOT output: one subgraph per cluster, edges from each resource to what it waits for.
///
/// Deterministic (sorted vertices and edges) so the same mesh always draws the same picture; readable with
/// `dot -Tpng`. Resources whose readiness apply waits for are drawn bold, sensitive ones dashed.
extension ResourceGraph {
    public func dot(title: String = "meshform") -> String {
        var out = "digraph \(quote(title)) {\n"
        out += "  rankdir=RL;\n  node [shape=box, fontsize=10, fontname=\"Helvetica\"];\n"
        let byCluster = Dictionary(grouping: addresses, by: \.cluster)
        for (i, cluster) in byCluster.keys.sorted().enumerated() {
            out += "  subgraph cluster_\(i) {\n    label=\(quote(cluster));\n    style=rounded;\n"
            for a in byCluster[cluster]! {
                let r = resources[a]!
                var attrs = ["label=\(quote("\(a.kind)\\n\(a.namespace.map { $0 + "/" } ?? "")\(a.name)"))"]
                var styles: [String] = []
                if r.readiness != .none { styles.append("bold") }
                if r.sensitive { styles.append("dashed") }
                if !styles.isEmpty { attrs.append("style=\(quote(styles.joined(separator: ",")))") }
                if !r.computed.isEmpty { attrs.append("color=\"blue\"") }
                out += "    \(quote(a.description)) [\(attrs.joined(separator: ", "))];\n"
            }
            out += "  }\n"
        }
        for a in addresses {
            for d in dependencies[a] ?? [] { out += "  \(quote(a.description)) -> \(quote(d.description));\n" }
        }
        out += "}\n"
        return out
    }

    private func quote(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\\\\n", with: "\\n") + "\""
    }
}
