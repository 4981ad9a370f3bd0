import Foundation
import KubeClient
import KubeModel
import KubeSim
import NIOCore
import NIOPosix
import NIOSSL
import TestSupport
import Synchronization
import Testing
@testable import MeshformKit

/// `meshform verify` after the demo's apply, and what each check catches; the gate before the remote webhooks.
extension EndToEnd {
@Suite struct VerifyEndToEndTests {
    static let secretKind = GroupVersionKind(apiVersion: "v1", kind: "Secret")

    /// Records apply events for the assertions.
    final class Events: Sendable {
        private let events = Mutex<[ApplyEvent]>([])
        var all: [ApplyEvent] { events.withLock { $0 } }
        var emit: @Sendable (ApplyEvent) -> Void { { e in self.events.withLock { $0.append(e) } } }
    }

    static func apply(_ session: MeshSession, events: Events = Events(), reachabilityTimeout: Duration = .seconds(30)) async throws -> ApplyResult {
        var r = MeshSession.ApplyRequest()
        r.apply.readinessTimeout = .seconds(30)
        r.apply.reachabilityTimeout = reachabilityTimeout
        return try await session.apply(r, confirm: { _ in true }, emit: events.emit).1
    }

    func status(_ report: VerifyReport, _ name: String) -> VerifyCheck.Status? { report.checks.first { $0.name == name }?.status }

    @Test func verifyPassesAfterTheDemoAndEachCheckCatchesWhatItChecks() async throws {
        try await MeshHarness.with { h in
            let session = try await h.session(try h.meshFile("demo.yaml"))
            guard case .succeeded = try await Self.apply(session) else { Issue.record("the demo's apply failed"); return }

            let report = try await session.verify()
            #expect(report.passed, "\(report.text())")
            for name in ["istiod@external/external-istiod/istiod", "webhooks@config", "webhooks@remote2", "remote-secret@config", "remote-secret@remote2"] {
                #expect(status(report, name) == .passed, "\(name): \(report.text())")
            }
            // What cannot be checked on KubeSim is listed, not passed.
            #expect(report.checks.filter { $0.check == "gateway-tls" }.map(\.status) == [.notRun, .notRun])
            #expect(status(report, "sidecars@config/sample") == .notRun && status(report, "sidecars@remote2/sample") == .notRun)
            #expect(status(report, "traffic") == .notRun)
            #expect(report.json()["passed"] == true)

            // A pod without the sidecar in an injected namespace; a webhook pointing elsewhere; RBAC removed on remote2.
            try await h.withClient("config") { config in
                try await h.withClient("remote2") { remote2 in
                    _ = try await config.create(["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "bare", "namespace": "sample"],
                                                 "spec": ["containers": [["name": "app", "image": "busybox"]]]])
                    let hook = try #require(try await config.get(GroupVersionKind(apiVersion: "admissionregistration.k8s.io/v1", kind: "MutatingWebhookConfiguration"),
                                                                 namespace: nil, name: "istio-sidecar-injector-external-istiod"))
                    var moved = ServerOwnedFields.restorable(hook)
                    moved[path: ["webhooks"]] = .array((hook["webhooks"]?.array ?? []).map { var w = $0; w[path: ["clientConfig", "url"]] = "https://elsewhere.invalid:15017/inject"; return w })
                    _ = try await config.apply(moved, fieldManager: "kubectl-edit", force: true)
                    _ = try await remote2.delete(GroupVersionKind(apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding"),
                                                 namespace: nil, name: "istio-reader-clusterrole-external-istiod")

                    let broken = try await session.verify()
                    #expect(!broken.passed)
                    let sidecars = try #require(broken.checks.first { $0.name == "sidecars@config/sample" })
                    #expect(sidecars.status == .failed && sidecars.detail.contains("bare"))
                    let webhooks = try #require(broken.checks.first { $0.name == "webhooks@config" })
                    #expect(webhooks.status == .failed && webhooks.detail.contains("https://elsewhere.invalid:15017/inject"), "\(webhooks.detail)")
                    let rbac = try #require(broken.checks.first { $0.name == "remote-secret@remote2" })
                    #expect(rbac.status == .failed && rbac.detail.contains("may not list") && rbac.detail.contains("pods"), "\(rbac.detail)")
                    #expect(status(broken, "remote-secret@config") == .passed)

                    // remote2's secret replaced by the config cluster's kubeconfig: valid credentials, wrong cluster.
                    try await h.withClient("external") { external in
                        let configSecret = try #require(try await external.get(Self.secretKind, namespace: "external-istiod", name: "istio-kubeconfig"))
                        var swapped = ServerOwnedFields.restorable(try #require(try await external.get(Self.secretKind, namespace: "external-istiod", name: "istio-remote-secret-remote2")))
                        swapped[path: ["data", "remote2"]] = configSecret[path: ["data", "config"]]
                        _ = try await external.apply(swapped, fieldManager: "kubectl-edit", force: true)
                        let wrongCluster = try #require(try await session.verify().checks.first { $0.name == "remote-secret@remote2" })
                        #expect(wrongCluster.status == .failed && wrongCluster.detail.contains("is another cluster than remote2"), "\(wrongCluster.detail)")

                        // A cluster that is down: its checks fail (after a short try), the others are still made.
                        try await h.sims["remote2"]!.stop()
                        let down = try await session.verify()
                        #expect(status(down, "webhooks@remote2") == .failed && status(down, "remote-secret@remote2") == .failed, "\(down.text())")
                        #expect(status(down, "remote-secret@config") == .passed && status(down, "istiod@external/external-istiod/istiod") == .passed)
                    }
                }
            }
        }
    }

