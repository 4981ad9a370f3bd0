import Foundation
import Hummingbird
import HummingbirdTLS
import NIOCore
import NIOSSL
import HTTPTypes
import Synchronization
import KubeModel

/// The request context: Hummingbird's, plus the connection, so a fault can drop it.
struct SimRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel
    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// A parsed request: path segments, query, headers that matter, body.
struct SimRequest {
    var method: String
    var path: String
    var segments: [String]
    var query: [String: String]
    var contentType: String
    var accept: String
    var body: Data

    func flag(_ k: String) -> Bool { ["true", "1"].contains(query[k] ?? "") }
    var dryRun: Bool { query["dryRun"] == "All" }
}

/// One answer, before it becomes an HTTP response.
enum SimResponse {
    case json(Int, JSON)
    case stream(ResponseBody)
    case error(APIError)
    /// An answer with `Warning` headers (RFC 7234 code 299, as kube-apiserver sends them).
    indirect case warned(SimResponse, [String])
    /// An answer whose Content-Type is not plain `application/json` (aggregated discovery says its form in it).
    indirect case typed(SimResponse, contentType: String)
}

/// Turns HTTP requests into store operations, applying auth and injected faults first.
final class Server: Sendable {
    let store: Store
    let identity: SimIdentity
    private let faults: Mutex<FaultSettings>
    private let boundPort = Mutex(0)
    /// Requests answered, by negotiated protocol ("HTTP/1.1", "HTTP/2.0") and client (the User-Agent's product).
    private let protocols = Mutex<[String: [String: Int]]>([:])
    /// Calls admission webhooks at their URL (with `FaultSettings.callWebhooks`).
    let webhooks = WebhookCaller()

    init(store: Store, identity: SimIdentity, faults: FaultSettings) {
        self.store = store; self.identity = identity; self.faults = Mutex(faults)
    }

    var currentFaults: FaultSettings {
        get { faults.withLock { $0 } }
        set { faults.withLock { $0 = newValue } }
    }

    /// The port the listener is bound to (set once it is), which discovery reports as the server address.
    var port: Int {
        get { boundPort.withLock { $0 } }
        set { boundPort.withLock { $0 = newValue } }
    }

    var requestsByProtocol: [String: [String: Int]] { protocols.withLock { $0 } }

    /// How many connections (TLS sessions) requests have come over: KubeSim's own instrumentation, as `requestsByVerb`.
    /// Over HTTP/2 a connection carries many requests, each on its stream, as kube-apiserver serves them (Go's
    /// net/http2 behind k8s.io/apiserver's secure serving), so a client that keeps its connection is counted once.
    /// The channels open now are remembered until they close, so a channel identifier reused later counts again.
    private let connections = Mutex<(open: Set<ObjectIdentifier>, opened: Int)>(([], 0))
    var connectionsOpened: Int { connections.withLock { $0.opened } }

    func noteConnection(_ tls: any Channel) {
        let id = ObjectIdentifier(tls)
        let isNew = connections.withLock { c in
            let inserted = c.open.insert(id).inserted
            if inserted { c.opened += 1 }
            return inserted
        }
        if isNew { tls.closeFuture.whenComplete { [self] _ in _ = connections.withLock { $0.open.remove(id) } } }
    }

    /// Requests answered, by what they asked: `discovery`, or the method with LIST, WATCH or a subresource told apart
    /// (`GET` is one object, `LIST` a collection), so a benchmark can say which requests a client spends.
    private let verbs = Mutex<[String: Int]>([:])
    var requestsByVerb: [String: Int] { verbs.withLock { $0 } }
    /// Discovery requests answered, by path, with ` (aggregated v2)` when the aggregated form was served.
    private let discoveryPaths = Mutex<[String: Int]>([:])
    var discoveryRequests: [String: Int] { discoveryPaths.withLock { $0 } }

    func count(verb: String) { verbs.withLock { $0[verb, default: 0] += 1 } }

    /// The HTTP version a request came over, and the channel holding its TLS session. HTTP/1.1 requests arrive on
    /// the TLS connection itself; HTTP/2 requests (ALPN "h2") on a stream channel whose parent is that connection.
    static func transport(of channel: any Channel) async -> (version: String, tls: any Channel) {
        if (try? await channel.pipeline.containsHandler(type: NIOSSLHandler.self).get()) != nil { return ("HTTP/1.1", channel) }
        if let parent = channel.parent { return ("HTTP/2.0", parent) }
        return ("HTTP/1.1", channel)
    }

