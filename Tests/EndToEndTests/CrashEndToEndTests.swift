import Foundation
import KubeModel
import StateStore
import Testing
@testable import MeshformKit

/// Issue 12's crash test: the `meshform` executable killed with SIGKILL right after a journal entry
/// (`MESHFORM_CRASH_AFTER_JOURNAL_ENTRY`, see `CrashPoint`) of an apply, an update with deletes and a destroy of a
/// three-cluster mesh, then `meshform recover --rollback` or `--continue`. After each: no orphan (a live object
/// labelled as Meshform's that the state does not know), nothing lost (an object the state records that is not
/// live, or one that should be there and is not), `plan -detailed-exitcode` 0 against what the state should now
/// match, and a sound state file.
///
/// `swift test` runs a sample (every operation, both ways, early, middle and late points). Every point of every
/// operation both ways: `Benchmarks/crash-sweep` (sets `MESHFORM_CRASH_SWEEP=all`), which prints the counts.
extension EndToEnd {
@Suite struct CrashEndToEndTests {
    enum Operation: String, CaseIterable, Sendable { case apply, update, destroy }

    /// One killed run and its recovery, as checked.
    struct Result: Sendable {
        var operation: Operation, mode: MeshSession.RecoveryMode, point: Int
        var killed: Bool, recoverStatus: Int32, planStatus: Int32
        var orphans: [String], lost: [String], integrity: [String], unfinished: Bool
        var ok: Bool { recoverStatus == 0 && planStatus == 0 && orphans.isEmpty && lost.isEmpty && integrity.isEmpty && !unfinished }
        var line: String {
            "\(operation.rawValue) kill@\(point) \(mode.rawValue): killed=\(killed) recover=\(recoverStatus) plan=\(planStatus) "
                + "orphans=\(orphans.count) lost=\(lost.count) integrity=\(integrity.isEmpty ? "ok" : integrity.joined(separator: ";"))"
                + (orphans.isEmpty ? "" : " orphans: \(orphans)") + (lost.isEmpty ? "" : " lost: \(lost)")
        }
    }

    /// The base mesh: three clusters, helloworld v1 and v2 (the guide's ingress sample left out to keep it small).
    static func base(_ h: MeshHarness) throws -> String {
        try h.multiRemote([MeshEdits.removingWorkload("helloworld-gateway")])
    }

    /// The update: the second remote's workload removed (deletes) and the mesh ID changed (updates).
    static func updated(_ h: MeshHarness) throws -> String {
        try h.meshFile("multi-remote-updated.yaml", source: "multi-remote.yaml") { text in
            MeshEdits.removingWorkload("helloworld-v2")(MeshEdits.removingWorkload("helloworld-gateway")(
                MeshEdits.kubeSimTLS(MeshEdits.manifestsRenderer(text))))
                .replacingOccurrences(of: "meshID: mesh1", with: "meshID: mesh2")
        }
    }

    /// The world before the run, and the mesh file the killed command is given.
    static func prepare(_ op: Operation, _ h: MeshHarness) async throws -> String {
        let base = try base(h)
        if op != .apply {
            let (_, r) = try await ApplyEndToEndTests.apply(try await h.session(base))
            guard case .succeeded = r else { throw CrashTestError("preparing \(op): \(r)") }
        }
        return op == .update ? try updated(h) : base
    }

    /// How many journal entries the operation writes when nothing kills it, and how many steps of each action.
    static func journalPoints(_ op: Operation) async throws -> (Int, [String: Int]) {
        return try await MeshHarness.with { h in
            let file = try await prepare(op, h)
            var request = MeshSession.ApplyRequest()
            request.plan.operation = op == .destroy ? .destroy : .apply
            let (_, r) = try await h.session(file).apply(request, confirm: { _ in true }, emit: { _ in })
            guard case .succeeded = r else { throw CrashTestError("uninterrupted \(op): \(r)") }
            let store = try StateStore.openReadOnly(path: h.statePath)
            let run = try #require(try store.runs(limit: 1).first)
            let journal = try store.journal(of: run.id)
            let actions = Dictionary(grouping: journal.filter { $0.phase == .started }, by: \.actionWord).mapValues(\.count)
            return (journal.count, actions)
        }
    }