    @Test func verifyCLIFailsNamingTheRemoteSecretWhoseTokenIsWrong() async throws {
        guard let binary = CLIEndToEndTests.binary else { Issue.record("the meshform executable was not built next to the tests"); return }
        try await MeshHarness.with { h in
            let file = try h.meshFile("demo.yaml")
            let state = ["--state", h.statePath]
            let applied = try await MeshHarness.run(binary, ["apply", file, "-auto-approve", "--no-color"] + state, environment: h.environment)
            #expect(applied.status == 0, "\(applied.output)")
            let ok = try await MeshHarness.run(binary, ["verify", file] + state, environment: h.environment)
            #expect(ok.status == 0, "\(ok.output)")
            #expect(ok.output.contains("Verify: 5 passed, 0 failed"), "\(ok.output)")

            // Replace remote2's token in its remote secret by a wrong one, as a botched rotation would.
            try await h.withClient("external") { external in
                let secret = try #require(try await external.get(Self.secretKind, namespace: "external-istiod", name: "istio-remote-secret-remote2"))
                let text = String(decoding: Data(base64Encoded: secret[path: ["data", "remote2"]]!.string!)!, as: UTF8.self)
                let realToken = try await h.liveToken(cluster: "remote2")
                #expect(text.contains(realToken))
                let wrong = text.replacingOccurrences(of: realToken, with: "not-the-token-\(UUID().uuidString)")
                var edited = ServerOwnedFields.restorable(secret)
                edited[path: ["data", "remote2"]] = .string(Data(wrong.utf8).base64EncodedString())
                _ = try await external.apply(edited, fieldManager: "kubectl-edit", force: true)

                let failed = try await MeshHarness.run(binary, ["verify", file, "--no-color"] + state, environment: h.environment)
                #expect(failed.status == 1, "\(failed.output)")
                let line = failed.output.split(separator: "\n").first { $0.contains("remote-secret@remote2") }.map(String.init) ?? ""
                #expect(line.hasPrefix("FAILED") && line.contains("401"), "\(failed.output)")
                #expect(failed.output.contains("Verify: 4 passed, 1 failed"), "\(failed.output)")
                let json = try await MeshHarness.run(binary, ["verify", file, "--json"] + state, environment: h.environment)
                #expect(json.status == 1)
                let report = try JSON(data: Data(json.output.utf8))
                #expect(report["passed"] == false && report["format_version"] == 1)
                #expect(report["checks"]?.array?.first { $0["name"] == "remote-secret@remote2" }?["status"] == "failed")
                // Neither token appears in any output.
                for out in [ok.output, failed.output, json.output] {
                    #expect(!out.contains(realToken) && !out.contains("not-the-token"))
                }
            }
        }
    }

    // MARK: - The gate before the remote webhooks

