import Foundation
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
        let h = try await MeshHarness()
        defer { Task { await h.stop() } }
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
        let external = try h.client("external")
        try await external.apply(["apiVersion": "apps/v1", "kind": "Deployment",
                                  "metadata": ["name": "istiod", "namespace": "external-istiod"], "spec": ["replicas": 2]],
                                 fieldManager: "kubectl-edit", force: true)
        try await external.shutdown()
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

    @Test(arguments: [MeshSession.RecoveryMode.rollback, .continue], StateKind.allCases)
    func killedApplyIsRecovered(mode: MeshSession.RecoveryMode, state: StateKind) async throws {
        guard Self.binary != nil else { Issue.record("the meshform executable was not built next to the tests"); return }
        // istiod takes a while to become available, so the apply is surely mid-way when it is killed.
        let h = try await MeshHarness(state: state) { $0.controllerDelay = .seconds(3) }
        defer { Task { await h.stop() } }
        let file = try h.multiRemote()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary!)
        p.arguments = ["apply", file, "-auto-approve", "--state", h.statePath]
        p.environment = h.environment
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        // Wait until the journal shows istiod's step started, then kill -9.
        var started = false
        for _ in 0..<300 where !started {
            try await Task.sleep(for: .milliseconds(50))
            if let store = try? StateStore.openReadOnly(path: h.statePath), let snap = try? store.snapshot() {
                started = snap.unfinishedJournal.contains { $0.address?.description.hasSuffix("/Deployment/external-istiod/istiod") == true }
            }
        }
        #expect(started)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()

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
        let store = try StateStore.openReadOnly(path: h.statePath)
        #expect(try store.unfinishedRun() == nil)
        let managed = try await h.managedObjects()
        switch mode {
        case .rollback:
            #expect(managed.isEmpty, "left behind: \(managed)")
            #expect(try store.objects().isEmpty)
        case .continue:
            let stateAddresses = Set(try store.objects().map(\.address))
            #expect(Set(managed) == stateAddresses, "orphaned or lost: \(Set(managed).symmetricDifference(stateAddresses).sorted())")
            let (after, _) = try await h.session(file).plan(PlanOptions())
            #expect(!after.hasChanges, "\(after.changes.filter { $0.action.changes }.map { "\($0.action) \($0.address) \($0.fields.map(\.path))" }) after:\n\(recovered.output)")
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

    /// The clear token of a remote secret's service account, as the token controller filled it in (a canary).
    func liveToken(cluster: String) async throws -> String {
        let c = try client(cluster)
        defer { Task { try? await c.shutdown() } }
        let secrets = try await c.list(GroupVersionKind(group: "", version: "v1", kind: "Secret"), namespace: nil)
        guard let b64 = secrets.first(where: { $0["type"]?.string == "kubernetes.io/service-account-token" })?[path: ["data", "token"]]?.string,
              let data = Data(base64Encoded: b64) else { return "no-token-found-\(UUID())" }
        return String(decoding: data, as: UTF8.self)
    }
}
