import Foundation
import KubeClient
import KubeModel
import StateStore
import Testing
@testable import MeshformKit

/// The `meshform` executable as scripts and cron use it: exit codes, refusals that change nothing, and
/// recovery after `kill -9`.
extension EndToEnd {
@Suite struct CLIEndToEndTests {
    /// The built `meshform` next to the test bundle (swift test builds every product).
    static var binary: String? {
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? "")
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            let candidate = dir.appendingPathComponent("meshform").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        let fallback = MeshHarness.packageRoot.appendingPathComponent(".build/debug/meshform").path
        return FileManager.default.isExecutableFile(atPath: fallback) ? fallback : nil
    }

    func meshform(_ h: MeshHarness, _ args: [String]) async throws -> (status: Int32, output: String) {
        try await MeshHarness.run(Self.binary!, args, environment: h.environment)
    }

    @Test func exitCodesScriptsCanTrust() async throws {
        guard Self.binary != nil else { Issue.record("the meshform executable was not built next to the tests"); return }
        try await MeshHarness.with { h in
            let file = try h.multiRemote()
            let state = ["--state", h.statePath]

            // Without a terminal and without -auto-approve: a clear error, nothing done.
            let refused = try await meshform(h, ["apply", file] + state)
            #expect(refused.status == 1, "\(refused.output)")
            #expect(refused.output.contains("-auto-approve"))
            #expect(try await h.managedObjects().isEmpty)

            let changes = try await meshform(h, ["plan", file, "-detailed-exitcode", "--no-color"] + state)
            #expect(changes.status == 2, "\(changes.output)")
            let applied = try await meshform(h, ["apply", file, "-auto-approve", "--no-color"] + state)
            #expect(applied.status == 0, "\(applied.output)")
            #expect(applied.output.contains("Apply complete! Resources:"))
            let none = try await meshform(h, ["plan", file, "-detailed-exitcode"] + state)
            #expect(none.status == 0, "\(none.output)")

            let clean = try await meshform(h, ["drift", file, "--quiet"] + state)
            #expect(clean.status == 0 && clean.output.isEmpty, "\(clean.output)")
            let metrics = h.dir.appendingPathComponent("meshform.prom").path
            try await h.withClient("external") { external in
                _ = try await external.apply(["apiVersion": "apps/v1", "kind": "Deployment",
                                          "metadata": ["name": "istiod", "namespace": "external-istiod"], "spec": ["replicas": 2]],
                                         fieldManager: "kubectl-edit", force: true)
            }
            let drifted = try await meshform(h, ["drift", file, "--json", "--metrics-file", metrics] + state)
            #expect(drifted.status == 2, "\(drifted.output)")
            #expect(try JSON(data: Data(drifted.output.utf8))["format_version"] == 1)
            #expect(try String(contentsOfFile: metrics, encoding: .utf8).contains("meshform_drift_objects{"))
            try await h.sims["remote2"]!.stop()
            let down = try await meshform(h, ["drift", file, "--quiet"] + state)
            #expect(down.status == 1, "\(down.output)")
            #expect(down.output.contains("remote2"))

            // No secret value on the screen, nor in the state file.
            let token = try await h.liveToken(cluster: "config")
            for out in [applied.output, drifted.output, changes.output] { #expect(!out.contains(token)) }
            let bytes = try Data(contentsOf: URL(fileURLWithPath: h.statePath)) + ((try? Data(contentsOf: URL(fileURLWithPath: h.statePath + "-wal"))) ?? Data())
            #expect(bytes.range(of: Data(token.utf8)) == nil)
        }
    }

    /// The README's first command: the whole life of the demo mesh, each step explained.
    @Test func demoRunsFromPlanToDestroy() async throws {
        guard let binary = Self.binary else { Issue.record("the meshform executable was not built next to the tests"); return }
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = "1"
        let demo = try await MeshHarness.run(binary, ["demo"], environment: env, directory: MeshHarness.packageRoot)
        #expect(demo.status == 0, "\(demo.output.suffix(3000))")
        for step in ["==> meshform plan", "Apply complete! Resources:", "(changed by kubectl-edit)",
                     "~ .spec.replicas: 3 -> 1", "Plan: 0 to add, 1 to change, 0 to destroy.", "Destroy complete! Resources:"] {
            #expect(demo.output.contains(step), "missing: \(step)")
        }
        #expect(!demo.output.contains("\u{1B}["), "colour with NO_COLOR set")
    }

    /// Into a file (a CI log), apply's lines show while it runs, not only when it ends (they are flushed every 100 ms
    /// rather than one write each): here the line saying it waits for the state lock, while it waits.
    @Test func progressReachesALogFileWhileApplyRuns() async throws {
        guard Self.binary != nil else { Issue.record("the meshform executable was not built next to the tests"); return }
        try await MeshHarness.with { h in
            let file = try h.multiRemote()
            let binary = Self.binary!, environment = h.environment, statePath = h.statePath
            let log = h.dir.appendingPathComponent("apply.log").path
            let other = try StateStore.open(path: statePath, create: true)
            let held = try await other.acquireLock(who: "bob", operation: "apply", timeout: .zero)
            let apply = Task {
                try await ChildProcess.run("/bin/sh", ["-c", #"exec "$0" apply "$1" -auto-approve --lock-timeout 300 --state "$2" > "$3" 2>&1"#,
                                                       binary, file, statePath, log], environment: environment)
            }
            var shown = false
            for _ in 0..<3_000 where !shown {   // a minute, well within the lock timeout: the apply is still waiting
                try await Task.sleep(for: .milliseconds(20))
                shown = (try? String(contentsOfFile: log, encoding: .utf8))?.contains("waiting for the state lock, held by bob") == true
            }
            #expect(shown, "the log file never said the apply waits for the lock while it waited")
            try other.releaseLock(held)
            let done = try await apply.value
            #expect(done.status == 0, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
    }

    @Test(arguments: [MeshSession.RecoveryMode.rollback, .continue], StateKind.allCases)
    func killedApplyIsRecovered(mode: MeshSession.RecoveryMode, state: StateKind) async throws {
        guard Self.binary != nil else { Issue.record("the meshform executable was not built next to the tests"); return }
        // istiod takes a while to become available, so the apply is surely mid-way when it is killed.
        try await MeshHarness.with(state: state, configure: { $0.controllerDelay = .seconds(3) }) { h in
            let file = try h.multiRemote()
            let binary = Self.binary!, environment = h.environment, statePath = h.statePath
            let apply = Task { try await ChildProcess.run(binary, ["apply", file, "-auto-approve", "--state", statePath], environment: environment) }
            // Wait until the journal shows istiod's step started, then kill -9.
            #expect(try await h.waitForStartedStep("/Deployment/external-istiod/istiod"))
            // Cancelling the run kills the child with SIGKILL (swift-subprocess's teardown ends with it) and waits for it.
            apply.cancel()
            _ = try? await apply.value

            // The next plan refuses, naming the way out.
            let plan = try await meshform(h, ["plan", file, "--state", h.statePath])
            #expect(plan.status == 1)
            #expect(plan.output.contains("meshform recover"), "\(plan.output)")

            // recover asks, as apply does: without a terminal and without -auto-approve it refuses and changes nothing.
            let asked = try await meshform(h, ["recover", file, "--\(mode.rawValue)", "--state", h.statePath])
            #expect(asked.status == 1 && asked.output.contains("-auto-approve"), "\(asked.output)")
            #expect(try StateStore.openReadOnly(path: h.statePath).unfinishedRun() != nil)

            let recovered = try await meshform(h, ["recover", file, "--\(mode.rawValue)", "-auto-approve", "--state", h.statePath])
            #expect(recovered.status == 0, "\(recovered.output)")
            try await h.expectRecovered(mode, file: file, output: recovered.output)
        }
    }
}
}

extension MeshHarness {
    /// Addresses of every object on every cluster that carries Meshform's ownership label.
    func managedObjects() async throws -> [String] {
        var out: [String] = []
        for cluster in sims.keys.sorted() {
            for o in try await snapshot(cluster).values where o.labels["app.kubernetes.io/managed-by"] == "meshform" {
                out.append(try ResourceAddress(cluster: cluster, object: o).description)
            }
        }
        return out
    }

    /// The clear token of a remote secret's service account, as the token controller filled it in (a canary). Throws
    /// when there is none: a canary that cannot be found must fail the test, not pass it by matching nothing.
    func liveToken(cluster: String) async throws -> String {
        try await withClient(cluster) { c in
            let secrets = try await c.list(GroupVersionKind(group: "", version: "v1", kind: "Secret"), namespace: nil)
            guard let b64 = secrets.first(where: { $0["type"]?.string == "kubernetes.io/service-account-token" })?[path: ["data", "token"]]?.string,
                  let data = Data(base64Encoded: b64), !data.isEmpty else { throw NoToken(cluster: cluster) }
            return String(decoding: data, as: UTF8.self)
        }
    }

    struct NoToken: Error { var cluster: String }
}