    /// The user's TLS Secret (no certFile/keyFile) is missing: apply refuses before writing anything.
    @Test func missingTLSSecretStopsApplyBeforeAnythingIsWritten() async throws {
        try await MeshHarness.with { h in
            let before = [try await h.snapshot("external"), try await h.snapshot("config"), try await h.snapshot("remote2")]
            let file = try h.meshFile("demo.yaml") { text in
                text.replacingOccurrences(of: "    certFile: demo/tls/gateway.crt\n    keyFile: demo/tls/gateway.key\n", with: "")
            }
            let session = try await h.session(file)
            #expect(session.mesh.topology.controlPlane.tls.certificateFile == nil)
            let events = Events()
            await #expect {
                _ = try await Self.apply(session, events: events)
            } throws: { e in
                let d = String(describing: e)
                return d.contains("TLS Secret istio-system/external-istiod-tls") && d.contains("no webhook was written")
                    && d.contains("controlPlane.tls.certFile")
            }
            #expect(events.all.isEmpty)
            let after = [try await h.snapshot("external"), try await h.snapshot("config"), try await h.snapshot("remote2")]
            for (b, a) in zip(before, after) { #expect(Set(a.keys) == Set(b.keys), "\(Set(a.keys).symmetricDifference(b.keys))") }
        }
    }

    /// The demo with the control-plane address `localhost` and the handshake check on. Loopback, because from a
    /// sandbox with a transparent egress proxy every other address completes a TLS handshake.
    func localhostDemo(_ h: MeshHarness) throws -> String {
        try h.meshFile("demo.yaml") {
            $0.replacingOccurrences(of: "    checkHandshake: false", with: "    checkHandshake: true")
                .replacingOccurrences(of: "  address: gateway-load-balancer", with: "  address: localhost")
        }
    }

    @Test func handshakeCheckFailsWhereNothingAnswersTLS() async throws {
        try await MeshHarness.with { h in
            let session = try await h.session(try localhostDemo(h))
            #expect(session.mesh.topology.controlPlane.tls.checkHandshake)
            let result = try await Self.apply(session, reachabilityTimeout: .seconds(3))
            guard case .rolledBack(_, let error) = result else { Issue.record("expected a rollback, got \(result)"); return }
            #expect(error.contains("no TLS handshake with localhost:15017") && error.contains("cannot connect"), "\(error)")
            #expect(try await h.managedObjects().isEmpty)
        }
    }

    /// The gateway's Service never gets an address (not a LoadBalancer): the gate says so, after its timeout.
    @Test func gatewayWithoutAnAddressStopsApplyBeforeAnyWebhook() async throws {
        try await MeshHarness.with { h in
            let manifests = h.dir.appendingPathComponent("manifests")
            try FileManager.default.copyItem(at: MeshHarness.packageRoot.appendingPathComponent("plans/demo"), to: manifests)
            let gateway = manifests.appendingPathComponent("controlplane-gateway.yaml")
            let text = try String(contentsOf: gateway, encoding: .utf8)
            #expect(text.contains("  type: LoadBalancer"))
            try text.replacingOccurrences(of: "  type: LoadBalancer", with: "  type: ClusterIP").write(to: gateway, atomically: true, encoding: .utf8)
            let file = try h.meshFile("demo.yaml") {
                $0.replacingOccurrences(of: "  address: gateway-load-balancer", with: "  address: istiod.mesh.example.com")
                    .replacingOccurrences(of: "manifests: demo", with: "manifests: \(manifests.path)")
            }
            let events = Events()
            let result = try await Self.apply(try await h.session(file), events: events, reachabilityTimeout: .seconds(2))
            guard case .rolledBack(_, let error) = result else { Issue.record("expected a rollback, got \(result)"); return }
            #expect(error.contains("gateway Service istio-system/istio-ingressgateway on cluster external has no load-balancer address"), "\(error)")
            #expect(!events.all.contains { if case .pointHostname = $0 { return true }; return false })
            #expect(try await h.managedObjects().isEmpty)
        }
    }

