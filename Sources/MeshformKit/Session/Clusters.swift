import Foundation
import KubeClient
import StateStore

/// The mesh's clusters, reached through the user's kubeconfig (each cluster's own file when the mesh file names one).
/// Immutable once made (actors and value types), so it is `Sendable` as it stands.
public final class Clusters: Sendable {
    public let clients: [String: KubeClient]
    public let endpoints: [String: ClusterEndpoint]

    /// Resolves every cluster's context. Nothing is contacted yet; a missing context or an unreadable file is an
    /// error naming the cluster, the context and the file.
    /// `recorded`: clusters the state has objects in; those no longer in the mesh file are reached as they were at
    /// their last apply, so their objects can still be deleted.
    /// `kubeconfigs`: reads and parses each kubeconfig file once for all clusters (a fresh loader by default; tests
    /// pass one that counts the files it reads).
    /// `only`: just these clusters (a day-2 step that talks to one cluster of a fleet); nil: all of them.
    public init(topology: MeshTopology, recorded: [ClusterRecord] = [], environment: [String: String],
                options: ClientOptions = .init(), kubeconfigs: KubeconfigLoader = KubeconfigLoader(), only: Set<String>? = nil) throws {
        // Every context is resolved before any client exists, so a bad one leaves no client to shut down.
        var connections: [String: ClusterConnection] = [:]
        var loader = kubeconfigs
        let inMesh = Set(topology.clusters.map(\.name))
        let all = topology.clusters.map { ClusterRecord(name: $0.name, context: $0.context, kubeconfig: $0.kubeconfig) }
            + recorded.filter { !inMesh.contains($0.name) }
        for cluster in all where only?.contains(cluster.name) ?? true {
            do {
                let kubeconfig = try loader.load(explicitPath: cluster.kubeconfig, environment: environment)
                connections[cluster.name] = try ClusterConnection(kubeconfig: kubeconfig, context: cluster.context)
            } catch {
                throw SessionError.cluster(name: cluster.name, context: cluster.context, underlying: String(describing: error))
            }
        }
        clients = connections.mapValues { KubeClient(connection: $0, options: options) }
        // A cluster's `server:` replaces the kubeconfig's address in its remote secret (istioctl's --server).
        let overrides = Dictionary(topology.clusters.compactMap { c in c.server.map { (c.name, $0) } }, uniquingKeysWith: { a, _ in a })
        endpoints = Dictionary(uniqueKeysWithValues: connections.map { name, c in
            (name, ClusterEndpoint(server: overrides[name] ?? c.server, caData: c.caData, tlsServerName: c.tlsServerName))
        })
    }

    public func shutdown() async {
        for c in clients.values { try? await c.shutdown() }
    }
}

public enum SessionError: Error, CustomStringConvertible {
    case cluster(name: String, context: String?, underlying: String)
    case unreachable([String: String])
    case unfinishedRun(id: String, kind: String, startedAt: String)
    case stalePlan(String)
    case notConfirmed
    case needsApproval
    public var description: String {
        switch self {
        case .cluster(let n, let ctx, let u):
            return "cluster \(n) (context \(ctx ?? "current-context")): \(u)"
        case .unreachable(let m):
            return m.sorted { $0.key < $1.key }.map { "cluster \($0.key) is unreachable: \($0.value)" }.joined(separator: "\n")
                + "\n(plan with --refresh=false works from state alone)"
        case .unfinishedRun(let id, let kind, let at):
            return "an earlier \(kind) (run \(id), started \(at)) did not finish: its journal is still open. "
                + "Run `meshform recover --rollback` to undo what it did, or `meshform recover --continue` to finish it."
        case .stalePlan(let why): return "the saved plan is stale: \(why). Run meshform plan again."
        case .notConfirmed: return "apply cancelled; nothing was changed."
        case .needsApproval:
            return "no terminal to ask for confirmation: pass -auto-approve to apply without asking; nothing was changed."
        }
    }
}
