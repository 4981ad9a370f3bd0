import ArgumentParser
import Foundation
import MeshformKit

/// Options apply, destroy and recover share.
struct RunOptions: ParsableArguments {
    @Flag(name: [.customLong("auto-approve"), .customLong("auto-approve", withSingleDash: true)],
          help: "Apply without asking for confirmation (scripts).")
    var autoApprove = false
    @Option(name: [.customLong("parallelism"), .customLong("parallelism", withSingleDash: true)], help: "Steps run at once.")
    var parallelism = 10
    @Flag(name: .customLong("no-rollback"), help: "On failure, keep what was done (for debugging) instead of undoing it.")
    var noRollback = false
    @Option(name: .customLong("lock-timeout"), help: "Seconds to wait for the state lock (default 0: fail at once).")
    var lockTimeout: Int = 0
    @Option(name: .customLong("readiness-timeout"), help: "Seconds to wait for each readiness condition.")
    var readinessTimeout: Int = 300

    func request(_ plan: PlanOptions) -> MeshSession.ApplyRequest {
        var r = MeshSession.ApplyRequest()
        r.plan = plan
        r.apply.parallelism = parallelism
        r.apply.rollback = !noRollback
        r.apply.readinessTimeout = .seconds(readinessTimeout)
        r.lockTimeout = .seconds(lockTimeout)
        return r
    }
}

/// Runs an apply or destroy and prints it as Terraform users expect; shared by apply, destroy and recover.
enum ApplyRunner {
    static func run(session: MeshSession, request: MeshSession.ApplyRequest, autoApprove: Bool, color: Bool) async throws {
        let interactive = Terminal.isInteractive
        if !autoApprove && request.saved == nil && !interactive { throw SessionError.needsApproval }
        let verb = request.plan.operation == .destroy ? "destroy" : "apply"
        let (plan, result) = try await Terminal.withProgress { emit in
            try await session.apply(request, confirm: { plan in
                print(PlanText(color: color).render(plan))
                if autoApprove { return true }
                return Terminal.confirm("Do you want to perform these actions? Meshform will \(verb) the changes described above.")
            }, emit: emit)
        }
        try report(result, hadChanges: plan.hasChanges, verb: verb)
    }

    static func report(_ result: ApplyResult, hadChanges: Bool, verb: String) throws {
        switch result {
        case .succeeded(let s):
            if !hadChanges { print("\nNo changes. The mesh matches the mesh file."); return }
            let what = verb == "destroy" ? "Destroy" : "Apply"
            print("\n\(what) complete! Resources: \(s.added) added, \(s.changed) changed, \(s.destroyed) destroyed.")
        case .rolledBack(let failed, let error):
            Terminal.error("\(failed) failed: \(error)\nEvery step this run completed was rolled back; the clusters and the state are as they were before.")
            throw ExitCode(1)
        case .failedKept(let failed, let error, let s):
            Terminal.error("\(failed) failed: \(error)\n--no-rollback: kept \(s.added) added, \(s.changed) changed, \(s.destroyed) destroyed. Run apply again to converge, or destroy.")
            throw ExitCode(1)
        case .rollbackFailed(let failed, let error, let left):
            Terminal.error("""
                \(failed) failed: \(error)
                Rolling back could not undo everything. What is left:
                \(left.map { "  - \($0)" }.joined(separator: "\n"))
                The state records this. Fix the cause, then run `meshform apply` to converge (or `meshform destroy`).
                """)
            throw ExitCode(3)
        }
    }
}

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Converge every cluster to the mesh file (or apply a saved plan exactly).",
        discussion: """
        Shows the plan and asks for 'yes' (or -auto-approve). Runs the steps in dependency order, records each in the
        state's journal, and if a step fails for good undoes the steps this run completed, in reverse.
        Exit codes: 0 applied (or nothing to do), 1 error (the output says what, if anything, was changed),
        3 a step failed and the rollback could not undo everything (what is left is listed).
        """)

    @Argument(help: "The mesh file, or a plan saved with `meshform plan -out`.") var file: String
    @Option(name: .long, help: "The mesh file a saved plan was made from (default: the one recorded in the plan).") var meshFile: String?
    @Option(name: .long, help: stateHelp) var state: String?
    @Flag(name: .customLong("no-color"), help: "No colour in the output.") var noColor = false
    @OptionGroup var run: RunOptions
    @Option(name: [.customLong("target"), .customLong("target", withSingleDash: true)], help: "Only this address and its dependencies.")
    var target: [String] = []
    @Option(name: [.customLong("replace"), .customLong("replace", withSingleDash: true)], help: "Replace this address.")
    var replace: [String] = []
    @Flag(help: "Take objects that exist but are not in state under management.") var adopt = false
    @OptionGroup var dayTwo: DayTwoOptions

    func run() async throws {
        try await runReportingErrors {
            var planOptions = PlanOptions()
            planOptions.targets = target; planOptions.replace = replace; planOptions.adopt = adopt
            var request = run.request(planOptions)
            let session: MeshSession
            if SavedPlan.isSavedPlan(file) {
                let saved = try SavedPlan.read(file)
                request.saved = saved
                session = try await MeshSession(meshFile: meshFile ?? saved.meshFile, statePath: stateLocation(state), finalize: dayTwo.finalize)
            } else {
                session = try await MeshSession(meshFile: file, statePath: stateLocation(state), finalize: dayTwo.finalize)
            }
            try await ApplyRunner.run(session: session, request: request, autoApprove: run.autoApprove,
                                      color: Terminal.useColor(noColor: noColor))
            if dayTwo.restartWorkloads { try await dayTwo.restart(meshFile: session.meshFile, state: stateLocation(state), readinessTimeout: run.readinessTimeout) }
        }
    }
}