    /// TLS servers on localhost's 15012 and 15017 presenting the demo's gateway certificate stand in for the gateway.
    @Test func handshakeCheckPassesAndVerifySaysSoWhereTheGatewayAnswers() async throws {
        var servers: [TLSStandIn] = []
        try await TestSupport.withCleanup({
            for port in [15012, 15017] {
                guard let s = try? await TLSStandIn.start(port: port) else {
                    Issue.record("port \(port) on 127.0.0.1 is taken, so no stand-in gateway can listen there"); return
                }
                servers.append(s)
            }
            try await MeshHarness.with { h in
                let session = try await h.session(try localhostDemo(h))
                guard case .succeeded = try await Self.apply(session, reachabilityTimeout: .seconds(10)) else { Issue.record("apply failed"); return }
                let report = try await session.verify()
                for name in ["gateway-tls@localhost:15012", "gateway-tls@localhost:15017"] {
                    let c = report.checks.first { $0.name == name }
                    #expect(c?.status == .passed && c?.detail.contains("presents the certificate of Secret istio-system/external-istiod-tls") == true,
                            "\(report.text())")
                }
                #expect(status(report, "webhooks@config") == .passed, "\(report.text())")
                // One of them stops answering: verify fails on that port only.
                await servers.removeFirst().stop()
                let half = try await session.verify()
                #expect(status(half, "gateway-tls@localhost:15012") == .failed && status(half, "gateway-tls@localhost:15017") == .passed, "\(half.text())")
                #expect(!half.passed)
            }
        }, cleanup: { for s in servers { await s.stop() } })
    }

    /// Something answers TLS on 15017 with another certificate (a KubeSim here; a proxy or a stale DNS record in life).
    @Test func aTLSServerThatIsNotTheGatewayDoesNotPassTheGate() async throws {
        guard let other = try? await KubeSim.start(KubeSimOptions(name: "not-the-gateway", port: 15017)) else {
            Issue.record("port 15017 on 127.0.0.1 is taken, so no stand-in can listen there"); return
        }
        try await TestSupport.withCleanup({
            try await MeshHarness.with { h in
                let result = try await Self.apply(try await h.session(try localhostDemo(h)), reachabilityTimeout: .seconds(3))
                guard case .rolledBack(_, let error) = result else { Issue.record("expected a rollback, got \(result)"); return }
                #expect(error.contains("a TLS server answers at localhost:15017 but presents another certificate than Secret istio-system/external-istiod-tls"),
                        "\(error)")
                #expect(try await h.managedObjects().isEmpty)
            }
        }, cleanup: { try? await other.stop() })
    }

    @Test func hostnameModeSaysWhereToPointTheName() async throws {
        try await MeshHarness.with { h in
            let session = try await h.session(try h.multiRemote())
            let events = Events()
            guard case .succeeded = try await Self.apply(session, events: events) else { Issue.record("apply failed"); return }
            let points = events.all.compactMap { e -> (String, String)? in
                if case .pointHostname(let name, let address) = e { return (name, address) }; return nil
            }
            #expect(points.count == 1)
            try await h.withClient("external") { external in
                let service = try await external.get(GroupVersionKind(apiVersion: "v1", kind: "Service"), namespace: "istio-system", name: "istio-ingressgateway")
                #expect(points.first?.0 == "istiod.mesh.example.com")
                #expect(points.first?.1 == service?[path: ["status", "loadBalancer", "ingress"]]?[0]?["ip"]?.string)
            }
        }
    }
}
}

/// A TLS server on 127.0.0.1 presenting the demo gateway's certificate (plans/demo/tls): what the control-plane
/// gateway shows the remotes in hostname mode. It completes handshakes and serves nothing.
final class TLSStandIn: Sendable {
    let channel: Channel
    init(channel: Channel) { self.channel = channel }

    static func start(port: Int) async throws -> TLSStandIn {
        let dir = MeshHarness.packageRoot.appendingPathComponent("plans/demo/tls")
        let cert = try NIOSSLCertificate.fromPEMFile(dir.appendingPathComponent("gateway.crt").path)
        let key = try NIOSSLPrivateKey(file: dir.appendingPathComponent("gateway.key").path, format: .pem)
        let context = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: cert.map { .certificate($0) },
                                                                                privateKey: .privateKey(key)))
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { c in
                c.eventLoop.makeCompletedFuture { try c.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context)) }
            }
            .bind(host: "127.0.0.1", port: port).get()
        return TLSStandIn(channel: channel)
    }

    func stop() async { try? await channel.close() }
}
