import Foundation
import TestSupport
import Testing
@testable import KubeSim

/// Many virtual clusters in one process (issue 17's fleet scale point): each is a cluster of its own, and the real
/// kubectl reaches each through its own kubeconfig.
@Suite(.enabled(if: TestSim.kubectlPath != nil, "kubectl is not installed (apt-get install kubernetes-client)"))
struct FleetTests {
    /// kubectl with one cluster's kubeconfig.
    func kubectl(_ kubeconfig: String, _ args: String...) async throws -> (out: String, err: String, status: Int32) {
        try await TestSim.run(TestSim.kubectlPath!, ["--kubeconfig", kubeconfig] + args)
    }

    @Test func virtualClustersAreIsolatedAndKubectlReachesEach() async throws {
        let names = ["east", "west", "north"]
        let fleet = try await Fleet.start(names: names) { KubeSimOptions(name: $0, controllerDelay: .milliseconds(20)) }
        let dir = NSTemporaryDirectory() + "kubesim-fleet-\(UUID().uuidString)"
        try await withCleanup({
            let files = try fleet.writeKubeconfigs(directory: dir)
            #expect(Set(fleet.clusters.map(\.port)).count == names.count, "each cluster listens on its own port")

            // kubectl reaches each cluster, and each answers as itself (its own context, its own CA, its own token).
            for name in names {
                let r = try await kubectl(files[name]!, "get", "namespace", "default", "-o", "name")
                #expect(r.status == 0 && r.out.contains("namespace/default"), "\(name): \(r.err)")
                let ctx = try await kubectl(files[name]!, "config", "current-context")
                #expect(ctx.out.trimmingCharacters(in: .whitespacesAndNewlines) == name)
            }
            // One cluster's token is not another's.
            let east = fleet["east"]!, west = fleet["west"]!
            #expect(east.token != west.token && east.caPEM != west.caPEM)

            // Objects made in one are not visible in another.
            let made = try await kubectl(files["east"]!, "create", "namespace", "only-east")
            #expect(made.status == 0, "\(made.err)")
            let cm = try await kubectl(files["east"]!, "create", "configmap", "settings", "-n", "default", "--from-literal=k=v")
            #expect(cm.status == 0, "\(cm.err)")
            #expect(try await kubectl(files["east"]!, "get", "configmap", "settings", "-n", "default").status == 0)
            for other in ["west", "north"] {
                let ns = try await kubectl(files[other]!, "get", "namespace", "only-east")
                #expect(ns.status != 0 && ns.err.contains("NotFound"), "\(other) sees east's namespace: \(ns.out)")
                let c = try await kubectl(files[other]!, "get", "configmap", "settings", "-n", "default")
                #expect(c.status != 0 && c.err.contains("NotFound"), "\(other) sees east's ConfigMap: \(c.out)")
            }
        }, cleanup: {
            try? await fleet.stop()
            try? FileManager.default.removeItem(atPath: dir)
        })
    }

    @Test func duplicateNamesAreRefusedBeforeAnythingStarts() async throws {
        await #expect(throws: FleetError.duplicateNames) { try await Fleet.start(names: ["a", "b", "a"]) }
    }
}
