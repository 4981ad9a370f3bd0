import Foundation
import Testing
@testable import KubeClient
import KubeModel
import KubeSim

/// TLS as kubectl (client-go) does it, over the network against KubeSim: the server name, the CA/insecure
/// combination, client certificates, and errors that name their own cluster.
@Suite struct TLSAsKubectlTests {
    func kubeconfig(_ sim: KubeSim, cluster extra: String = "", user: String) -> String {
        """
        apiVersion: v1
        kind: Config
        current-context: c
        clusters:
        - name: sim
          cluster:
            server: \(sim.url)
            certificate-authority-data: \(Data(sim.caPEM.utf8).base64EncodedString())
        \(extra)
        users:
        - name: u
          user:
        \(user)
        contexts:
        - name: c
          context: {cluster: sim, user: u}
        """
    }

    @Test func aTLSServerNameTheCertificateDoesNotNameIsRefused() async throws {
        try await SimCluster.with("sni-strict") { cluster in
            // KubeSim's certificate names localhost and 127.0.0.1; the URL is the IP, so NIOSSL alone would accept
            // any name here through the IP SAN. kubectl refuses: x509: certificate is valid for localhost, not ...
            let kc = try Kubeconfig.parse(kubeconfig(cluster.sim, cluster: "    tls-server-name: api.other.example", user: "    token: \(cluster.sim.token)"), file: "/k/config")
            let client = KubeClient(connection: try ClusterConnection(kubeconfig: kc, context: nil))
            let error = await #expect(throws: KubeError.self) { _ = try await client.get(namespaceKind, namespace: nil, name: "default") }
            guard case .tls(let site, let message) = error else { Issue.record("expected a TLS error, got \(String(describing: error))"); return }
            #expect(site.context == "c")
            #expect(message.contains("cluster \"sim\"") && message.contains("certificate is valid for localhost, not api.other.example"), "\(message)")

            // The name the certificate does carry is accepted, and so is a server URL by that name.
            let good = try Kubeconfig.parse(kubeconfig(cluster.sim, cluster: "    tls-server-name: LOCALHOST.", user: "    token: \(cluster.sim.token)"), file: nil)
            let ok = KubeClient(connection: try ClusterConnection(kubeconfig: good, context: nil))
            #expect(try await ok.get(namespaceKind, namespace: nil, name: "default") != nil)
            try await client.shutdown(); try await ok.shutdown()
        }
    }

    @Test func goHostnameMatching() {
        #expect(ServerNameCheck.matches(pattern: "*.example.com", name: "api.example.com"))
        #expect(!ServerNameCheck.matches(pattern: "*.example.com", name: "a.b.example.com"))
        #expect(!ServerNameCheck.matches(pattern: "*.example.com", name: "example.com"))
        #expect(!ServerNameCheck.matches(pattern: "api.*.com", name: "api.example.com"))
        #expect(ServerNameCheck.matches(pattern: "Kube.Example.com", name: "kube.example.com."))
    }

    @Test func aCAWithInsecureSkipTLSVerifyIsRefusedAsClientGoRefusesIt() async throws {
        let text = """
        apiVersion: v1
        clusters:
        - name: prod
          cluster: {server: "https://prod.example:6443", certificate-authority-data: \(Data("-----BEGIN CERTIFICATE-----".utf8).base64EncodedString()), insecure-skip-tls-verify: true}
        users: [{name: u, user: {token: t}}]
        contexts: [{name: prod-ctx, context: {cluster: prod, user: u}}]
        """
        let kc = try Kubeconfig.parse(text, file: "/home/me/.kube/config")
        let error = #expect(throws: KubeError.self) { _ = try ClusterConnection(kubeconfig: kc, context: "prod-ctx") }
        guard case .kubeconfig("/home/me/.kube/config"?, "prod-ctx"?, _) = error else {
            Issue.record("expected a kubeconfig error, got \(String(describing: error))"); return
        }
        let d = error?.description ?? ""
        #expect(d.contains("specifying a root certificates file with the insecure flag is not allowed"), "\(d)")
        #expect(d.contains("cluster \"prod\"") && d.contains("prod-ctx") && d.contains("/home/me/.kube/config"), "\(d)")
        // Built directly, the transport refuses it too, before any connection.
        let direct = KubeClient(connection: ClusterConnection(contextName: "direct", server: "https://127.0.0.1:1", caData: Data("x".utf8),
                                                              credentials: .none, insecureSkipTLSVerify: true))
        let refused = await #expect(throws: KubeError.self) { _ = try await direct.get(namespaceKind, namespace: nil, name: "default") }
        guard case .kubeconfig(_, "direct"?, _)? = refused else {
            Issue.record("expected a kubeconfig error for direct, got \(String(describing: refused))"); return
        }
        #expect(refused?.description.contains("insecure flag is not allowed") == true, "\(String(describing: refused))")
        try await direct.shutdown()
    }

