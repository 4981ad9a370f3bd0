import TestSupport
import Foundation
import KubeClient
import KubeModel
import KubeSim
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import Testing
@testable import MeshformKit

extension EndToEnd {
/// `meshform rotate gateway-tls` on three KubeSim clusters: the demo with the control-plane address `localhost` and the
/// handshake check on, and a stand-in gateway on localhost's 15012 and 15017 that serves, on every connection, the
/// Secret its Gateway's `credentialName` names, as Istio's gateway does once istiod pushes it over SDS (loopback, as
/// VerifyEndToEndTests explains). The mesh file's certificate files are replaced by a new certificate, then rotated.
@Suite(.serialized) struct GatewayTLSRotationEndToEndTests {
    static let secret = GroupVersionKind(apiVersion: "v1", kind: "Secret")
    static let gateway = GroupVersionKind(apiVersion: "networking.istio.io/v1", kind: "Gateway")
    static let name = "external-istiod-tls"

    /// The demo at `localhost` with its certificate files copied into the harness's directory (the rotation replaces them).
    static func meshFile(_ h: MeshHarness) throws -> (file: String, cert: URL, key: URL) {
        let tls = MeshHarness.packageRoot.appendingPathComponent("plans/demo/tls")
        let cert = h.dir.appendingPathComponent("gateway.crt"), key = h.dir.appendingPathComponent("gateway.key")
        try FileManager.default.copyItem(at: tls.appendingPathComponent("gateway.crt"), to: cert)
        try FileManager.default.copyItem(at: tls.appendingPathComponent("gateway.key"), to: key)
        let file = try h.meshFile("demo.yaml") {
            $0.replacingOccurrences(of: "    checkHandshake: false", with: "    checkHandshake: true")
                .replacingOccurrences(of: "  address: gateway-load-balancer", with: "  address: localhost")
                .replacingOccurrences(of: "certFile: demo/tls/gateway.crt", with: "certFile: \(cert.path)")
                .replacingOccurrences(of: "keyFile: demo/tls/gateway.key", with: "keyFile: \(key.path)")
        }
        return (file, cert, key)
    }

    /// A new self-signed certificate and key for the same name, written over the mesh file's files (openssl).
    static func replaceCertificate(cert: URL, key: URL) async throws -> Bool {
        try #require(ExternalToolPath.onPath("openssl"), "openssl is not on PATH (.ci/run installs it), so no new certificate can be made")
        let r = try await MeshHarness.run("/usr/bin/env", ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                                      "-days", "30", "-subj", "/O=Meshform test/CN=istiod.mesh.example.com",
                                                      "-addext", "subjectAltName=DNS:istiod.mesh.example.com",
                                                      "-keyout", key.path, "-out", cert.path])
        #expect(r.status == 0, "\(r.output)")
        return r.status == 0
    }

    /// Where every rotation test starts: the demo mesh with its own certificate files (`meshFile`), the stand-in gateway
    /// on 15012 and 15017, and the mesh applied. `body` runs before the stand-in stops; a failed first apply is recorded.
    static func withAppliedMesh(_ body: (_ h: MeshHarness, _ file: String, _ cert: URL, _ key: URL, _ standIn: GatewayStandIn) async throws -> Void) async throws {
        try await MeshHarness.with { h in
            let (file, cert, key) = try meshFile(h)
            guard let standIn = try await GatewayStandIn.start(h) else { return }
            try await TestSupport.withCleanup({
                guard case .succeeded = try await apply(try await h.session(file)) else { Issue.record("the first apply failed"); return }
                try await body(h, file, cert, key, standIn)
            }, cleanup: { await standIn.stop() })
        }
    }

    static func apply(_ session: MeshSession) async throws -> ApplyResult {
        var r = MeshSession.ApplyRequest()
        r.apply.readinessTimeout = .seconds(30)
        r.apply.reachabilityTimeout = .seconds(10)
        return try await session.apply(r, confirm: { _ in true }, emit: { _ in }).1
    }

    static func credentialName(_ h: MeshHarness) async throws -> String? {
        try await h.withClient("external") { c in
            try await c.list(Self.gateway, namespace: nil).compactMap { $0[path: ["spec", "servers"]]?[0]?[path: ["tls", "credentialName"]]?.string }.first
        }
    }

