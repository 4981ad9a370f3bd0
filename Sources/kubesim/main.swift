// The kubesim executable: one KubeSim on 127.0.0.1 until SIGTERM or SIGINT (then exit 0).
import ArgumentParser
import Foundation
import KubeSim

/// Set by the SIGTERM/SIGINT handler; the main loop polls it and stops the server cleanly.
nonisolated(unsafe) var receivedSignal: Int32 = 0


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
    @Option(help: ArgumentHelp("Serve many clusters from this process, one port each (comma-separated names); "
                               + "their kubeconfigs go to --kubeconfig-dir.", valueName: "names")) var fleet: String?
    @Option(help: "With --fleet: where each cluster's kubeconfig is written (NAME.kubeconfig).") var kubeconfigDir: String?

    func serve() async throws {
        signal(SIGTERM) { receivedSignal = $0 }
        signal(SIGINT) { receivedSignal = $0 }
        let faults = FaultSettings(latencyMs: latencyMs, jitterMs: jitterMs, errorRate: errorRate,
                                   errorCodes: errorCodes.split(separator: ",").compactMap { Int($0) },
                                   dropRate: dropRate, failWrites: Set(failWrite),
                                   noLoadBalancer: noLoadBalancer, podsNeverReady: podsNeverReady, runPods: runPods)
        if let fleet { return try await serveFleet(fleet.split(separator: ",").map(String.init), faults: faults) }
        let sim = try await KubeSim.start(KubeSimOptions(name: name, port: port, dataDir: dataDir,
                                                         controllerDelay: .milliseconds(controllerDelayMs), faults: faults))
        if let kubeconfig { try sim.writeKubeconfig(to: kubeconfig) }
        if let adminTokenFile {
            FileManager.default.createFile(atPath: adminTokenFile, contents: Data(sim.adminEndpointToken.utf8), attributes: [.posixPermissions: 0o600])
        }
        print("kubesim \(name) listening on \(sim.url)")
        fflush(stdout)
        while receivedSignal == 0 { try await Task.sleep(for: .milliseconds(100)) }
        try await sim.stop()
    }

    /// `--fleet`: one KubeSim per name in this process (Fleet), each on a free port; one line per cluster.
    func serveFleet(_ names: [String], faults: FaultSettings) async throws {
        guard let kubeconfigDir else { throw ValidationError("--fleet needs --kubeconfig-dir") }
        let f = try await Fleet.start(names: names) { [dataDir, controllerDelayMs] n in
            KubeSimOptions(name: n, dataDir: dataDir.map { ($0 as NSString).appendingPathComponent(n) },
                           controllerDelay: .milliseconds(controllerDelayMs), faults: faults)
        }
        try f.writeKubeconfigs(directory: kubeconfigDir)
        for sim in f.clusters { print("kubesim \(sim.name) listening on \(sim.url)") }
        fflush(stdout)
        while receivedSignal == 0 { try await Task.sleep(for: .milliseconds(100)) }
        try await f.stop()
    }
}

do {
    let command = try KubeSimCommand.parse()
    try await command.serve()
} catch {
    KubeSimCommand.exit(withError: error)
}
