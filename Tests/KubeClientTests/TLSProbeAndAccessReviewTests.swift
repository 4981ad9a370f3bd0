import Foundation
import KubeClient
import KubeModel
import KubeSim
import TestSupport
import Testing

/// `TLSProbe` against a real TLS server (KubeSim's HTTPS port) and a closed port; `accessReview` against KubeSim.
struct TLSProbeAndAccessReviewTests {
    @Test func handshakeSucceedsWhereTLSAnswersAndSaysWhyNotElsewhere() async throws {
        try await SimCluster.with("probe") { c in
            // Completes without judging the certificate, and with it when the CA and name are right.
            let presented = try await TLSProbe.handshake(host: "127.0.0.1", port: c.sim.port, trust: .anyCertificate)
            // The server's own certificate comes back (not its CA's).
            let ca = try #require(TLSProbe.certificateDER(pem: Data(c.sim.caPEM.utf8)))
            #expect(presented != nil && presented != ca)
            try await TLSProbe.handshake(host: "127.0.0.1", port: c.sim.port, trust: .verified(caPEM: Data(c.sim.caPEM.utf8), serverName: "localhost"))
            try await TLSProbe.handshake(host: "127.0.0.1", port: c.sim.port, trust: .verified(caPEM: Data(c.sim.caPEM.utf8), serverName: "127.0.0.1"))

            // The system's roots do not know KubeSim's CA: a certificate failure, said as such.
            await #expect { try await TLSProbe.handshake(host: "127.0.0.1", port: c.sim.port, trust: .verified(caPEM: nil, serverName: "localhost")) }
                throws: { ($0 as? TLSProbeError)?.reason.contains("TLS handshake failed") == true }

            // A port nobody listens on: refused, said as such.
            let closed = try await Self.closedPort()
            await #expect { try await TLSProbe.handshake(host: "127.0.0.1", port: closed, trust: .anyCertificate) }
                throws: { e in
                    let d = String(describing: e)
                    return d.contains("127.0.0.1:\(closed)") && d.contains("cannot connect")
                }
        }
    }

    @Test func plainTCPWithoutTLSIsNotAHandshake() async throws {
        // A listener that accepts and closes at once, as a non-TLS port would behave for a TLS client.
        let (port, stop) = try Self.acceptAndClose()
        defer { stop() }
        let error = await #expect(throws: TLSProbeError.self) {
            try await TLSProbe.handshake(host: "127.0.0.1", port: port, trust: .anyCertificate, timeout: .seconds(5))
        }
        // The probe's own error for that address. Its reason depends on when the close lands: the handshake failing, or,
        // on a loaded machine, the connection reset before it began.
        #expect(error?.host == "127.0.0.1" && error?.port == port, "\(String(describing: error))")
    }

    @Test func accessReviewAnswersForTheClientsOwnCredentials() async throws {
        try await SimCluster.with("review") { c in
            try await c.withClient { admin in
                #expect(try await admin.accessReview(verb: "list", group: "", resource: "pods").allowed)

                _ = try await admin.create(["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": "robot", "namespace": "default"]])
                let token = try await admin.requestToken(namespace: "default", serviceAccount: "robot")
                let robotConfig = try Kubeconfig.parse(c.kubeconfig(user: "    token: \(token)"))
                let robot = KubeClient(connection: try ClusterConnection(kubeconfig: robotConfig, context: nil))
                try await withShutdown(robot) { robot in
                    let review = try await robot.accessReview(verb: "list", group: "", resource: "pods")
                    #expect(review.allowed == false)
                }

                let wrongConfig = try Kubeconfig.parse(c.kubeconfig(user: "    token: not-the-token"))
                let wrong = KubeClient(connection: try ClusterConnection(kubeconfig: wrongConfig, context: nil))
                try await withShutdown(wrong) { wrong async throws in
                    let error = await #expect(throws: KubeError.self) { _ = try await wrong.accessReview(verb: "list", group: "", resource: "pods") }
                    guard case .unauthorized? = error else { Issue.record("expected unauthorized, got \(String(describing: error))"); return }
                }
            }
        }
    }

    /// A port that was free a moment ago (bound, then closed).
    static func closedPort() async throws -> Int {
        let (port, stop) = try acceptAndClose()
        stop()
        return port
    }

    /// A loopback TCP listener that closes every connection it accepts; returns its port and how to stop it.
    static func acceptAndClose() throws -> (Int, () -> Void) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = listen(fd, 8)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let thread = Thread {
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                close(client)
            }
        }
        thread.start()
        return (port, { shutdown(fd, Int32(SHUT_RDWR)); close(fd) })
    }
}
