import Foundation
import KubeModel
import StateStore

/// What `meshform drift` found. Its JSON form is versioned (`format_version`) and documented in docs/drift.md.
public struct DriftReport: Codable, Sendable {
    public static let formatVersion = 1

    public enum Kind: String, Codable, Sendable {
        /// A managed field's live value differs from what Meshform applied.
        case modified
        /// The object is in state but gone from the cluster.
        case deleted
        /// The object carries Meshform's ownership label for this mesh but is not in state.
        case orphan
    }

    public struct Finding: Codable, Sendable, Equatable {
        public var kind: Kind
        /// Coded as its text, as docs/drift.md shows.
        public var address: ResourceAddress
        public var cluster: String
        public var objectKind: String
        /// For `modified`: each field, with applied and live values (secret values never appear) and the manager that owns it live.
        public var fields: [DriftedField]

        enum CodingKeys: String, CodingKey { case kind, address, cluster, objectKind = "object_kind", fields }

        /// The form the state's drift history keeps.
        public var record: DriftFinding {
            DriftFinding(address: address.description, cluster: cluster, kind: DriftKind(rawValue: kind.rawValue) ?? .modified,
                         fields: fields.map(\.path))
        }
    }

    public struct DriftedField: Codable, Sendable, Equatable {
        public var path: String
        public var applied: JSON?
        public var live: JSON?
        public var manager: String?
    }

    public var formatVersion = DriftReport.formatVersion
    public var mesh: String
    public var checkedAt: Date
    public var durationSeconds: Double
    public var findings: [Finding]
    /// The mesh file or rendered components changed since the last apply (nil: not checked, no mesh file given).
    public var configDrift: Bool?
    /// Clusters that could not be checked, or not fully (a LIST for orphans refused, e.g. 403): name -> error. An
    /// unreachable cluster's objects are not reported; any entry makes `drift` exit 1.
    public var unreachable: [String: String]
    /// Every cluster the check tried to reach (the ones not in `unreachable` were checked). Not part of the JSON form.
    public var clusters: [String] = []
    /// An apply was in progress (lock held or unfinished journal) when the state was read.
    public var applyInProgress: Bool
    public var objectsChecked: Int
    /// Not drift, but due: a remote secret's token older than allowed or its ServiceAccount gone (DayTwo/RemoteSecretAge.swift).
    public var warnings: [String]? = nil

    public var hasDrift: Bool { !findings.isEmpty || configDrift == true }

    /// What the state's drift history records for this check (config drift as its own entry).
    public var records: [DriftFinding] {
        findings.map(\.record) + (configDrift == true ? [DriftFinding(address: "config", cluster: "", kind: .config)] : [])
    }

    /// The documented JSON form (docs/drift.md).
    public func json() -> Data {
        (try? CodableJSON.encode(self, pretty: true)) ?? Data("{}".utf8)
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", mesh, checkedAt = "checked_at", durationSeconds = "duration_seconds"
        case findings, configDrift = "config_drift", unreachable, applyInProgress = "apply_in_progress"
        case objectsChecked = "objects_checked", warnings
    }
}

extension DriftReport {
    /// Prometheus text format for node_exporter's textfile collector.
    public func prometheusText() -> String {
        var counts: [String: Int] = [:]
        for f in findings { counts["cluster=\"\(f.cluster)\",kind=\"\(f.objectKind)\",drift=\"\(f.kind.rawValue)\"", default: 0] += 1 }
        var out = """
        # HELP meshform_drift_objects Objects drifted from what Meshform applied, by cluster, kind and kind of drift.
        # TYPE meshform_drift_objects gauge

        """
        for (labels, n) in counts.sorted(by: { $0.key < $1.key }) {
            out += "meshform_drift_objects{mesh=\"\(mesh)\",\(labels)} \(n)\n"
        }
        out += """
        # HELP meshform_drift_config Whether the mesh file or rendered components changed since the last apply (1 yes).
        # TYPE meshform_drift_config gauge
        meshform_drift_config{mesh="\(mesh)"} \(configDrift == true ? 1 : 0)
        # HELP meshform_drift_cluster_up Whether the cluster could be checked.
        # TYPE meshform_drift_cluster_up gauge

        """
        for c in Set(clusters).union(unreachable.keys).sorted() {
            out += "meshform_drift_cluster_up{mesh=\"\(mesh)\",cluster=\"\(c)\"} \(unreachable[c] == nil ? 1 : 0)\n"
        }
        out += """
        # HELP meshform_drift_last_check_timestamp_seconds When the last drift check ran.
        # TYPE meshform_drift_last_check_timestamp_seconds gauge
        meshform_drift_last_check_timestamp_seconds{mesh="\(mesh)"} \(Int(checkedAt.timeIntervalSince1970))
        # HELP meshform_drift_check_duration_seconds How long the last drift check took.
        # TYPE meshform_drift_check_duration_seconds gauge
        meshform_drift_check_duration_seconds{mesh="\(mesh)"} \(String(format: "%.3f", durationSeconds))

        """
        return out
    }

    /// The human form, one block per finding.
    public func text() -> String {
        var out = ""
        for (c, e) in unreachable.sorted(by: { $0.key < $1.key }) { out += "Error: cluster \(c) could not be checked: \(e)\n" }
        if applyInProgress { out += "Note: an apply was in progress when the state was read; drift may be the apply's own work.\n" }
        if configDrift == true { out += "~ config: the mesh file or rendered components changed since the last apply (run meshform plan)\n" }
        for f in findings {
            switch f.kind {
            case .deleted: out += "- \(f.address): deleted from the cluster\n"
            case .orphan: out += "+ \(f.address): labelled as Meshform's but not in state (orphan)\n"
            case .modified:
                out += "~ \(f.address)\n"
                for d in f.fields {
                    out += "    \(d.path): \(Self.show(d.applied)) -> \(Self.show(d.live))"
                    out += d.manager.map { "   (changed by \($0))" } ?? ""
                    out += "\n"
                }
            }
        }
        for w in warnings ?? [] { out += "Warning: \(w)\n" }
        out += hasDrift
            ? "Drift: \(findings.count) object(s) drifted\(configDrift == true ? ", and the config changed" : "") (\(objectsChecked) checked).\n"
            : "No drift: \(objectsChecked) object(s) match what Meshform applied.\n"
        return out
    }

    static func show(_ v: JSON?) -> String {
        guard let v else { return "(absent)" }
        if let s = v.string, StateStore.isMasked(s) { return "(sensitive)" }
        return v.jsonString
    }
}