    static func crash(_ op: Operation, at point: Int, recover mode: MeshSession.RecoveryMode) async throws -> Result {
        return try await MeshHarness.with { h in
            let file = try await prepare(op, h)
            let stateBefore = op == .apply ? [] : Set(try StateStore.openReadOnly(path: h.statePath).objects().map(\.address))
            let state = ["--state", h.statePath]
            var env = h.environment
            env["MESHFORM_CRASH_AFTER_JOURNAL_ENTRY"] = String(point)
            let command = op == .destroy ? "destroy" : "apply"
            let run = try await MeshHarness.run(CLIEndToEndTests.binary!, [command, file, "-auto-approve", "--no-color"] + state, environment: env)
            let killed = run.status == 128 + SIGKILL   // ChildProcess reports a signal as a shell does

            let recovered = try await MeshHarness.run(CLIEndToEndTests.binary!, ["recover", file, "--\(mode.rawValue)", "-auto-approve", "--no-color"] + state,
                                                      environment: h.environment)
            // What the state must now match: rolled back, the world before the run; continued, the world after it.
            let undone = mode == .rollback
            let planArgs: [String]
            let expected: Set<String>
            switch (op, undone) {
            case (.apply, true): planArgs = ["--destroy", try base(h)]; expected = []
            case (.apply, false): planArgs = [file]; expected = try await desired(h, file)
            case (.update, true): planArgs = [try base(h)]; expected = stateBefore
            case (.update, false): planArgs = [file]; expected = try await desired(h, file)
            case (.destroy, true): planArgs = [file]; expected = stateBefore
            case (.destroy, false): planArgs = ["--destroy", file]; expected = []
            }
            let plan = try await MeshHarness.run(CLIEndToEndTests.binary!, ["plan"] + planArgs + ["-detailed-exitcode", "--no-color"] + state,
                                                 environment: h.environment)
            let store = try StateStore.openReadOnly(path: h.statePath)
            let inState = Set(try store.objects().map(\.address))
            let live = Set(try await h.managedObjects())
            var result = Result(operation: op, mode: mode, point: point, killed: killed, recoverStatus: recovered.status,
                                planStatus: plan.status, orphans: live.subtracting(inState).sorted(),
                                lost: inState.subtracting(live).union(expected.subtracting(inState)).sorted(),
                                integrity: try store.integrityProblems(), unfinished: try store.unfinishedRun() != nil)
            if !result.ok {
                result.integrity += ["run: \(run.output.suffix(600))", "recover: \(recovered.output.suffix(1500))", "plan: \(plan.output.suffix(800))"]
            }
            return result
        }
    }

    static func desired(_ h: MeshHarness, _ file: String) async throws -> Set<String> {
        Set(try await h.session(file).mesh.resources.map(\.address.description))
    }

    /// The points to kill at: all of them for the sweep, else the first, middle and last few.
    static func points(_ total: Int) -> [Int] {
        if ProcessInfo.processInfo.environment["MESHFORM_CRASH_SWEEP"] == "all" { return Array(1...total) }
        return Array(Set([1, total / 2, total - 1])).filter { $0 >= 1 }.sorted()
    }

    @Test(arguments: Operation.allCases)
    func killedAtJournalPointsAndRecoveredBothWays(op: Operation) async throws {
        guard CLIEndToEndTests.binary != nil else { Issue.record("the meshform executable was not built next to the tests"); return }
        let (total, actions) = try await Self.journalPoints(op)
        switch op {
        case .apply: #expect(actions["create"] ?? 0 > 0)
        case .update: #expect(actions["update"] ?? 0 > 0 && actions["delete"] ?? 0 > 0, "\(actions)")
        case .destroy: #expect(actions.keys.sorted() == ["delete"])
        }
        var results: [Result] = []
        for point in Self.points(total) {
            for mode in [MeshSession.RecoveryMode.rollback, .continue] {
                let r = try await Self.crash(op, at: point, recover: mode)
                results.append(r)
                #expect(r.killed, "\(r.line)")
                #expect(r.ok, "\(r.line)")
            }
        }
        let orphans = results.reduce(0) { $0 + $1.orphans.count }, lost = results.reduce(0) { $0 + $1.lost.count }
        let plans = Dictionary(grouping: results, by: \.planStatus).mapValues(\.count)
        print("crash test \(op.rawValue) (\(actions.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))): "
              + "\(total) journal points, \(results.count) runs killed and recovered, "
              + "\(orphans) orphans, \(lost) lost, plan -detailed-exitcode \(plans.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")), "
              + "\(results.filter { !$0.integrity.isEmpty }.count) integrity failures")
    }
}
}

struct CrashTestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