    @Test func clientCertificatesAreVerifiedByTheServer() async throws {
        let cluster = try await SimCluster.start("x509")
        let other = try await SimCluster.start("x509-other")
        func certUser(_ c: (certificatePEM: String, keyPEM: String)) -> String {
            "    client-certificate-data: \(Data(c.certificatePEM.utf8).base64EncodedString())\n    client-key-data: \(Data(c.keyPEM.utf8).base64EncodedString())"
        }
        // Issued by this cluster's CA: authenticated, with no token at all.
        let issued = try cluster.sim.issueClientCertificate(user: "alice", groups: ["system:masters"])
        let good = KubeClient(connection: try ClusterConnection(kubeconfig: try Kubeconfig.parse(kubeconfig(cluster.sim, user: certUser(issued)), file: nil), context: nil))
        _ = try await good.apply(configMap("by-cert", data: ["who": "alice"]), fieldManager: "test")
        #expect(try await good.get(configMapKind, namespace: "default", name: "by-cert")?[path: ["data", "who"]]?.string == "alice")

        // Issued by another CA: the server refuses the handshake, as kube-apiserver with --client-ca-file does.
        let foreign = try other.sim.issueClientCertificate(user: "mallory")
        let bad = KubeClient(connection: try ClusterConnection(kubeconfig: try Kubeconfig.parse(kubeconfig(cluster.sim, user: certUser(foreign)), file: nil), context: nil),
                             options: ClientOptions(retry: RetryPolicy(maxAttempts: 1)))
        // In TLS 1.3 the server judges the client's certificate after the client's side of the handshake is done: the
        // client sees its alert (a TLS error) or, as often, the connection closed (a transport error); never an answer.
        await #expect { _ = try await bad.get(namespaceKind, namespace: nil, name: "default") }
            throws: {
                if case KubeError.tls = $0 { return true }
                if case KubeError.transport = $0 { return true }
                return false
            }

        // No certificate and no token: 401.
        let anonymous = KubeClient(connection: ClusterConnection(contextName: "anon", server: cluster.sim.url, caData: Data(cluster.sim.caPEM.utf8), credentials: .none))
        let e = await #expect(throws: KubeError.self) { _ = try await anonymous.get(namespaceKind, namespace: nil, name: "default") }
        guard case .unauthorized = e else { Issue.record("expected unauthorized, got \(String(describing: e))"); return }
        for c in [good, bad, anonymous] { try await c.shutdown() }
        try await cluster.stop(); try await other.stop()
    }

    @Test func aBadCAIsReportedAgainstItsOwnCluster() async throws {
        let a = try await SimCluster.start("ca-own-a")
        let b = try await SimCluster.start("ca-own-b")
        // Two contexts in one kubeconfig; only "beta" has the wrong CA (a's for b's server).
        let text = """
        apiVersion: v1
        clusters:
        - {name: alpha, cluster: {server: "\(a.sim.url)", certificate-authority-data: \(Data(a.sim.caPEM.utf8).base64EncodedString())}}
        - {name: beta, cluster: {server: "\(b.sim.url)", certificate-authority-data: \(Data(a.sim.caPEM.utf8).base64EncodedString())}}
        users: [{name: ua, user: {token: \(a.sim.token)}}, {name: ub, user: {token: \(b.sim.token)}}]
        contexts: [{name: alpha, context: {cluster: alpha, user: ua}}, {name: beta, context: {cluster: beta, user: ub}}]
        """
        let kc = try Kubeconfig.parse(text, file: nil)
        let alpha = KubeClient(connection: try ClusterConnection(kubeconfig: kc, context: "alpha"))
        let beta = KubeClient(connection: try ClusterConnection(kubeconfig: kc, context: "beta"))
        async let okA = alpha.get(namespaceKind, namespace: nil, name: "default")
        async let failB: JSON? = beta.get(namespaceKind, namespace: nil, name: "default")
        #expect(try await okA != nil)
        do { _ = try await failB; Issue.record("beta's CA is wrong") } catch let e as KubeError {
            guard case .tls(let site, _) = e else { Issue.record("expected a TLS error, got \(e)"); return }
            #expect(site.context == "beta")
        }
        try await alpha.shutdown(); try await beta.shutdown(); try await a.stop(); try await b.stop()
    }
}
