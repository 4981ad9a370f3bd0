import ArgumentParser
import Foundation
import MeshformKit

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what apply would change: desired (the mesh file) vs state vs live objects.",
        discussion: """
        Read-only: takes no lock and writes nothing (except the -out file).
        Exit codes: 0 success (with -detailed-exitcode: no changes), 1 error, 2 changes (with -detailed-exitcode).
        """)

    @OptionGroup var mesh: MeshOptions
    @Option(name: .customLong("refresh"), help: "Read live objects (false: plan from state alone).") var refresh = true
    @Option(name: [.customLong("out"), .customLong("out", withSingleDash: true)], help: "Save the plan to this file for `meshform apply FILE`.")
    var out: String?
    @Flag(name: .customLong("json"), help: "Print the plan as JSON (docs/plan-json.md).") var json = false
    @Flag(name: [.customLong("detailed-exitcode"), .customLong("detailed-exitcode", withSingleDash: true)],
          help: "Exit 2 when there are changes, 0 when there are none.")
    var detailedExitcode = false
    @Option(name: [.customLong("target"), .customLong("target", withSingleDash: true)], help: "Only this address and its dependencies (repeatable).")
    var target: [String] = []
    @Option(name: [.customLong("replace"), .customLong("replace", withSingleDash: true)], help: "Plan to replace this address (repeatable).")
    var replace: [String] = []
    @Flag(help: "Plan a destroy.") var destroy = false
    @Flag(help: "Plan to take objects that exist but are not in state under management.") var adopt = false
    @Flag(name: .customLong("server-dry-run"), help: "Ask each API server for the exact result of every create and update.")
    var serverDryRun = false
    @OptionGroup var dayTwo: DayTwoOptions

    func run() async throws {
        var hasChanges = false
        try await runReportingErrors {
            let session = try await mesh.session(finalize: dayTwo.finalize)
            var options = PlanOptions()
            options.refresh = refresh; options.targets = target; options.replace = replace; options.adopt = adopt
            options.operation = destroy ? .destroy : .apply
            options.serverDryRun = serverDryRun
            let (plan, _) = try await session.plan(options)
            hasChanges = plan.hasChanges
            if let out {
                try SavedPlan.write(plan, to: out)
            }
            if json { print(String(decoding: PlanJSON.encode(plan), as: UTF8.self)) }
            else {
                print(PlanText(color: Terminal.useColor(noColor: mesh.noColor)).render(plan), terminator: "")
                if let out { print("\nSaved the plan to \(out). To apply exactly this plan: meshform apply \(out)") }
            }
        }
        if detailedExitcode && hasChanges { throw ExitCode(2) }
    }
}

struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Print a plan saved with plan -out.")
    @Argument(help: "The saved plan file.") var planFile: String
    @Flag(name: .customLong("json"), help: "Print it as JSON.") var json = false
    @Flag(name: .customLong("no-color"), help: "No colour.") var noColor = false

    func run() async throws {
        try await runReportingErrors {
            let plan = try SavedPlan.read(planFile)
            if json { print(String(decoding: PlanJSON.encode(plan), as: UTF8.self)) }
            else { print(PlanText(color: Terminal.useColor(noColor: noColor)).render(plan), terminator: "") }
        }
    }
}
