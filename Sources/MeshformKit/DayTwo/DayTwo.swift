import StateStore

/// Day-2 operations on an applied mesh (docs/day2.md): canary upgrades of the control plane (`CanaryUpgrade`), rotation
/// of the remote secrets' credentials (`RemoteSecretRotation`) and of the gateway's certificate (`GatewayTLSRotation`).
/// All read the state to know where the mesh stands, so the compiled mesh a session works with depends on it.
enum DayTwo {
    /// The mesh the session plans and applies: the remote-secret tokens and the gateway's TLS Secret named as the state
    /// has them (after a rotation), and the next phase of a canary upgrade when one is in progress.
    static func prepare(_ compiled: CompiledMesh, state: StateSnapshot?, finalize: Bool) throws -> (CompiledMesh, UpgradeStatus?) {
        let aligned = state.map { GatewayTLSRotation.aligned(RemoteSecretRotation.aligned(compiled, state: $0), state: $0) } ?? compiled
        return try CanaryUpgrade.phase(of: aligned, state: state, finalize: finalize)
    }
}
