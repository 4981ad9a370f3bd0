// The kubesim executable: one KubeSim on 127.0.0.1 until SIGTERM or SIGINT (then exit 0).
import ArgumentParser
import Foundation
import KubeSim
import UnixSignals


struct KubeSimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubesim", abstract: "A local Kubernetes API server for tests and demos (HTTPS on 127.0.0.1).")

    @Option(help: "Port to listen on (0 picks a free one).") var port: Int = 0
    @Option(help: "Cluster name: the kubeconfig's cluster and context.") var name: String = "kubesim"
    @Option(help: "Where to write the kubeconfig (mode 0600).") var kubeconfig: String?
    @Option(help: "Keep objects, tokens and the CA here across restarts.") var dataDir: String?
    @Option(help: "Controller delay in milliseconds.") var controllerDelayMs: Int = 50
    @Option(help: "Fixed latency added to every request, ms.") var latencyMs: Int = 0
    @Option(help: "Random extra latency up to this many ms.") var jitterMs: Int = 0
    @Option(help: "Fraction (0...1) of resource requests answered with an injected error.") var errorRate: Double = 0
    @Option(help: "Comma-separated codes injected errors pick from.") var errorCodes: String = "500,503,429"
    @Option(help: "Fraction (0...1) of resource requests whose connection is dropped.") var dropRate: Double = 0
    @Option(help: "An object whose every write fails (namespace/name or Kind/namespace/name); repeatable.") var failWrite: [String] = []
    @Option(help: "Write the admin endpoint token to this file (mode 0600).") var adminTokenFile: String?
    @Flag(help: "No load-balancer controller (as kind or bare metal): LoadBalancer Services get no address.") var noLoadBalancer = false
    @Flag(help: "Pods never become ready (as with an image that cannot be pulled).") var podsNeverReady = false
    @Flag(help: "ReplicaSets create Pod objects (no admission webhook is called for them).") var runPods = false
    @Flag(help: "Call admission webhooks at their URL, applying failurePolicy when one is unreachable.") var callWebhooks = false
    @Flag(help: "Serve discovery only in the legacy form (no aggregated discovery), as a server before Kubernetes 1.26.") var legacyDiscovery = false
    @Flag(help: "Serve HTTP/1.1 only (no HTTP/2 through ALPN).") var http1Only = false
    @Option(help: ArgumentHelp("Serve many clusters from this process, one port each (comma-separated names); "
                               + "their kubeconfigs go to --kubeconfig-dir.", valueName: "names")) var fleet: String?
    @Option(help: "With --fleet: where each cluster's kubeconfig is written (NAME.kubeconfig).") var kubeconfigDir: String?
    @Option(help: "With --fleet: write each cluster's admin endpoint token to DIR/NAME.admin-token (mode 0600).") var adminTokenDir: String?

    func serve() async throws {
        // SIGTERM and SIGINT arrive as an async sequence (swift-service-lifecycle), so the server stops cleanly.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let faults = FaultSettings(latencyMs: latencyMs, jitterMs: jitterMs, errorRate: errorRate,
                                   errorCodes: errorCodes.split(separator: ",").compactMap { Int($0) },
                                   dropRate: dropRate, failWrites: Set(failWrite),
                                   noLoadBalancer: noLoadBalancer, podsNeverReady: podsNeverReady, runPods: runPods,
                                   callWebhooks: callWebhooks, legacyDiscovery: legacyDiscovery)
        if let fleet { return try await serveFleet(fleet.split(separator: ",").map(String.init), faults: faults, signals: signals) }
        let sim = try await KubeSim.start(KubeSimOptions(name: name, port: port, dataDir: dataDir,
                                                         controllerDelay: .milliseconds(controllerDelayMs), faults: faults,
                                                         http2: !http1Only))
        if let kubeconfig { try sim.writeKubeconfig(to: kubeconfig) }
        if let adminTokenFile {
            _ = FileManager.default.createFile(atPath: adminTokenFile, contents: Data(sim.adminEndpointToken.utf8), attributes: [.posixPermissions: 0o600])
        }
        FileHandle.standardOutput.write(Data("kubesim \(name) listening on \(sim.url)\n".utf8))   // unbuffered: scripts wait for it
        for await _ in signals { break }
        try await sim.stop()
    }

    /// `--fleet`: one KubeSim per name in this process (Fleet), each on a free port; one line per cluster.
    func serveFleet(_ names: [String], faults: FaultSettings, signals: UnixSignalsSequence) async throws {
        guard let kubeconfigDir else { throw ValidationError("--fleet needs --kubeconfig-dir") }
        let f = try await Fleet.start(names: names) { [dataDir, controllerDelayMs, http1Only] n in
            KubeSimOptions(name: n, dataDir: dataDir.map { ($0 as NSString).appendingPathComponent(n) },
                           controllerDelay: .milliseconds(controllerDelayMs), faults: faults, http2: !http1Only)
        }
        try f.writeKubeconfigs(directory: kubeconfigDir)
        if let adminTokenDir {
            for sim in f.clusters {
                let path = (adminTokenDir as NSString).appendingPathComponent("\(sim.name).admin-token")
                guard FileManager.default.createFile(atPath: path, contents: Data(sim.adminEndpointToken.utf8),
                                                     attributes: [.posixPermissions: 0o600])
                else { throw ValidationError("cannot write \(path)") }
            }
        }
        let lines = f.clusters.map { "kubesim \($0.name) listening on \($0.url)\n" }.joined()
        FileHandle.standardOutput.write(Data(lines.utf8))   // unbuffered: scripts wait for it
        for await _ in signals { break }
        try await f.stop()
    }
}

do {
    let command = try KubeSimCommand.parse()
    try await command.serve()
} catch {
    KubeSimCommand.exit(withError: error)
}
