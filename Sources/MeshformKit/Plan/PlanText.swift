import KubeModel
import StateStore

/// The plan as Terraform users read it: grouped by cluster, one block per change, field diffs, secret values
/// shown as `(sensitive)`, computed ones as `(known after apply)`, then the summary line.
public struct PlanText {
    public var color: Bool
    public init(color: Bool) { self.color = color }

    public func render(_ plan: Plan) -> String {
        var out = plan.upgrade.map { paint($0.text, .bold) + "\n" } ?? ""
        let changed = plan.changes.filter { $0.action.changes }
        if !changed.isEmpty {
            out += "Meshform will perform the following actions (\(legend(changed))):\n"
        }
        for cluster in orderedClusters(changed) {
            out += "\n" + paint("# cluster \(cluster)", .bold) + "\n"
            for c in changed where c.cluster == cluster { out += block(c) }
        }
        out += "\n" + paint(plan.summaryLine, .bold) + "\n"
        if !plan.refreshed { out += "Note: planned from state alone (--refresh=false); live objects were not read.\n" }
        return out
    }

    private func legend(_ changes: [PlannedChange]) -> String {
        Action.allCases.filter { a in changes.contains { $0.action == a } }
            .map { "\(paint($0.symbol, tone($0))) \($0.rawValue)" }.joined(separator: ", ")
    }

    private func orderedClusters(_ changes: [PlannedChange]) -> [String] {
        var seen: [String] = []
        for c in changes where !seen.contains(c.cluster) { seen.append(c.cluster) }
        return seen
    }

    private func block(_ c: PlannedChange) -> String {
        var head = "  \(paint(c.action.symbol, tone(c.action))) \(c.address)"
        if let reason = c.reason { head += paint("  (\(reason))", .dim) }
        var out = head + "\n"
        switch c.action {
        case .update, .replace, .adopt:
            for f in c.fields {
                let before = show(f.before, sensitive: c.sensitive), after = show(f.after, sensitive: c.sensitive)
                if f.after == nil { out += "      \(paint("-", .red)) \(f.path) = \(before)\n" }
                else if f.before == nil { out += "      \(paint("+", .green)) \(f.path) = \(after)\n" }
                else { out += "      \(paint("~", .yellow)) \(f.path): \(before) -> \(after)\n" }
            }
            if c.action == .adopt && !c.adoptApproved { out += paint("      (run apply with --adopt to take it under management)\n", .dim) }
        case .create:
            for u in c.afterUnknown { out += "      \(paint("+", .green)) \(u) = \(ComputedValue.displayText)\n" }
        default: break
        }
        return out
    }

    private func show(_ v: JSON?, sensitive: Bool) -> String {
        guard let v else { return "(absent)" }
        if sensitive, v.string != ComputedValue.displayText { return "(sensitive)" }
        if let s = v.string, s == ComputedValue.displayText { return s }
        let text = v.jsonString
        return text.count > 120 ? String(text.prefix(117)) + "..." : text
    }

    enum Tone: String { case green = "32", yellow = "33", red = "31", bold = "1", dim = "2", cyan = "36" }

    private func tone(_ a: Action) -> Tone {
        switch a {
        case .create: return .green
        case .update: return .yellow
        case .delete: return .red
        case .replace: return .red
        case .adopt: return .cyan
        case .noOp: return .dim
        }
    }

    private func paint(_ s: String, _ t: Tone) -> String { color ? "\u{1B}[\(t.rawValue)m\(s)\u{1B}[0m" : s }
}
