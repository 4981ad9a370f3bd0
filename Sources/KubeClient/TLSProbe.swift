import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Whether a TLS server answers at `host:port` from here: connect, complete a handshake, close. Nothing is
/// sent after the handshake, so it works for any protocol over TLS (gRPC on 15012, HTTPS webhooks on 15017).
/// A hostname is sent as SNI (servers such as Envoy pick their certificate by it); an IP address is not.
public enum TLSProbe {
    public enum Trust: Sendable {
        /// Only that a handshake completes; the certificate is not checked (the caller trusts it some other way,
        /// e.g. a webhook's `caBundle`).
        case anyCertificate
        /// The certificate must chain to `caPEM` (nil: the system's roots) and name `serverName`, as a client with
        /// default settings would check it. `serverName` is also sent as SNI unless it is an IP address.
        case verified(caPEM: Data?, serverName: String)
    }

    /// Returns the certificate the server presented (DER) once the handshake completed; throws `TLSProbeError`
    /// saying why not (refused, timed out, certificate).
    @discardableResult
    public static func handshake(host: String, port: Int, trust: Trust, timeout: Duration = .seconds(10)) async throws -> [UInt8]? {
        var config = TLSConfiguration.makeClientConfiguration()
        var sni: String?
        switch trust {
        case .anyCertificate:
            config.certificateVerification = .none
            sni = isIPAddress(host) ? nil : host
        case .verified(let ca, let serverName):
            if let ca {
                do { config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes([UInt8](ca))) } catch {
                    throw TLSProbeError(host: host, port: port, reason: "the CA bundle is not PEM certificates: \(error)")
                }
            }
            sni = isIPAddress(serverName) ? nil : serverName
            if sni == nil, serverName != host {
                throw TLSProbeError(host: host, port: port, reason: "cannot verify an IP address (\(serverName)) other than the one connected to")
            }
        }
        let context: NIOSSLContext
        do { context = try NIOSSLContext(configuration: config) } catch {
            throw TLSProbeError(host: host, port: port, reason: "cannot set up TLS: \(error)")
        }
        let nanos = Int64(timeout.components.seconds) * 1_000_000_000 + Int64(timeout.components.attoseconds / 1_000_000_000)
        do {
            return try await peerCertificate(host: host, port: port, context: context, serverHostname: sni,
                                             timeout: .nanoseconds(nanos))?.toDERBytes()
        } catch {
            throw TLSProbeError(host: host, port: port, reason: describe(error, timeout: timeout))
        }
    }

    /// One TLS handshake with `host:port` (`serverHostname` sent as SNI and, if `context` verifies, checked by
    /// NIOSSL), bounded by `timeout` for the connect and again for the handshake; returns the leaf certificate the
    /// server presented. Throws NIO's own errors, for the caller to word. `ServerNameCheck` shares it.
    static func peerCertificate(host: String, port: Int, context: NIOSSLContext, serverHostname: String?,
                                timeout: TimeAmount) async throws -> NIOSSLCertificate? {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let watcher = HandshakeWatcher(promise: loop.makePromise(of: NIOSSLCertificate?.self))
        let channel: Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(timeout)
                .channelInitializer { ch in
                    do {
                        let tls = try NIOSSLClientHandler(context: context, serverHostname: serverHostname)
                        try ch.pipeline.syncOperations.addHandlers([tls, watcher])
                        return ch.eventLoop.makeSucceededVoidFuture()
                    } catch { return ch.eventLoop.makeFailedFuture(error) }
                }
                .connect(host: host, port: port).get()
        } catch {
            watcher.finish(.failure(error))
            throw error
        }
        let timer = loop.scheduleTask(in: timeout) { watcher.finish(.failure(ChannelError.connectTimeout(timeout))) }
        defer { timer.cancel(); channel.close(promise: nil) }
        return try await watcher.promise.futureResult.get()
    }

    /// The first certificate of a PEM bundle, as DER (to compare with what `handshake` returns); nil if none.
    public static func certificateDER(pem: Data) -> [UInt8]? {
        (try? NIOSSLCertificate.fromPEMBytes([UInt8](pem)))?.first.flatMap { try? $0.toDERBytes() }
    }

    /// An IPv4 or IPv6 address (also in brackets), which is not sent as SNI and is matched against IP SANs.
    static func isIPAddress(_ s: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        let bare = s.hasPrefix("[") && s.hasSuffix("]") ? String(s.dropFirst().dropLast()) : s
        return inet_pton(AF_INET, bare, &v4) == 1 || inet_pton(AF_INET6, bare, &v6) == 1
    }

    static func describe(_ error: Error, timeout: Duration) -> String {
        if let e = error as? ChannelError, case .connectTimeout = e { return "no answer within \(timeout)" }
        if error is NIOConnectionError || error is IOError { return "cannot connect: \(error)" }
        if let e = error as? NIOSSLError, case .uncleanShutdown = e { return "the connection was closed during the TLS handshake" }
        if error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError {
            return "the TLS handshake failed (is a TLS server listening there, with a certificate clients trust?): \(error)"
        }
        return "\(error)"
    }
}

public struct TLSProbeError: Error, CustomStringConvertible, Sendable {
    public var host: String
    public var port: Int
    public var reason: String
    public var description: String { "no TLS handshake with \(host):\(port): \(reason)" }
}

/// Completes its promise with the server's certificate when the handshake completes, or fails it on an error, the
/// connection closing, or the timeout, whichever comes first: a promise completed once ignores later completions
/// (swift-nio's `EventLoopPromise`), so the handler keeps no state of its own.
private final class HandshakeWatcher: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let promise: EventLoopPromise<NIOSSLCertificate?>

    init(promise: EventLoopPromise<NIOSSLCertificate?>) { self.promise = promise }

    func finish(_ r: Result<NIOSSLCertificate?, Error>) { promise.completeWith(r) }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? TLSUserEvent, case .handshakeCompleted = e {
            finish(.success(try? context.pipeline.syncOperations.nioSSL_peerCertificate()))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { finish(.failure(error)) }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(NIOSSLError.uncleanShutdown))
        context.fireChannelInactive()
    }
}
