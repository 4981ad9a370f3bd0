import Foundation
import PostgresTestSupport
import StateStore
import Testing
@testable import MeshformKit

/// The `meshform` executable with its state on a real PostgreSQL server (and, for comparison, in a SQLite file):
/// the life of a mesh, two applies from two processes, a killed apply whose lock the server frees, migrate.
extension EndToEnd {
@Suite struct PostgresEndToEndTests {
    func meshform(_ h: MeshHarness, _ pg: PostgresTestServer, _ args: [String]) async throws -> (status: Int32, output: String) {
        try await MeshHarness.run(CLIEndToEndTests.binary!, args, environment: h.environment.merging(pg.environment) { $1 })
    }

    @Test(arguments: ["sqlite", "postgres"])
    func applyPlanDriftDestroyOnEitherBackend(_ backend: String) async throws {
        let pg = try PostgresTestServer.start()
        let h = try await MeshHarness()
        defer { Task { await h.stop() } }
        let file = try h.multiRemote()
        let state = ["--state", backend == "sqlite" ? h.statePath : pg.url()]
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

    @Test func twoAppliesFromTwoProcessesOneIsRefusedNamingTheHolder() async throws {
        let pg = try PostgresTestServer.start()
        let h = try await MeshHarness { $0.controllerDelay = .seconds(2) }
        defer { Task { await h.stop() } }
        let file = try h.multiRemote(), url = pg.url()
        let first = try spawnApply(h, pg, file, url)
        var holder: StateLock?
        for _ in 0..<200 where holder == nil {
            try await Task.sleep(for: .milliseconds(50))
            holder = try? StateStore.openReadOnly(path: url).currentLock()
        }
        let h1 = try #require(holder)
        #expect(h1.pid == Int(first.processIdentifier) && h1.operation == "apply")
        let second = try await meshform(h, pg, ["apply", file, "-auto-approve", "--state", url])
        #expect(second.status == 1, "\(second.output)")
        #expect(second.output.contains("locked by") && second.output.contains("pid \(first.processIdentifier)"), "\(second.output)")
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        #expect(try await meshform(h, pg, ["plan", file, "-detailed-exitcode", "--state", url]).status == 0)
    }

    @Test func aKilledApplysLockIsFreedByTheServerAndAnotherProcessRecovers() async throws {
        let pg = try PostgresTestServer.start()
        let h = try await MeshHarness { $0.controllerDelay = .seconds(3) }
        defer { Task { await h.stop() } }
        let file = try h.multiRemote(), url = pg.url()
        let p = try spawnApply(h, pg, file, url)
        var started = false
        for _ in 0..<300 where !started {
            try await Task.sleep(for: .milliseconds(50))
            if let snap = try? StateStore.openReadOnly(path: url).snapshot() {
                started = snap.unfinishedJournal.contains { $0.address.hasSuffix("/Deployment/external-istiod/istiod") }
            }
        }
        #expect(started)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
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

    @Test func stateMigratesToPostgresAndBack() async throws {
        let pg = try PostgresTestServer.start()
        let h = try await MeshHarness()
        defer { Task { await h.stop() } }
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

    func spawnApply(_ h: MeshHarness, _ pg: PostgresTestServer, _ file: String, _ url: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLIEndToEndTests.binary!)
        p.arguments = ["apply", file, "-auto-approve", "--state", url]
        p.environment = h.environment.merging(pg.environment) { $1 }
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }
}
}
