import Foundation
import Testing
@testable import KubeClient
import KubeModel

/// Exec credential plugins are real scripts run by the client, as EKS/GKE/AKS users' kubeconfigs do.
@Suite struct ExecPluginTests {
    /// A plugin that counts its runs in a file, checks KUBERNETES_EXEC_INFO and its env, and prints a token.
    func writePlugin(_ dir: TempDirectory, apiVersion: String, expiry: String?) throws -> String {
        let status = expiry.map { #"{"token":"plugin-secret-token","expirationTimestamp":"\#($0)"}"# } ?? #"{"token":"plugin-secret-token"}"#
        return try dir.write("bin/fake-auth", """
        #!/bin/sh
        echo run >> "\(dir.path)/runs"
        case "$KUBERNETES_EXEC_INFO" in *'"interactive":false'*) ;; *) echo "bad exec info: $KUBERNETES_EXEC_INFO" >&2; exit 3;; esac
        case "$KUBERNETES_EXEC_INFO" in *'"\(apiVersion)"'*) ;; *) echo "wrong apiVersion in exec info" >&2; exit 4;; esac
        [ "$CLUSTER_REGION" = "eu-west-1" ] || { echo "env not passed" >&2; exit 5; }
        [ "$1" = "get-token" ] || { echo "args not passed" >&2; exit 6; }
        echo '{"apiVersion":"\(apiVersion)","kind":"ExecCredential","status":\(status)}'
        """, executable: true)
    }

    func config(command: String, apiVersion: String, hint: String? = nil) -> Kubeconfig.ExecConfig {
        Kubeconfig.ExecConfig(apiVersion: apiVersion, command: command, args: ["get-token", "--cluster", "x"],
                              env: [(name: "CLUSTER_REGION", value: "eu-west-1")], installHint: hint, provideClusterInfo: false)
    }

    func runs(_ dir: TempDirectory) -> Int {
        ((try? String(contentsOfFile: dir.path + "/runs", encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    @Test(arguments: ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"])
    func pluginTokenIsReadAndCachedUntilExpiry(apiVersion: String) async throws {
        let dir = try TempDirectory(); defer { dir.remove() }
        let later = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3600))
        let path = try writePlugin(dir, apiVersion: apiVersion, expiry: later)
        let plugin = ExecCredentialPlugin(config: config(command: path, apiVersion: apiVersion), contextName: "eks", kubeconfigFile: "/k/config")
        let cache = ExecCredentialCache(plugin: plugin)
        async let a = cache.credential()
        async let b = cache.credential()
        let (ca, cb) = try await (a, b)
        #expect(ca.token == "plugin-secret-token" && cb.token == "plugin-secret-token")
        _ = try await cache.credential()
        #expect(runs(dir) == 1)                 // shared and cached: one run for three callers
        await cache.invalidate()
        _ = try await cache.credential()
        #expect(runs(dir) == 2)
    }

    @Test func expiredCredentialRunsThePluginAgain() async throws {
        let dir = try TempDirectory(); defer { dir.remove() }
        let past = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-5))
        let path = try writePlugin(dir, apiVersion: "client.authentication.k8s.io/v1", expiry: past)
        let cache = ExecCredentialCache(plugin: ExecCredentialPlugin(
            config: config(command: path, apiVersion: "client.authentication.k8s.io/v1"), contextName: "gke", kubeconfigFile: nil))
        _ = try await cache.credential()
        _ = try await cache.credential()
        #expect(runs(dir) == 2)
    }

    @Test func pluginFoundOnPATHByName() async throws {
        let dir = try TempDirectory(); defer { dir.remove() }
        _ = try writePlugin(dir, apiVersion: "client.authentication.k8s.io/v1", expiry: nil)
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = "\(dir.path)/bin:/usr/bin:/bin"
        let plugin = ExecCredentialPlugin(config: config(command: "fake-auth", apiVersion: "client.authentication.k8s.io/v1"),
                                          contextName: "aks", kubeconfigFile: nil, environment: env)
        let cred = try await plugin.run()
        #expect(cred.token == "plugin-secret-token" && cred.expiration == nil)
    }

    @Test func failingPluginErrorNamesContextFileAndStderrButNotStdout() async throws {
        let dir = try TempDirectory(); defer { dir.remove() }
        let path = try dir.write("bin/broken-auth", """
        #!/bin/sh
        echo 'partial-secret-on-stdout'
        echo 'error: SSO session expired, run aws sso login' >&2
        exit 1
        """, executable: true)
        let plugin = ExecCredentialPlugin(config: config(command: path, apiVersion: "client.authentication.k8s.io/v1"),
                                          contextName: "prod-eks", kubeconfigFile: "/home/u/.kube/config")
        let error = await #expect(throws: KubeError.self) { try await plugin.run() }
        guard case .execPlugin(context: "prod-eks", file: "/home/u/.kube/config"?, _, _) = error else {
            Issue.record("expected an exec plugin error for prod-eks, got \(String(describing: error))"); return
        }
        let text = error?.description ?? ""
        #expect(text.contains("prod-eks") && text.contains("/home/u/.kube/config") && text.contains("SSO session expired"))
        #expect(!text.contains("partial-secret"))
    }

    @Test func missingPluginShowsInstallHint() async throws {
        let plugin = ExecCredentialPlugin(
            config: config(command: "gke-gcloud-auth-plugin-absent", apiVersion: "client.authentication.k8s.io/v1beta1",
                           hint: "Install gke-gcloud-auth-plugin with: gcloud components install gke-gcloud-auth-plugin"),
            contextName: "gke_proj", kubeconfigFile: "/k", environment: ["PATH": "/nonexistent"])
        let error = await #expect(throws: KubeError.self) { try await plugin.run() }
        guard case .execPlugin(context: "gke_proj", _, _, _) = error else {
            Issue.record("expected an exec plugin error for gke_proj, got \(String(describing: error))"); return
        }
        #expect(error?.description.contains("gcloud components install") == true)
        #expect(error?.description.contains("gke_proj") == true)
    }

    @Test func wrongAnswerShapesAreRefused() async throws {
        let dir = try TempDirectory(); defer { dir.remove() }
        for (i, output) in [#"not json"#, #"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"t"}}"#,
                            #"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}}"#].enumerated() {
            let path = try dir.write("bin/p\(i)", "#!/bin/sh\necho '\(output)'\n", executable: true)
            let plugin = ExecCredentialPlugin(config: config(command: path, apiVersion: "client.authentication.k8s.io/v1"),
                                              contextName: "c", kubeconfigFile: nil)
            await #expect { try await plugin.run() } throws: { if case KubeError.execPlugin(context: "c", _, _, _) = $0 { true } else { false } }
        }
    }

    @Test func kubeconfigExecEntryIsParsed() throws {
        let text = """
        current-context: eks
        clusters: [{name: c, cluster: {server: "https://eks.example"}}]
        contexts: [{name: eks, context: {cluster: c, user: u}}]
        users:
        - name: u
          user:
            exec:
              apiVersion: client.authentication.k8s.io/v1beta1
              command: aws
              args: [eks, get-token, --cluster-name, prod]
              env: [{name: AWS_PROFILE, value: prod}]
              installHint: install the aws cli
              interactiveMode: Never
        """
        let conn = try ClusterConnection(kubeconfig: try Kubeconfig.parse(text, file: "/k/config"), context: nil)
        guard case .exec(let plugin) = conn.credentials else { Issue.record("expected exec"); return }
        #expect(plugin.config.command == "aws")
        #expect(plugin.config.args == ["eks", "get-token", "--cluster-name", "prod"])
        #expect(plugin.config.env.first?.name == "AWS_PROFILE")
        #expect(plugin.config.installHint == "install the aws cli")
        #expect(plugin.kubeconfigFile == "/k/config")
    }
}

@Suite struct ExecPluginTimeoutTests {
    @Test func hangingPluginIsStopped() async throws {
        let dir = try TempDirectory(); defer { dir.remove() }
        let path = try dir.write("bin/hang", "#!/bin/sh\nexec sleep 30\n", executable: true)
        let plugin = ExecCredentialPlugin(
            config: Kubeconfig.ExecConfig(apiVersion: "client.authentication.k8s.io/v1", command: path, args: [], env: [],
                                          installHint: nil, provideClusterInfo: false),
            contextName: "sso", kubeconfigFile: nil, timeout: .milliseconds(300))
        let start = ContinuousClock.now
        let error = await #expect(throws: KubeError.self) { try await plugin.run() }
        guard case .execPlugin = error else { Issue.record("expected an exec plugin error, got \(String(describing: error))"); return }
        #expect(error?.description.contains("did not finish") == true)
        // Well before the plugin's own 30 s sleep ends, however loaded the machine is.
        #expect(ContinuousClock.now - start < .seconds(25))
    }
}
