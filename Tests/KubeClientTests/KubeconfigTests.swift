import Foundation
import Testing
@testable import KubeClient

@Suite struct KubeconfigTests {
    let first = """
    apiVersion: v1
    kind: Config
    current-context: alpha
    clusters:
    - name: shared
      cluster: {server: "https://first.example:6443", certificate-authority: certs/ca.pem}
    - name: a
      cluster: {server: "https://a.example", tls-server-name: api.a.internal}
    users:
    - name: shared-user
      user: {token: first-secret-token}
    contexts:
    - name: alpha
      context: {cluster: a, user: shared-user, namespace: team-a}
    - name: shared-ctx
      context: {cluster: shared, user: shared-user}
    """
    let second = """
    apiVersion: v1
    kind: Config
    current-context: beta
    clusters:
    - name: shared
      cluster: {server: "https://second.example:6443"}
    - name: b
      cluster: {server: "https://b.example", insecure-skip-tls-verify: true}
    users:
    - name: shared-user
      user: {token: second-secret-token}
    - name: b-user
      user: {tokenFile: tokens/b}
    contexts:
    - name: beta
      context: {cluster: b, user: b-user}
    - name: shared-ctx
      context: {cluster: b, user: b-user}
    """

    @Test func mergedKubeconfigFirstFileWinsEachNameAndCurrentContext() throws {
        let dir = try TempDirectory(); defer { dir.remove() }
        let f1 = try dir.write("one/config", first)
        let f2 = try dir.write("two/config", second)
        try dir.write("one/certs/ca.pem", "not really a cert")
        try dir.write("two/tokens/b", "b-token\n")
        let kc = try Kubeconfig.load(environment: ["KUBECONFIG": "\(f1):\(dir.path)/missing:\(f2)", "HOME": dir.path])
        #expect(kc.files == [f1, f2])                       // the missing file in the list is skipped, as kubectl does
        #expect(kc.currentContext == "alpha")               // first file that sets it
        #expect(kc.contextNames == ["alpha", "beta", "shared-ctx"])
        #expect(kc.clusters["shared"]?.server == "https://first.example:6443")
        #expect(kc.users["shared-user"]?.token == "first-secret-token")
        #expect(kc.contexts["shared-ctx"]?.cluster == "shared")
        // Relative paths resolve against the file that defined them.
        #expect(kc.clusters["shared"]?.certificateAuthority == "\(dir.path)/one/certs/ca.pem")
        #expect(kc.users["b-user"]?.tokenFile == "\(dir.path)/two/tokens/b")

        let beta = try ClusterConnection(kubeconfig: kc, context: "beta")
        #expect(beta.server == "https://b.example")
        #expect(beta.insecureSkipTLSVerify)
        guard case .tokenFile(let path) = beta.credentials else { Issue.record("expected a token file"); return }
        #expect(path == "\(dir.path)/two/tokens/b")

        let alpha = try ClusterConnection(kubeconfig: kc, context: nil)
        #expect(alpha.contextName == "alpha")
        #expect(alpha.namespace == "team-a")
        #expect(alpha.tlsServerName == "api.a.internal")
    }

    @Test func defaultFileIsHomeKubeConfig() throws {
        let dir = try TempDirectory(); defer { dir.remove() }
        let f = try dir.write(".kube/config", second)
        let kc = try Kubeconfig.load(environment: ["HOME": dir.path])
        #expect(kc.files == [f])
        #expect(kc.currentContext == "beta")
        let empty = try Kubeconfig.load(environment: ["HOME": dir.path + "/nowhere"])
        #expect(empty.contextNames.isEmpty)
    }

    @Test func explicitPathMustExistAndWinsOverKUBECONFIG() throws {
        let dir = try TempDirectory(); defer { dir.remove() }
        let f1 = try dir.write("a", first)
        let f2 = try dir.write("b", second)
        let kc = try Kubeconfig.load(explicitPath: f2, environment: ["KUBECONFIG": f1])
        #expect(kc.currentContext == "beta")
        #expect { try Kubeconfig.load(explicitPath: dir.path + "/absent", environment: [:]) }
            throws: { if case KubeError.kubeconfig(let file, _, _) = $0 { file == dir.path + "/absent" } else { false } }
    }

