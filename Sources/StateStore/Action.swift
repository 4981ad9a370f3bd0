/// What a plan will do to one resource. The planner produces it, the executor consumes it, the printer shows
/// its `symbol` and the JSON format names its `rawValue`: there is no other spelling of it.
public enum Action: String, Codable, Sendable, CaseIterable {
    case noOp = "no-op"
    case create
    case update
    /// Delete then create: an immutable field changed (e.g. a Deployment's selector).
    case replace
    case delete
    /// Exists live, unknown to state: shown always, applied (taken under management) only with `--adopt`.
    case adopt

    /// The symbol users of Terraform read: `+ ~ - -/+`.
    public var symbol: String {
        switch self {
        case .noOp: return " "
        case .create: return "+"
        case .update: return "~"
        case .replace: return "-/+"
        case .delete: return "-"
        case .adopt: return "="
        }
    }

    /// Whether applying this action changes a cluster.
    public var changes: Bool { self != .noOp }
}