    @Test func theNewCertificateIsServedBeforeTheOldSecretGoes() async throws {
        try await Self.withAppliedMesh { h, file, cert, key, standIn in
            let oldPEM = try Data(contentsOf: cert)
            guard try await Self.replaceCertificate(cert: cert, key: key) else { return }
            let keyText = try String(contentsOf: key, encoding: .utf8)

            let session = try await h.session(file)
            let (rotation, runner) = try await session.gatewayTLSRotationPlan()
            // The plan: the new Secret, the Gateway moved to it, the old Secret last; values masked, certificates by fingerprint.
            let changes = rotation.plan.changes.filter { $0.action.changes }.map { "\($0.action) \($0.address)" }.sorted()
            #expect(changes.count == 3 && changes.contains("delete external/core/Secret/istio-system/\(Self.name)"), "\(changes)")
            #expect(changes.contains { $0.hasPrefix("create external/core/Secret/istio-system/\(Self.name)-") })
            #expect(changes.contains { $0.hasPrefix("update external/networking.istio.io/Gateway/") })
            #expect(rotation.oldFingerprint != nil && rotation.oldFingerprint != rotation.newFingerprint)
            let text = rotation.text + PlanText(color: false).render(rotation.plan)
            let json = String(decoding: rotation.json.encoded(pretty: true), as: UTF8.self)
            for out in [text, json] {
                #expect(!out.contains("PRIVATE KEY") && !out.contains(Data(keyText.utf8).base64EncodedString().prefix(40)), "a key in the output")
                #expect(!out.contains(Data(oldPEM).base64EncodedString().prefix(40)))
            }
            #expect(text.contains("2. wait until the gateway presents the new certificate on 15012 and 15017"))
            #expect(text.contains("~ .spec.servers"), "\(text)")

            let events = EventLog()
            var request = MeshSession.ApplyRequest()
            request.apply.readinessTimeout = .seconds(30)
            let result = try await runner.rotateGatewayTLS(rotation, previous: session, request: request, emit: { events.add($0) })
            guard case .succeeded = result else { Issue.record("rotation: \(result)"); return }
            #expect(events.notes.contains { $0.contains("the gateway presents the new certificate") }, "\(events.notes)")
            let newName = String(rotation.newSecret.split(separator: "/").last!)
            #expect(try await Self.credentialName(h) == newName)
            let (old, new): (JSON?, JSON?) = try await h.withClient("external") { c in
                (try await c.get(Self.secret, namespace: "istio-system", name: Self.name), try await c.get(Self.secret, namespace: "istio-system", name: newName))
            }
            #expect(old == nil, "the old Secret is deleted")
            #expect(new != nil)
            // The gateway presents the new certificate; the state holds no key in clear; the next plan has nothing to do.
            let presented = try await TLSProbe.handshake(host: "localhost", port: 15017, trust: .anyCertificate, timeout: .seconds(5))
            #expect(presented == TLSProbe.certificateDER(pem: try Data(contentsOf: cert)))
            for path in [h.statePath, h.statePath + "-wal"] where FileManager.default.fileExists(atPath: path) {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                #expect(bytes.range(of: Data(keyText.utf8).base64EncodedData().prefix(40)) == nil && bytes.range(of: Data("PRIVATE KEY".utf8)) == nil, "\(path)")
            }
            let (after, _) = try await h.session(file).plan(PlanOptions())
            #expect(!after.hasChanges, "\(after.changes.filter { $0.action.changes }.map { "\($0.action) \($0.address)" })")
            // Verify's TLS check now expects the new Secret, and passes.
            let report = try await h.session(file).verify()
            #expect(report.checks.filter { $0.check == "gateway-tls" }.allSatisfy { $0.status == .passed }, "\(report.text())")
        }
    }

