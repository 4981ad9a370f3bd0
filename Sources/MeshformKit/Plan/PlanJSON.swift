import Foundation
import KubeModel

/// The machine-readable plan (`plan --json`, `show --json`), format version 1, documented in docs/plan-json.md.
/// Secret values appear only as keyed hashes; values known only after apply are listed in `after_unknown`.
public enum PlanJSON {
    public static func value(_ plan: Plan) -> JSON {
        let s = plan.summary
        return [
            "format_version": .int(Plan.formatVersion),
            "operation": .string(plan.operation.rawValue),
            "mesh": .string(plan.mesh),
            "mesh_file": .string(plan.meshFile),
            "state": plan.stateLineage.map { ["lineage": .string($0), "serial": .int(plan.stateSerial ?? 0)] } ?? .null,
            "config_hash": .string(plan.configHash),
            "refreshed": .bool(plan.refreshed),
            "upgrade": plan.upgrade?.json ?? .null,
            "summary": ["add": .int(s.add), "change": .int(s.change), "destroy": .int(s.destroy), "adopt": .int(s.adopt)],
            "resource_changes": .array(plan.changes.map { c in
                [
                    "address": .string(c.address.description),
                    "cluster": .string(c.cluster),
                    "action": .string(c.action.rawValue),
                    "reason": c.reason.map(JSON.string) ?? .null,
                    "sensitive": .bool(c.sensitive),
                    "adopt_approved": .bool(c.adoptApproved),
                    "change": [
                        "before": c.before ?? .null,
                        "after": c.after ?? .null,
                        "after_unknown": .array(c.afterUnknown.map(JSON.string)),
                        "fields": .array(c.fields.map { f in
                            ["path": .string(f.path), "before": f.before ?? .null, "after": f.after ?? .null]
                        }),
                    ],
                ]
            }),
        ]
    }

    public static func encode(_ plan: Plan) -> Data { value(plan).encoded(pretty: true) }
}

/// A plan saved with `-out`: the whole plan with the lineage, serial and config hash it was made against.
public enum SavedPlan {
    static let magic = "meshform-plan"

    public static func write(_ plan: Plan, to path: String) throws {
        var file: JSON = ["kind": .string(magic), "plan": try JSON(data: CodableJSON.encode(plan))]
        file["format_version"] = .int(Plan.formatVersion)
        try PrivateFile.write(file.encoded(pretty: true), to: path)
    }

    public static func read(_ path: String) throws -> Plan {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw SavedPlanError.unreadable(path: path)
        }
        guard let file = try? JSON(data: data), file["kind"]?.string == magic, let plan = file["plan"] else {
            throw SavedPlanError.notAPlan(path: path)
        }
        guard file["format_version"]?.int == Plan.formatVersion else { throw SavedPlanError.version(path: path) }
        do { return try CodableJSON.decode(Plan.self, from: plan.encoded()) } catch { throw SavedPlanError.notAPlan(path: path) }
    }

    /// Whether `path` looks like a saved plan rather than a mesh file.
    public static func isSavedPlan(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        let head = String(decoding: h.readData(ofLength: 256), as: UTF8.self)
        return head.contains("\"\(magic)\"")
    }
}

public enum SavedPlanError: Error, CustomStringConvertible {
    case unreadable(path: String), notAPlan(path: String), version(path: String)
    public var description: String {
        switch self {
        case .unreadable(let p): return "cannot read the saved plan \(p)"
        case .notAPlan(let p): return "\(p) is not a plan saved by `meshform plan -out`"
        case .version(let p): return "\(p) was saved by another version of Meshform; run meshform plan again"
        }
    }
}
