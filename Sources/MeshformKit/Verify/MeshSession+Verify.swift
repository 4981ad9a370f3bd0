import Foundation
import KubeClient

extension MeshSession {
    /// `meshform verify`: the guide's checks against the live clusters (see `Verifier`). Read-only: no lock, no
    /// state needed, nothing written anywhere.
    public func verify(handshakeTimeout: Duration = .seconds(10)) async throws -> VerifyReport {
        // A cluster that does not answer is a failed check, reported after a short try, not a minute of retries.
        var options = clientOptions
        options.retry = RetryPolicy(maxAttempts: 2, maxElapsed: .seconds(10))
        let clusters = try Clusters(topology: mesh.topology, environment: environment, options: options)
        var verifier = Verifier(mesh: mesh, clients: clusters.clients, endpoints: clusters.endpoints)
        verifier.handshakeTimeout = handshakeTimeout
        let report = await verifier.run()
        await clusters.shutdown()
        return report
    }
}
