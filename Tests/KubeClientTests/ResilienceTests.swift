import Foundation
import Testing
@testable import KubeClient
import KubeModel
import KubeSim

/// Retries, backoff and the rate limit against KubeSim's injected faults.
@Suite struct ResilienceTests {
    @Test func retriesSurviveInjected503s429sAndDroppedConnections() async throws {
        try await SimCluster.with("flaky") { cluster in
            let client = try cluster.client(options: ClientOptions(retry: RetryPolicy(maxAttempts: 12, maxElapsed: .seconds(60),
                                                                                       baseDelay: .milliseconds(5), maxDelay: .milliseconds(50))))
            _ = try await client.resource(for: configMapKind)   // discovery is never faulted; warm it
            cluster.sim.setFaults(FaultSettings(errorRate: 0.3, errorCodes: [503, 429, 500], retryAfterSeconds: 0, dropRate: 0.15))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<30 {
                    group.addTask { _ = try await client.apply(configMap("flaky-\(i)", data: ["i": "\(i)"]), fieldManager: "meshform") }
                }
                try await group.waitForAll()
            }
            cluster.sim.setFaults(FaultSettings())
            #expect(try await client.list(configMapKind, namespace: "default").filter { $0.name?.hasPrefix("flaky-") == true }.count == 30)
            try await client.shutdown()
        }
    }

    @Test func retryAfterIsHonoured() async throws {
        try await SimCluster.with("throttled") { cluster in
            try await cluster.withClient(options: ClientOptions(retry: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(1)))) { client in
                _ = try await client.resource(for: configMapKind)
                cluster.sim.setFaults(FaultSettings(errorRate: 1, errorCodes: [429], retryAfterSeconds: 1))
                let start = ContinuousClock.now
                await #expect { _ = try await client.get(configMapKind, namespace: "default", name: "x") }
                    throws: { if case KubeError.server(_, 429, _, _, 2) = $0 { true } else { false } }
                #expect(ContinuousClock.now - start >= .seconds(1))   // waited the server's Retry-After, not 1 ms
            }
        }
    }

    @Test func persistentFailureSurfacesAsTypedErrorAfterTheBudget() async throws {
        try await SimCluster.with("down") { cluster in
            let client = try cluster.client(options: ClientOptions(retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(5))))
            _ = try await client.resource(for: configMapKind)
            cluster.sim.setFaults(FaultSettings(errorRate: 1, errorCodes: [503], retryAfterSeconds: 0))
            let e1 = await #expect(throws: KubeError.self) { _ = try await client.apply(configMap("x", data: [:]), fieldManager: "m") }
            guard case .server(let site, 503, _, _, let attempts) = e1 else { Issue.record("expected 503, got \(String(describing: e1))"); return }
            #expect(attempts == 3 && site.context == "down")
            cluster.sim.setFaults(FaultSettings(dropRate: 1))
            let e2 = await #expect(throws: KubeError.self) { _ = try await client.get(configMapKind, namespace: "default", name: "x") }
            guard case .transport(_, _, let dropped) = e2 else { Issue.record("expected transport, got \(String(describing: e2))"); return }
            #expect(dropped == 3)
            // The time budget also bounds retries.
            let slow = try cluster.client(options: ClientOptions(retry: RetryPolicy(maxAttempts: 100, maxElapsed: .milliseconds(500),
                                                                                     baseDelay: .milliseconds(100), maxDelay: .milliseconds(200))))
            _ = try? await slow.resource(for: configMapKind)
            // The 0.5 s budget ended the tries (100-200 ms apart at most), not the 100 attempts allowed.
            await #expect { _ = try await slow.get(configMapKind, namespace: "default", name: "x") }
                throws: { if case KubeError.transport(_, _, let attempts) = $0 { attempts < 100 } else { false } }
            try await slow.shutdown(); try await client.shutdown()
        }
    }

    @Test func notFoundIsNeverRetried() async throws {
        try await SimCluster.with("no-retry-4xx") { cluster in
            try await cluster.withClient(options: ClientOptions(retry: RetryPolicy(maxAttempts: 5, baseDelay: .seconds(1)))) { client in
                #expect(try await client.get(configMapKind, namespace: "default", name: "absent") == nil)
                let answer = try await client.request(method: .GET, path: "/api/v1/namespaces/default/configmaps/absent")
                #expect(answer.status == 404 && answer.attempts == 1)
                let conflict = try await client.request(method: .POST, path: "/api/v1/namespaces/default/configmaps",
                                                        body: Data(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"}}"#.utf8),
                                                        contentType: "application/json")
                #expect(conflict.status == 201)
                let again = try await client.request(method: .POST, path: "/api/v1/namespaces/default/configmaps",
                                                     body: Data(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"}}"#.utf8),
                                                     contentType: "application/json")
                #expect(again.status == 409 && again.attempts == 1)
            }
        }
    }

    @Test func clientSideRateLimitPacesRequests() async throws {
        try await SimCluster.with("ratelimit") { cluster in
            try await cluster.withClient(options: ClientOptions(qps: 20, burst: 2)) { client in
                _ = try await client.resource(for: configMapKind)
                try await Task.sleep(for: .milliseconds(200))   // refill the bucket
                let start = ContinuousClock.now
                for _ in 0..<12 { _ = try await client.get(configMapKind, namespace: "default", name: "x") }
                // 2 from the burst, 10 more at 20/s: at least ~0.5 s.
                #expect(ContinuousClock.now - start >= .milliseconds(450))
            }
        }
    }
}
