import Foundation
import KubeClient
import KubeModel

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
}

/// Reads live objects with one LIST per cluster, kind and namespace (never one GET per object), all clusters in
/// parallel. A cluster that cannot be read is reported by name; the others are still read.
public struct LiveReader: Sendable {
    public var clients: [String: KubeClient]
    /// LIST calls in flight per cluster.
    public var parallelism: Int

    public init(clients: [String: KubeClient], parallelism: Int = 8) {
        self.clients = clients; self.parallelism = parallelism
    }

    struct ListKey: Hashable { var apiVersion: String; var kind: String; var namespace: String? }

    /// The live objects among `targets`.
    public func read(_ targets: [LiveTarget]) async -> LiveObjects {
        let byCluster = Dictionary(grouping: targets, by: \.cluster)
        var result = LiveObjects()
        await withTaskGroup(of: (String, Result<[String: JSON], Error>).self) { group in
            for (cluster, ts) in byCluster {
                guard let client = clients[cluster] else {
                    result.unreachable[cluster] = "no connection for cluster \(cluster)"; continue
                }
                group.addTask {
                    do { return (cluster, .success(try await readCluster(client, ts))) }
                    catch { return (cluster, .failure(error)) }
                }
            }
            for await (cluster, r) in group {
                switch r {
                case .success(let objects):
                    result.objects.merge(objects) { a, _ in a }
                case .failure(let e):
                    result.unreachable[cluster] = String(describing: e)
                }
            }
        }
        return result
    }

    private func readCluster(_ client: KubeClient, _ targets: [LiveTarget]) async throws -> [String: JSON] {
        let groups = Dictionary(grouping: targets) { ListKey(apiVersion: $0.apiVersion, kind: $0.kind, namespace: $0.namespace) }
        let keys = groups.keys.sorted { "\($0.apiVersion)/\($0.kind)/\($0.namespace ?? "")" < "\($1.apiVersion)/\($1.kind)/\($1.namespace ?? "")" }
        var found: [String: JSON] = [:]
        var index = 0
        try await withThrowingTaskGroup(of: (ListKey, [JSON]).self) { group in
            func startNext() {
                guard index < keys.count else { return }
                let key = keys[index]; index += 1
                group.addTask {
                    let gvk = GroupVersionKind(apiVersion: key.apiVersion, kind: key.kind)
                    do {
                        return (key, try await client.list(gvk, namespace: key.namespace, labelSelector: nil))
                    } catch KubeError.unknownKind {
                        // The kind is not served (yet): its CRD is not installed, so none of its objects exist.
                        return (key, [])
                    }
                }
            }
            for _ in 0..<max(1, parallelism) { startNext() }
            while let (key, items) = try await group.next() {
                let wanted = Dictionary(groups[key]!.map { ($0.name, $0.address) }, uniquingKeysWith: { a, _ in a })
                for item in items { if let name = item.name, let address = wanted[name] { found[address] = item } }
                startNext()
            }
        }
        return found
    }
}
