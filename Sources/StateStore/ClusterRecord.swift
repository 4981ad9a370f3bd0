import Foundation

/// How a cluster with objects in state was reached at its last apply: its kube context and, when the mesh file
/// named one, its kubeconfig file. When a cluster is removed from the mesh file, this is how its objects are
/// still found and deleted. Holds names and paths only, never credentials.
public struct ClusterRecord: Codable, Sendable, Equatable {
    public var name: String
    public var context: String
    public var kubeconfig: String?
    public init(name: String, context: String, kubeconfig: String?) {
        self.name = name; self.context = context; self.kubeconfig = kubeconfig
    }
}

extension StateStore {
    /// Records (or updates) how `cluster` is reached. Does not move the serial: it describes access, not objects.
    public func recordCluster(_ c: ClusterRecord) throws {
        try write { tx in
            try tx.execute("""
                INSERT INTO clusters(name, context, kubeconfig, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET context = excluded.context, kubeconfig = excluded.kubeconfig,
                updated_at = excluded.updated_at
                """, [c.name, c.context, c.kubeconfig, Millis.now])
        }
    }

    /// Every recorded cluster, by name.
    public func clusters() throws -> [ClusterRecord] {
        try read { tx in try Self.clusters(tx) }
    }

    static func clusters(_ tx: any SQLTx) throws -> [ClusterRecord] {
        try tx.rows("SELECT name, context, kubeconfig FROM clusters ORDER BY name").map {
            ClusterRecord(name: $0.text("name"), context: $0.text("context"), kubeconfig: $0.optText("kubeconfig"))
        }
    }
}
