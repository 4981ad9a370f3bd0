import AsyncHTTPClient
import Foundation
import KubeModel
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// One HTTP answer from the API server, body fully read.
public struct APIResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: Data
    /// How many tries it took to get this answer.
    public var attempts: Int = 1
    /// The body as JSON, nil if empty or not JSON.
    public var json: JSON? { body.isEmpty ? nil : try? JSON.parse(body) }
    public var isSuccess: Bool { (200...299).contains(status) }
    public func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
}

/// HTTPS to one cluster: one connection pool (one `HTTPClient`), authentication on every request, the
/// client-side rate limit, and retries with backoff. Knows nothing of resources or kinds.
final class Transport: Sendable {
    let connection: ClusterConnection
    let options: ClientOptions
    let limiter: RateLimiter
    let state: TransportState
    let logger: Logger
    /// The URL prefix requests are sent to (the server, or `tls-server-name` routed to the server's host).
    let baseURL: String

    init(connection: ClusterConnection, options: ClientOptions, logger: Logger) {
        self.connection = connection
        self.options = options
        self.logger = logger
        self.limiter = RateLimiter(qps: options.qps, burst: options.burst)
        var base = connection.server
        var dnsOverride: [String: String] = [:]
        if let sni = connection.tlsServerName, var comps = URLComponents(string: connection.server), let host = comps.host {
            // Verify the certificate for `tls-server-name` while connecting to the server's real address.
            comps.host = sni
            base = comps.string ?? base
            dnsOverride[sni] = host
        }
        self.baseURL = base
        self.state = TransportState(connection: connection, options: options, dnsOverride: dnsOverride)
    }

    /// RFC 3986's unreserved characters, built once (building it per request was 0.6% of apply's CPU, #17).
    private static let unreserved: CharacterSet = {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return allowed
    }()

    static func encodeQuery(_ query: [(String, String)]) -> String {
        query.map { k, v in "\(percentEncoded(k))=\(percentEncoded(v))" }.joined(separator: "&")
    }