    /// A gateway that never picks up the new Secret (it keeps serving the certificate it had): the rotation points the
    /// Gateway back at the old Secret, deletes the new one, and says so.
    @Test func aGatewayThatKeepsTheOldCertificateLeavesTheOldSecretInPlace() async throws {
        try await Self.withAppliedMesh { h, file, cert, key, standIn in
            standIn.freeze()
            guard try await Self.replaceCertificate(cert: cert, key: key) else { return }
            let before = try await h.snapshot("external")

            let session = try await h.session(file)
            let (rotation, runner) = try await session.gatewayTLSRotationPlan()
            var request = MeshSession.ApplyRequest()
            request.apply.readinessTimeout = .seconds(3)
            await #expect {
                _ = try await runner.rotateGatewayTLS(rotation, previous: session, request: request, emit: { _ in })
            } throws: { e in
                guard case GatewayTLSRotationError.notServed(let s, _) = e else { return false }
                return s == "istio-system/\(Self.name)"
            }
            #expect(try await Self.credentialName(h) == Self.name)
            let after = try await h.snapshot("external")
            #expect(Set(after.keys) == Set(before.keys), "\(Set(after.keys).symmetricDifference(Set(before.keys)))")
            #expect(after["Secret/istio-system/\(Self.name)"] == before["Secret/istio-system/\(Self.name)"], "the old Secret is as it was")
            // Nothing pending about the old Secret, which still holds the old certificate: the files still differ from it.
            let (plan, _) = try await h.session(file).plan(PlanOptions())
            #expect(plan.changes.filter { $0.action.changes }.map(\.address.description) == ["external/core/Secret/istio-system/\(Self.name)"])
        }
    }

    /// The command as a user runs it: `--plan-only`, `--json`, then the rotation with -auto-approve.
    @Test func theCommandPlansThenRotates() async throws {
        guard let binary = CLIEndToEndTests.binary else { Issue.record("the meshform executable was not built next to the tests"); return }
        try await Self.withAppliedMesh { h, file, cert, key, standIn in
            guard try await Self.replaceCertificate(cert: cert, key: key) else { return }
            let keyText = try String(contentsOf: key, encoding: .utf8)
            func meshform(_ args: [String]) async throws -> (status: Int32, output: String) {
                try await MeshHarness.run(binary, ["rotate", "gateway-tls", file, "--state", h.statePath, "--no-color"] + args, environment: h.environment)
            }
            let plan = try await meshform(["--plan-only"])
            #expect(plan.status == 0 && plan.output.contains("Rotation of the control-plane gateway's certificate"), "\(plan.output)")
            #expect(plan.output.contains("Plan: 1 to add, 1 to change, 1 to destroy."))
            let json = try await meshform(["--json"])
            #expect(json.status == 0 && (try? YAMLDocuments.parseOne(json.output))?["operation"] == "rotate-gateway-tls", "\(json.output)")
            let run = try await meshform(["-auto-approve"])
            #expect(run.status == 0 && run.output.contains("Rotation complete: the gateway serves the certificate of Secret istio-system/\(Self.name)-"), "\(run.output)")
            for out in [plan.output, json.output, run.output] { #expect(!out.contains("PRIVATE KEY") && !out.contains(Data(keyText.utf8).base64EncodedString().prefix(40))) }
            if ProcessInfo.processInfo.environment["MESHFORM_PRINT_EXAMPLES"] != nil { print(plan.output, json.output, run.output, separator: "\n-----\n") }
            #expect(try await meshform(["--plan-only"]).output.contains("is the one Secret istio-system/\(Self.name)-"), "rotating again without new files is refused")
        }
    }

    @Test func refusedWhereTheMeshFileDoesNotManageTheCertificate() async throws {
        try await MeshHarness.with { h in
            let session = try await h.session(try h.multiRemote())
            // multiRemote's gateway terminates TLS with the demo's files: managed. Without the files it is not.
            let unmanaged = try await h.session(try h.meshFile("demo.yaml") {
                $0.replacingOccurrences(of: "    certFile: demo/tls/gateway.crt\n", with: "").replacingOccurrences(of: "    keyFile: demo/tls/gateway.key\n", with: "")
            })
            await #expect(throws: GatewayTLSRotationError.notManaged) { _ = try await unmanaged.gatewayTLSRotationPlan() }
            // Managed but never applied: nothing to rotate.
            await #expect(throws: GatewayTLSRotationError.notApplied) { _ = try await session.gatewayTLSRotationPlan() }
        }
    }
}
}

/// The control-plane gateway as Istio runs it, for TLS only: on every connection to localhost's 15012 or 15017 it reads
/// the Gateway's `credentialName` and that Secret from the external KubeSim and presents its certificate (what istiod
/// pushes to the gateway over SDS). `freeze()` keeps the certificate it served last, as a gateway that never gets the
/// new Secret would.
final class GatewayStandIn: Sendable {
    let client: KubeClient
    let channels = Mutex<[Channel]>([])
    let frozen = Mutex<NIOSSLContext?>(nil)
    let last = Mutex<NIOSSLContext?>(nil)

    static func start(_ h: MeshHarness) async throws -> GatewayStandIn? {
        let s = GatewayStandIn(client: try h.client("external"))
        for port in [15012, 15017] {
            let bound = try? await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { c in
                    c.eventLoop.makeFutureWithTask { try await s.context() }
                        .flatMapThrowing { try c.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: $0)) }
                }
                .bind(host: "127.0.0.1", port: port).get()
            guard let bound else {
                await s.stop()
                Issue.record("port \(port) on 127.0.0.1 is taken, so no stand-in gateway can listen there")
                return nil
            }
            s.channels.withLock { $0.append(bound) }
        }
        return s
    }

    func freeze() { frozen.withLock { $0 = last.withLock { $0 } } }

    /// The TLS context of the Secret the Gateway names now.
    init(client: KubeClient) { self.client = client }

    func context() async throws -> NIOSSLContext {
        if let f = frozen.withLock({ $0 }) { return f }
        let gw = try await client.list(GroupVersionKind(apiVersion: "networking.istio.io/v1", kind: "Gateway"), namespace: nil)
            .first { $0[path: ["spec", "servers"]]?[0]?[path: ["tls", "credentialName"]] != nil }
        guard let name = gw?[path: ["spec", "servers"]]?[0]?[path: ["tls", "credentialName"]]?.string,
              let secret = try await client.get(GroupVersionKind(apiVersion: "v1", kind: "Secret"), namespace: "istio-system", name: name),
              let crt = secret[path: ["data", "tls.crt"]]?.string.flatMap({ Data(base64Encoded: $0) }),
              let key = secret[path: ["data", "tls.key"]]?.string.flatMap({ Data(base64Encoded: $0) }) else {
            throw GatewayStandInError.noCredential
        }
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(crt)).map { NIOSSLCertificateSource.certificate($0) }
        let context = try NIOSSLContext(configuration: .makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(key), format: .pem))))
        last.withLock { $0 = context }
        return context
    }

    func stop() async {
        for c in channels.withLock({ $0 }) { try? await c.close() }
        try? await client.shutdown()
    }
}

enum GatewayStandInError: Error { case noCredential }
