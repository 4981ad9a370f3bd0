import Foundation
import KubeClient
import KubeModel
import KubeSim
import PostgresTestSupport
import StateStore
import TestSupport
import Testing
@testable import MeshformKit

/// Every end-to-end suite, one at a time: each starts its own KubeSim clusters in this process, and on two
/// cores several sets at once would measure the machine, not Meshform.
@Suite(.serialized) enum EndToEnd {}

/// Where a harness keeps the mesh's state. The end-to-end tests that touch state take it as an argument
/// (`@Test(arguments: StateKind.allCases)`), so they run on both backends.
enum StateKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// A SQLite file in the harness's temporary directory.
    case sqlite
    /// A schema of its own on the test PostgreSQL server (`PostgresTestServer`, started once per process).
    case postgres
    var testDescription: String { rawValue }
}

/// Three (or more) KubeSim clusters on loopback, their kubeconfigs, the state (a file in a temporary directory or a
/// schema on the test PostgreSQL server), and the real kubectl pointed at them: the world the end-to-end tests run the
/// engine in.
final class MeshHarness: Sendable {
    let dir: URL
    let sims: [String: KubeSim]
    let kubeconfigs: [String: String]
    let stateKind: StateKind
    /// A file path or a `postgres://` URL (no password: `environment` carries PGPASSWORD).
    let statePath: String
    private let postgres: PostgresTestServer?

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let sharedFixtures = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures/istio")
    static var hasSharedFixtures: Bool { FileManager.default.fileExists(atPath: sharedFixtures.appendingPathComponent("istioctl-output/all-on.yaml").path) }
    static var kubectlPath: String? {
        for p in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let c = "\(p)/kubectl"
            if FileManager.default.isExecutableFile(atPath: c) { return c }
        }
        return nil
    }

    private init(state: StateKind = .sqlite, clusters: [String] = ["external", "config", "remote2"],
         configure: (inout KubeSimOptions) -> Void = { _ in }) async throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("meshform-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        stateKind = state
        switch state {
        case .sqlite: postgres = nil; statePath = dir.appendingPathComponent("state.db").path
        case .postgres: let pg = try PostgresTestServer.start(); postgres = pg; statePath = pg.url()
        }
        var sims: [String: KubeSim] = [:], kubeconfigs: [String: String] = [:]
        do {
            for name in clusters {
                var o = KubeSimOptions(name: name, port: 0)
                o.controllerDelay = .milliseconds(20)
                configure(&o)
                let sim = try await KubeSim.start(o)
                sims[name] = sim
                let path = dir.appendingPathComponent("\(name).kubeconfig").path
                try sim.writeKubeconfig(to: path, contextName: name)
                kubeconfigs[name] = path
            }
        } catch {
            for s in sims.values { try? await s.stop() }
            try? FileManager.default.removeItem(at: dir)
            throw error
        }
        self.sims = sims; self.kubeconfigs = kubeconfigs
    }

    /// The environment a user of the guide would have: KUBECONFIG listing every cluster's file, and the guide's
    /// variables naming the contexts and the control plane's address.
    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["KUBECONFIG"] = kubeconfigs.keys.sorted().map { kubeconfigs[$0]! }.joined(separator: ":")
        env["CTX_EXTERNAL_CLUSTER"] = "external"
        env["CTX_REMOTE_CLUSTER"] = "config"; env["REMOTE_CLUSTER_NAME"] = "config"
        env["CTX_SECOND_CLUSTER"] = "remote2"; env["SECOND_CLUSTER_NAME"] = "remote2"
        env["EXTERNAL_ISTIOD_ADDR"] = "istiod.mesh.example.com"
        env["SSL_SECRET_NAME"] = "external-istiod-tls"
        if let postgres { env.merge(postgres.environment) { $1 } }
        return env
    }

    /// Whether the state exists yet (a file, or the schema on the PostgreSQL server).
    var stateExists: Bool { get throws { try StateStore.exists(at: statePath) } }

    func session(_ meshFile: String) async throws -> MeshSession {
        try await MeshSession(meshFile: meshFile, statePath: statePath, environment: environment)
    }

    /// A copy of a mesh file from plans/, with `edit` applied to its text, written into this harness's temporary
    /// directory; its relative paths (plans/demo, ../shared) are made absolute so they still resolve.
    /// `source`: the file in plans/ to copy, when the copy gets another name.
    func meshFile(_ name: String, source: String? = nil, edit: (String) -> String = { $0 }) throws -> String {
        let plans = Self.packageRoot.appendingPathComponent("plans")
        var text = edit(try String(contentsOf: plans.appendingPathComponent(source ?? name), encoding: .utf8))
        text = text.replacingOccurrences(of: "manifests: demo", with: "manifests: \(plans.path)/demo")
            .replacingOccurrences(of: "File: demo/", with: "File: \(plans.path)/demo/")
            .replacingOccurrences(of: "../../shared/", with: Self.packageRoot.deletingLastPathComponent().path + "/shared/")
        let path = dir.appendingPathComponent(name)
        try text.write(to: path, atomically: true, encoding: .utf8)
        return path.path
    }

    /// plans/multi-remote.yaml (the guide plus a second remote), rendered from the pre-rendered manifests in
    /// plans/demo/ instead of istioctl.
    func multiRemote(_ edits: [(String) -> String] = []) throws -> String {
        try meshFile("multi-remote.yaml") { text in
            edits.reduce(MeshEdits.kubeSimTLS(MeshEdits.manifestsRenderer(text))) { $1($0) }
        }
    }

    func client(_ cluster: String) throws -> KubeClient {
        let kc = try Kubeconfig.load(explicitPath: kubeconfigs[cluster]!, environment: [:])
        return KubeClient(connection: try ClusterConnection(kubeconfig: kc, context: cluster))
    }

    /// Runs `body` with a client of one cluster, shut down afterwards.
    func withClient<T>(_ cluster: String, _ body: (KubeClient) async throws -> T) async throws -> T {
        try await withShutdown(try client(cluster), body)
    }

    /// Runs the real kubectl against one cluster. Returns exit status and combined output.
    @discardableResult
    func kubectl(_ cluster: String, _ args: [String]) async throws -> (status: Int32, output: String) {
        guard let k = Self.kubectlPath else { return (127, "kubectl not found") }
        return try await Self.run(k, ["--kubeconfig", kubeconfigs[cluster]!] + args)
    }

    /// Runs a program to completion through KubeClient's `ChildProcess` (no thread blocks while it runs, so the KubeSim
    /// servers in this process that it talks to keep serving). Returns the exit status (for a child killed by a signal,
    /// 128 + its number, as a shell reports it) and what it printed: standard output, then standard error.
    static func run(_ path: String, _ args: [String], environment: [String: String]? = nil, directory: URL? = nil) async throws
        -> (status: Int32, output: String)
    {
        let r = try await ChildProcess.run(path, args, environment: environment, workingDirectory: directory?.path)
        return (r.status, r.stdoutText + r.stderrText)
    }

    /// Every object in a cluster, as a comparable snapshot (resourceVersion, managedFields and timestamps removed).
    func snapshot(_ cluster: String) async throws -> [String: JSON] {
        try await withClient(cluster) { c in
            var out: [String: JSON] = [:]
            for r in try await c.listKinds() where r.verbs.contains("list") && !r.name.contains("/") {
                let gvk = r.gvk
                for var o in try await c.list(gvk, namespace: nil) {
                    for k in ["resourceVersion", "managedFields", "creationTimestamp", "generation", "uid"] { o[path: ["metadata", k]] = nil }
                    o["status"] = nil
                    out["\(gvk.kind)/\(o.namespace ?? "_")/\(o.name ?? "")"] = o
                }
            }
            return out
        }
    }

    func stop() async {
        for s in sims.values { try? await s.stop() }
        try? FileManager.default.removeItem(at: dir)
    }

    /// Runs `body` in a new harness and stops it afterwards, whether `body` returns or throws: cleanup the test
    /// awaits, not a task left running after it.
    static func with<T>(state: StateKind = .sqlite, clusters: [String] = ["external", "config", "remote2"],
                        configure: (inout KubeSimOptions) -> Void = { _ in },
                        _ body: (MeshHarness) async throws -> T) async throws -> T {
        let h = try await MeshHarness(state: state, clusters: clusters, configure: configure)
        do {
            let result = try await body(h)
            await h.stop()
            return result
        } catch {
            await h.stop()
            throw error
        }
    }
}