    /// `s` with every byte outside RFC 3986's unreserved characters percent-encoded. Most values (`fieldManager=meshform`,
    /// `force=true`, a page size) need nothing: checked byte by byte first, as Foundation's encoding of every value was
    /// 1.3% of apply's CPU (#17).
    static func percentEncoded(_ s: String) -> String {
        let plain = s.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
        }
        return plain ? s : s.addingPercentEncoding(withAllowedCharacters: unreserved) ?? s
    }

    /// Sends a request, retrying per `options.retry`. Returns the last answer, whatever its status; throws
    /// `KubeError.transport` or `.tls` when no answer could be had. `accept`: the media types asked for, in order.
    func send(method: HTTPMethod, path: String, query: [(String, String)] = [], body: Data? = nil,
              contentType: String? = nil, accept: String = "application/json", site: ErrorSite) async throws -> APIResponse {
        var url = baseURL + path
        if !query.isEmpty { url += "?" + Self.encodeQuery(query) }
        let policy = options.retry
        let clock = ContinuousClock()
        let start = clock.now
        var attempt = 0
        var refreshedCredentials = false
        while true {
            attempt += 1
            try await limiter.acquire()
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers.add(name: "Accept", value: accept)
            request.headers.add(name: "User-Agent", value: options.userAgent)
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
            if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
            let pool: ConnectionPool
            do {
                // The fixed header and the built client without a hop onto the state's actor (every request, #17).
                let auth: String?
                if let fixed = state.fixedAuthorization { auth = fixed } else { auth = try await state.authorizationHeader() }
                if let auth { request.headers.add(name: "Authorization", value: auth) }
                if let current = state.checkOut() { pool = current } else { pool = try await state.checkOutBuilding() }
            } catch let e as KubeError { throw e }

            var retryAfter: Duration?
            var failure: KubeError
            do {
                let answer = try await pool.exchange(request, timeout: options.requestTimeout, attempt: attempt)
                if answer.status == 401, !refreshedCredentials, await state.invalidateRefreshableCredentials() {
                    // An exec credential or token file may have rotated: fetch it again once, outside the retry budget.
                    refreshedCredentials = true
                    attempt -= 1
                    continue
                }
                guard RetryPolicy.isRetryable(status: answer.status) else {
                    for (name, value) in answer.headers where name.lowercased() == "warning" {
                        for text in ServerWarnings.parse(value) { options.warningHandler(connection.contextName, text) }
                    }
                    return answer
                }
                retryAfter = RetryPolicy.parseRetryAfter(answer.header("Retry-After"))
                failure = .server(site, code: answer.status, reason: nil, message: "", attempts: attempt)
                if attempt >= policy.maxAttempts { return answer }
                let delay = policy.delay(retry: attempt, retryAfter: retryAfter)
                if clock.now - start + delay > policy.maxElapsed { return answer }
                logger.debug("retrying", metadata: ["context": "\(connection.contextName)", "method": "\(method)", "path": "\(path)",
                                                    "status": "\(answer.status)", "attempt": "\(attempt)", "delay": "\(delay)"])
                try await Task.sleep(for: delay)
                continue
            } catch is CancellationError {
                throw CancellationError()
            } catch let e as KubeError {
                throw e
            } catch {
                if let tls = Self.tlsFailure(error) {
                    throw KubeError.tls(site, message: "cluster \"\(connection.clusterName)\": \(tls)")
                }
                failure = .transport(site, message: "\(method) \(path): \(Self.describe(error))", attempts: attempt)
            }
            if attempt >= policy.maxAttempts { throw failure }
            let delay = policy.delay(retry: attempt, retryAfter: retryAfter)
            if clock.now - start + delay > policy.maxElapsed { throw failure }
            logger.debug("retrying after connection failure", metadata: ["context": "\(connection.contextName)", "path": "\(path)",
                                                                         "attempt": "\(attempt)", "error": "\(failure)"])
            try await Task.sleep(for: delay)
        }
    }

    /// A readable message if `error` is a TLS verification/handshake failure (never retried: it will not change).
    static func tlsFailure(_ error: Error) -> String? {
        var isVerification = false
        if let e = error as? NIOSSLError {
            switch e {
            case .handshakeFailed(let inner):
                // An EOF mid-handshake is a dropped connection; anything else (verify failed, bad cert) will not change.
                isVerification = !String(describing: inner).contains("EOF")
            case .unableToValidateCertificate, .noCertificateToValidate, .cannotMatchULabel: isVerification = true
            default: isVerification = false   // e.g. uncleanShutdown: a dropped connection, retried
            }
        } else if let e = error as? NIOSSLExtraError {
            isVerification = e == .failedToValidateHostname || e == .serverHostnameImpossibleToMatch
        } else if error is BoringSSLError {
            isVerification = true
        }
        guard isVerification else { return nil }
        return "the server's certificate could not be verified (check the cluster's certificate-authority, "
            + "tls-server-name and server address): \(error)"
    }

    static func describe(_ error: Error) -> String {
        if let e = error as? HTTPClientError { return "\(e)" }
        return String(describing: error)
    }

    func shutdown() async { await state.shutdown() }

    /// The whole answer, copied once into `Data`, sized up front when the server says how long it is: AsyncHTTPClient's
    /// `collect` grows a buffer by doubling, and making `Data` of it was a second copy (a fleet's LISTs are a gigabyte).
    static func collect(_ response: HTTPClientResponse, upTo limit: Int) async throws -> Data {
        var body = Data()
        if let length = response.headers.first(name: "Content-Length").flatMap({ Int($0) }), length <= limit {
            body.reserveCapacity(length)
        }
        for try await fragment in response.body {
            guard body.count + fragment.readableBytes <= limit else { throw NIOTooManyBytesError(maxBytes: limit) }
            fragment.withUnsafeReadableBytes { body.append($0.assumingMemoryBound(to: UInt8.self)) }
        }
        return body
    }
}

/// One built `HTTPClient` (its connections to the cluster) and how many requests are using it, so that closing it
/// (`TransportState.closeConnections`) waits for them instead of cutting them off: AsyncHTTPClient's shutdown fails
/// the requests in flight.
final class ConnectionPool: Sendable {
    let client: HTTPClient
    private struct Use { var inFlight = 0; var closing: CheckedContinuation<Void, Never>? }
    private let use = Mutex(Use())

    init(_ client: HTTPClient) { self.client = client }

    /// Requests counted in and not yet answered (tests).
    var requestsInFlight: Int { use.withLock { $0.inFlight } }

    /// Counts a request in; called under `TransportState`'s lock on the current pool, so a pool taken out to be
    /// closed gets no new request.
    func begin() { use.withLock { $0.inFlight += 1 } }

