import Foundation
import Hummingbird
import HummingbirdTLS
import HummingbirdHTTP2
import NIOCore
import NIOSSL
import Logging
import ServiceLifecycle
import KubeModel

/// A local Kubernetes API server on 127.0.0.1 over HTTPS, that the real kubectl and Meshform talk to
/// unchanged. Several run side by side in one process; each has its own CA, tokens and objects.
///
/// ```swift
/// let sim = try await KubeSim.start(KubeSimOptions(name: "east"))
/// try sim.writeKubeconfig(to: "/tmp/east.kubeconfig")
/// ... kubectl --kubeconfig /tmp/east.kubeconfig get ns ...
/// try await sim.stop()
/// ```
public final class KubeSim: Sendable {
    public let name: String
    public let port: Int
    public var url: String { "https://127.0.0.1:\(port)" }
    /// The CA that signed the serving certificate (PEM): what a client trusts.
    public var caPEM: String { identity.caPEM }
    /// The admin user's bearer token.
    public var token: String { identity.adminToken }
    /// The bearer token of `/admin/faults` (GET shows, PUT sets, DELETE clears the fault settings).
    public var adminEndpointToken: String { identity.adminEndpointToken }

    let identity: SimIdentity
    let store: Store
    let server: Server
    let dataDir: String?
    let runTask: Task<Void, Error>
    /// Runs the HTTP server; `stop` shuts it down gracefully through it.
    let serviceGroup: ServiceGroup
    let saver: Task<Void, Never>?

    private init(name: String, port: Int, identity: SimIdentity, store: Store, server: Server, dataDir: String?,
                 runTask: Task<Void, Error>, serviceGroup: ServiceGroup, saver: Task<Void, Never>?) {
        self.name = name; self.port = port; self.identity = identity; self.store = store; self.server = server
        self.dataDir = dataDir; self.runTask = runTask; self.serviceGroup = serviceGroup; self.saver = saver
    }

