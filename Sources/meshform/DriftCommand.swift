import ArgumentParser
import Foundation
import KubeModel
import MeshformKit

struct DriftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "Say what changed behind Meshform's back (for cron). Read-only; never blocks or is blocked by an apply.",
        discussion: """
        Exit codes: 0 no drift, 2 drift found, 1 error (an unreachable cluster is an error naming it; the other
        clusters are still checked and reported).
        """,
        subcommands: [DriftCheck.self, DriftHistory.self],
        defaultSubcommand: DriftCheck.self)
}

struct DriftCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Check for drift now (the default).")
    @OptionGroup var mesh: MeshOptions
    @Flag(name: .customLong("json"), help: "Print the report as JSON (docs/drift.md).") var json = false
    @Flag(help: "Print nothing but errors.") var quiet = false
    @Option(name: .customLong("metrics-file"), help: "Write Prometheus gauges here (node_exporter textfile collector).")
    var metricsFile: String?
    @Option(name: .customLong("max-token-age"), help: "Warn when a remote secret's token is older than this many days (0: never).")
    var maxTokenAge = 90

    func run() async throws {
        var report: DriftReport?
        try await runReportingErrors {
            let r = try await mesh.session().drift(maxTokenAge: maxTokenAge > 0 ? .seconds(maxTokenAge * 86_400) : nil)
            report = r
            if let metricsFile {
                // Written atomically so the collector never reads half a file.
                try PrivateFile.write(r.prometheusText(), to: metricsFile)
            }
            if json { print(String(decoding: r.json(), as: UTF8.self)) }
            else if !quiet { print(r.text(), terminator: "") }
            else { for (c, e) in r.unreachable.sorted(by: { $0.key < $1.key }) { Terminal.error("cluster \(c) could not be checked: \(e)") } }
        }
        guard let report else { return }
        if !report.unreachable.isEmpty { throw ExitCode(1) }
        if report.hasDrift { throw ExitCode(2) }
    }
}

struct DriftHistory: AsyncParsableCommand {
    static func time(_ d: Date) -> String { ISO8601DateFormatter().string(from: d) }

    static let configuration = CommandConfiguration(commandName: "history", abstract: "When each drift was first and last seen, and resolved.")
    @OptionGroup var mesh: MeshOptions
    @Flag(name: .customLong("json"), help: "JSON output.") var json = false

    func run() async throws {
        try await runReportingErrors {
            let events = try await mesh.session().driftHistory()
            if json {
                print(String(decoding: try CodableJSON.encode(events, pretty: true), as: UTF8.self))
            } else {
                for ev in events {
                    let status = ev.resolvedAt.map { "resolved \(Self.time($0))" } ?? "OPEN"
                    print("\(ev.kind.rawValue)\t\(ev.address)\tfirst seen \(Self.time(ev.firstSeen))\tlast seen \(Self.time(ev.lastSeen))\t\(status)"
                          + (ev.fields.isEmpty ? "" : "\t" + ev.fields.joined(separator: ",")))
                }
                if events.isEmpty { print("No drift recorded.") }
            }
        }
    }
}