    func record(version: String, userAgent: String?) {
        let client = userAgent.map { String($0.prefix { $0 != "/" && $0 != " " }) } ?? ""
        protocols.withLock { $0[version, default: [:]][client.isEmpty ? "-" : client, default: 0] += 1 }
    }

    func respond(_ request: Request, _ context: SimRequestContext) async throws -> Response {
        var request = request
        let f = currentFaults
        if f.latencyMs > 0 || f.jitterMs > 0 {
            let ms = f.latencyMs + (f.jitterMs > 0 ? Int.random(in: 0...f.jitterMs) : 0)
            try await Task.sleep(for: .milliseconds(ms))
        }
        let (version, tlsChannel) = await Self.transport(of: context.channel)
        record(version: version, userAgent: request.headers[.userAgent])
        noteConnection(tlsChannel)
        let body = try await request.collectBody(upTo: 64 << 20)
        let req = SimRequest(
            method: request.method.rawValue, path: request.uri.path,
            segments: request.uri.path.split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) },
            query: Self.parseQuery(request.uri.query),
            contentType: request.headers[.contentType] ?? "application/json",
            accept: request.headers[.accept] ?? "application/json",
            body: Data(buffer: body))
        let auth = request.headers[.authorization] ?? ""
        let token = auth.hasPrefix("Bearer ") ? String(auth.dropFirst(7)) : ""
        if req.path == "/admin/faults" { return render(adminFaults(req, token: token)) }
        if req.path == "/admin/protocols" {
            guard token == identity.adminEndpointToken else { return render(.error(.unauthorized)) }
            return render(.json(200, .object(requestsByProtocol.mapValues { .object($0.mapValues { .int($0) }) })))
        }
        if req.path == "/admin/requests" {
            guard token == identity.adminEndpointToken else { return render(.error(.unauthorized)) }
            return render(.json(200, ["byVerb": .object(requestsByVerb.mapValues(JSON.int)),
                                      "discovery": .object(discoveryRequests.mapValues(JSON.int)),
                                      "connectionsOpened": .int(connectionsOpened)]))
        }
        if req.path == "/admin/compact" {
            guard token == identity.adminEndpointToken else { return render(.error(.unauthorized)) }
            guard req.method == "POST" else { return render(.error(.methodNotAllowed(req.method))) }
            store.withLock { st in st.compact() }
            return render(.json(200, ["compactedRevision": .int(store.withLock { st in st.compactedRevision })]))
        }
        if ["/healthz", "/readyz", "/livez"].contains(req.path) {
            var h = HTTPFields(); h[.contentType] = "text/plain"
            return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(string: "ok")))
        }
        // No token: a client certificate, already verified against the CA in the handshake, authenticates.
        let certificate = token.isEmpty ? (try? await tlsChannel.nioSSL_peerCertificate().get()) ?? nil : nil
        guard let user = user(for: token) ?? certificate.flatMap(SimUser.init(certificate:)) else { return render(.error(.unauthorized)) }
        if req.path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" { return render(selfSubjectAccessReview(req, user: user)) }
        if let answer = discovery(req) { return render(answer) }
        if f.dropRate > 0, Double.random(in: 0..<1) < f.dropRate {
            context.channel.close(mode: .all, promise: nil)
            throw APIError.injected(500, retryAfter: 0)
        }
        if f.errorRate > 0, Double.random(in: 0..<1) < f.errorRate, let code = f.errorCodes.randomElement() {
            return render(.error(.injected(code, retryAfter: f.retryAfterSeconds)))
        }
        return render(await resource(req, faults: f, user: user))
    }

    /// Who the token is: the admin, a service account whose token the token controller or TokenRequest issued,
    /// or nobody (401).
    func user(for token: String) -> SimUser? {
        if token.isEmpty { return nil }
        if token == identity.adminToken { return .admin }
        return store.withLock { st in st.tokens[token] }.map(SimUser.init(recorded:))
    }

    static func parseQuery(_ q: String?) -> [String: String] {
        var out: [String: String] = [:]
        for part in (q ?? "").split(separator: "&") {
            let kv = part.split(separator: "=", maxSplits: 1)
            let k = String(kv[0]).removingPercentEncoding ?? String(kv[0])
            let raw = kv.count > 1 ? String(kv[1]).replacingOccurrences(of: "+", with: " ") : ""
            out[k] = raw.removingPercentEncoding ?? raw
        }
        return out
    }

    func render(_ r: SimResponse) -> Response {
        var h = HTTPFields()
        h[.contentType] = "application/json"
        switch r {
        case .json(let code, let v):
            return Response(status: .init(code: code), headers: h, body: .init(byteBuffer: ByteBuffer(bytes: canonicalBytes(v))))
        case .stream(let body):
            return Response(status: .ok, headers: h, body: body)
        case .error(let e):
            if let ra = e.retryAfter { h[HTTPField.Name("Retry-After")!] = String(ra) }
            return Response(status: .init(code: e.code), headers: h, body: .init(byteBuffer: ByteBuffer(bytes: canonicalBytes(e.status))))
        case .typed(let inner, let contentType):
            var r = render(inner)
            r.headers[.contentType] = contentType
            return r
        case .warned(let inner, let warnings):
            var r = render(inner)
            for w in warnings {
                let quoted = w.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                r.headers.append(HTTPField(name: HTTPField.Name("Warning")!, value: "299 - \"\(quoted)\""))
            }
            return r
        }
    }

    func adminFaults(_ req: SimRequest, token: String) -> SimResponse {
        guard token == identity.adminEndpointToken else { return .error(.unauthorized) }
        switch req.method {
        case "GET": break
        case "PUT", "POST":
            do { currentFaults = try JSONDecoder().decode(FaultSettings.self, from: req.body) }
            catch { return .error(.badRequest("invalid fault settings: \(error)")) }
        case "DELETE": currentFaults = FaultSettings()
        default: return .error(.methodNotAllowed(req.method))
        }
        let data = (try? JSONEncoder().encode(currentFaults)) ?? Data("{}".utf8)
        return .json(200, (try? JSON(data: data)) ?? [:])
    }

    func discovery(_ req: SimRequest) -> SimResponse? {
        let s = req.segments
        let isDiscovery = s.isEmpty || (s[0] == "api" && s.count <= 2) || (s[0] == "apis" && s.count <= 3)
            || ["version", "openapi", "swagger.json"].contains(s[0])
        if !isDiscovery { return nil }
        if req.method != "GET" { return .error(.methodNotAllowed(req.method)) }
        count(verb: "discovery")
        // `/api` and `/apis` answer in the aggregated form when the client asks for it, else in the legacy one.
        let aggregated = s.count == 1 && (s[0] == "api" || s[0] == "apis") && !currentFaults.legacyDiscovery
            ? Discovery.aggregatedVersion(accept: req.accept) : nil
        discoveryPaths.withLock { $0[req.path + (aggregated.map { " (aggregated \($0))" } ?? ""), default: 0] += 1 }
        if let aggregated {
            let list = store.withLock { st in Discovery.aggregated(st.catalog, core: s[0] == "api", version: aggregated) }
            return .typed(.json(200, list), contentType: Discovery.aggregatedContentType(aggregated))
        }
        switch s.count {
        case 1 where s[0] == "version": return .json(200, Discovery.version())
        case 1 where s[0] == "api": return .json(200, Discovery.coreVersions(port: port))
        case 1 where s[0] == "apis": return .json(200, store.withLock { st in Discovery.groupList(st.catalog) })
        case 2 where s[0] == "api":
            return store.withLock { st in Discovery.resourceList(st.catalog, group: "", version: s[1]) }.map { .json(200, $0) } ?? .error(.pathNotFound(req.path))
        case 2 where s[0] == "apis":
            return store.withLock { st in st.catalog.groups.first { $0.name == s[1] } }.map { .json(200, Discovery.group($0.name, $0.versions)) } ?? .error(.pathNotFound(req.path))
        case 3 where s[0] == "apis":
            return store.withLock { st in Discovery.resourceList(st.catalog, group: s[1], version: s[2]) }.map { .json(200, $0) } ?? .error(.pathNotFound(req.path))
        case 2 where s[0] == "openapi" && s[1] == "v3": return .json(200, Discovery.openAPIv3Index())
        case 4 where s[0] == "openapi" && s[1] == "v3" && s[2] == "api":
            return Discovery.openAPIv3(group: "", version: s[3]).map { .json(200, $0) } ?? .error(.pathNotFound(req.path))
        case 5 where s[0] == "openapi" && s[1] == "v3" && s[2] == "apis":
            return Discovery.openAPIv3(group: s[3], version: s[4]).map { .json(200, $0) } ?? .error(.pathNotFound(req.path))
        case 0: return .json(200, ["paths": ["/api", "/api/v1", "/apis", "/openapi/v3", "/version"]])
        default:
            if s.first == "openapi" || s.first == "swagger.json" || s.first == "swaggerapi" { return .error(.pathNotFound(req.path)) }
            return nil
        }
    }
}
