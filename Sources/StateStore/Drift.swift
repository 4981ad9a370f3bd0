import Foundation

/// How a live object differs from what Meshform applied.
public enum DriftKind: String, Codable, Sendable, CaseIterable {
    /// Managed fields changed live.
    case modified
    /// In state, gone from the cluster.
    case deleted
    /// Live and labelled as Meshform's, but not in state.
    case orphan
    /// The mesh file no longer matches what was last applied.
    case config
}

/// What one drift check found about one object.
public struct DriftFinding: Codable, Sendable, Equatable {
    public var address: String
    public var cluster: String
    public var kind: DriftKind
    /// Field paths that differ, e.g. `spec.replicas` (empty for deleted/orphan).
    public var fields: [String]
    public init(address: String, cluster: String, kind: DriftKind, fields: [String] = []) {
        self.address = address; self.cluster = cluster; self.kind = kind; self.fields = fields
    }
}

/// A drift episode: from the first check that saw it to the first check that no longer did.
public struct DriftEvent: Codable, Sendable, Equatable {
    public var id: Int64
    public var address: String
    public var cluster: String
    public var kind: DriftKind
    /// The fields as of the last check that saw the drift.
    public var fields: [String]
    public var firstSeen: Date
    public var lastSeen: Date
    /// Nil while the drift is still there.
    public var resolvedAt: Date?

    init(row: SQLRow) throws {
        id = row.int("id"); address = row.text("address"); cluster = row.text("cluster")
        kind = DriftKind(rawValue: row.text("kind")) ?? .modified
        fields = try row.textList("fields")
        firstSeen = Millis.date(row.int("first_seen")); lastSeen = Millis.date(row.int("last_seen"))
        resolvedAt = row.optInt("resolved_at").map(Millis.date)
    }
}

extension StateStore {
    /// Records one drift check, in one transaction: a finding already open (same address and kind) gets
    /// its last-seen time and fields updated, a new one opens an event, and an open event the check no
    /// longer finds is resolved at `at`. Does not bump the serial (drift is an observation, not a change
    /// of state, so it never makes a saved plan stale) and takes no lock.
    ///
    /// - Parameter clusters: the clusters this check covered; open events elsewhere are left open
    ///   (an unreachable cluster does not make its drift "resolved"). Nil: all clusters.
    public func recordDriftCheck(findings: [DriftFinding], at: Date, clusters: Set<String>? = nil) throws {
        let t = Millis.from(at)
        try write { tx in
            let open = try tx.rows("SELECT * FROM drift_events WHERE resolved_at IS NULL").map(DriftEvent.init(row:))
            var openByKey = [String: DriftEvent]()
            for e in open { openByKey["\(e.kind.rawValue) \(e.address)"] = e }
            var seen = Set<String>()
            for f in findings {
                let key = "\(f.kind.rawValue) \(f.address)"
                guard seen.insert(key).inserted else { continue }
                let fields = f.fields
                if let e = openByKey[key] {
                    try tx.execute("UPDATE drift_events SET last_seen = ?, fields = ?, cluster = ? WHERE id = ?",
                                   [t, fields, f.cluster, e.id])
                } else {
                    try tx.execute("INSERT INTO drift_events (address, cluster, kind, fields, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)",
                                   [f.address, f.cluster, f.kind.rawValue, fields, t, t])
                }
            }
            for (key, e) in openByKey where !seen.contains(key) && (clusters?.contains(e.cluster) ?? true) {
                try tx.execute("UPDATE drift_events SET resolved_at = ? WHERE id = ?", [t, e.id])
            }
        }
    }

    /// Every drift event, newest first seen first.
    public func driftHistory() throws -> [DriftEvent] {
        try read { tx in
            try tx.rows("SELECT * FROM drift_events ORDER BY first_seen DESC, id DESC").map(DriftEvent.init(row:))
        }
    }

    /// Drift events still open (not resolved).
    public func openDrift() throws -> [DriftEvent] {
        try driftHistory().filter { $0.resolvedAt == nil }
    }
}
