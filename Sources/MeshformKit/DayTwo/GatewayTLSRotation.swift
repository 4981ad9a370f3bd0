import Crypto
import Foundation
import KubeClient
import KubeModel
import StateStore

/// `meshform rotate gateway-tls`: the control-plane gateway's certificate, from the files the mesh file names
/// (`controlPlane.tls.certFile`/`keyFile`, which Meshform turns into the Secret `controlPlane.tls.secretName`), without
/// a moment in which the gateway serves no certificate, or one nobody checked.
///
/// The gateway serves the Secret its Gateway's `credentialName` names; istiod pushes it to the gateway over SDS, no
/// restart needed (istio/istio#33464). A Secret rewritten in place has not always reached the gateway
/// (istio/istio#23715), and a bad one would leave nothing to go back to, so a rotation is a create-before-destroy, as
/// the remote secrets' is:
/// 1. a new Secret `<secretName>-<UTC stamp>` with the files' certificate and key, and the Gateway's `credentialName`
///    pointing at it (one apply run, rolled back if a step fails);
/// 2. wait until the gateway presents the new certificate on 15012 and 15017 (the TLS check of `meshform verify`);
///    if it does not within the readiness timeout, the Gateway is pointed back at the old Secret and the new one is
///    deleted, so the gateway keeps serving what it served;
/// 3. only then the old Secret deleted (a second apply run).
/// The state names the newest Secret, so later plans keep it (`aligned`); with `checkHandshake: false` step 2 cannot
/// be made, so the old Secret is kept and the next `meshform apply` deletes it.
public enum GatewayTLSRotation {
    /// The TLS Secret and the Gateway's `credentialName` named as the state has them: the newest
    /// `<secretName>-<stamp>` a rotation left, so a plan after a rotation changes nothing.
    static func aligned(_ mesh: CompiledMesh, state: StateSnapshot) -> CompiledMesh {
        guard let current = secret(in: mesh) else { return mesh }
        let names = state.objects.filter {
            $0.cluster == current.cluster && $0.kind == "Secret" && $0.namespace == current.namespace
                && $0.name.hasPrefix(current.name + "-") && isStamp($0.name.dropFirst(current.name.count + 1))
        }.map(\.name).sorted()
        guard let newest = names.last else { return mesh }
        return renamed(mesh, to: newest)
    }

    /// The rotation's mesh: the TLS Secret under a new name, and the Gateway pointing at it.
    static func rotating(_ mesh: CompiledMesh, stamp: String) -> CompiledMesh {
        renamed(mesh, to: "\(baseName(mesh.topology.controlPlane.tls.secretName))-\(stamp)")
    }

    /// The mesh file's Secret name of a rotated Secret's (`NAME-<stamp>` -> `NAME`).
    static func baseName(_ name: String) -> String {
        guard let dash = name.lastIndex(of: "-"), isStamp(name[name.index(after: dash)...]) else { return name }
        return String(name[..<dash])
    }

    /// The address of the TLS Secret Meshform builds from the mesh file's files (nil: the mesh file names none).
    static func secret(in mesh: CompiledMesh) -> ResourceAddress? {
        let cp = mesh.topology.controlPlane
        guard cp.tls.certificateFile != nil else { return nil }
        let a = ResourceAddress(cluster: mesh.topology.externalCluster.name, group: "core", kind: "Secret",
                                namespace: cp.gateway.namespace, name: cp.tls.secretName)
        return mesh.resource(at: a.description) != nil ? a : nil
    }

