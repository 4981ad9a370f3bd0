import Foundation
import KubeClient
import KubeModel
import StateStore
import Testing
@testable import MeshformKit

/// Plan and drift close each cluster's connections once they have read it, and apply once the cluster's last step is
/// done (#17: an open HTTP/2 connection keeps the buffer of its last large read, so a run that kept every cluster's
/// connection grew with the fleet); apply's plan phase keeps them for its steps. Seen from KubeSim: after the read, the client's next request arrives over a new
/// TLS connection, or over the same one.
extension EndToEnd {
@Suite struct ConnectionEndToEndTests {
    static let namespaceKind = GroupVersionKind(group: "", version: "v1", kind: "Namespace")

    @Test func applyClosesEachClustersConnectionsAfterItsLastStep() async throws {
        try await MeshHarness.with { h in
            let session = try await h.session(try h.multiRemote())
            let (plan, computed) = try await session.plan(PlanOptions())
            try await Self.apply(plan, computed, session, h) { clusters in
                for (name, client) in clusters.clients.sorted(by: { $0.key < $1.key }) {
                    #expect(plan.changes.contains { $0.cluster == name && $0.action.changes })
                    let before = h.sims[name]!.connectionsOpened
                    _ = try await client.list(Self.namespaceKind, namespace: nil)
                    #expect(h.sims[name]!.connectionsOpened - before == 1, "\(name): the apply's connection was still open")
                }
            }
        }
    }

    /// Runs the executor on clients the test owns (not the session's), so that the test can look at their connections
    /// after the run; `then` gets them once the apply succeeded.
    static func apply(_ plan: Plan, _ computed: ComputedValues, _ session: MeshSession, _ h: MeshHarness,
                      then: (Clusters) async throws -> Void) async throws {
        let store = try StateStore.open(path: h.statePath, create: true)
        let clusters = try Clusters(topology: session.mesh.topology, environment: session.environment, options: session.clientOptions)
        try await withCleanup {
            var options = ApplyOptions()
            options.readinessTimeout = .seconds(30)
            let result = try await Executor(mesh: session.mesh, clients: clusters.clients, endpoints: clusters.endpoints, store: store,
                                            computed: computed, options: options, emit: { _ in }).run(plan)
            guard case .succeeded = result else { Issue.record("apply: \(result)"); return }
            try await then(clusters)
        } cleanup: { await clusters.shutdown() }
    }

    /// The reachability gate reads the external cluster in a remote's webhook step. Here the external cluster has no
    /// step at all (only a remote's webhook, deleted behind Meshform's back, is created again): its connections close
    /// when the run starts, the gate opens them again, and they close again after the webhook's step.
    @Test func aClusterReadByAnotherClustersStepIsClosedAgainAfterIt() async throws {
        try await MeshHarness.with { h in
            let session = try await h.session(try h.multiRemote())
            _ = try await ApplyEndToEndTests.apply(session)
            let webhook = try #require(session.mesh.resources.first { ReachabilityGate.guards($0, in: session.mesh.topology) })
            let external = session.mesh.topology.externalCluster.name
            try await h.withClient(webhook.address.cluster) { client in
                _ = try await client.delete(GroupVersionKind(apiVersion: webhook.body.apiVersion ?? "", kind: webhook.body.kind ?? ""),
                                            namespace: nil, name: webhook.body.name ?? "")
            }
            let (plan, computed) = try await session.plan(PlanOptions())
            #expect(plan.changes.filter { $0.action.changes }.map(\.address) == [webhook.address])
            let gateReads = h.sims[external]!.requestsByVerb.values.reduce(0, +)
            try await Self.apply(plan, computed, session, h) { clusters in
                #expect(h.sims[external]!.requestsByVerb.values.reduce(0, +) > gateReads, "the gate read the external cluster")
                let before = h.sims[external]!.connectionsOpened
                _ = try await clusters.clients[external]!.list(Self.namespaceKind, namespace: nil)
                #expect(h.sims[external]!.connectionsOpened - before == 1, "the gate's connection was still open")
            }
        }
    }

    @Test func planAndDriftCloseEachClustersConnectionsOnceTheyHaveReadIt() async throws {
        try await MeshHarness.with { h in
            let session = try await h.session(try h.multiRemote())
            _ = try await ApplyEndToEndTests.apply(session)
            let sim = h.sims["config"]!
            let targets = session.mesh.resources.filter { $0.address.cluster == "config" }.map(LiveTarget.init)

            for closing in [false, true] {
                try await h.withClient("config") { client in
                    let before = sim.connectionsOpened
                    let live = await LiveReader(clients: ["config": client], closingConnections: closing).read(targets)
                    #expect(live.unreachable.isEmpty && live.objects.count == targets.count)
                    _ = try await client.list(Self.namespaceKind, namespace: nil)
                    #expect(sim.connectionsOpened - before == (closing ? 2 : 1), "closingConnections: \(closing)")
                }
            }

            let store = try StateStore.openReadOnly(path: h.statePath)
            var snapshot = try store.snapshot()
            snapshot.objects = snapshot.objects.filter { $0.cluster == "config" }
            try await h.withClient("config") { client in
                let before = sim.connectionsOpened
                let report = await DriftDetector(snapshot: snapshot, clients: ["config": client], mesh: session.mesh.topology.name,
                                                 mask: { store.maskSecrets($0) }).check(configDrift: nil)
                #expect(report.unreachable.isEmpty && report.objectsChecked == snapshot.objects.count)
                #expect(!report.hasDrift, "\(report.text())")
                _ = try await client.list(Self.namespaceKind, namespace: nil)
                #expect(sim.connectionsOpened - before == 2)
            }
        }
    }
}
}
