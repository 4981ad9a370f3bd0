import Foundation
import KubeClient
import Testing
import KubeModel
@testable import StateStore

/// Runs the real `meshform state ...` binary (built next to the test bundle) against real state files.
/// Skipped with a message when the binary is not there (e.g. `swift test --skip-build` of tests only).
@Suite struct StateCommandTests {
    static var binary: String? {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let p = candidate.appendingPathComponent("meshform").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    struct Result { var status: Int32; var out: String; var err: String }

    func meshform(_ args: [String], cwd: String? = nil) async throws -> Result {
        let r = try await ChildProcess.run(try #require(Self.binary), args, workingDirectory: cwd)
        return Result(status: r.status, out: r.stdoutText, err: r.stderrText)
    }

    func populated(_ t: TempState) throws -> StateStore {
        let store = try StateStore.open(path: t.path)
        let secret: JSON = ["apiVersion": "v1", "kind": "Secret",
                            "metadata": ["name": "istio-remote-secret-remote1", "namespace": "external-istiod"],
                            "stringData": ["remote1": .string("token: \(SecretCanaryTests.token)")]]
        try store.upsert([managed(deployment("helloworld")), managed(secret, cluster: "external")], run: nil)
        let run = try store.beginRun(kind: .apply, who: "alice", configHash: "sha256:cfg")
        try store.journal(run, step: JournalStep(address: try ResourceAddress(parsing: "remote1/apps/Deployment/sample/a"), action: .create, phase: .started, after: secret))
        try store.finishRun(run, outcome: .failed, message: "remote1: connection refused")
        return store
    }

    @Test(.enabled(if: binary != nil, "meshform binary not built next to the tests"))
    func listShowAndHistoryNeverPrintTheSecret() async throws {
        let t = TempState()
        _ = try populated(t)
        let list = try await meshform(["state", "list", "--state", t.path])
        #expect(list.status == 0)
        #expect(list.out.split(separator: "\n") == ["external/core/Secret/external-istiod/istio-remote-secret-remote1",
                                                   "remote1/apps/Deployment/sample/helloworld"])
        let show = try await meshform(["state", "show", "--state", t.path, "external/core/Secret/external-istiod/istio-remote-secret-remote1"])
        #expect(show.status == 0)
        #expect(show.out.contains("remote1: (sensitive)"))
        let showJSON = try await meshform(["state", "show", "--json", "--state", t.path, "external/core/Secret/external-istiod/istio-remote-secret-remote1"])
        let history = try await meshform(["state", "history", "--state", t.path])
        #expect(history.status == 0 && history.out.contains("alice") && history.out.contains("failed"))
        let historyJSON = try await meshform(["state", "history", "--json", "--state", t.path])
        #expect(historyJSON.status == 0)
        let parsed = try JSON(data: Data(historyJSON.out.utf8))
        #expect(parsed["runs"]?[0]?["who"] == "alice")
        if ProcessInfo.processInfo.environment["SHOW_CLI_OUTPUT"] != nil { print(show.out, history.out, showJSON.out) }
        for r in [list, show, showJSON, history, historyJSON] {
            #expect(!r.out.contains(SecretCanaryTests.token) && !r.err.contains(SecretCanaryTests.token))
            #expect(!r.out.contains("hmac-sha256:"))
        }
    }

    @Test(.enabled(if: binary != nil, "meshform binary not built next to the tests"))
    func defaultsToTheOnlyStateFileUnderState() async throws {
        let t = TempState()
        _ = try populated(t)
        let r = try await meshform(["state", "list"], cwd: t.dir)
        #expect(r.status == 0 && r.out.contains("helloworld"))
        _ = try StateStore.open(path: t.dir + "/state/other.db")
        let two = try await meshform(["state", "list"], cwd: t.dir)
        #expect(two.status == 1 && two.err.contains("--state"))
    }

    @Test(.enabled(if: binary != nil, "meshform binary not built next to the tests"))
    func unlockBreaksAStaleLockAndErrorsExitOne() async throws {
        let t = TempState()
        let store = try populated(t)
        let lock = try await store.acquireLock(who: "alice", operation: "apply", timeout: .zero)
        let history = try await meshform(["state", "history", "--state", t.path])
        #expect(history.out.contains("LOCKED by alice") && history.out.contains(lock.id))
        let wrong = try await meshform(["state", "unlock", "--state", t.path, "nope"])
        #expect(wrong.status == 1 && wrong.err.contains(lock.id))
        let ok = try await meshform(["state", "unlock", "--state", t.path, lock.id])
        #expect(ok.status == 0)
        #expect(try store.currentLock() == nil)

        let garbage = t.file("garbage.db")
        try "not a database".write(toFile: garbage, atomically: true, encoding: .utf8)
        let bad = try await meshform(["state", "list", "--state", garbage])
        #expect(bad.status == 1 && bad.err.contains(garbage) && bad.err.contains("not a Meshform state file"))
        let missing = try await meshform(["state", "show", "--state", t.file("nothing.db"), "x"])
        #expect(missing.status == 1 && missing.err.contains("does not exist"))
    }
}
