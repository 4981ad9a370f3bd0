import Yams

/// `lifecycle.upgrade`: whether the last phase of a canary upgrade (removing the old control-plane revision) waits
/// for a person (`manual`, the default: `meshform apply -finalize`) or follows the switch on the next apply (`auto`).
public enum UpgradeMode: String, Sendable, Hashable, CaseIterable {
    case manual, auto

    static func read(_ node: Node, _ r: MeshFileReader) -> UpgradeMode {
        guard let text = r.string(node, path: "lifecycle.upgrade") else { return .manual }
        guard let mode = UpgradeMode(rawValue: text) else {
            r.error(node, "lifecycle.upgrade '\(text)' is not an upgrade mode",
                    fix: "write manual (the old revision is removed by `meshform apply -finalize`) or auto.")
            return .manual
        }
        return mode
    }
}