    @Test func missingContextErrorNamesTheContextAndTheFile() throws {
        let dir = try TempDirectory(); defer { dir.remove() }
        let f = try dir.write("config", first)
        let kc = try Kubeconfig.load(explicitPath: f)
        let error = try #require(throws: KubeError.self) { try ClusterConnection(kubeconfig: kc, context: "gamma") }
        guard case .kubeconfig(_, "gamma", _) = error else { Issue.record("expected a kubeconfig error for gamma, got \(error)"); return }
        #expect(error.description.contains("gamma"))
        #expect(error.description.contains(f))
        #expect(error.description.contains("alpha"))   // lists what is available
    }

    @Test func unreadableOrBrokenFileIsAnErrorNamingTheFile() throws {
        let dir = try TempDirectory(); defer { dir.remove() }
        let broken = try dir.write("broken", "clusters: [unclosed")
        let e1 = try #require(throws: KubeError.self) { try Kubeconfig.load(environment: ["KUBECONFIG": broken]) }
        guard case .kubeconfig(broken?, _, _) = e1 else { Issue.record("expected a kubeconfig error naming the file, got \(e1)"); return }
        #expect(e1.description.contains(broken))
        let unreadable = try dir.write("unreadable", first)
        try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: unreadable)
        if getuid() != 0 {   // root reads anything
            let e2 = try #require(throws: KubeError.self) { try Kubeconfig.load(environment: ["KUBECONFIG": unreadable]) }
            guard case .kubeconfig(unreadable?, _, _) = e2 else { Issue.record("expected a kubeconfig error naming the file, got \(e2)"); return }
            #expect(e2.description.contains(unreadable))
        }
        // A CA file named in the kubeconfig but absent: the error names the context and the kubeconfig file.
        let f = try dir.write("config", first)
        let kc = try Kubeconfig.load(explicitPath: f)
        let e3 = try #require(throws: KubeError.self) { try ClusterConnection(kubeconfig: kc, context: "shared-ctx") }
        guard case .kubeconfig(_, "shared-ctx", _) = e3 else { Issue.record("expected a kubeconfig error for shared-ctx, got \(e3)"); return }
        #expect(e3.description.contains("shared-ctx") && e3.description.contains(f) && e3.description.contains("ca.pem"))
    }

    @Test func embeddedDataIsDecodedAndBadBase64IsReported() throws {
        let good = """
        clusters:
        - name: c
          cluster: {server: "https://c", certificate-authority-data: \(Data("PEM-CA".utf8).base64EncodedString())}
        users:
        - name: u
          user: {client-certificate-data: \(Data("CERT".utf8).base64EncodedString()), client-key-data: \(Data("KEY".utf8).base64EncodedString())}
        contexts:
        - name: c
          context: {cluster: c, user: u}
        """
        let kc = try Kubeconfig.parse(good, file: "/x/config")
        let conn = try ClusterConnection(kubeconfig: kc, context: "c")
        #expect(conn.caData == Data("PEM-CA".utf8))
        guard case .clientCertificate(let cert, let key) = conn.credentials else { Issue.record("expected a client cert"); return }
        #expect(cert == Data("CERT".utf8) && key == Data("KEY".utf8))
        let bad = good.replacingOccurrences(of: "certificate-authority-data: ", with: "certificate-authority-data: '%%%")
            .replacingOccurrences(of: "}\nusers", with: "'}\nusers")
        #expect { try Kubeconfig.parse(bad, file: "/x/config") }
            throws: { if case KubeError.kubeconfig("/x/config"?, _, _) = $0 { true } else { false } }
    }

    @Test func descriptionsNeverShowSecrets() async throws {
        let text = """
        current-context: c
        clusters: [{name: c, cluster: {server: "https://c"}}]
        users: [{name: u, user: {token: sekrit-token-value, username: admin, password: sekrit-password}}]
        contexts: [{name: c, context: {cluster: c, user: u}}]
        """
        let kc = try Kubeconfig.parse(text, file: "/x/config")
        let conn = try ClusterConnection(kubeconfig: kc, context: nil)
        let client = KubeClient(connection: conn)
        var dumped = ""
        dump(conn, to: &dumped)
        dump(conn.credentials, to: &dumped)
        let shown = [String(describing: kc), String(describing: kc.users["u"]!), String(reflecting: kc.users["u"]!),
                     String(describing: conn), String(reflecting: conn), String(describing: conn.credentials), dumped,
                     String(describing: client)].joined(separator: "\n")
        #expect(!shown.contains("sekrit"))
        #expect(shown.contains("token"))
        try await client.shutdown()
    }
}

