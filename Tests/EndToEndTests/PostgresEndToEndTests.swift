import Foundation
import KubeClient
import PostgresTestSupport
@testable import StateStore
import Testing
@testable import MeshformKit

/// The `meshform` executable with its state on a real PostgreSQL server (and, for comparison, in a SQLite file):
/// the life of a mesh, two applies from two processes, a killed apply whose lock the server frees, migrate.
extension EndToEnd {
@Suite struct PostgresEndToEndTests {
    func meshform(_ h: MeshHarness, _ pg: PostgresTestServer, _ args: [String]) async throws -> (status: Int32, output: String) {
        try await MeshHarness.run(CLIEndToEndTests.binary!, args, environment: h.environment.merging(pg.environment) { $1 })
    }

    @Test(arguments: StateKind.allCases)
    func applyPlanDriftDestroyOnEitherBackend(_ kind: StateKind) async throws {
        let pg = try PostgresTestServer.start()
        try await MeshHarness.with(state: kind) { h in
            let file = try h.multiRemote()
            let state = ["--state", h.statePath]
            let applied = try await meshform(h, pg, ["apply", file, "-auto-approve", "--no-color"] + state)
            #expect(applied.status == 0, "\(applied.output)")
            #expect(!applied.output.contains(pg.password))
            let none = try await meshform(h, pg, ["plan", file, "-detailed-exitcode"] + state)
            #expect(none.status == 0, "\(none.output)")
            let clean = try await meshform(h, pg, ["drift", file, "--quiet"] + state)
            #expect(clean.status == 0 && clean.output.isEmpty, "\(clean.output)")
            let listed = try await meshform(h, pg, ["state", "list"] + state)
            let live = try await h.managedObjects()
            #expect(listed.status == 0 && listed.output.split(separator: "\n").count == live.count, "\(listed.output)")
            let destroyed = try await meshform(h, pg, ["destroy", file, "-auto-approve"] + state)
            #expect(destroyed.status == 0, "\(destroyed.output)")
            #expect(try await h.managedObjects().isEmpty)
        }
    }

    /// Where the state is: `--state`, then MESHFORM_STATE, then the mesh file's `state:` (relative to the file), then
    /// state/<mesh>.db. Each candidate is an empty file, which every command refuses naming it: the message says
    /// which one was used, before any cluster is asked anything.
    @Test func theStateIsTheFlagThenTheEnvironmentThenTheMeshFile() async throws {
        try await MeshHarness.with { h in
            let file = try h.multiRemote([{ $0.replacingOccurrences(of: "meshID: mesh1\n", with: "meshID: mesh1\nstate: from-file.db\n") }])
            let (flag, env, inFile) = (h.dir.appendingPathComponent("flag.db").path, h.dir.appendingPathComponent("env.db").path,
                                       h.dir.appendingPathComponent("from-file.db").path)
            for f in [flag, env, inFile] { _ = FileManager.default.createFile(atPath: f, contents: Data()) }
            let elsewhere = FileManager.default.temporaryDirectory   // the file's state: is not relative to the working directory
            func used(_ args: [String], _ environment: [String: String]) async throws -> String {
                let r = try await MeshHarness.run(CLIEndToEndTests.binary!, ["plan", file] + args, environment: environment, directory: elsewhere)
                #expect(r.status == 1, "\(r.output)")
                return [flag, env, inFile].first { r.output.contains($0) } ?? "none in: \(r.output)"
            }
            var environment = h.environment
            environment["MESHFORM_STATE"] = env
            #expect(try await used(["--state", flag], environment) == flag)
            #expect(try await used([], environment) == env)
            environment["MESHFORM_STATE"] = nil
            #expect(try await used([], environment) == inFile)
        }
    }

    /// The apply's database session ends mid-run (pg_terminate_backend, as a failover or a network cut does): the
    /// run stops before its next step with exit 1 and a message saying what to do, every cluster change made is in
    /// the journal, and `meshform recover` in a fresh process rolls back or continues exactly.
    @Test(arguments: [MeshSession.RecoveryMode.rollback, .continue])
    func aConnectionLostMidApplyStopsTheRunAndAnotherProcessRecovers(mode: MeshSession.RecoveryMode) async throws {
        let pg = try PostgresTestServer.start()
        try await MeshHarness.with(state: .postgres, configure: { $0.controllerDelay = .seconds(3) }) { h in
            let file = try h.multiRemote(), url = h.statePath
            async let applying = meshform(h, pg, ["apply", file, "-auto-approve", "--no-color", "--state", url])
            // istiod's Deployment waits 3 s to be available: the apply is surely mid-way when its session ends.
            #expect(try await h.waitForStartedStep("/Deployment/external-istiod/istiod", state: url))
            // The session holding the mesh's lock is the apply's (one connection per store).
            let k = PostgresBackend.key("lock", try PostgresLocation(url: url))
            let ended = try pg.psql("""
                SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
                  AND classid::bigint = \(UInt32(truncatingIfNeeded: k >> 32)) AND objid::bigint = \(UInt32(truncatingIfNeeded: k))
                """)
            #expect(ended == "1")
            let applied = try await applying
            #expect(applied.status == 1, "\(applied.output)")
            #expect(applied.output.contains("was lost") && applied.output.contains("meshform recover"), "\(applied.output)")
            // No rollback either: an undo could not be journalled.
            #expect(!applied.output.contains("Apply complete") && !applied.output.contains("rolling back"), "\(applied.output)")

            // Stopped before its next step: every object it made is in its journal, and it did not make them all.
            let (run, journal) = try #require(try StateStore.openReadOnly(path: url).unfinishedRun())
            #expect(run.finishedAt == nil)
            let journalled = Set(journal.compactMap { $0.address?.description }), made = Set(try await h.managedObjects())
            #expect(made.isSubset(of: journalled), "made but not journalled: \(made.subtracting(journalled).sorted())")
            let meshSize = try await h.session(file).mesh.resources.count
            #expect(made.count < meshSize)

            let recovered = try await meshform(h, pg, ["recover", file, "--\(mode.rawValue)", "-auto-approve", "--state", url])
            #expect(recovered.status == 0, "\(recovered.output)")
            try await h.expectRecovered(mode, file: file, output: recovered.output)
        }
    }