    /// `mesh` with the TLS Secret named `name`: the Secret itself, the Gateway's `credentialName`, and the topology's
    /// `controlPlane.tls.secretName` (which the reachability gate and `meshform verify` read).
    static func renamed(_ mesh: CompiledMesh, to name: String) -> CompiledMesh {
        guard let from = secret(in: mesh), from.name != name else { return mesh }
        let to = ResourceAddress(cluster: from.cluster, group: "core", kind: "Secret", namespace: from.namespace, name: name)
        var out = RemoteSecretRotation.renaming(mesh, [from: to])
        var t = out.topology
        t.controlPlane.tls.secretName = name
        let resources = out.resources.map { r0 -> Resource in
            guard r0.address.kind == "Gateway", r0.address.cluster == from.cluster else { return r0 }
            var r = r0
            let servers = (r.body[path: ["spec", "servers"]]?.array ?? []).map { server -> JSON in
                guard server[path: ["tls", "credentialName"]]?.string == from.name else { return server }
                var s = server
                s[path: ["tls", "credentialName"]] = .string(name)
                return s
            }
            if !servers.isEmpty { r.body[path: ["spec", "servers"]] = .array(servers) }
            return r
        }
        out = CompiledMesh(topology: t, resources: resources, configHash: out.configHash, components: out.components,
                           graph: ResourceGraph(resources: resources))
        return out
    }

    static func isStamp(_ s: Substring) -> Bool { s.count == 14 && s.allSatisfy(\.isNumber) }
}

/// What `meshform rotate gateway-tls` will do, shown before it asks.
public struct GatewayTLSRotationPlan: Sendable {
    /// The ordinary plan: the new Secret, the Gateway's `credentialName`, the old Secret deleted.
    public var plan: Plan
    /// `namespace/name` of the Secret the gateway serves now, and of the new one.
    public var oldSecret: String
    public var newSecret: String
    /// SHA-256 fingerprints (hex) of the certificate served now (nil: not known) and of the files' certificate:
    /// public values that say which certificate is which, never the key.
    public var oldFingerprint: String?
    public var newFingerprint: String
    /// Whether step 2 (the gateway serves the new certificate) can be checked (`controlPlane.tls.checkHandshake`).
    public var checked: Bool

    public var text: String {
        let created = plan.changes.filter { $0.action == .create }.map(\.address)
        let updated = plan.changes.filter { $0.action == .update }.map(\.address)
        let deleted = plan.changes.filter { $0.action == .delete }.map(\.address)
        var out = "Rotation of the control-plane gateway's certificate (Secret \(oldSecret) -> \(newSecret)), in this order:\n"
        out += "  certificate now: \(oldFingerprint.map { "sha256 \($0)" } ?? "(not known)")\n"
        out += "  new certificate: sha256 \(newFingerprint) (from controlPlane.tls.certFile; the key is never shown)\n"
        out += "  1. create the new Secret and point the gateway at it:\n" + created.map { "       + \($0)\n" }.joined()
            + updated.map { "       ~ \($0)\n" }.joined()
        out += checked
            ? "  2. wait until the gateway presents the new certificate on 15012 and 15017 (meshform verify's TLS check); else point it back and delete the new Secret\n"
            : "  2. not checked: controlPlane.tls.checkHandshake is false, so the old Secret is kept; the next meshform apply deletes it\n"
        out += "  3. delete the old Secret:\n" + deleted.map { "       - \($0)\n" }.joined()
        return out
    }

    public var json: JSON {
        ["operation": "rotate-gateway-tls", "old_secret": .string(oldSecret), "new_secret": .string(newSecret),
         "old_certificate_sha256": oldFingerprint.map(JSON.string) ?? .null, "new_certificate_sha256": .string(newFingerprint),
         "checked": .bool(checked), "plan": PlanJSON.value(plan)]
    }
}

public enum GatewayTLSRotationError: Error, CustomStringConvertible, Equatable {
    case notManaged
    case passthrough
    case notApplied
    case sameCertificate(secret: String)
    case otherChanges([String])
    case notServed(secret: String, why: String)