struct DestroyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "destroy",
        abstract: "Delete every object Meshform manages for this mesh, in reverse dependency order.",
        discussion: """
        Objects marked preventDestroy in the mesh file stop it. -target A destroys A and everything that depends on it,
        never what A depends on (as Terraform). Same confirmation, progress, rollback and exit codes as apply.
        """)

    @OptionGroup var mesh: MeshOptions
    @OptionGroup var run: RunOptions
    @Option(name: [.customLong("target"), .customLong("target", withSingleDash: true)],
            help: "Only this address and what depends on it.")
    var target: [String] = []

    func run() async throws {
        try await runReportingErrors {
            var planOptions = PlanOptions()
            planOptions.operation = .destroy
            planOptions.targets = target
            try await ApplyRunner.run(session: try await mesh.session(), request: run.request(planOptions),
                                      autoApprove: run.autoApprove, color: Terminal.useColor(noColor: mesh.noColor))
        }
    }
}

struct RecoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Finish a run that died mid-way (its journal is still open): roll it back or continue it.",
        discussion: """
        Shows what it will do and asks for 'yes' (or -auto-approve), as apply does.
        Exit codes: 0 recovered (or nothing to recover), 1 error or declined (nothing changed unless listed),
        3 finished, but the objects listed as left could not be restored (e.g. a Secret whose values were never stored).
        """)

    @OptionGroup var mesh: MeshOptions
    @Flag(help: "Undo every step the interrupted run started or finished.") var rollback = false
    @Flag(name: .customLong("continue"), help: "Close the interrupted run and apply the mesh file again.") var continueRun = false
    @OptionGroup var run: RunOptions

    func validate() throws {
        guard rollback != continueRun else { throw ValidationError("give exactly one of --rollback or --continue") }
    }

    func run() async throws {
        try await runReportingErrors {
            let session = try await mesh.session()
            if !run.autoApprove && !Terminal.isInteractive { throw SessionError.needsApproval }
            let color = Terminal.useColor(noColor: mesh.noColor)
            let autoApprove = run.autoApprove
            let how: MeshSession.RecoveryMode = rollback ? .rollback : .continue
            let request = run.request(PlanOptions())
            let result = try await Terminal.withProgress { emit in
                try await session.recover(how, request: request, confirm: { proposal in
                    switch proposal {
                    case .plan(let plan):
                        print(PlanText(color: color).render(plan))
                    case .rollback(let dead, let undo):
                        print("The interrupted \(dead.kind.rawValue) (run \(dead.id), by \(dead.who) on \(dead.host)) will be rolled back, in this order:")
                        for line in undo { print("  \(line)") }
                    }
                    if autoApprove { return true }
                    return Terminal.confirm("Do you want to perform these actions? Meshform will recover the interrupted run as shown above.")
                }, emit: emit)
            }
            switch (result, rollback) {
            case (.succeeded(let s), _): print("Recovered: \(s.added) added, \(s.changed) changed, \(s.destroyed) destroyed.")
            case (.rolledBack, true): print("Recovered: the interrupted run was rolled back.")
            // --continue: its apply failed (and was itself rolled back, or not): an error, as for apply.
            default: try ApplyRunner.report(result, hadChanges: true, verb: "recover")
            }
        }
    }
}
