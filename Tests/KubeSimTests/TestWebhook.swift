import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization
import KubeModel
@testable import KubeSim

/// An admission webhook on 127.0.0.1 over HTTPS with its own CA (made by KubeSim's certificate code), answering
/// AdmissionReview v1 as a real webhook server does: `/deny` refuses with a message, `/label` adds the label
/// `admitted-by: test-webhook` by JSON Patch, `/allow` allows, `/slow` answers after 3 s. It records every
/// review it receives.
final class TestWebhook: Sendable {
    final class Log: Sendable { let reviews = Mutex<[JSON]>([]) }
    let port: Int
    let caPEM: String
    private let received: Log
    private let group: ServiceGroup
    private let task: Task<Void, Error>

    /// The reviews received so far (each the AdmissionReview's `request`).
    var reviews: [JSON] { received.reviews.withLock { $0 } }
    /// `caBundle` for a webhook configuration: the CA, PEM, base64.
    var caBundle: String { Data(caPEM.utf8).base64EncodedString() }
    func url(_ path: String) -> String { "https://127.0.0.1:\(port)\(path)" }

    private init(port: Int, caPEM: String, received: Log, group: ServiceGroup, task: Task<Void, Error>) {
        self.port = port; self.caPEM = caPEM; self.received = received; self.group = group; self.task = task
    }

    static func start() async throws -> TestWebhook {
        let identity = try SimIdentity.generate(name: "webhook")
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(identity.serverCertPEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.serverKeyPEM.utf8), format: .pem)))
        let received = Log()
        var logger = Logger(label: "test-webhook")
        logger.logLevel = .critical
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            responder: CallbackResponder { (request: Request, _: BasicRequestContext) in
                let body = try await request.body.collect(upTo: 16 << 20)
                let review = try JSON.parse(Data(buffer: body))
                let req = review["request"] ?? [:]
                received.reviews.withLock { $0.append(req) }
                var response: JSON = ["uid": req["uid"] ?? "", "allowed": true]
                switch request.uri.path {
                case "/deny":
                    response["allowed"] = false
                    response["status"] = ["code": 403, "message": .string("\(req[path: ["resource", "resource"]]?.string ?? "") named \(req["name"]?.string ?? "") are not allowed here")]
                case "/label":
                    let hasLabels = req[path: ["object", "metadata", "labels"]] != nil
                    let patch: JSON = hasLabels
                        ? [["op": "add", "path": "/metadata/labels/admitted-by", "value": "test-webhook"]]
                        : [["op": "add", "path": "/metadata/labels", "value": ["admitted-by": "test-webhook"]]]
                    response["patchType"] = "JSONPatch"
                    response["patch"] = .string(Data(patch.canonicalBytes).base64EncodedString())
                case "/slow":
                    try await Task.sleep(for: .seconds(3))
                default: break
                }
                let out: JSON = ["apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response]
                var headers = HTTPFields()
                headers[.contentType] = "application/json"
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: out.canonicalBytes)))
            },
            server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: nil),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0); portContinuation.finish() },
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let task = Task { do { try await group.run() } catch { portContinuation.finish(); throw error } }
        var port = 0
        for await p in ports { port = p }
        return TestWebhook(port: port, caPEM: identity.caPEM, received: received, group: group, task: task)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }

    /// Runs `body` with a new webhook server and stops it afterwards, whether `body` returns or throws.
    static func with<T>(_ body: (TestWebhook) async throws -> T) async throws -> T {
        let hook = try await start()
        let result: T
        do { result = try await body(hook) } catch { await hook.stop(); throw error }
        await hook.stop()
        return result
    }
}
