import Foundation
import Testing
@testable import KubeClient
import KubeModel
import KubeSim

/// Each way a kubeconfig can authenticate, against KubeSim over real HTTPS with its CA verified.
@Suite struct AuthTests {
    @Test func tokenFromKubeconfigReachesTheServer() async throws {
        try await SimCluster.with("auth-token") { cluster in
            try await cluster.withClient { client in
                let ns = try await client.get(namespaceKind, namespace: nil, name: "default")
                #expect(ns?.name == "default")
            }
        }
    }

    @Test func tokenFileIsRead() async throws {
        try await SimCluster.with("auth-tokenfile") { cluster in
            try cluster.dir.write("token", cluster.sim.token + "\n")
            let kc = try Kubeconfig.parse(cluster.kubeconfig(user: "    tokenFile: token"), file: cluster.dir.path + "/config")
            let client = KubeClient(connection: try ClusterConnection(kubeconfig: kc, context: nil))
            #expect(try await client.get(namespaceKind, namespace: nil, name: "kube-system") != nil)
            try await client.shutdown()
        }
    }

    @Test func execPluginScriptLogsIn() async throws {
        try await SimCluster.with("auth-exec") { cluster in
            let script = try cluster.dir.write("bin/sim-login", """
            #!/bin/sh
            echo run >> "\(cluster.dir.path)/runs"
            [ "$SIM_CLUSTER" = "auth-exec" ] || exit 7
            echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"\(cluster.sim.token)","expirationTimestamp":"2099-01-01T00:00:00Z"}}'
            """, executable: true)
            let user = """
                exec:
                  apiVersion: client.authentication.k8s.io/v1
                  command: \(script)
                  args: [login]
                  env: [{name: SIM_CLUSTER, value: auth-exec}]
                  installHint: run make sim-login
            """
            let kc = try Kubeconfig.parse(cluster.kubeconfig(user: user), file: cluster.dir.path + "/config")
            let client = KubeClient(connection: try ClusterConnection(kubeconfig: kc, context: nil))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<10 {
                    group.addTask { _ = try await client.apply(configMap("exec-\(i)", data: ["i": "\(i)"]), fieldManager: "test") }
                }
                try await group.waitForAll()
            }
            #expect(try await client.list(configMapKind, namespace: "default").count >= 10)
            #expect(await client.execPluginRuns() == 1)       // cached until expirationTimestamp, shared by parallel requests
            try await client.shutdown()
        }
    }

    @Test func failingExecPluginErrorNamesContextAndFile() async throws {
        try await SimCluster.with("auth-exec-fail") { cluster in
            let script = try cluster.dir.write("bin/fail", "#!/bin/sh\necho 'token expired, log in again' >&2\nexit 2\n", executable: true)
            let file = cluster.dir.path + "/config"
            let kc = try Kubeconfig.parse(cluster.kubeconfig(user: "    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: \(script)}",
                                                             context: "prod"), file: file)
            let client = KubeClient(connection: try ClusterConnection(kubeconfig: kc, context: "prod"))
            let error = await #expect(throws: KubeError.self) { _ = try await client.get(namespaceKind, namespace: nil, name: "default") }
            guard case .execPlugin(context: "prod", file: file?, _, _) = error else {
                Issue.record("expected an exec plugin error for prod, got \(String(describing: error))"); return
            }
            #expect(error?.description.contains("prod") == true && error?.description.contains(file) == true)
            #expect(error?.description.contains("token expired") == true)
            try await client.shutdown()
        }
    }

    @Test func wrongTokenIsUnauthorizedAndNotEchoed() async throws {
        try await SimCluster.with("auth-wrong") { cluster in
            let kc = try Kubeconfig.parse(cluster.kubeconfig(user: "    token: not-the-right-token-xyz"), file: nil)
            let client = KubeClient(connection: try ClusterConnection(kubeconfig: kc, context: nil))
            let error = await #expect(throws: KubeError.self) { _ = try await client.get(namespaceKind, namespace: nil, name: "default") }
            guard case .unauthorized = error else { Issue.record("expected unauthorized, got \(String(describing: error))"); return }
            #expect(error?.description.contains("not-the-right-token") == false)
            try await client.shutdown()
        }
    }

    @Test func caMismatchIsRefusedWithoutRetrying() async throws {
        let a = try await SimCluster.start("ca-a")
        let b = try await SimCluster.start("ca-b")
        // b's server, but a's CA: the handshake must fail verification.
        let conn = ClusterConnection(contextName: "mismatch", server: b.sim.url, caData: Data(a.sim.caPEM.utf8),
                                     credentials: .token(b.sim.token))
        let client = KubeClient(connection: conn, options: ClientOptions(retry: RetryPolicy(maxAttempts: 5, baseDelay: .seconds(60))))
        let start = ContinuousClock.now
        let error = await #expect(throws: KubeError.self) { _ = try await client.get(namespaceKind, namespace: nil, name: "default") }
        guard case .tls(let site, _) = error else { Issue.record("expected a TLS error, got \(String(describing: error))"); return }
        #expect(site.context == "mismatch")
        // Not retried: one retry would wait the 60 s base delay first, far beyond what one refused handshake takes
        // even on a loaded machine.
        #expect(ContinuousClock.now - start < .seconds(30))
        // insecure-skip-tls-verify is the explicit way around it.
        let insecure = KubeClient(connection: ClusterConnection(contextName: "insecure", server: b.sim.url, caData: nil,
                                                                credentials: .token(b.sim.token), insecureSkipTLSVerify: true))
        #expect(try await insecure.get(namespaceKind, namespace: nil, name: "default") != nil)
        // And the system roots do not trust KubeSim's CA either.
        let systemRoots = KubeClient(connection: ClusterConnection(contextName: "sys", server: b.sim.url, caData: nil, credentials: .token(b.sim.token)))
        await #expect { _ = try await systemRoots.get(namespaceKind, namespace: nil, name: "default") }
            throws: { if case KubeError.tls(let site, _) = $0 { site.context == "sys" } else { false } }
        for c in [client, insecure, systemRoots] { try await c.shutdown() }
        try await a.stop(); try await b.stop()
    }

    @Test func mergedTwoFileKubeconfigReachesBothClusters() async throws {
        let east = try await SimCluster.start("east")
        let west = try await SimCluster.start("west")
        let env = ["KUBECONFIG": "\(try east.kubeconfigFile()):\(try west.kubeconfigFile())"]
        let kc = try Kubeconfig.load(environment: env)
        #expect(kc.contextNames == ["east", "west"])
        #expect(kc.currentContext == "east")
        for (name, sim) in [("east", east), ("west", west)] {
            let client = KubeClient(connection: try ClusterConnection(kubeconfig: kc, context: name))
            _ = try await client.apply(configMap("who", data: ["cluster": name]), fieldManager: "test")
            let directClient = try sim.client()
            let direct = try await directClient.get(configMapKind, namespace: "default", name: "who")
            #expect(direct?[path: ["data", "cluster"]]?.string == name)
            try await client.shutdown(); try await directClient.shutdown()
        }
        try await east.stop(); try await west.stop()
    }
}