    /// One exchange on a request already counted in (`begin`): the answer, its body whole.
    func exchange(_ request: HTTPClientRequest, timeout: Duration, attempt: Int) async throws -> APIResponse {
        defer { end() }
        let response = try await client.execute(request, timeout: timeout.timeAmount)
        return APIResponse(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                           body: try await Transport.collect(response, upTo: 256 << 20), attempts: attempt)
    }

    private func end() {
        let closing = use.withLock { u -> CheckedContinuation<Void, Never>? in
            u.inFlight -= 1
            guard u.inFlight == 0 else { return nil }
            defer { u.closing = nil }
            return u.closing
        }
        closing?.resume()
    }

    /// Waits until no request uses the pool, then closes its connections.
    func close() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let idle = use.withLock { u -> Bool in
                if u.inFlight == 0 { return true }
                u.closing = done
                return false
            }
            if idle { done.resume() }
        }
        // Throws only when already shut down; each pool is closed once (it leaves `TransportState` to be closed).
        try? await client.shutdown()
    }
}

/// The mutable part of a transport: the lazily built `HTTPClient` (it may need a client certificate from an
/// exec plugin before it can exist) and credential caches.
actor TransportState {
    let connection: ClusterConnection
    let options: ClientOptions
    let dnsOverride: [String: String]
    /// The connections once built, behind a lock so a request takes them without a hop onto the actor (`checkOut`);
    /// emptied by `closeConnections` and `shutdown`.
    private let built = Mutex<ConnectionPool?>(nil)
    /// How an `HTTPClient` is made, once worked out (TLS material parsed, the server name checked), so connections
    /// closed by `closeConnections` are opened again without doing it twice.
    private var configuration: HTTPClient.Configuration?
    /// The Authorization header of credentials that never change (none, a client certificate, a token, basic):
    /// `.some(nil)` for no header; nil when it must be asked for (`authorizationHeader`: a token file or exec plugin).
    nonisolated let fixedAuthorization: String??
    private var execCache: ExecCredentialCache?
    private var tokenFileCache: (token: String, readAt: Date)?
    private var isShutDown = false

    init(connection: ClusterConnection, options: ClientOptions, dnsOverride: [String: String]) {
        self.connection = connection; self.options = options; self.dnsOverride = dnsOverride
        if case .exec(let plugin) = connection.credentials { execCache = ExecCredentialCache(plugin: plugin) }
        fixedAuthorization = switch connection.credentials {
        case .none, .clientCertificate: .some(nil)
        case .token(let t): "Bearer \(t)"
        case .basic(let u, let p): "Basic " + Data("\(u):\(p)".utf8).base64EncodedString()
        case .tokenFile, .exec: nil
        }
    }

    /// The current pool with one more request counted in, if it is built.
    nonisolated func checkOut() -> ConnectionPool? { built.withLock { p in p?.begin(); return p } }

    /// Requests on the current connections not yet answered (tests).
    nonisolated var requestsInFlight: Int { built.withLock { $0?.requestsInFlight ?? 0 } }

    /// `checkOut`, building the pool first if needed.
    func checkOutBuilding() async throws -> ConnectionPool {
        let config = try await clientConfiguration()
        return built.withLock { p in
            // Another caller may have built it while this one awaited an exec plugin or the server-name check.
            let pool = p ?? ConnectionPool(HTTPClient(eventLoopGroupProvider: .singleton, configuration: config))
            p = pool
            pool.begin()
            return pool
        }
    }

    /// Closes the connections once the requests in flight on them are answered; the next request opens new ones.
    /// For a cluster read once and then not for a while (`KubeClient.closeConnections`).
    func closeConnections() async {
        await built.withLock { p in defer { p = nil }; return p }?.close()
    }

    private var site: ErrorSite { ErrorSite(context: connection.contextName, operation: "connect") }

    /// How many times the exec plugin ran (diagnostics, tests).
    func execRuns() async -> Int { await execCache?.runs ?? 0 }

    func authorizationHeader() async throws -> String? {
        if let fixedAuthorization { return fixedAuthorization }
        switch connection.credentials {
        case .none, .clientCertificate, .token, .basic: return nil   // fixedAuthorization
        case .tokenFile(let path):
            if let cached = tokenFileCache, Date().timeIntervalSince(cached.readAt) < 60 { return "Bearer \(cached.token)" }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw KubeError.kubeconfig(file: connection.file, context: connection.contextName, message: "cannot read tokenFile \(path)")
            }
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            tokenFileCache = (token, Date())
            return "Bearer \(token)"
        case .exec:
            let cred = try await execCache!.credential()
            return cred.token.map { "Bearer \($0)" }
        }
    }

    /// Drops cached exec/token-file credentials; true if there was something to refresh.
    func invalidateRefreshableCredentials() async -> Bool {
        switch connection.credentials {
        case .exec: await execCache?.invalidate(); return true
        case .tokenFile: tokenFileCache = nil; return true
        default: return false
        }
    }

    private func clientConfiguration() async throws -> HTTPClient.Configuration {
        if let configuration { return configuration }
        var tls = TLSConfiguration.makeClientConfiguration()
        let fail = { (message: String) in KubeError.kubeconfig(file: self.connection.file, context: self.connection.contextName, message: message) }
        if let conflict = connection.tlsConflict { throw fail(conflict) }
        if connection.insecureSkipTLSVerify {
            tls.certificateVerification = .none
        } else if let ca = connection.caData {
            do { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes([UInt8](ca))) } catch {
                throw fail("certificate-authority of cluster \"\(connection.clusterName)\" is not a PEM certificate bundle")
            }
        }
        var certPEM: Data?, keyPEM: Data?
        switch connection.credentials {
        case .clientCertificate(let c, let k): certPEM = c; keyPEM = k
        case .exec:
            let cred = try await execCache!.credential()
            certPEM = cred.clientCertificateData; keyPEM = cred.clientKeyData
        default: break
        }
        if let certPEM, let keyPEM {
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes([UInt8](certPEM)).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: [UInt8](keyPEM), format: .pem))
            } catch {
                throw fail("client certificate or key of user \"\(connection.userName)\" is not valid PEM")
            }
        }
        try await checkServerName(tls)
        if let configuration { return configuration }   // another caller worked it out while this one awaited
        var config = HTTPClient.Configuration(
            tlsConfiguration: tls,
            timeout: .init(connect: options.connectTimeout.timeAmount),
            // Idle connections close after 60 s (client-go keeps them 90 s): callers done with a cluster close its
            // connections themselves (`closeConnections`), and a readiness wait keeps its connection between polls.
            // (A 3 s timeout was dropped once after a debug build of `meshform demo` crashed; that crash did not come
            // back at 1 s or 3 s, and was most likely a stale incremental build, which crashed the same way since.)
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: options.maxConnections))
        // Connection failures come back to our retry loop at once, so one policy (with TLS failures never
        // retried) bounds them, instead of the pool silently re-dialling until the connect timeout.
        config.connectionPool.retryConnectionEstablishment = false
        config.dnsOverride = dnsOverride
        config.redirectConfiguration = .disallow
        // No tracer: Meshform bootstraps no distributed tracing, and the default no-op tracer still parsed each
        // request's URL into span attributes (1.5% of apply's CPU, #17).
        config.tracing.tracer = nil
        configuration = config
        return config
    }

    /// kubectl's name check (`ServerNameCheck`), once per client, when a DNS name is verified. A server that
    /// cannot be reached is left to the request, which reports it with its retries.
    private func checkServerName(_ tls: TLSConfiguration) async throws {
        guard !connection.insecureSkipTLSVerify, let url = URLComponents(string: connection.server), url.scheme == "https",
              let host = url.host, !host.isEmpty else { return }
        do {
            try await ServerNameCheck.verify(host: host, port: url.port ?? 443, name: connection.tlsServerName ?? host, tls: tls,
                                             timeout: options.connectTimeout.timeAmount)
        } catch let e as ServerNameCheck.Mismatch {
            throw KubeError.tls(site, message: "cluster \"\(connection.clusterName)\": \(e.message)"
                                + (connection.tlsServerName != nil ? " (tls-server-name)" : ""))
        } catch {
            if let message = Transport.tlsFailure(error) { throw KubeError.tls(site, message: "cluster \"\(connection.clusterName)\": \(message)") }
        }
    }

    func shutdown() async {
        guard !isShutDown else { return }
        isShutDown = true
        await closeConnections()
    }
}

extension Duration {
    /// The same span as NIO's `TimeAmount`.
    var timeAmount: TimeAmount {
        .nanoseconds(components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
    }
}
