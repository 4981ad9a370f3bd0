import Foundation
import KubeClient

extension MeshSession {
    /// Marks a plan as a phase of the canary upgrade in progress: its status, with the workloads still on another
    /// revision's proxy when the clusters are read, and phase 3's deletions saying why they happen.
    func annotateUpgrade(_ plan: inout Plan, clients: [String: KubeClient]?) async {
        guard var status = upgrade else { return }
        if let clients {
            let t = mesh.topology
            status.staleWorkloads = try? await WorkloadRestarts.stale(current: IstioRevision(t), clusters: t.dataPlaneClusters.map(\.name), clients: clients)
        }
        if status.phase == 3 {
            for i in plan.changes.indices where plan.changes[i].action == .delete && plan.changes[i].reason == "no longer in the mesh file" {
                plan.changes[i].reason = "revision \(status.fromRevision), removed by the canary upgrade"
            }
        }
        plan.upgrade = status
    }

    /// `meshform apply -restart-workloads`: restarts (as `kubectl rollout restart`) every Deployment whose pods run
    /// the proxy of another revision than the mesh file's, `batch` at a time per cluster, each batch waited for until
    /// its rollout is complete. Refused while the default revision tag has not moved yet (the pods would get the old
    /// proxy again). Returns what was restarted.
    public func restartWorkloads(batch: Int, timeout: Duration,
                                 emit: @escaping @Sendable (ApplyEvent) -> Void) async throws -> [StaleWorkload] {
        if let upgrade = try dayTwoView().upgrade, upgrade.phase < 3 { throw UpgradeError.restartBeforeSwitch(next: upgrade.phase) }
        let clusters = try Clusters(topology: mesh.topology, environment: environment, options: clientOptions)
        do {
            let t = mesh.topology
            let stale = try await WorkloadRestarts.stale(current: IstioRevision(t), clusters: t.dataPlaneClusters.map(\.name), clients: clusters.clients)
            if stale.isEmpty { emit(.note("No workload runs the proxy of another revision than \(IstioRevision(t)); nothing to restart.")) }
            try await WorkloadRestarts.restart(stale, batch: batch, clients: clusters.clients, timeout: timeout, emit: emit)
            await clusters.shutdown()
            return stale
        } catch {
            await clusters.shutdown()
            throw error
        }
    }
}
