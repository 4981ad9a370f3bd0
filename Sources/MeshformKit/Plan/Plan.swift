import Foundation
import KubeModel
import StateStore

/// A plan: what apply (or destroy) will do, resource by resource, and what it was computed from.
///
/// Saved with `-out`, it is applied exactly: apply refuses it when the state's lineage differs or its serial
/// moved since the plan was made, including a plan made when no state existed yet (then `stateSerial` is nil and
/// any existing state refuses it).
public struct Plan: Codable, Sendable {
    /// Version of this format (the JSON output and saved plan files). Bumped on any incompatible change.
    public static let formatVersion = 1

    public enum Operation: String, Codable, Sendable { case apply, destroy }

    public var formatVersion: Int = Plan.formatVersion
    public var operation: Operation
    public var mesh: String
    public var meshFile: String
    /// Lineage of the state the plan was made against; nil when no state existed.
    public var stateLineage: String?
    /// Serial of that state; nil when no state existed.
    public var stateSerial: Int?
    /// Hash of the mesh file and every rendered component.
    public var configHash: String
    public var createdAt: Date
    /// Every resource, in apply order (destroy plans: in destroy order). No-ops included.
    public var changes: [PlannedChange]
    /// Whether live objects were read (false with `--refresh=false`).
    public var refreshed: Bool
    /// The canary upgrade this plan is a phase of (DayTwo/CanaryUpgrade.swift); nil outside an upgrade.
    public var upgrade: UpgradeStatus? = nil

    public var hasChanges: Bool { changes.contains { $0.action.changes } }

    public var summary: (add: Int, change: Int, destroy: Int, adopt: Int) {
        var s = (add: 0, change: 0, destroy: 0, adopt: 0)
        for c in changes {
            switch c.action {
            case .create: s.add += 1
            case .update: s.change += 1
            case .delete: s.destroy += 1
            case .replace: s.add += 1; s.destroy += 1
            case .adopt: s.adopt += 1
            case .noOp: break
            }
        }
        return s
    }
}

/// What the plan does to one resource.
public struct PlannedChange: Codable, Sendable {
    /// Coded as its text (`ResourceAddress`'s Codable): the plan file and JSON hold the same string as before.
    public var address: ResourceAddress
    public var cluster: String
    public var action: Action
    /// Why, when it is not obvious: "deleted outside Meshform", "immutable field .spec.selector changed".
    public var reason: String?
    /// Field-level changes for update and replace.
    public var fields: [FieldChange]
    /// The live object (secret values masked), or nil.
    public var before: JSON?
    /// The object to apply (secret values masked; computed values shown as their placeholder), or nil for delete.
    public var after: JSON?
    /// Paths in `after` whose value is known only after apply.
    public var afterUnknown: [String]
    public var sensitive: Bool
    /// For `adopt`: whether this run will take the object under management (`--adopt`).
    public var adoptApproved: Bool = false
}

extension Plan {
    /// Text of the summary line, as Terraform prints it.
    public var summaryLine: String {
        let s = summary
        if !hasChanges { return "No changes. The mesh matches the mesh file." }
        var line = operation == .destroy
            ? "Plan: \(s.destroy) to destroy."
            : "Plan: \(s.add) to add, \(s.change) to change, \(s.destroy) to destroy."
        if s.adopt > 0 { line += " \(s.adopt) to adopt" + (changes.contains { $0.adoptApproved } ? "." : " (with --adopt).") }
        return line
    }
}
