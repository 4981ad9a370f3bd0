import Foundation
import KubeClient
import KubeModel
import StateStore

/// One object to look for in a cluster.
public struct LiveTarget: Hashable, Sendable {
    public var address: String
    public var cluster: String
    public var apiVersion: String
    public var kind: String
    public var namespace: String?
    public var name: String
    public init(address: String, cluster: String, apiVersion: String, kind: String, namespace: String?, name: String) {
        self.address = address; self.cluster = cluster; self.apiVersion = apiVersion; self.kind = kind
        self.namespace = namespace; self.name = name
    }

    /// Where a desired resource would be live.
    public init(_ r: Resource) {
        self.init(address: r.address.description, cluster: r.address.cluster, apiVersion: r.body.apiVersion ?? "v1",
                  kind: r.body.kind ?? "", namespace: r.body.namespace, name: r.body.name ?? "")
    }

    /// Where an object Meshform applied is live.
    public init(_ o: ManagedObject) {
        self.init(address: o.address, cluster: o.cluster, apiVersion: o.apiVersion, kind: o.kind, namespace: o.namespace, name: o.name)
    }
}

/// Reads live objects with one LIST per cluster, kind and namespace (never one GET per object), all clusters in
/// parallel. A cluster that cannot be read is reported by name; the others are still read.
public struct LiveReader: Sendable {
    public var clients: [String: KubeClient]
    /// LIST calls in flight per cluster.
    public var parallelism: Int
    /// Clusters read at a time: a fleet of hundreds is read a few dozen clusters at a time, so what is held at once
    /// (the LIST answers being parsed) does not grow with the fleet.
    public var clusterParallelism: Int

    /// Close each cluster's connections once it is read (`KubeClient.closeConnections`): for a read that is the run's
    /// last use of most clusters (plan, drift), so what the fleet's connections hold does not grow with the fleet.
    /// Apply leaves them open for its steps.
    public var closingConnections: Bool

    public init(clients: [String: KubeClient], parallelism: Int = 8, clusterParallelism: Int = 32, closingConnections: Bool = false) {
        self.clients = clients; self.parallelism = parallelism; self.clusterParallelism = clusterParallelism
        self.closingConnections = closingConnections
    }

    struct ListKey: Hashable, Sendable { var apiVersion: String; var kind: String; var namespace: String? }
    // Task-group results are named structs, not tuples: Swift 6.3 release builds crashed copying tuple results.
    struct ListRead: Sendable { var key: ListKey; var items: [JSON] }
    struct ClusterRead: Sendable { var cluster: String; var objects: [String: JSON]; var error: String? }
    struct ClusterTargets: Sendable { var cluster: String; var targets: [LiveTarget] }

    /// The live objects among `targets`. Equal parts of objects (the same CRD in every cluster) are held once.
    public func read(_ targets: [LiveTarget]) async -> LiveObjects {
        var result = LiveObjects()
        await read(targets, sharing: JSONInterner()) { read in
            if let error = read.error { result.unreachable[read.cluster] = error }
            else { result.objects.merge(read.objects) { a, _ in a } }
        }
        return result
    }

    /// Reads `targets` cluster by cluster, at most `clusterParallelism` clusters at a time, and hands each cluster's
    /// live objects (or why it could not be read) to `body` as soon as its LISTs are done: what `body` does not keep is
    /// dropped, so a caller that compares and forgets holds a few clusters' objects at a time, not the fleet's.
    func read(_ targets: [LiveTarget], sharing: JSONInterner? = nil, eachCluster body: (ClusterRead) -> Void) async {
        let byCluster = Dictionary(grouping: targets, by: \.cluster).sorted { $0.key < $1.key }.map { ClusterTargets(cluster: $0.key, targets: $0.value) }
        await forEachConcurrently(byCluster, width: clusterParallelism, { [clients, closingConnections] c in
            guard let client = clients[c.cluster] else { return ClusterRead(cluster: c.cluster, objects: [:], error: "no connection for cluster \(c.cluster)") }
            let read: ClusterRead
            do { read = ClusterRead(cluster: c.cluster, objects: try await readCluster(client, c.targets, sharing: sharing), error: nil) }
            catch { read = ClusterRead(cluster: c.cluster, objects: [:], error: String(describing: error)) }
            if closingConnections { await client.closeConnections() }
            return read
        }, then: body)
    }

    func readCluster(_ client: KubeClient, _ targets: [LiveTarget], sharing: JSONInterner?) async throws -> [String: JSON] {
        let groups = Dictionary(grouping: targets) { ListKey(apiVersion: $0.apiVersion, kind: $0.kind, namespace: $0.namespace) }
        let keys = groups.keys.sorted { "\($0.apiVersion)/\($0.kind)/\($0.namespace ?? "")" < "\($1.apiVersion)/\($1.kind)/\($1.namespace ?? "")" }
        var found: [String: JSON] = [:]
        // At most `parallelism` LISTs in flight: start that many, then one more as each finishes.
        try await withThrowingTaskGroup(of: ListRead.self) { group in
            var next = 0
            for _ in 0..<min(max(1, parallelism), keys.count) {
                let key = keys[next]; next += 1
                group.addTask { ListRead(key: key, items: try await Self.list(client, key, sharing: sharing)) }
            }
            while let read = try await group.next() {
                let wanted = Dictionary(groups[read.key]!.map { ($0.name, $0.address) }, uniquingKeysWith: { a, _ in a })
                for item in read.items { if let name = item.name, let address = wanted[name] { found[address] = item } }
                if next < keys.count {
                    let key = keys[next]; next += 1
                    group.addTask { ListRead(key: key, items: try await Self.list(client, key, sharing: sharing)) }
                }
            }
        }
        return found
    }

    /// One LIST; a kind the cluster does not serve (its CRD is not installed yet) has no objects.
    private static func list(_ client: KubeClient, _ key: ListKey, sharing: JSONInterner?) async throws -> [JSON] {
        do {
            return try await client.list(GroupVersionKind(apiVersion: key.apiVersion, kind: key.kind), namespace: key.namespace,
                                         sharing: sharing)
        } catch KubeError.unknownKind {
            return []
        }
    }
}
