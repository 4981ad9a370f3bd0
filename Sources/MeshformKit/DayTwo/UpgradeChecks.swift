import KubeClient

extension CanaryUpgrade {
    /// The checks between phases (`meshform verify`'s, those that must hold whatever phase the mesh is in): istiod of
    /// the mesh file's revision is Available, and every remote secret authenticates and may read what istiod reads.
    /// Run before phases 2 and 3, so the tag never moves to a revision that is not serving, and the old revision is
    /// never removed while the new one is not. A failure stops the phase before anything is written.
    static func checkBetweenPhases(_ status: UpgradeStatus, mesh: CompiledMesh, clients: [String: KubeClient],
                                   endpoints: [String: ClusterEndpoint]) async throws {
        guard status.runs, status.phase >= 2 else { return }
        let verifier = Verifier(mesh: mesh, clients: clients, endpoints: endpoints)
        var checks = await verifier.istiod()
        for c in mesh.topology.dataPlaneClusters { checks += await verifier.remoteSecret(for: c) }
        let failed = checks.filter { $0.status == .failed }
        if !failed.isEmpty { throw UpgradeError.checksFailed(failed.map { "\($0.name): \($0.detail)" }) }
    }
}
