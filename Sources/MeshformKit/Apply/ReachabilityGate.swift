import Foundation
import KubeClient
import KubeModel

/// What the guide leaves to the reader: the remote clusters' webhooks (`failurePolicy: Fail` for injection) call
/// istiod through the control-plane gateway, so before any of them is written, that path must exist. Otherwise
/// every pod the remote API server creates in an injected namespace is refused, and the run fails only when a
/// workload's readiness wait runs out.
///
/// Checked once per run, before the first webhook configuration on a data-plane cluster is applied:
/// 1. the gateway Service has its load-balancer address (in hostname mode the user's DNS name must point at it:
///    the address is announced as `ApplyEvent.pointHostname`);
/// 2. the TLS Secret `controlPlane.tls.secretName` exists in the gateway's namespace (the gateway's servers name
///    it as `credentialName`; without it the gateway serves no TLS on 15012/15017);
/// 3. with `controlPlane.tls.checkHandshake` (the default), a TLS handshake with ADDRESS:15017 completes from
///    here, and in hostname mode the server presents the TLS Secret's certificate (`GatewayTLS`). Whether the API
///    server will trust it is not judged here: it does so through the webhook's `caBundle` or its roots.
/// A failure is a `ReachabilityError` on the webhook's step: no webhook is written, and the run rolls back.
/// What can be known before the run starts (the user's own TLS Secret) is checked then: `preflight`.
actor ReachabilityGate {
    let topology: MeshTopology
    let clients: [String: KubeClient]
    let timeout: Duration
    let emit: @Sendable (ApplyEvent) -> Void
    private var result: Task<Void, Error>?

    init(topology: MeshTopology, clients: [String: KubeClient], timeout: Duration, emit: @escaping @Sendable (ApplyEvent) -> Void) {
        self.topology = topology; self.clients = clients; self.timeout = timeout; self.emit = emit
    }

    /// Whether applying `r` must pass the gate: a webhook configuration on a data-plane cluster.
    static func guards(_ r: Resource, in t: MeshTopology) -> Bool {
        (r.address.kind == "MutatingWebhookConfiguration" || r.address.kind == "ValidatingWebhookConfiguration")
            && t.dataPlaneClusters.contains { $0.name == r.address.cluster }
    }

    /// Runs the checks the first time; later calls share that outcome.
    func check() async throws {
        if result == nil {
            result = Task { [topology, clients, timeout, emit] in
                try await Self.run(topology: topology, clients: clients, timeout: timeout, emit: emit)
            }
        }
        try await result!.value
    }

    /// Before anything is written: when the plan writes a remote webhook and the TLS Secret is the user's (no
    /// certFile/keyFile), it must exist already; nothing in the run would make it.
    func preflight(_ plan: Plan, mesh: CompiledMesh) async throws {
        let writesWebhook = plan.changes.contains { c in
            c.action.changes && c.action != .delete && (mesh.resource(at: c.address).map { Self.guards($0, in: topology) } ?? false)
        }
        guard writesWebhook, topology.controlPlane.tls.certificateFile == nil else { return }
        guard let c = clients[topology.externalCluster.name] else { throw ApplyError.noConnection(cluster: topology.externalCluster.name) }
        try await Self.checkTLSSecret(topology, c)
    }

    static func checkTLSSecret(_ t: MeshTopology, _ c: KubeClient) async throws {
        let cp = t.controlPlane
        if try await c.get(GroupVersionKind(apiVersion: "v1", kind: "Secret"), namespace: cp.gateway.namespace, name: cp.tls.secretName) == nil {
            throw ReachabilityError.noTLSSecret(cluster: t.externalCluster.name, namespace: cp.gateway.namespace, name: cp.tls.secretName)
        }
    }

    static let webhookPort = 15017

    private static func run(topology t: MeshTopology, clients: [String: KubeClient], timeout: Duration,
                            emit: @Sendable (ApplyEvent) -> Void) async throws {
        let cp = t.controlPlane
        let ext = t.externalCluster.name
        guard let c = clients[ext] else { throw ApplyError.noConnection(cluster: ext) }
        let gateway = "\(cp.gateway.namespace)/\(cp.gateway.name)"

        // 1. The gateway's address (the webhooks depend on its Service, so it exists; the address may still come).
        let service: JSON
        do {
            service = try await c.wait(for: .loadBalancerAddress, gvk: GroupVersionKind(apiVersion: "v1", kind: "Service"),
                                       namespace: cp.gateway.namespace, name: cp.gateway.name, timeout: timeout)
        } catch KubeError.timeout {
            throw ReachabilityError.noGatewayAddress(cluster: ext, service: gateway, waited: timeout)
        }
        guard let address = GatewayAddress.of(service) else {
            throw ReachabilityError.noGatewayAddress(cluster: ext, service: gateway, waited: timeout)
        }
        var host = address
        if case .hostname(let name) = cp.address {
            emit(.pointHostname(hostname: name, address: address))
            host = name
        }

        // 2. The TLS Secret the gateway serves 15012 and 15017 with (made in this run, or checked by `preflight`
        //    and still there).
        try await checkTLSSecret(t, c)

        // 3. A TLS handshake where the webhooks will call, retried while DNS and the load balancer settle.
        guard cp.tls.checkHandshake else { return }
        let expected = try await GatewayTLS.expectedCertificate(t, client: c)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let last: ReachabilityError
            do {
                try await GatewayTLS.check(t, host: host, port: webhookPort, expected: expected,
                                           timeout: min(.seconds(10), max(.milliseconds(100), deadline - clock.now)))
                return
            } catch let e as TLSProbeError {
                last = .noHandshake(e, waited: timeout)
            } catch let e as ReachabilityError {
                last = e
            }
            if clock.now + .seconds(2) >= deadline { throw last }
            try await Task.sleep(for: .seconds(2))
        }
    }
}

