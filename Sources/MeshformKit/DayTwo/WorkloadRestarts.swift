import Foundation
import KubeClient
import KubeModel

/// A Deployment whose pods still run a proxy injected by another revision than the mesh file's: it keeps that
/// proxy until its pods are recreated, which Meshform never does silently.
public struct StaleWorkload: Codable, Sendable, Hashable, CustomStringConvertible {
    public var cluster: String
    public var namespace: String
    public var deployment: String
    /// How many of its pods run an old proxy, and which revisions injected them.
    public var pods: Int
    public var revisions: [String]

    public var description: String {
        "\(cluster)/\(namespace)/\(deployment): \(pods) pod\(pods == 1 ? "" : "s") with the proxy of revision \(revisions.joined(separator: ", "))"
    }
}

/// Finding the workloads that still run the old proxy, and restarting them as `kubectl rollout restart` does.
enum WorkloadRestarts {
    /// What `kubectl rollout restart` sets on the pod template (k8s.io/kubectl pkg/polymorphichelpers/objectrestarter.go).
    static let restartedAt = "kubectl.kubernetes.io/restartedAt"
    /// The field manager of the restart's write: not `meshform`, so the annotation is never Meshform's field (no
    /// drift, never removed by the next apply).
    static let fieldManager = "meshform-restart"
    static let pod = GroupVersionKind(apiVersion: "v1", kind: "Pod")
    static let replicaSet = GroupVersionKind(apiVersion: "apps/v1", kind: "ReplicaSet")
    static let deployment = GroupVersionKind(apiVersion: "apps/v1", kind: "Deployment")

    /// The revision whose injector made a pod's proxy: the `istio.io/rev` annotation the injection template writes
    /// (istio/istio manifests/charts/istiod/files/injection-template.yaml), else the `revision` of the injector's
    /// `sidecar.istio.io/status` annotation. Nil for a pod without a sidecar.
    static func revision(of pod: JSON) -> String? {
        let a = pod.annotations
        if let r = a["istio.io/rev"] { return r }
        if let status = a["sidecar.istio.io/status"], let j = try? JSON(data: Data(status.utf8)), let r = j["revision"]?.string { return r }
        return nil
    }

    /// Every Deployment on the data-plane clusters with pods injected by a revision other than `current`, sorted.
    /// Pods are traced to their Deployment through their ReplicaSet's owner, as the Deployment controller owns them.
    static func stale(current: IstioRevision, clusters: [String], clients: [String: KubeClient]) async throws -> [StaleWorkload] {
        var out: [StaleWorkload] = []
        for cluster in clusters {
            guard let c = clients[cluster] else { continue }
            let pods = try await c.list(pod, namespace: nil)
            let old = pods.filter { p in revision(of: p).map { $0 != current.name } ?? false }
            guard !old.isEmpty else { continue }
            var owners: [String: String] = [:]  // "ns/replicaset" -> deployment
            for rs in try await c.list(replicaSet, namespace: nil) {
                if let d = Self.owner(rs, kind: "Deployment") { owners["\(rs.namespace ?? "")/\(rs.name ?? "")"] = d }
            }
            var found: [String: StaleWorkload] = [:]
            for p in old {
                guard let rs = Self.owner(p, kind: "ReplicaSet"), let d = owners["\(p.namespace ?? "")/\(rs)"] else { continue }
                let key = "\(p.namespace ?? "")/\(d)"
                var w = found[key] ?? StaleWorkload(cluster: cluster, namespace: p.namespace ?? "", deployment: d, pods: 0, revisions: [])
                w.pods += 1
                if let r = revision(of: p), !w.revisions.contains(r) { w.revisions.append(r); w.revisions.sort() }
                found[key] = w
            }
            out += found.keys.sorted().map { found[$0]! }
        }
        return out
    }

    static func owner(_ o: JSON, kind: String) -> String? {
        o[path: ["metadata", "ownerReferences"]]?.array?.first { $0["kind"]?.string == kind }?["name"]?.string
    }

    /// Restarts `workloads`: per cluster at the same time, within a cluster `batch` Deployments at once, each batch
    /// waited for (the rollout complete, as `kubectl rollout status`) before the next starts.
    static func restart(_ workloads: [StaleWorkload], batch: Int, clients: [String: KubeClient], timeout: Duration,
                        emit: @escaping @Sendable (ApplyEvent) -> Void) async throws {
        let byCluster = Dictionary(grouping: workloads, by: \.cluster)
        let stamp = ISO8601DateFormatter().string(from: Date())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (cluster, list) in byCluster {
                guard let c = clients[cluster] else { throw ApplyError.noConnection(cluster: cluster) }
                group.addTask {
                    for start in stride(from: 0, to: list.count, by: max(1, batch)) {
                        let slice = Array(list[start..<min(list.count, start + max(1, batch))])
                        try await withThrowingTaskGroup(of: Void.self) { inner in
                            for w in slice {
                                inner.addTask {
                                    emit(.note("\(w.cluster)/\(w.namespace)/\(w.deployment): restarting (rollout restart)..."))
                                    let patch: JSON = ["apiVersion": "apps/v1", "kind": "Deployment",
                                                       "metadata": ["name": .string(w.deployment), "namespace": .string(w.namespace)],
                                                       "spec": ["template": ["metadata": ["annotations": [restartedAt: .string(stamp)]]]]]
                                    _ = try await c.apply(patch, fieldManager: fieldManager, force: true)
                                    _ = try await c.wait(for: .rolledOut, gvk: deployment, namespace: w.namespace, name: w.deployment, timeout: timeout)
                                    emit(.note("\(w.cluster)/\(w.namespace)/\(w.deployment): restarted, rollout complete"))
                                }
                            }
                            try await inner.waitForAll()
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
