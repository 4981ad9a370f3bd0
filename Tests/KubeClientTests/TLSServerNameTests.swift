import Foundation
import Testing
@testable import KubeClient
import KubeModel
import KubeSim

/// `tls-server-name` and credential refresh after a 401, against KubeSim.
@Suite struct TLSServerNameTests {
    @Test func tlsServerNameIsTheNameVerified() async throws {
        try await SimCluster.with("sni") { cluster in
            // KubeSim's certificate names localhost and 127.0.0.1; connect to the IP, verify as "localhost".
            let good = KubeClient(connection: ClusterConnection(contextName: "sni", server: cluster.sim.url, caData: Data(cluster.sim.caPEM.utf8),
                                                                credentials: .token(cluster.sim.token), tlsServerName: "localhost"))
            #expect(try await good.get(namespaceKind, namespace: nil, name: "default") != nil)
            // A wrong tls-server-name is refused as kubectl refuses it: TLSAsKubectlTests.
            let byName = KubeClient(connection: ClusterConnection(contextName: "by-name", server: "https://localhost:\(cluster.sim.port)",
                                                                  caData: Data(cluster.sim.caPEM.utf8), credentials: .token(cluster.sim.token)))
            #expect(try await byName.get(namespaceKind, namespace: nil, name: "default") != nil)
            try await good.shutdown(); try await byName.shutdown()
        }
    }

    @Test func refusedExecCredentialIsFetchedAgainOnce() async throws {
        try await SimCluster.with("exec-rotate") { cluster in
            // First run hands out a stale token (as after a role change); the second run a good one.
            let script = try cluster.dir.write("bin/rotating", """
            #!/bin/sh
            if [ -f "\(cluster.dir.path)/ran" ]; then TOKEN="\(cluster.sim.token)"; else TOKEN=stale-token; touch "\(cluster.dir.path)/ran"; fi
            echo "{\\"apiVersion\\":\\"client.authentication.k8s.io/v1\\",\\"kind\\":\\"ExecCredential\\",\\"status\\":{\\"token\\":\\"$TOKEN\\"}}"
            """, executable: true)
            let kc = try Kubeconfig.parse(cluster.kubeconfig(user: "    exec: {apiVersion: client.authentication.k8s.io/v1, command: \(script)}"), file: nil)
            let client = KubeClient(connection: try ClusterConnection(kubeconfig: kc, context: nil))
            #expect(try await client.get(namespaceKind, namespace: nil, name: "default") != nil)
            #expect(await client.execPluginRuns() == 2)
            try await client.shutdown()
        }
    }
}