/// The control-plane gateway's TLS as the remotes meet it. In hostname mode the gateway terminates TLS with the
/// Secret's certificate (the guide's Gateway servers: `tls.mode: SIMPLE`, `credentialName`), so that certificate
/// must be the one presented: a handshake with any other server (a stale DNS record, a transparent proxy on the
/// way) is not the gateway. With the load-balancer address the presented certificate is not compared (the
/// routing may pass TLS through to istiod, whose certificate Meshform does not hold).
enum GatewayTLS {
    /// The certificate to expect (DER), or nil when none is compared.
    static func expectedCertificate(_ t: MeshTopology, client: KubeClient) async throws -> [UInt8]? {
        guard case .hostname = t.controlPlane.address else { return nil }
        let cp = t.controlPlane
        let secret = try await client.get(GroupVersionKind(apiVersion: "v1", kind: "Secret"), namespace: cp.gateway.namespace, name: cp.tls.secretName)
        guard let b64 = secret?[path: ["data", "tls.crt"]]?.string, let pem = Data(base64Encoded: b64) else { return nil }
        return TLSProbe.certificateDER(pem: pem)
    }

    /// Throws `TLSProbeError` (no handshake) or `ReachabilityError.wrongCertificate`.
    static func check(_ t: MeshTopology, host: String, port: Int, expected: [UInt8]?, timeout: Duration) async throws {
        let presented = try await TLSProbe.handshake(host: host, port: port, trust: .anyCertificate, timeout: timeout)
        if let expected, presented != expected {
            throw ReachabilityError.wrongCertificate(host: host, port: port,
                                                     secret: "\(t.controlPlane.gateway.namespace)/\(t.controlPlane.tls.secretName)")
        }
    }
}

/// The address a LoadBalancer Service was given: `status.loadBalancer.ingress[0]`'s IP or hostname.
enum GatewayAddress {
    static func of(_ service: JSON?) -> String? {
        let ingress = service?[path: ["status", "loadBalancer", "ingress"]]?[0]
        return ingress?["ip"]?.string ?? ingress?["hostname"]?.string
    }
}

public enum ReachabilityError: Error, CustomStringConvertible {
    case noGatewayAddress(cluster: String, service: String, waited: Duration)
    case noTLSSecret(cluster: String, namespace: String, name: String)
    case noHandshake(TLSProbeError, waited: Duration)
    case wrongCertificate(host: String, port: Int, secret: String)

    public var description: String {
        let lead = "istiod would not be reachable where the remote webhooks call it, so no webhook was written (an injection "
            + "webhook with failurePolicy Fail and no istiod behind it refuses every pod): "
        switch self {
        case .noGatewayAddress(let c, let s, let w):
            return lead + "the control-plane gateway Service \(s) on cluster \(c) has no load-balancer address after \(w). "
                + "The cluster may have no load-balancer controller (kind, minikube and bare metal have none unless one such as "
                + "MetalLB is installed): install one, or expose the gateway yourself and set controlPlane.address to that "
                + "hostname or IP (kubectl -n \(s.split(separator: "/")[0]) describe service shows what the Service is waiting for)."
        case .noTLSSecret(let c, let ns, let n):
            return lead + "the TLS Secret \(ns)/\(n) (controlPlane.tls.secretName) does not exist on cluster \(c). Create it "
                + "(kubectl -n \(ns) create secret tls \(n) --cert=... --key=...) or set controlPlane.tls.certFile and keyFile "
                + "so Meshform creates it."
        case .noHandshake(let e, let w):
            return lead + "\(e) (tried for \(w)). Check that the address resolves to the gateway, that ports 15012/15017 are open "
                + "from here, and that the gateway serves them; set controlPlane.tls.checkHandshake: false only where this "
                + "machine cannot reach the address but the clusters can."
        case .wrongCertificate(let h, let p, let s):
            return lead + "a TLS server answers at \(h):\(p) but presents another certificate than Secret \(s) (controlPlane.tls.secretName), "
                + "so it is not the control-plane gateway: check where \(h) resolves (an old record, a proxy on the way) and which "
                + "credential the gateway serves."
        }
    }
}