    @Test func twoAppliesFromTwoProcessesOneIsRefusedNamingTheHolder() async throws {
        let pg = try PostgresTestServer.start()
        try await MeshHarness.with(configure: { $0.controllerDelay = .seconds(2) }) { h in
            let file = try h.multiRemote(), url = pg.url()
            let first = spawnApply(h, pg, file, url)
            var holder: StateLock?
            for _ in 0..<200 where holder == nil {
                try await Task.sleep(for: .milliseconds(50))
                holder = try? StateStore.openReadOnly(path: url).currentLock()
            }
            let h1 = try #require(holder)
            // Held by the other process: a live one, not this one.
            #expect(h1.pid != Int(getpid()) && kill(pid_t(h1.pid), 0) == 0 && h1.operation == "apply")
            let second = try await meshform(h, pg, ["apply", file, "-auto-approve", "--state", url])
            #expect(second.status == 1, "\(second.output)")
            #expect(second.output.contains("locked by") && second.output.contains("pid \(h1.pid)"), "\(second.output)")
            #expect(try await first.value.status == 0)
            #expect(try await meshform(h, pg, ["plan", file, "-detailed-exitcode", "--state", url]).status == 0)
        }
    }

    @Test func aKilledApplysLockIsFreedByTheServerAndAnotherProcessRecovers() async throws {
        let pg = try PostgresTestServer.start()
        try await MeshHarness.with(configure: { $0.controllerDelay = .seconds(3) }) { h in
            let file = try h.multiRemote(), url = pg.url()
            let apply = spawnApply(h, pg, file, url)
            #expect(try await h.waitForStartedStep("/Deployment/external-istiod/istiod", state: url))
            apply.cancel()
            _ = try? await apply.value
            // Its session ended with it: the server released the advisory lock, no lease to wait out, no unlock needed.
            var freed = false
            for _ in 0..<100 where !freed {
                freed = try StateStore.openReadOnly(path: url).currentLock() == nil
                if !freed { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(freed)
            let plan = try await meshform(h, pg, ["plan", file, "--state", url])
            #expect(plan.status == 1 && plan.output.contains("meshform recover"), "\(plan.output)")
            let recovered = try await meshform(h, pg, ["recover", file, "--rollback", "-auto-approve", "--state", url])
            #expect(recovered.status == 0, "\(recovered.output)")
            #expect(try await h.managedObjects().isEmpty)
            #expect(try StateStore.openReadOnly(path: url).unfinishedRun() == nil)
        }
    }

    @Test func stateMigratesToPostgresAndBack() async throws {
        let pg = try PostgresTestServer.start()
        try await MeshHarness.with { h in
            let file = try h.multiRemote(), url = pg.url()
            #expect(try await meshform(h, pg, ["apply", file, "-auto-approve", "--state", h.statePath]).status == 0)
            let file0 = try StateStore.openReadOnly(path: h.statePath)
            let there = try await meshform(h, pg, ["state", "migrate", "--state", h.statePath, "--to", url])
            #expect(there.status == 0 && there.output.contains(file0.lineage), "\(there.output)")
            let onPG = try StateStore.openReadOnly(path: url)
            let (s1, s0) = (try onPG.serial(), try file0.serial())
            #expect(onPG.lineage == file0.lineage && s1 == s0)
            #expect(try await meshform(h, pg, ["plan", file, "-detailed-exitcode", "--state", url]).status == 0)
            let back = h.dir.appendingPathComponent("back.db").path
            #expect(try await meshform(h, pg, ["state", "migrate", "--state", url, "--to", back]).status == 0)
            #expect(try StateStore.openReadOnly(path: back).lineage == file0.lineage)
            #expect(try await meshform(h, pg, ["plan", file, "-detailed-exitcode", "--state", back]).status == 0)
            // Another mesh's state is never overwritten.
            let other = pg.url()
            try StateStore.open(path: other).upsert(ManagedObject(address: "x/core/ConfigMap/a/b", cluster: "x", apiVersion: "v1", kind: "ConfigMap",
                                                                  namespace: "a", name: "b", applied: ["kind": "ConfigMap"]), run: nil)
            let refused = try await meshform(h, pg, ["state", "migrate", "--state", h.statePath, "--to", other])
            #expect(refused.status == 1 && refused.output.contains("another state"), "\(refused.output)")
            #expect(try StateStore.openReadOnly(path: other).serial() == 1)
        }
    }

    /// Starts `meshform apply` in a process of its own (KubeClient's `ChildProcess`): cancel the task to kill it with
    /// SIGKILL, as swift-subprocess's teardown does; its value is the run's result.
    func spawnApply(_ h: MeshHarness, _ pg: PostgresTestServer, _ file: String, _ url: String) -> Task<ChildProcess.Result, Error> {
        let binary = CLIEndToEndTests.binary!, environment = h.environment.merging(pg.environment) { $1 }
        return Task { try await ChildProcess.run(binary, ["apply", file, "-auto-approve", "--state", url], environment: environment) }
    }
}
}
