import Foundation
import Testing
@testable import KubeClient
import KubeModel
import KubeSim

/// How many connections a client opens to a cluster, and `closeConnections` (#17: an open HTTP/2 connection keeps the
/// buffer of its last large read, so a fleet-wide plan closes each cluster's connections once it is read). KubeSim
/// counts the TLS connections requests arrive over.
@Suite struct ConnectionTests {
    @Test func aClientStartingWithRequestsAtOnceOpensOneConnection() async throws {
        try await SimCluster.with("one-connection") { cluster in
            try await cluster.withClient { client in
                // Discovery's two roots and ten LISTs, all asked for before any connection is up: HTTP/2 carries them
                // on one connection (a pool opening one per waiting request would pay a TLS handshake for each).
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<10 { group.addTask { _ = try await client.list(i % 2 == 0 ? configMapKind : DiscoveryTests.deployment, namespace: "default") } }
                    try await group.waitForAll()
                }
                #expect(cluster.sim.connectionsOpened == 1)
            }
        }
    }

    @Test func closedConnectionsAreOpenedAgainByTheNextRequest() async throws {
        try await SimCluster.with("close-connections") { cluster in
            try await cluster.withClient { client in
                _ = try await client.apply(configMap("before", data: ["a": "1"]), fieldManager: "meshform")
                #expect(cluster.sim.connectionsOpened == 1)
                await client.closeConnections()
                #expect(try await client.get(configMapKind, namespace: "default", name: "before")?[path: ["data", "a"]]?.string == "1")
                #expect(cluster.sim.connectionsOpened == 2)
            }
        }
    }

    @Test func closingWaitsForTheRequestsInFlight() async throws {
        // Every answer takes 300 ms: the close comes while the apply is under way, and must not cut it off. No retries,
        // which would hide a request cut off by sending it again on new connections.
        try await SimCluster.with("close-in-flight") { cluster in
            try await cluster.withClient(options: ClientOptions(retry: RetryPolicy(maxAttempts: 1))) { client in
                _ = try await client.list(configMapKind, namespace: "default")   // discovery and the connection, first
                cluster.sim.setFaults(FaultSettings(latencyMs: 300))
                async let applied = client.apply(configMap("in-flight", data: ["b": "2"]), fieldManager: "meshform")
                while client.requestsInFlight == 0 { await Task.yield() }   // the PATCH is counted in
                await client.closeConnections()
                #expect(try await applied[path: ["data", "b"]]?.string == "2")
                cluster.sim.setFaults(FaultSettings())
                #expect(try await client.get(configMapKind, namespace: "default", name: "in-flight") != nil)
                #expect(cluster.sim.connectionsOpened == 2)
            }
        }
    }
}