    /// Starts serving; returns once the port is bound.
    public static func start(_ options: KubeSimOptions) async throws -> KubeSim {
        let identity = try Persistence.loadOrCreateIdentity(dir: options.dataDir, name: options.name)
        let store = Store(simIndex: options.name.utf8.reduce(0) { ($0 &* 31 &+ Int($1)) & 0xffff } % 250,
                          controllers: ControllerSettings(delay: options.controllerDelay, caPEM: identity.caPEM))
        let server = Server(store: store, identity: identity, faults: options.faults)
        try store.withLock { st in
            st.server = server
            if let dir = options.dataDir { try Persistence.load(dir: dir, into: st) }
            if st.namespaceExists("default") == nil {
                let t = ResourceCatalog.builtIns[0]
                let c = WriteContext(type: t, version: "v1", namespace: "", manager: "kubesim", dryRun: false)
                for ns in ["default", "kube-system", "kube-public"] { _ = try? st.create(["metadata": ["name": .string(ns)]], c) }
            }
        }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(identity.serverCertPEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.serverKeyPEM.utf8), format: .pem)))
        // As kube-apiserver with --client-ca-file: a client certificate is optional, but one that is presented
        // must chain to the CA, or the handshake fails.
        tls.certificateVerification = .optionalVerification
        tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(identity.caPEM.utf8), format: .pem)])
        var logger = Logger(label: "kubesim.\(options.name)")
        logger.logLevel = .critical
        // A given port may still be held for a moment by a KubeSim that just stopped: try again briefly.
        var attempt = 0
        var bound = 0
        var runTask: Task<Void, Error>
        var group: ServiceGroup
        repeat {
            attempt += 1
            let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
            let app = Application(
                responder: CallbackResponder { (req: Request, ctx: SimRequestContext) in try await server.respond(req, ctx) },
                server: options.http2
                    ? try .http2Upgrade(tlsConfiguration: tls, configuration: .init(gracefulCloseTimeout: .seconds(5)))
                    : try .tls(.http1(), tlsConfiguration: tls),
                configuration: .init(address: .hostname("127.0.0.1", port: options.port), serverName: nil),
                onServerRunning: { channel in
                    portContinuation.yield(channel.localAddress?.port ?? 0); portContinuation.finish()
                },
                logger: logger)
            let serviceGroup = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
            group = serviceGroup
            runTask = Task {
                do { try await serviceGroup.run() } catch { portContinuation.finish(); throw error }
            }
            for await p in portStream { bound = p }
            if bound == 0 {
                runTask.cancel()
                _ = await runTask.result
                if options.port == 0 || attempt >= 20 { throw KubeSimError.cannotListen(options.port) }
                try await Task.sleep(for: .milliseconds(100))
            }
        } while bound == 0
        server.port = bound
        let saver: Task<Void, Never>? = options.dataDir.map { dir in
            Task.detached {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(200))
                    try? Persistence.saveIfDirty(dir: dir, store: store)
                }
            }
        }
        return KubeSim(name: options.name, port: bound, identity: identity, store: store, server: server,
                       dataDir: options.dataDir, runTask: runTask, serviceGroup: group, saver: saver)
    }

    /// Requests answered so far, by negotiated HTTP version ("HTTP/1.1", "HTTP/2.0") and client (the User-Agent's
    /// product, e.g. "kubectl"); `GET /admin/protocols` shows the same.
    public var requestsByProtocol: [String: [String: Int]] { server.requestsByProtocol }

    /// Requests answered so far by what they asked: `discovery`, `GET` (one object), `LIST`, `WATCH`, `PATCH`, `POST`,
    /// `PUT`, `DELETE`, or the method and a subresource (`GET status`); `GET /admin/requests` shows the same.
    public var requestsByVerb: [String: Int] { server.requestsByVerb }
    /// Connections (TLS sessions) clients have sent requests over, since the start; `GET /admin/requests` shows the same.
    public var connectionsOpened: Int { server.connectionsOpened }

    /// Discovery requests answered so far, by path; `/api` and `/apis` answered in the aggregated form are counted as
    /// `/apis (aggregated v2)` (or `v2beta1`).
    public var discoveryRequests: [String: Int] { server.discoveryRequests }

    /// The in-process equivalent of `PUT /admin/faults`.
    public func setFaults(_ f: FaultSettings) { server.currentFaults = f }
    public var faults: FaultSettings { server.currentFaults }

    /// Ends open watches, stops serving and, with a data directory, writes the last snapshot.
    public func stop() async throws {
        let open = store.withLock { st in st.watchers.values.map(\.1) }
        for w in open { w.finish() }   // outside the lock: finishing runs the watch's cleanup, which takes it
        saver?.cancel()
        await saver?.value   // a save still writing an older snapshot must not land after the last one below
        // A graceful shutdown, not a cancelled serving task: cancelling it can drop a connection accepted but not yet
        // handed to the server, whose NIOAsyncChannel writer then traps on deinit ("Deinited NIOAsyncWriter without
        // calling finish()", apple/swift-nio#2637 and #3481, where NIO's maintainers advise graceful shutdown). A
        // request that does not finish in time is cancelled after all.
        await serviceGroup.triggerGracefulShutdown()
        let task = runTask
        let deadline = Task { try await Task.sleep(for: .seconds(10)); task.cancel() }
        _ = await runTask.result
        deadline.cancel()
        try? await server.webhooks.shutdown()
        if let dataDir { try Persistence.saveIfDirty(dir: dataDir, store: store) }
    }

    /// A kubeconfig (cluster with the CA, user with the admin token, one context) that kubectl reads unchanged.
    public func kubeconfig(contextName: String? = nil) -> String {
        let ctx = contextName ?? name
        let ca = Data(caPEM.utf8).base64EncodedString()
        return """
        apiVersion: v1
        kind: Config
        clusters:
        - name: \(name)
          cluster:
            server: \(url)
            certificate-authority-data: \(ca)
        users:
        - name: \(name)-admin
          user:
            token: \(token)
        contexts:
        - name: \(ctx)
          context:
            cluster: \(name)
            user: \(name)-admin
        current-context: \(ctx)
        preferences: {}

        """
    }

    /// A client certificate and key (PEM) signed by this server's CA, for `user` in `groups`: requests that
    /// present it are authenticated, as kube-apiserver's x509 authenticator does.
    public func issueClientCertificate(user: String, groups: [String] = []) throws -> (certificatePEM: String, keyPEM: String) {
        try server.identity.issueClientCertificate(user: user, groups: groups)
    }

    /// Writes `kubeconfig(contextName:)` to a file only its owner can read.
    public func writeKubeconfig(to path: String, contextName: String? = nil) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        try Persistence.writePrivate(Data(kubeconfig(contextName: contextName).utf8), to: path)
    }
}

public enum KubeSimError: Error, CustomStringConvertible {
    case cannotListen(Int)
    public var description: String {
        switch self { case .cannotListen(let p): return "kubesim: cannot listen on 127.0.0.1:\(p)" }
    }
}
