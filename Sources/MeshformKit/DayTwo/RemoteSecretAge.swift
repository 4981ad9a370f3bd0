import Foundation
import KubeClient
import KubeModel

/// `drift`'s warnings about the credentials the remote secrets hold: a token older than the age the user allows
/// (a long-lived Secret-based token never expires by itself, so its age is what a rotation policy measures), or a
/// token whose ServiceAccount is gone (kube-apiserver refuses such a token: kubernetes/kubernetes
/// pkg/serviceaccount/legacy.go; istiod then sees nothing of that cluster). Warnings, not drift: nothing differs
/// from what Meshform applied, but `meshform rotate remote-secrets` (or `apply`) is due.
enum RemoteSecretAge {
    static let secret = GroupVersionKind(apiVersion: "v1", kind: "Secret")
    static let serviceAccount = GroupVersionKind(apiVersion: "v1", kind: "ServiceAccount")

    /// One warning per cluster at most, in the order of the mesh file's clusters. Clusters are checked at the same
    /// time, `parallelism` at a time: two GETs each, so a fleet of a thousand is not a thousand round trips in a row.
    static func warnings(mesh: CompiledMesh, clients: [String: KubeClient], maxAge: Duration, now: Date = Date(),
                         parallelism: Int = 32) async -> [String] {
        // The token Secret as this session names it (after a rotation, the newest one the state records), by cluster.
        var tokens: [String: String] = [:]
        for r in mesh.resources where r.readiness == .tokenPopulated && tokens[r.address.cluster] == nil {
            tokens[r.address.cluster] = r.address.name
        }
        struct Check: Sendable { var index: Int; var secret: RemoteSecret; var token: String; var client: KubeClient }
        struct Checked: Sendable { var index: Int; var warning: String? }
        let checks = mesh.topology.dataPlaneClusters.enumerated().compactMap { i, c -> Check? in
            guard let token = tokens[c.name], let client = clients[c.name] else { return nil }
            return Check(index: i, secret: RemoteSecret(cluster: c, topology: mesh.topology), token: token, client: client)
        }
        var found: [Int: String] = [:]
        await forEachConcurrently(checks, width: parallelism, { c in
            Checked(index: c.index, warning: await warning(c.secret, token: c.token, client: c.client, maxAge: maxAge, now: now))
        }, then: { if let w = $0.warning { found[$0.index] = w } })
        return found.sorted { $0.key < $1.key }.map(\.value)
    }

    /// What one cluster's remote-secret token says, if anything is due.
    private static func warning(_ rs: RemoteSecret, token name: String, client: KubeClient, maxAge: Duration, now: Date) async -> String? {
        let cluster = rs.cluster.name
        do {
            if try await client.get(serviceAccount, namespace: rs.namespace, name: rs.serviceAccountName) == nil {
                return "cluster \(cluster): ServiceAccount \(rs.namespace)/\(rs.serviceAccountName) no longer exists, so the token in the remote secret "
                    + "no longer authenticates and istiod cannot read the cluster; run meshform apply to recreate them, then "
                    + "meshform rotate remote-secrets --cluster \(cluster), which restarts istiod so it reads the new secret (istio/istio#60612)"
            }
            guard let live = try await client.get(secret, namespace: rs.namespace, name: name),
                  let created = live[path: ["metadata", "creationTimestamp"]]?.string,
                  let date = ISO8601DateFormatter().date(from: created) else { return nil }
            let age = now.timeIntervalSince(date)
            let limit = Double(maxAge.components.seconds)
            guard age > limit else { return nil }
            return "cluster \(cluster): the remote secret's token (Secret \(rs.namespace)/\(name)) is \(Self.days(age)) old, more than the "
                + "\(Self.days(limit)) allowed; run meshform rotate remote-secrets --cluster \(cluster)"
        } catch {
            return "cluster \(cluster): the remote secret's token could not be checked: \(error)"
        }
    }

    static func days(_ seconds: Double) -> String {
        seconds >= 86_400 ? "\(Int(seconds / 86_400)) day\(Int(seconds / 86_400) == 1 ? "" : "s")" : "\(Int(seconds / 3600)) h"
    }
}
