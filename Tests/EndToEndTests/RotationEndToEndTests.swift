import Foundation
import KubeClient
import KubeModel
import KubeSim
import StateStore
import Testing
@testable import MeshformKit

extension EndToEnd {
/// `meshform rotate remote-secrets` on three KubeSim clusters: the old token stops authenticating, the new remote
/// secret decodes to a kubeconfig whose credentials work, istiod was restarted, and nothing is left to apply.
@Suite struct RotationEndToEndTests {
    static let secret = GroupVersionKind(apiVersion: "v1", kind: "Secret")
    static let ns = "external-istiod"

    /// The kubeconfig a remote secret holds, and a client made from it.
    static func remoteKubeconfig(_ h: MeshHarness, name: String, key: String) async throws -> String {
        try await h.withClient("external") { c in
            let s = try #require(try await c.get(Self.secret, namespace: Self.ns, name: name))
            let b64 = try #require(s[path: ["data", key]]?.string)
            return String(decoding: try #require(Data(base64Encoded: b64)), as: UTF8.self)
        }
    }

    /// Whether the kubeconfig's credentials authenticate: a LIST of namespaces succeeds (the config cluster's istiod
    /// may list them), or 401 says they do not.
    static func authenticates(_ kubeconfig: String) async throws -> Bool {
        let client = KubeClient(connection: try ClusterConnection(kubeconfig: try Kubeconfig.parse(kubeconfig), context: nil))
        do {
            _ = try await client.list(GroupVersionKind(apiVersion: "v1", kind: "Namespace"), namespace: nil)
            try await client.shutdown()
            return true
        } catch KubeError.unauthorized {
            try await client.shutdown()
            return false
        }
    }

    static func token(_ kubeconfig: String) throws -> String? { try Kubeconfig.parse(kubeconfig).users.first?.value.token }

    @Test func rotatingTheConfigClustersSecretRevokesTheOldTokenOnlyOnceTheNewOneWorks() async throws {
        try await MeshHarness.with { h in
            let file = try h.multiRemote()
            let (_, first) = try await ApplyEndToEndTests.apply(try await h.session(file))
            guard case .succeeded = first else { Issue.record("first apply: \(first)"); return }
            let oldConfig = try await Self.remoteKubeconfig(h, name: "istio-kubeconfig", key: "config")
            let oldRemote2 = try await Self.remoteKubeconfig(h, name: "istio-remote-secret-remote2", key: "remote2")
            #expect(try await Self.authenticates(oldConfig))

            // The plan first: what is created, rewritten, restarted and deleted, and nothing changed yet.
            let session = try await h.session(file)
            let (rotation, runner) = try await session.rotationPlan(cluster: "config", at: Date(timeIntervalSince1970: 1_800_000_000))
            #expect(rotation.clusters == ["config"])
            let token = "config/core/Secret/\(Self.ns)/istiod-istio-remote-secret-token"
            #expect(rotation.plan.changes.filter { $0.action == .create }.map(\.address.description) == [token + "-20270115080000"])
            #expect(rotation.plan.changes.filter { $0.action == .update }.map(\.address.description) == ["external/core/Secret/\(Self.ns)/istio-kubeconfig"])
            #expect(rotation.plan.changes.filter { $0.action == .delete }.map(\.address.description) == [token])
            #expect(rotation.text.contains("2. restart external/\(Self.ns)/istiod"))
            #expect(try await Self.authenticates(oldConfig), "planning changed nothing")

            let events = EventLog()
            var request = MeshSession.ApplyRequest()
            request.apply.readinessTimeout = .seconds(30)
            let result = try await runner.rotate(rotation, request: request) { events.add($0) }
            guard case .succeeded = result else { Issue.record("rotation: \(result)"); return }

            // The old token is revoked; the new secret decodes to working credentials with another token.
            let newConfig = try await Self.remoteKubeconfig(h, name: "istio-kubeconfig", key: "config")
            #expect(try Self.token(newConfig) != nil && (try Self.token(newConfig)) != (try Self.token(oldConfig)))
            #expect(try await Self.authenticates(newConfig))
            #expect(try await !Self.authenticates(oldConfig), "the old token still authenticates")
            try await h.withClient("config") { c in
                let old = try await c.get(Self.secret, namespace: Self.ns, name: "istiod-istio-remote-secret-token")
                #expect(old == nil)
            }
            // istiod restarted (rollout restart annotation) before the old token went.
            try await h.withClient("external") { c in
                let istiod = try await c.get(GroupVersionKind(apiVersion: "apps/v1", kind: "Deployment"), namespace: Self.ns, name: "istiod")
                #expect(istiod?[path: ["spec", "template", "metadata", "annotations", "kubectl.kubernetes.io/restartedAt"]]?.string != nil)
            }
            let notes = events.notes
            #expect(notes.firstIndex { $0.contains("istiod: restarted") } ?? 99 < notes.firstIndex { $0.contains("new remote secret authenticates") } ?? -1)
            // The other remote is untouched.
            #expect(try await Self.remoteKubeconfig(h, name: "istio-remote-secret-remote2", key: "remote2") == oldRemote2)
            #expect(try await Self.authenticates(oldRemote2))
            // Nothing left to apply: the state names the new token Secret.
            let (after, _) = try await h.session(file).plan(PlanOptions())
            #expect(!after.hasChanges, "\(after.changes.filter { $0.action.changes }.map { "\($0.action) \($0.address)" })")
        }
    }

    @Test func anUnknownClusterIsRefusedAndChangesNothing() async throws {
        try await MeshHarness.with { h in
            let file = try h.multiRemote()
            _ = try await ApplyEndToEndTests.apply(try await h.session(file))
            await #expect { _ = try await h.session(file).rotationPlan(cluster: "nowhere") }
                throws: { if case RotationError.unknownCluster("nowhere", _) = $0 { true } else { false } }
        }
    }

    /// drift warns about a token older than allowed, and about a token whose ServiceAccount is gone.
    @Test func driftWarnsAboutOldTokensAndMissingServiceAccounts() async throws {
        try await MeshHarness.with { h in
            let file = try h.multiRemote()
            _ = try await ApplyEndToEndTests.apply(try await h.session(file))
            let fresh = try await h.session(file).drift(maxTokenAge: .seconds(90 * 86_400))
            #expect(fresh.warnings == [], "\(fresh.warnings ?? [])")
            #expect(!fresh.text().contains("Warning:"))

            // A hundred days on, both tokens are older than 90 days.
            let session = try await h.session(file)
            let clusters = try Clusters(topology: session.mesh.topology, environment: h.environment)
            let later = await RemoteSecretAge.warnings(mesh: session.mesh, clients: clusters.clients, maxAge: .seconds(90 * 86_400),
                                                       now: Date().addingTimeInterval(100 * 86_400))
            await clusters.shutdown()
            #expect(later.count == 2)
            #expect(later.contains { $0.hasPrefix("cluster config: the remote secret's token (Secret external-istiod/istiod-istio-remote-secret-token) is 100 days old, more than the 90 days allowed") })

            // Someone deletes remote2's reader account: its token no longer authenticates.
            try await h.withClient("remote2") { c in
                _ = try await c.delete(GroupVersionKind(apiVersion: "v1", kind: "ServiceAccount"), namespace: Self.ns,
                                       name: "istio-reader-service-account", waitUntilGone: .seconds(30))
            }
            let gone = try await h.session(file).drift(maxTokenAge: .seconds(90 * 86_400))
            #expect(gone.warnings?.count == 1)
            #expect(gone.warnings?.first?.hasPrefix("cluster remote2: ServiceAccount external-istiod/istio-reader-service-account no longer exists") == true)
            #expect(gone.text().contains("Warning: cluster remote2: ServiceAccount"))
            let json = try JSON(data: gone.json())
            #expect(json["warnings"]?.array?.count == 1)
        }
    }
}
}
