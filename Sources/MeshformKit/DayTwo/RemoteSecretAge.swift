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

    static func warnings(mesh: CompiledMesh, clients: [String: KubeClient], maxAge: Duration, now: Date = Date()) async -> [String] {
        var out: [String] = []
        for c in mesh.topology.dataPlaneClusters {
            let rs = RemoteSecret(cluster: c, topology: mesh.topology)
            // The token Secret as this session names it (after a rotation, the newest one the state records).
            guard let token = mesh.resources.first(where: { $0.readiness == .tokenPopulated && $0.address.cluster == c.name }),
                  let client = clients[c.name] else { continue }
            let name = token.address.name
            do {
                if try await client.get(serviceAccount, namespace: rs.namespace, name: rs.serviceAccountName) == nil {
                    out.append("cluster \(c.name): ServiceAccount \(rs.namespace)/\(rs.serviceAccountName) no longer exists, so the token in the remote secret "
                               + "no longer authenticates and istiod cannot read the cluster; run meshform apply to recreate them, then "
                               + "meshform rotate remote-secrets --cluster \(c.name), which restarts istiod so it reads the new secret (istio/istio#60612)")
                    continue
                }
                guard let live = try await client.get(secret, namespace: rs.namespace, name: name),
                      let created = live[path: ["metadata", "creationTimestamp"]]?.string,
                      let date = ISO8601DateFormatter().date(from: created) else { continue }
                let age = now.timeIntervalSince(date)
                let limit = Double(maxAge.components.seconds)
                if age > limit {
                    out.append("cluster \(c.name): the remote secret's token (Secret \(rs.namespace)/\(name)) is \(Self.days(age)) old, more than the "
                               + "\(Self.days(limit)) allowed; run meshform rotate remote-secrets --cluster \(c.name)")
                }
            } catch {
                out.append("cluster \(c.name): the remote secret's token could not be checked: \(error)")
            }
        }
        return out
    }

    static func days(_ seconds: Double) -> String {
        seconds >= 86_400 ? "\(Int(seconds / 86_400)) day\(Int(seconds / 86_400) == 1 ? "" : "s")" : "\(Int(seconds / 3600)) h"
    }
}
