import Foundation
import Testing
import KubeModel
@testable import KubeSim

/// KubeSim offers HTTP/2 through ALPN beside HTTP/1.1, as kube-apiserver does, and the real kubectl (Go's
/// net/http) then speaks HTTP/2 to it, watches included; `http2: false` keeps the HTTP/1.1-only path.
@Suite(.enabled(if: TestSim.kubectlPath != nil, "needs kubectl (.ci/run installs it)"))
struct HTTP2Tests {
    @Test func kubectlSpeaksHTTP2IncludingWatches() async throws {
        try await TestSim.with(options: KubeSimOptions(name: "h2", controllerDelay: .milliseconds(20))) { t in
            let deployment = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: default}
            spec:
              replicas: 1
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec: {containers: [{name: web, image: nginx}]}
            """
            let file = t.dir + "/deployment.yaml"
            try deployment.write(toFile: file, atomically: true, encoding: .utf8)
            let applied = try await t.kubectl("apply", "--server-side", "-f", file)
            #expect(applied.status == 0, "\(applied.err)")
            // kubectl wait reads the condition through a watch: a streamed response, here over HTTP/2.
            let waited = try await t.kubectl("wait", "--for=condition=Available", "deployment/web", "--timeout=30s")
            #expect(waited.status == 0, "\(waited.err)")
            #expect(waited.out.contains("condition met"))
            // A watch that the server ends (timeoutSeconds): its events stream over HTTP/2 to curl too.
            let watched = try await t.http("GET", "/apis/apps/v1/namespaces/default/deployments?watch=true&timeoutSeconds=1")
            #expect(watched.code == 200)
            #expect((watched.body.string ?? watched.body.canonicalText).contains("\"type\":\"ADDED\""))
            let byProtocol = t.sim.requestsByProtocol
            #expect((byProtocol["HTTP/2.0"]?["kubectl"] ?? 0) >= 3, "\(byProtocol)")
            #expect(byProtocol["HTTP/1.1"]?["kubectl"] == nil, "\(byProtocol)")
            #expect((byProtocol["HTTP/2.0"]?["curl"] ?? 0) >= 1, "\(byProtocol)")
            // The admin endpoint shows the same counts.
            let admin = try await t.http("GET", "/admin/protocols", token: t.sim.adminEndpointToken)
            #expect(admin.code == 200)
            #expect((admin.body[path: ["HTTP/2.0", "kubectl"]]?.int ?? 0) >= 3, "\(admin.body)")
        }
    }

    /// KubeSim counts TLS connections, not requests: kubectl (client-go's one HTTP/2 transport per server,
    /// k8s.io/client-go/transport/cache.go) sends its discovery reads and its LIST over one connection, and each curl
    /// run opens its own.
    @Test func connectionsAreCountedOncePerTLSSessionNotPerRequest() async throws {
        try await TestSim.with(options: KubeSimOptions(name: "h2-connections", controllerDelay: .milliseconds(20))) { t in
            let before = t.sim.connectionsOpened
            // A fresh discovery cache: kubectl reads /api and /apis before the LIST.
            let r = try await t.kubectl("--cache-dir", t.dir + "/kubectl-cache", "get", "namespaces", "-o", "name")
            #expect(r.status == 0, "\(r.err)")
            let kubectlRequests = t.sim.requestsByProtocol["HTTP/2.0"]?["kubectl"] ?? 0
            #expect(kubectlRequests >= 3, "\(t.sim.requestsByProtocol)")
            #expect(t.sim.connectionsOpened - before == 1)
            for _ in 0..<2 { #expect(try await t.http("GET", "/api/v1/namespaces").code == 200) }
            #expect(t.sim.connectionsOpened - before == 3)
            let admin = try await t.http("GET", "/admin/requests", token: t.sim.adminEndpointToken)
            #expect(admin.body["connectionsOpened"]?.int == t.sim.connectionsOpened)
        }
    }

    @Test func http1OnlyServesKubectlOverHTTP1() async throws {
        try await TestSim.with(options: KubeSimOptions(name: "h1", controllerDelay: .milliseconds(20), http2: false)) { t in
            let r = try await t.kubectl("get", "namespaces", "-o", "name")
            #expect(r.status == 0, "\(r.err)")
            #expect(r.out.contains("namespace/default"))
            let watched = try await t.http("GET", "/api/v1/namespaces?watch=true&timeoutSeconds=1")
            #expect((watched.body.string ?? watched.body.canonicalText).contains("\"type\":\"ADDED\""))
            let byProtocol = t.sim.requestsByProtocol
            #expect((byProtocol["HTTP/1.1"]?["kubectl"] ?? 0) >= 1, "\(byProtocol)")
            #expect(byProtocol["HTTP/2.0"] == nil, "\(byProtocol)")
        }
    }
}