/// Text edits of the example mesh files, as a user would make them.
enum MeshEdits {
    static func manifestsRenderer(_ text: String) -> String {
        text.replacingOccurrences(of: "  renderer: istioctl", with: "  renderer: manifests\n  manifests: demo")
    }

    /// The gateway's TLS Secret made by Meshform from the demo's certificate (the guide's user creates it by hand),
    /// and no TLS handshake with the control-plane address: KubeSim's load-balancer addresses are not servers.
    static func kubeSimTLS(_ text: String) -> String {
        text.replacingOccurrences(of: "    secretName: ${SSL_SECRET_NAME}\n", with: """
                secretName: ${SSL_SECRET_NAME}
                certFile: demo/tls/gateway.crt
                keyFile: demo/tls/gateway.key
                checkHandshake: false

            """)
    }

    /// Without the second remote: its cluster entry and the workload placed on it.
    static func removingSecondRemote(_ text: String) -> String {
        removingItems(text, ["  - name: ${SECOND_CLUSTER_NAME}", "  - name: helloworld-v2"])
    }

    static func removingWorkload(_ name: String) -> (String) -> String {
        { removingItems($0, ["  - name: \(name)"]) }
    }

    /// Removes each list item (at two spaces of indent) whose first line starts with one of `heads`.
    static func removingItems(_ text: String, _ heads: [String]) -> String {
        var out: [Substring] = []
        var skipping = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let indent = line.prefix { $0 == " " }.count
            if skipping, line.trimmingCharacters(in: .whitespaces).isEmpty || indent > 2 { continue }
            skipping = heads.contains { line.hasPrefix($0) }
            if !skipping { out.append(line) }
        }
        return out.joined(separator: "\n")
    }
}
