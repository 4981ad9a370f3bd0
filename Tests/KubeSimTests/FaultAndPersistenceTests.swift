import Foundation
import Testing
import KubeModel
@testable import KubeSim

/// Injected faults (in process and through the admin endpoint) and `dataDir` persistence across a restart.
@Suite struct FaultAndPersistenceTests {
    @Test func injectedErrorsCarryTheirCodesAndRetryAfter() async throws {
        try await TestSim.with { t in
            t.sim.setFaults(FaultSettings(errorRate: 1, errorCodes: [429], retryAfterSeconds: 3))
            let limited = try await t.http("GET", "/api/v1/namespaces/default/configmaps")
            #expect(limited.code == 429)
            #expect(limited.body["reason"] == "TooManyRequests")
            #expect(limited.headers["retry-after"] == "3")
            // Discovery is never failed, so clients can always start.
            #expect(try await t.http("GET", "/api/v1").code == 200)
            t.sim.setFaults(FaultSettings(errorRate: 1, errorCodes: [503]))
            #expect(try await t.http("GET", "/api/v1/namespaces").code == 503)
            t.sim.setFaults(FaultSettings(errorRate: 1, errorCodes: [500]))
            let internalError = try await t.http("GET", "/api/v1/namespaces")
            #expect(internalError.code == 500)
            #expect(internalError.body["reason"] == "InternalError")
            t.sim.setFaults(FaultSettings(dropRate: 1))
            let dropped = try await t.http("GET", "/api/v1/namespaces")
            #expect(dropped.code == 0)
            #expect(dropped.curlExit != 0)
            t.sim.setFaults(FaultSettings(latencyMs: 150))
            let start = Date()
            #expect(try await t.http("GET", "/api/v1/namespaces").code == 200)
            #expect(Date().timeIntervalSince(start) >= 0.15)
        }
    }

    @Test func failWritesUntilClearedThroughTheAdminEndpoint() async throws {
        try await TestSim.with { t in
            let cm: JSON = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "stuck"]]
            #expect(try await t.http("POST", "/api/v1/namespaces/default/configmaps", body: cm).code == 201)
            let set = try await t.http("PUT", "/admin/faults", body: ["failWrites": ["ConfigMap/default/stuck"]], token: t.sim.adminEndpointToken)
            #expect(set.code == 200)
            #expect(t.sim.faults.failWrites == ["ConfigMap/default/stuck"])
            let patch = try await t.http("PATCH", "/api/v1/namespaces/default/configmaps/stuck", body: ["data": ["a": "b"]], contentType: "application/merge-patch+json")
            #expect(patch.code == 500)
            #expect(try await t.http("DELETE", "/api/v1/namespaces/default/configmaps/stuck").code == 500)
            #expect(try await t.http("GET", "/api/v1/namespaces/default/configmaps/stuck").code == 200)   // reads still work
            #expect(try await t.http("PUT", "/admin/faults", body: ["failWrites": ["default/stuck"]], token: t.sim.adminEndpointToken).code == 200)
            #expect(try await t.http("DELETE", "/api/v1/namespaces/default/configmaps/stuck").code == 500)
            #expect(try await t.http("DELETE", "/admin/faults", token: t.sim.adminEndpointToken).code == 200)
            #expect(try await t.http("DELETE", "/api/v1/namespaces/default/configmaps/stuck").code == 200)
        }
    }

    @Test func dataDirKeepsObjectsTokensAndTheCAAcrossRestart() async throws {
        let dir = NSTemporaryDirectory() + "kubesim-data-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try await KubeSim.start(KubeSimOptions(name: "persist", dataDir: dir))
        try await TestSim.with("scratch") { t1 in
            let cfg1 = first.kubeconfig()
            let port = first.port
            try await first.stop()
            let second = try await KubeSim.start(KubeSimOptions(name: "persist", port: port, dataDir: dir))
            #expect(second.kubeconfig() == cfg1)   // same CA, token and port: the old kubeconfig still works
            try await second.stop()

            // Objects written over HTTP survive too.
            let sim = try await KubeSim.start(KubeSimOptions(name: "persist", dataDir: dir))
            let t = TestSim(sim: sim, dir: t1.dir)
            try Data(sim.caPEM.utf8).write(to: URL(fileURLWithPath: t.dir + "/ca.crt"))
            #expect(try await t.http("POST", "/api/v1/namespaces/default/configmaps", body: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "kept"], "data": ["k": "v"]]).code == 201)
            let before = try await t.http("GET", "/api/v1/namespaces/default/configmaps/kept").body
            try await sim.stop()
            let mode = try FileManager.default.attributesOfItem(atPath: dir + "/identity.json")[.posixPermissions] as? Int
            #expect(mode == 0o600)
            let again = try await KubeSim.start(KubeSimOptions(name: "persist", dataDir: dir))
            let t2 = TestSim(sim: again, dir: t1.dir)
            let after = try await t2.http("GET", "/api/v1/namespaces/default/configmaps/kept").body
            #expect(after == before)
            let next = try await t2.http("POST", "/api/v1/namespaces/default/configmaps", body: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "newer"]]).body
            #expect(Int(next.resourceVersion!)! > Int(before.resourceVersion!)!)
            try await again.stop()
        }
    }
}
