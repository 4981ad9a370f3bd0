import ArgumentParser
import Foundation

/// The `meshform` command. Each subcommand is its own type in its own file; this type only lists them.
///
/// Exit codes (stable, documented in README.md):
///   0  success; for `plan -detailed-exitcode` and `drift`: no changes / no drift; `verify`: no check failed
///   1  error (bad input, unreachable cluster, API error, locked or corrupt state); nothing was changed
///      unless the output says what was; `verify`: a check failed
///   2  `plan -detailed-exitcode`: changes present; `drift`: drift found
///   3  a rollback (apply's, destroy's) or `recover` could not undo or restore everything: what is left is listed
///  64  usage error (missing or unknown argument, e.g. no mesh file); nothing was done
@main
struct Meshform: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meshform",
        abstract: "Install and keep an Istio mesh with an external control plane across Kubernetes clusters.",
        version: "0.1.0",
        subcommands: [
            // Registered by each command's author; keep one line per command group.
            PlanCommand.self,
            ApplyCommand.self,
            DestroyCommand.self,
            DriftCommand.self,
            ShowCommand.self,
            RecoverCommand.self,
            DemoCommand.self,
            StateCommand.self,
            ValidateCommand.self,
            GraphCommand.self,
            VerifyCommand.self,
            RotateCommand.self,
        ]
    )
}
