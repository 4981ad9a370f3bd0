import Foundation
import KubeModel

/// The values of computed placeholders known so far: resolved from live objects at plan time (when their producer
/// already exists) and as each producer finishes during apply.
public struct ComputedValues: Sendable {
    /// placeholder -> value. Values may be secret (a kubeconfig with a token): never print or store this map.
    private var values: [String: String] = [:]

    public init() {}

    public subscript(placeholder: String) -> String? {
        get { values[placeholder] }
        set { values[placeholder] = newValue }
    }

    /// Resolves `value` from its producer's live object; nil when the producer is not (yet) live or not ready.
    public static func resolve(_ value: ComputedValue, producer: JSON?, endpoint: (String) -> ClusterEndpoint?) -> String? {
        guard let producer else { return nil }
        switch value.source {
        case .loadBalancerAddress:
            let ingress = producer[path: ["status", "loadBalancer", "ingress"]]?[0]
            return ingress?["ip"]?.string ?? ingress?["hostname"]?.string
        case .remoteKubeconfig(let clusterName, let remoteCluster):
            guard let tokenB64 = producer[path: ["data", "token"]]?.string,
                  let tokenData = Data(base64Encoded: tokenB64), let token = String(data: tokenData, encoding: .utf8),
                  let endpoint = endpoint(remoteCluster) else { return nil }
            return RemoteKubeconfig.text(clusterName: clusterName, endpoint: endpoint, token: token)
        }
    }

    /// `body` with every placeholder whose value is known replaced, in every string.
    public func substitute(in body: JSON) -> JSON {
        substitute(in: body, known: Array(values))
    }

    /// `substitute(in:)` for a resource: only the placeholders its body holds (`Resource.computed`) are looked for.
    /// Looking for every known value in every string grew with the mesh (a remote kubeconfig per cluster) and took
    /// 8% of apply's CPU at 300 remotes (#17).
    public func substitute(in body: JSON, placeholders: [String]) -> JSON {
        substitute(in: body, known: placeholders.compactMap { p in values[p].map { (p, $0) } })
    }

    private func substitute(in body: JSON, known: [(key: String, value: String)]) -> JSON {
        guard !known.isEmpty else { return body }
        switch body {
        case .string(let s):
            var r = s
            for (p, v) in known where r.contains(p) { r = r.replacingOccurrences(of: p, with: v) }
            return .string(r)
        case .array(let a): return .array(a.map { substitute(in: $0, known: known) })
        case .object(let o): return .object(o.mapValues { substitute(in: $0, known: known) })
        default: return body
        }
    }

    /// Paths (as `FieldChange.path` spells them) of strings in `body` that still contain one of `placeholders`.
    public static func unknownPaths(in body: JSON, placeholders: [String], path: String = "") -> [String] {
        guard !placeholders.isEmpty else { return [] }
        switch body {
        case .string(let s): return placeholders.contains(where: { s.contains($0) }) ? [path] : []
        case .array(let a):
            return a.enumerated().flatMap { i, e in
                unknownPaths(in: e, placeholders: placeholders, path: path + (e["name"]?.string.map { "[name=\($0)]" } ?? "[\(i)]"))
            }
        case .object(let o):
            return o.keys.sorted().flatMap { unknownPaths(in: o[$0]!, placeholders: placeholders, path: path + "." + $0) }
        default: return []
        }
    }
}

/// Where a cluster's API server is, as the user's kubeconfig says: what a remote secret's kubeconfig points istiod at.
public struct ClusterEndpoint: Sendable {
    public var server: String
    public var caData: Data?
    public var tlsServerName: String?
    public init(server: String, caData: Data?, tlsServerName: String? = nil) {
        self.server = server; self.caData = caData; self.tlsServerName = tlsServerName
    }
}

/// The kubeconfig that `istioctl create-remote-secret` writes for istiod: the remote API server, its CA, and the
/// long-lived token of the remote's service account; one cluster, one user, one context, all named after the cluster.
public enum RemoteKubeconfig {
    public static func text(clusterName: String, endpoint: ClusterEndpoint, token: String) -> String {
        var cluster: JSON = ["server": .string(endpoint.server)]
        if let ca = endpoint.caData { cluster["certificate-authority-data"] = .string(ca.base64EncodedString()) }
        if let sni = endpoint.tlsServerName { cluster["tls-server-name"] = .string(sni) }
        let config: JSON = [
            "apiVersion": "v1", "kind": "Config", "preferences": [:],
            "clusters": [["name": .string(clusterName), "cluster": cluster]],
            "contexts": [["name": .string(clusterName), "context": ["cluster": .string(clusterName), "user": .string(clusterName)]]],
            "current-context": .string(clusterName),
            "users": [["name": .string(clusterName), "user": ["token": .string(token)]]],
        ]
        return YAMLDocuments.serialize(config)
    }
}