    public var description: String {
        switch self {
        case .notManaged:
            return "the mesh file does not manage the gateway's certificate (controlPlane.tls.certFile and keyFile): rotate it "
                + "where it is made, or add the files to the mesh file; nothing was changed."
        case .passthrough:
            return "the control-plane address is an IP address (or the gateway's load-balancer address): the gateway passes TLS "
                + "through to istiod and serves no certificate of its own, so there is none to rotate; nothing was changed."
        case .notApplied:
            return "the gateway's TLS Secret is not in the state: run meshform apply first; nothing was changed."
        case .sameCertificate(let s):
            return "the certificate in controlPlane.tls.certFile is the one Secret \(s) already holds: replace the files with the "
                + "new certificate and key first; nothing was changed."
        case .otherChanges(let addresses):
            return "the mesh has changes pending besides the certificate (\(addresses.prefix(5).joined(separator: ", "))"
                + (addresses.count > 5 ? ", ..." : "") + "): run meshform apply first, so the rotation changes nothing else; nothing was changed."
        case .notServed(let s, let why):
            return "the gateway did not present the new certificate (\(why)); the Gateway was pointed back at Secret \(s) and "
                + "the new Secret deleted: the gateway serves the old certificate as before."
        }
    }
}

extension MeshSession {
    /// The rotation of the gateway's certificate to the one in the mesh file's files, as a plan, and the session that
    /// runs it. Reads the clusters; writes nothing.
    public func gatewayTLSRotationPlan(at date: Date = Date()) async throws -> (GatewayTLSRotationPlan, MeshSession) {
        if let upgrade { throw RotationError.upgradeInProgress(phase: upgrade.phase) }
        guard let old = GatewayTLSRotation.secret(in: mesh) else { throw GatewayTLSRotationError.notManaged }
        if mesh.topology.controlPlane.address.isIPAddress { throw GatewayTLSRotationError.passthrough }
        // The files' certificate against the one the gateway's Secret holds: nothing to rotate if they are the same.
        let cp = mesh.topology.controlPlane
        let pem = try GlueObjects.tlsSecret(cp)?[path: ["data", "tls.crt"]]?.string.flatMap { Data(base64Encoded: $0) }
        guard let pem, let newDER = TLSProbe.certificateDER(pem: pem) else { throw GatewayTLSRotationError.notManaged }
        let oldDER = try await withClient(mesh.topology.externalCluster.name) { try await GatewayTLS.expectedCertificate(mesh.topology, client: $0) }
        if oldDER == newDER { throw GatewayTLSRotationError.sameCertificate(secret: "\(cp.gateway.namespace)/\(old.name)") }
        let rotation = MeshSession(self, mesh: GatewayTLSRotation.rotating(mesh, stamp: RemoteSecretRotation.stamp(date)))
        guard let new = GatewayTLSRotation.secret(in: rotation.mesh) else { throw GatewayTLSRotationError.notManaged }
        var (plan, _) = try await rotation.plan(PlanOptions())
        guard plan.changes.contains(where: { $0.action == .delete && $0.address == old }) else {
            throw GatewayTLSRotationError.notApplied
        }
        let expected: Set<ResourceAddress> = [old, new]
        let others = plan.changes.filter { $0.action.changes && !expected.contains($0.address) && !($0.action == .update && $0.address.kind == "Gateway") }
        if !others.isEmpty { throw GatewayTLSRotationError.otherChanges(others.map(\.address.description)) }
        for i in plan.changes.indices where plan.changes[i].address == old && plan.changes[i].action == .delete {
            plan.changes[i].reason = "the old certificate: deleted last, once the gateway serves the new one"
        }
        return (GatewayTLSRotationPlan(plan: plan, oldSecret: "\(cp.gateway.namespace)/\(old.name)", newSecret: "\(cp.gateway.namespace)/\(new.name)",
                                       oldFingerprint: oldDER.map(Self.sha256), newFingerprint: Self.sha256(newDER),
                                       checked: cp.tls.checkHandshake),
                rotation)
    }

    static func sha256(_ der: [UInt8]) -> String { Hex.encode(SHA256.hash(data: der)) }

