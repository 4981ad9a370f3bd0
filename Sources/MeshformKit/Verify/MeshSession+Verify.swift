import Foundation

extension MeshSession {
    /// `meshform verify`: the guide's checks against the live clusters (see `Verifier`). Read-only: no lock, no
    /// state needed, nothing written anywhere.
    public func verify(handshakeTimeout: Duration = .seconds(10)) async throws -> VerifyReport {
        let clusters = try Clusters(topology: mesh.topology, environment: environment, options: clientOptions)
        defer { Task { await clusters.shutdown() } }
        var verifier = Verifier(mesh: mesh, clients: clusters.clients, endpoints: clusters.endpoints)
        verifier.handshakeTimeout = handshakeTimeout
        return await verifier.run()
    }
}
