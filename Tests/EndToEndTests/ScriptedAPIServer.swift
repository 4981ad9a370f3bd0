import Foundation
import KubeClient
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TestSupport

/// A plain-HTTP stand-in for an API server that answers as a real kube-apiserver does where KubeSim does not (yet):
/// each request is recorded, and `answer` scripts the reply. For the engine's behaviour on those answers only.
final class ScriptedAPIServer: Sendable {
    struct Request: Sendable { var method: String; var uri: String; var body: String }
    struct Answer: Sendable {
        var status: Int
        var headers: [(String, String)] = []
        var body: String
    }

    let channel: Channel
    let log: RequestLog
    var requests: [Request] { log.entries.withLock { $0 } }
    var port: Int { channel.localAddress?.port ?? 0 }

    init(answer: @escaping @Sendable (Request) -> Answer) async throws {
        let recorder = RequestLog()
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { c in
                // On the channel's event loop, so the handler (mutable, not Sendable) never leaves it.
                c.eventLoop.makeCompletedFuture {
                    try c.pipeline.syncOperations.configureHTTPServerPipeline()
                    try c.pipeline.syncOperations.addHandler(Handler(answer: answer, log: recorder))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        log = recorder
    }

    final class RequestLog: Sendable {
        let entries = Mutex<[Request]>([])
        func append(_ r: Request) { entries.withLock { $0.append(r) } }
    }

    /// A kubeconfig reaching this server with a bearer token.
    func writeKubeconfig(to path: String, context: String) throws {
        try """
        apiVersion: v1
        kind: Config
        clusters: [{name: \(context), cluster: {server: "http://127.0.0.1:\(port)"}}]
        users: [{name: \(context), user: {token: scripted-token}}]
        contexts: [{name: \(context), context: {cluster: \(context), user: \(context), namespace: default}}]
        current-context: \(context)
        """.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func stop() async { try? await channel.close() }

    /// Runs `body` with a server answering by `answer`, stopped afterwards whether `body` returns or throws.
    static func with<T>(answer: @escaping @Sendable (Request) -> Answer, _ body: (ScriptedAPIServer) async throws -> T) async throws -> T {
        let server = try await ScriptedAPIServer(answer: answer)
        return try await withCleanup({ try await body(server) }, cleanup: { await server.stop() })
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let answer: @Sendable (Request) -> Answer
        let log: RequestLog
        var head: HTTPRequestHead?
        var body = ""
        init(answer: @escaping @Sendable (Request) -> Answer, log: RequestLog) { self.answer = answer; self.log = log }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h): head = h; body = ""
            case .body(var b): body += b.readString(length: b.readableBytes) ?? ""
            case .end:
                guard let head else { return }
                let request = Request(method: head.method.rawValue, uri: head.uri, body: body)
                log.append(request)
                let a = answer(request)
                var headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", String(a.body.utf8.count))])
                for (n, v) in a.headers { headers.add(name: n, value: v) }
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .init(statusCode: a.status), headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: a.body)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
