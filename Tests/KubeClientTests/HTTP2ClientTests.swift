import Foundation
import Testing
@testable import KubeClient
import KubeModel
import KubeSim

/// KubeClient (AsyncHTTPClient) negotiates HTTP/2 through ALPN, as it does with a real API server; against an
/// HTTP/1.1-only server it falls back to HTTP/1.1. KubeSim counts each request by the protocol it arrived over.
@Suite struct HTTP2ClientTests {
    func exercise(_ cluster: SimCluster) async throws {
        let client = try cluster.client()
        _ = try await client.apply(configMap("h2", data: ["a": "1"]), fieldManager: "meshform")
        #expect(try await client.get(configMapKind, namespace: "default", name: "h2")?[path: ["data", "a"]]?.string == "1")
        // Several requests at once: over HTTP/2 they share one connection's streams.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask { _ = try await client.apply(configMap("h2-\(i)", data: ["i": "\(i)"]), fieldManager: "meshform") }
            }
            try await group.waitForAll()
        }
        _ = try await client.wait(for: .exists, gvk: configMapKind, namespace: "default", name: "h2-7", timeout: .seconds(10))
        try await client.shutdown()
    }

    @Test func kubeClientRequestsGoOverHTTP2() async throws {
        try await SimCluster.with("h2-client") { cluster in
            try await exercise(cluster)
            let counts = cluster.sim.requestsByProtocol
            #expect((counts["HTTP/2.0"]?["meshform-kubeclient"] ?? 0) >= 10, "\(counts)")
            #expect(counts["HTTP/1.1"]?["meshform-kubeclient"] == nil, "\(counts)")
        }
    }

    @Test func kubeClientFallsBackToHTTP1WhenTheServerOffersOnlyThat() async throws {
        let sim = try await KubeSim.start(KubeSimOptions(name: "h1-client", controllerDelay: .milliseconds(30), http2: false))
        let cluster = SimCluster(sim: sim, dir: try TempDirectory())
        try await exercise(cluster)
        let counts = cluster.sim.requestsByProtocol
        #expect((counts["HTTP/1.1"]?["meshform-kubeclient"] ?? 0) >= 10, "\(counts)")
        #expect(counts["HTTP/2.0"] == nil, "\(counts)")
        try await cluster.stop()
    }
}