    /// Runs a rotation planned by `gatewayTLSRotationPlan` on its session (see `GatewayTLSRotation` for the order).
    public func rotateGatewayTLS(_ rotation: GatewayTLSRotationPlan, previous: MeshSession, request base: ApplyRequest,
                                 emit: @escaping @Sendable (ApplyEvent) -> Void) async throws -> ApplyResult {
        // The mesh as it is before the rotation, fixed: a mesh file's session follows the state (`MeshSession.mesh`),
        // which after step 1 names the new Secret, and the way back must lead to the old one.
        let previous = MeshSession(previous, mesh: previous.mesh)
        // 1. The new Secret and the Gateway pointing at it: the plan without its deletion, applied exactly.
        let created = try await applyWithoutDeletions(rotation.plan, request: base, emit: emit)
        guard case .succeeded = created else { return created }
        guard rotation.checked else {
            emit(.note("the gateway was not checked (controlPlane.tls.checkHandshake is false): Secret \(rotation.oldSecret) is kept; the next meshform apply deletes it"))
            return created
        }
        // 2. The gateway serves the new certificate (the TLS check of `meshform verify`, with the new Secret expected).
        do {
            try await waitUntilServed(timeout: base.apply.readinessTimeout)
            emit(.note("the gateway presents the new certificate (Secret \(rotation.newSecret)) on 15012 and 15017"))
        } catch {
            // Back to the old Secret: the mesh as it was before the rotation (the Gateway's credentialName, the new
            // Secret deleted), leaving the old Secret exactly as it is (the files now hold the new certificate).
            var back = base
            var (undo, _) = try await previous.plan(PlanOptions())
            let old = GatewayTLSRotation.secret(in: previous.mesh)
            undo.changes = undo.changes.filter { $0.address != old }
            back.saved = undo
            let (_, undone) = try await previous.apply(back, confirm: { _ in true }, emit: emit)
            guard case .succeeded = undone else { return undone }
            throw GatewayTLSRotationError.notServed(secret: rotation.oldSecret, why: "\(error)")
        }
        // 3. The old Secret: planned again (the state moved), only its deletion left.
        var second = base
        second.saved = nil
        let (_, deleted) = try await apply(second, confirm: { _ in true }, emit: emit)
        return deleted
    }

    /// Waits until a TLS handshake with the gateway on 15012 and 15017 presents the certificate of this session's
    /// TLS Secret, trying again with backoff until `timeout`.
    func waitUntilServed(timeout: Duration) async throws {
        let t = mesh.topology
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var delay = Duration.milliseconds(100)
        while true {
            do {
                try await withClient(t.externalCluster.name) { c in
                    let verifier = Verifier(mesh: mesh, clients: [t.externalCluster.name: c], endpoints: [:])
                    let address = try await GatewayAddress.of(c.get(GroupVersionKind(apiVersion: "v1", kind: "Service"),
                                                                    namespace: t.controlPlane.gateway.namespace, name: t.controlPlane.gateway.name))
                    let failed = await verifier.gatewayTLS(gatewayAddress: address).filter { $0.status != .passed }
                    if let f = failed.first { throw GatewayTLSRotationError.notServed(secret: "", why: "\(f.target): \(f.detail)") }
                }
                return
            } catch {
                if clock.now + delay > deadline { throw error }
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    /// Runs `body` with a client of `cluster`, shut down afterwards.
    func withClient<T: Sendable>(_ cluster: String, _ body: (KubeClient) async throws -> T) async throws -> T {
        let clusters = try Clusters(topology: mesh.topology, environment: environment, options: clientOptions, only: [cluster])
        return try await withCleanup {
            guard let c = clusters.clients[cluster] else { throw RotationError.unknownCluster(cluster, known: mesh.topology.clusters.map(\.name)) }
            return try await body(c)
        } cleanup: { await clusters.shutdown() }
    }
}
