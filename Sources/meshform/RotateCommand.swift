import ArgumentParser
import Foundation
import MeshformKit
import KubeModel

/// `meshform rotate`: new credentials for what holds the mesh together, as a plan first.
struct RotateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Rotate the mesh's credentials (docs/day2.md).",
        subcommands: [RotateRemoteSecretsCommand.self, RotateGatewayTLSCommand.self])
}

struct RotateRemoteSecretsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remote-secrets",
        abstract: "New tokens for istiod on the remotes, new remote secrets, istiod restarted, then the old tokens revoked.",
        discussion: """
        Shows what it will do and asks for 'yes' (or -auto-approve). The old token Secrets are deleted only after the new
        remote secrets are in place, istiod has restarted, and each new secret authenticates and may read what istiod
        reads. Exit codes as apply: 0 rotated, 1 error (the output says what, if anything, was changed), 3 a rollback
        could not undo everything.
        """)

    @OptionGroup var mesh: MeshOptions
    @Option(name: .long, help: "Only this data-plane cluster's remote secret (default: every one).") var cluster: String?
    @OptionGroup var output: RotationOutput
    @OptionGroup var run: RunOptions

    func run() async throws {
        try await runReportingErrors {
            let session = try await mesh.session()
            let (rotation, runner) = try await session.rotationPlan(cluster: cluster)
            try await presentAndRun(json: rotation.json, text: rotation.text, plan: rotation.plan, what: "the remote secrets", options: (mesh, output, run),
                                    perform: { try await runner.rotate(rotation, request: run.request(PlanOptions()), emit: $0) },
                                    complete: "Rotation complete: \(rotation.clusters.joined(separator: ", ")) use new tokens; the old ones no longer authenticate.")
        }
    }
}

struct RotateGatewayTLSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway-tls",
        abstract: "The control-plane gateway's certificate from controlPlane.tls.certFile/keyFile: a new Secret, the gateway moved to it, then the old one deleted.",
        discussion: """
        Replace the files the mesh file names first. Shows what it will do (secret values masked, certificates by their
        SHA-256 fingerprint) and asks for 'yes' (or -auto-approve). The old Secret is deleted only once the gateway
        presents the new certificate on 15012 and 15017; if it does not, the gateway is pointed back at the old Secret.
        Exit codes as apply: 0 rotated, 1 error (the output says what, if anything, was changed), 3 a rollback could not
        undo everything.
        """)

    @OptionGroup var mesh: MeshOptions
    @OptionGroup var output: RotationOutput
    @OptionGroup var run: RunOptions

    func run() async throws {
        try await runReportingErrors {
            let session = try await mesh.session()
            let (rotation, runner) = try await session.gatewayTLSRotationPlan()
            try await presentAndRun(json: rotation.json, text: rotation.text, plan: rotation.plan, what: "the gateway's certificate", options: (mesh, output, run),
                                    perform: { try await runner.rotateGatewayTLS(rotation, previous: session, request: run.request(PlanOptions()), emit: $0) },
                                    complete: rotation.checked
                                        ? "Rotation complete: the gateway serves the certificate of Secret \(rotation.newSecret); Secret \(rotation.oldSecret) is deleted."
                                        : "Rotation applied: the gateway refers to Secret \(rotation.newSecret); Secret \(rotation.oldSecret) is kept until the next meshform apply.")
        }
    }
}

/// The flags every rotation takes to show its plan and stop.
struct RotationOutput: ParsableArguments {
    @Flag(name: .customLong("json"), help: "Print the rotation plan as JSON and change nothing.") var json = false
    @Flag(name: .customLong("plan-only"), help: "Print the rotation plan and change nothing.") var planOnly = false
}

/// What every rotation does on the command line: its plan (or JSON, and stop), the question unless -auto-approve, the
/// run with each event printed as apply prints it, and the outcome with apply's exit codes.
private func presentAndRun(json value: JSON, text: String, plan: Plan, what: String,
                           options: (mesh: MeshOptions, output: RotationOutput, run: RunOptions),
                           perform: (@escaping @Sendable (ApplyEvent) -> Void) async throws -> ApplyResult,
                           complete: String) async throws {
    if options.output.json { print(String(decoding: value.encoded(pretty: true), as: UTF8.self)); return }
    print(text)
    print(PlanText(color: Terminal.useColor(noColor: options.mesh.noColor)).render(plan))
    if options.output.planOnly { return }
    if !options.run.autoApprove {
        guard Terminal.isInteractive else { throw SessionError.needsApproval }
        guard Terminal.confirm("Do you want to perform this rotation? Meshform will rotate \(what) as shown above.") else {
            throw SessionError.notConfirmed
        }
    }
    let result = try await perform { print(Terminal.line(for: $0)); fflush(nil) }  // all streams: no global `stdout` (Swift 6)
    if case .succeeded = result { print("\n" + complete) } else { try ApplyRunner.report(result, hadChanges: true, verb: "rotate") }
}
