/// What a plan will do to one resource. The planner produces it, the executor consumes it, the journal records
/// its `rawValue`, the printer shows its `symbol` and verbs, and the JSON format names its `rawValue`: there is no
/// other spelling of it. It lives in StateStore, the lowest layer that records it (the journal), so every layer
/// from the planner to the terminal imports the same type.
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

    /// How a person reads the step while it runs, once it finished, and once it failed (Terraform's words).
    public var verbs: (doing: String, done: String, failed: String) {
        switch self {
        case .create: ("Creating", "Creation complete", "Creation failed")
        case .update: ("Modifying", "Modifications complete", "Modification failed")
        case .replace: ("Replacing", "Replacement complete", "Replacement failed")
        case .delete: ("Destroying", "Destruction complete", "Destruction failed")
        case .adopt: ("Adopting", "Adoption complete", "Adoption failed")
        case .noOp: ("Checking", "Unchanged", "Check failed")
        }
    }

    /// What undoing the step does, as rollback and `recover` say it. `existed`: the object was live before the step
    /// (an adoption, an update), so it is put back rather than deleted.
    public func undo(existed: Bool) -> String {
        switch self {
        case .create, .adopt, .update: existed ? "restore the previous version" : "delete the created object"
        case .replace: "delete the new object and recreate the previous one"
        case .delete: "recreate the deleted object"
        case .noOp: "nothing"
        }
    }
}
