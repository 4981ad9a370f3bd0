import ArgumentParser
import Foundation
import KubeClient
import KubeModel
import KubeSim
import MeshformKit

/// `meshform demo`: the whole life of a mesh on three local KubeSim clusters, each step explained in a line.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run plan, apply, verify, an out-of-band edit, drift, plan again and destroy on three local KubeSim clusters.",
        discussion: """
        Uses plans/demo.yaml, whose Istio components are small pre-rendered stand-ins under plans/demo/ (real names,
        kinds, ports and labels; not the real Istio manifests). Nothing outside this directory and a temporary
        directory is touched.
        """)

    @Option(help: "The demo mesh file.") var meshFile = "plans/demo.yaml"
    @Option(help: "Milliseconds of latency KubeSim adds to every request.") var latency = 0
    @Flag(name: .customLong("no-color"), help: "No colour in the output.") var noColor = false

    func run() async throws {
        try await runReportingErrors {
            let color = Terminal.useColor(noColor: noColor)
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meshform-demo-\(ProcessInfo.processInfo.processIdentifier)")
            try PrivateFile.createDirectory(dir.path)
            defer { try? FileManager.default.removeItem(at: dir) }

            step("Starting three local Kubernetes API servers (KubeSim): external, config, remote2.")
            var sims: [KubeSim] = []
            var kubeconfigs: [String] = []
            for name in ["external", "config", "remote2"] {
                var options = KubeSimOptions(name: name, port: 0)
                options.faults.latencyMs = latency
                let sim = try await KubeSim.start(options)
                let path = dir.appendingPathComponent("\(name).kubeconfig").path
                try sim.writeKubeconfig(to: path, contextName: name)
                sims.append(sim); kubeconfigs.append(path)
                print("    \(name): \(sim.url)  (kubectl --kubeconfig \(path))")
            }
            defer { for s in sims { Task { try? await s.stop() } } }

            var env = ProcessInfo.processInfo.environment
            env["KUBECONFIG"] = kubeconfigs.joined(separator: ":")
            let statePath = dir.appendingPathComponent("demo.db").path
            let session = try await MeshSession(meshFile: meshFile, statePath: statePath, environment: env)

            step("meshform plan \(meshFile): what would be created, cluster by cluster, in dependency order.")
            let (plan, _) = try await session.plan(PlanOptions())
            print(PlanText(color: color).render(plan))

            step("meshform apply -auto-approve: every step in order, waiting for istiod, CRDs and the gateway address.")
            var request = MeshSession.ApplyRequest()
            request.apply.readinessTimeout = .seconds(60)
            let (applied, result) = try await session.apply(request, confirm: { _ in true },
                                                             emit: { print("    " + Terminal.line(for: $0)) })
            try ApplyRunner.report(result, hadChanges: applied.hasChanges, verb: "apply")

            step("meshform verify: the guide's checks, read-only (what needs real pods or a reachable gateway is listed as not run).")
            let verified = try await session.verify()
            print(verified.text().split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n"))
            guard verified.passed else { throw ExitCode(1) }

            step("Someone edits the cluster behind Meshform's back: the istiod Deployment on the external cluster gets 3 replicas (as `kubectl edit` would).")
            try await outOfBandEdit(session: session, env: env)

            step("meshform drift: what changed, field by field, and which field manager changed it (exit code 2 in cron).")
            let report = try await session.drift()
            print(report.text())

            step("meshform plan again: exactly that field is planned back.")
            let (replan, _) = try await session.plan(PlanOptions())
            print(PlanText(color: color).render(replan))

            step("meshform destroy -auto-approve: everything removed in reverse dependency order.")
            var destroy = MeshSession.ApplyRequest()
            destroy.plan.operation = .destroy
            let (destroyed, dresult) = try await session.apply(destroy, confirm: { _ in true },
                                                                emit: { print("    " + Terminal.line(for: $0)) })
            try ApplyRunner.report(dresult, hadChanges: destroyed.hasChanges, verb: "destroy")
            step("Done. The KubeSim clusters stop now; the demo's state and kubeconfigs were in \(dir.path).")
        }
    }

    private func step(_ s: String) { print("\n==> \(s)") }

    /// Changes istiod's replicas under another field manager, as `kubectl edit` does.
    private func outOfBandEdit(session: MeshSession, env: [String: String]) async throws {
        guard let istiod = session.mesh.resources.first(where: { $0.body.kind == "Deployment" && $0.body.name == "istiod" }) else {
            print("    (no istiod Deployment in this mesh file; skipping the edit)"); return
        }
        let cluster = session.mesh.topology.clusters.first { $0.name == istiod.address.cluster }!
        let client = KubeClient(connection: try ClusterConnection(kubeconfig: try Kubeconfig.load(environment: env), context: cluster.context))
        let patch: JSON = ["apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": ["name": .string(istiod.body.name!), "namespace": .string(istiod.body.namespace ?? "")],
                           "spec": ["replicas": 3]]
        _ = try await client.apply(patch, fieldManager: "kubectl-edit", force: true)
        try await client.shutdown()
    }
}
