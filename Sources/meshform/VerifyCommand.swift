import ArgumentParser
import Foundation
import KubeModel
import MeshformKit

/// `meshform verify FILE`: the guide's checks, one line each; exit 0 when none failed, 1 otherwise.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the live mesh as the guide does: webhooks, remote secrets and their RBAC, istiod, the gateway's TLS, sidecars.",
        discussion: """
        Read-only: takes no lock and writes nothing. A check that cannot be made here is listed as "not run" with its \
        reason and does not change the exit code. Exit 0: no check failed; 1: a check failed, or an error (bad mesh \
        file, a context missing from the kubeconfig). docs/verify.md lists the checks.
        """)

    @OptionGroup var mesh: MeshOptions
    @Flag(name: .customLong("json"), help: "Print the report as JSON (docs/verify.md).") var json = false
    @Option(name: .customLong("handshake-timeout"), help: "Seconds each TLS handshake with the gateway may take.")
    var handshakeTimeout = 10

    func run() async throws {
        var report: VerifyReport?
        try await runReportingErrors {
            let r = try await mesh.session().verify(handshakeTimeout: .seconds(handshakeTimeout))
            report = r
            print(json ? r.json().canonicalText : r.text())
        }
        if report?.passed == false { throw ExitCode(1) }
    }
}
