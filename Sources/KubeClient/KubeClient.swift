import Foundation
import KubeModel
import Logging
import NIOHTTP1

/// A well-behaved Kubernetes API client for one cluster: discovery, get, list, create, server-side apply,
/// delete, TokenRequest and waits, with typed errors, retries, and a client-side rate limit.
///
/// It knows nothing of Istio or Meshform: every object is `JSON`, and a kind is found through discovery, so a
/// custom resource created a moment ago works like a Deployment.
///
/// Topics: `resource(for:)` and `listKinds()` (discovery); `get`, `list`, `create`, `apply`, `delete`,
/// `requestToken` (objects); `wait(for:...)` (see WaitCondition.swift); `request(...)` (anything else).
/// Call `shutdown()` when done: it closes the connection pool.
///
/// Requests run concurrently: the operations are `nonisolated` (encoding, sending and decoding happen off the
/// actor); the actor only coordinates shared discovery reads.
public actor KubeClient {
    public nonisolated let connection: ClusterConnection
    public nonisolated let options: ClientOptions
    let transport: Transport
    let discovery = DiscoveryCache()

    public init(connection: ClusterConnection, options: ClientOptions = .init(),
                logger: Logger = Logger(label: "meshform.kubeclient")) {
        self.connection = connection
        self.options = options
        self.transport = Transport(connection: connection, options: options, logger: logger)
    }

    /// The context name, used in every error.
    public nonisolated var contextName: String { connection.contextName }

    nonisolated func site(_ operation: String, _ object: String? = nil) -> ErrorSite {
        ErrorSite(context: connection.contextName, object: object, operation: operation)
    }

    static func describe(_ gvk: GroupVersionKind, _ namespace: String?, _ name: String?) -> String {
        var s = gvk.description
        if let name { s += " " + (namespace.map { "\($0)/" } ?? "") + name }
        else if let namespace { s += " in namespace \(namespace)" }
        return s
    }

    // MARK: Raw requests

    /// Sends any request (with auth, rate limit and retries) and returns the answer whatever its status.
    /// `path` starts with `/`; `query` values are percent-encoded here.
    public nonisolated func request(method: HTTPMethod, path: String, query: [(String, String)] = [], body: Data? = nil,
                        contentType: String? = nil) async throws -> APIResponse {
        try await transport.send(method: method, path: path, query: query, body: body, contentType: contentType,
                                 site: site("\(method) \(path)"))
    }

    /// Sends a request and returns its JSON body, throwing the typed error for a non-success status.
    /// `sharing`: parse the answer sharing equal parts with earlier ones (`JSONInterner`).
    /// `bodyText`: `body` already rendered (`canonicalText`), sent as is. `leavingOut`: parts of the answer left
    /// unbuilt (`JSON.parse(_:leavingOut:)`).
    nonisolated func call(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: JSON? = nil, bodyText: String? = nil,
              contentType: String = "application/json", site: ErrorSite, sharing: JSONInterner? = nil,
              leavingOut: JSON.ObjectParts = []) async throws -> JSON {
        let response = try await transport.send(method: method, path: path, query: query,
                                                body: body.map { Data((bodyText ?? $0.canonicalText).utf8) },
                                                contentType: body == nil ? nil : contentType, site: site)
        guard response.isSuccess else { throw KubeError.from(response, site: site) }
        return response.body.isEmpty ? .null : (try? JSON.parse(response.body, sharing: sharing, leavingOut: leavingOut)) ?? .null
    }

    // MARK: Discovery

    /// The resource serving `gvk`. Cached; when the kind is missing from the cache, discovery is read again (a CRD
    /// may have just been established) before `KubeError.unknownKind` is thrown. Read from aggregated discovery: one
    /// request at `/api` for core kinds, one at `/apis` for all others; from a server that answers those in the
    /// legacy form, one request per group-version. Concurrent callers share a read in flight.
    public nonisolated func resource(for gvk: GroupVersionKind) async throws -> APIResource {
        if let r = discovery.cached(gvk) { return r }   // no hop onto the actor: every request asks
        let start = await readsStarted
        if let r = discovery.cached(gvk) { return r }
        let gv = GroupVersion(group: gvk.group, version: gvk.version)
        if try await read(gv, startedAfter: -1) <= start {
            // The read shared began before this call: the kind may have been served since (a CRD just established).
            if discovery.cached(gvk) == nil { _ = try await read(gv, startedAfter: start) }
        }
        if let r = discovery.cached(gvk) { return r }
        throw KubeError.unknownKind(site("discovery"), kind: gvk.description)
    }

    /// Reads discovery for `gv` into the cache, joining a read in flight that started after read number `after`;
    /// returns the number of the read used. Aggregated first; one group-version's list from a server that answers in
    /// the legacy form, or when an aggregated answer marks the group-version stale (its aggregated API server could not
    /// be reached): reading it directly then says why.
    private nonisolated func read(_ gv: GroupVersion, startedAfter after: Int) async throws -> Int {
        if await discovery.aggregated != false {
            let (aggregated, number) = try await readAggregated(DiscoveryRoot(group: gv.group), startedAfter: after)
            if aggregated, !(await discovery.isStale(gv)) { return number }
        }
        return try await readGroupVersion(gv, startedAfter: after).number
    }

    /// One discovery read: `/api` or `/apis` in the aggregated form, or one group-version's resource list.
    private enum DiscoveryRead: Hashable { case aggregated(DiscoveryRoot), groupVersion(GroupVersion) }
    /// Reads in flight, numbered in the order they started, so concurrent callers share one request.
    private var reads: [DiscoveryRead: (number: Int, task: Task<Bool, Error>)] = [:]
    private var readsStarted = 0

    /// Runs `read`, or joins the same read in flight if it started after read number `after`. Returns its result and
    /// its number.
    private func shared(_ key: DiscoveryRead, startedAfter after: Int,
                        _ read: @escaping @Sendable () async throws -> Bool) async throws -> (Bool, number: Int) {
        if let running = reads[key], running.number > after { return (try await running.task.value, running.number) }
        readsStarted += 1
        let number = readsStarted
        let task = Task(operation: read)
        reads[key] = (number, task)
        defer { if reads[key]?.number == number { reads[key] = nil } }
        return (try await task.value, number)
    }

    /// Reads `root` asking for the aggregated form and caches every group-version in it. False when the server
    /// answered in the legacy form (an older server): group-versions are then read one by one.
    private func readAggregated(_ root: DiscoveryRoot, startedAfter after: Int) async throws -> (Bool, number: Int) {
        let transport = self.transport, discovery = self.discovery, site = self.site("discovery", root.path)
        return try await shared(.aggregated(root), startedAfter: after) {
            let response = try await transport.send(method: .GET, path: root.path, accept: AggregatedDiscovery.accept, site: site)
            // 404: a server that does not serve the root (client-go tolerates it at /api); read group-versions instead.
            guard response.isSuccess || response.status == 404 else { throw KubeError.from(response, site: site) }
            let aggregated = response.isSuccess && AggregatedDiscovery.isAggregated(contentType: response.header("Content-Type"))
            await discovery.answered(aggregated: aggregated)
            if aggregated { await discovery.store(root, AggregatedDiscovery(response.json ?? .null)) }
            return aggregated
        }
    }

    /// Reads one group-version's resource list (the legacy form) and caches it. False if it is not served (404).
    private func readGroupVersion(_ gv: GroupVersion, startedAfter after: Int) async throws -> (Bool, number: Int) {
        let path = gv.group.isEmpty ? "/api/\(gv.version)" : "/apis/\(gv.group)/\(gv.version)"
        let transport = self.transport, discovery = self.discovery, site = self.site("discovery", gv.description)
        return try await shared(.groupVersion(gv), startedAfter: after) {
            let response = try await transport.send(method: .GET, path: path, site: site)
            guard response.isSuccess || response.status == 404 else { throw KubeError.from(response, site: site) }
            await discovery.store(gv, response.isSuccess ? DiscoveryCache.parse(response.json ?? .null, groupVersion: gv) : [])
            return response.isSuccess
        }
    }

    /// Every kind the server serves at each group's preferred version (plus core v1), read fresh.
    public nonisolated func listKinds() async throws -> [APIResource] {
        let start = await readsStarted
        var groupVersions = [GroupVersion(group: "", version: "v1")]
        if await discovery.aggregated != false,
           try await readAggregated(.core, startedAfter: start).0, try await readAggregated(.groups, startedAfter: start).0 {
            groupVersions += await discovery.preferredGroupVersions().filter { !$0.group.isEmpty }
        } else {
            let groups = try await call(.GET, "/apis", site: site("discovery"))
            for g in groups["groups"]?.array ?? [] {
                guard let name = g["name"]?.string else { continue }
                if let v = g[path: ["preferredVersion", "version"]]?.string ?? g["versions"]?[0]?["version"]?.string {
                    groupVersions.append(GroupVersion(group: name, version: v))
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for gv in groupVersions { group.addTask { _ = try await self.readGroupVersion(gv, startedAfter: start) } }
                for try await _ in group {}
            }
        }
        let wanted = Set(groupVersions)
        return await discovery.all().filter { wanted.contains(GroupVersion(group: $0.group, version: $0.version)) }
            .sorted { ($0.group, $0.kind) < ($1.group, $1.kind) }
    }

    /// Forgets discovery (e.g. after many CRDs were removed).
    public nonisolated func invalidateDiscovery() async { await discovery.forget() }

    // MARK: Objects

    nonisolated func gvk(of object: JSON, _ operation: String) throws -> GroupVersionKind {
        guard let apiVersion = object.apiVersion, let kind = object.kind else {
            throw KubeError.invalid(site(operation, object.name), causes: [], message: "the object has no apiVersion or kind")
        }
        return GroupVersionKind(apiVersion: apiVersion, kind: kind)
    }

    /// The namespace a request goes to: the given one, else the context's default, for namespaced kinds only.
    nonisolated func namespace(for resource: APIResource, _ given: String?) -> String? {
        resource.namespaced ? (given ?? connection.namespace) : nil
    }

    /// The object, or nil when it does not exist. A nil namespace means the context's default namespace.
    /// `leavingOut`: parts left unbuilt, for a reader that does not look at them (`JSON.parse(_:leavingOut:)`).
    public nonisolated func get(_ gvk: GroupVersionKind, namespace: String?, name: String,
                                leavingOut: JSON.ObjectParts = []) async throws -> JSON? {
        let r = try await resource(for: gvk)
        let ns = self.namespace(for: r, namespace)
        do {
            return try await call(.GET, r.path(namespace: ns, name: name), site: site("get", Self.describe(gvk, ns, name)),
                                  leavingOut: leavingOut)
        } catch KubeError.notFound { return nil }
    }

    /// Every object of a kind, following `continue` tokens through all pages. A nil namespace lists across all
    /// namespaces. Items carry `apiVersion` and `kind` (the server omits them inside lists).
    /// `sharing`: parts equal to ones already read through the same interner are shared, not copied (`JSONInterner`).
    public nonisolated func list(_ gvk: GroupVersionKind, namespace: String?, labelSelector: String? = nil,
                                 sharing: JSONInterner? = nil) async throws -> [JSON] {
        let r = try await resource(for: gvk)
        let ns = r.namespaced ? namespace : nil
        let where_ = site("list", Self.describe(gvk, ns, nil))
        var items: [JSON] = []
        var token: String?
        let apiVersion = JSON.string(gvk.apiVersion), kind = JSON.string(gvk.kind)
        repeat {
            var query = [("limit", String(options.pageSize))]
            if let labelSelector { query.append(("labelSelector", labelSelector)) }
            if let token { query.append(("continue", token)) }
            var page = try await call(.GET, r.path(namespace: ns), query: query, site: where_, sharing: sharing)
            token = page[path: ["metadata", "continue"]]?.string
            if token?.isEmpty == true { token = nil }
            var pageItems = page["items"]?.array ?? []
            page = .null  // the items' only holder now: filling in apiVersion and kind changes them in place
            items.reserveCapacity(items.count + pageItems.count)
            for k in pageItems.indices {
                if pageItems[k].apiVersion == nil { pageItems[k]["apiVersion"] = apiVersion }
                if pageItems[k].kind == nil { pageItems[k]["kind"] = kind }
            }
            items += pageItems
        } while token != nil
        return items
    }

    /// Creates the object (POST). `dryRun` asks the server to validate and default without storing.
    public nonisolated func create(_ object: JSON, dryRun: Bool = false, fieldValidation: FieldValidation = .strict) async throws -> JSON {
        let gvk = try gvk(of: object, "create")
        let r = try await resource(for: gvk)
        let ns = namespace(for: r, object.namespace)
        let query = [("fieldValidation", fieldValidation.rawValue)] + (dryRun ? [("dryRun", "All")] : [])
        return try await call(.POST, r.path(namespace: ns), query: query, body: object,
                              site: site("create", Self.describe(gvk, ns, object.name)))
    }

    /// Server-side apply under `fieldManager`: the server merges the fields this manager sets and reports
    /// fields owned by other managers as `KubeError.conflict` unless `force` takes them over.
    /// Applying the same object twice changes nothing (same resourceVersion). `fieldValidation` (default Strict): a
    /// field the server does not know is an error rather than silently dropped, which would be a diff forever.
    /// `text`: `object.canonicalText`, when the caller has rendered it already (apply journals the same text).
    /// `leavingOut`: parts of the answer left unbuilt (`JSON.parse(_:leavingOut:)`).
    public nonisolated func apply(_ object: JSON, text: String? = nil, fieldManager: String, force: Bool = false, dryRun: Bool = false,
                                  fieldValidation: FieldValidation = .strict, leavingOut: JSON.ObjectParts = []) async throws -> JSON {
        let gvk = try gvk(of: object, "apply")
        guard let name = object.name else {
            throw KubeError.invalid(site("apply", gvk.description), causes: [StatusCause(reason: "FieldValueRequired", message: "name is required", field: "metadata.name")],
                                    message: "metadata.name is required for server-side apply")
        }
        let r = try await resource(for: gvk)
        let ns = namespace(for: r, object.namespace)
        var query = [("fieldManager", fieldManager), ("fieldValidation", fieldValidation.rawValue)]
        if force { query.append(("force", "true")) }
        if dryRun { query.append(("dryRun", "All")) }
        // JSON is YAML, so the apply-patch+yaml content type takes the encoded object as is.
        return try await call(.PATCH, r.path(namespace: ns, name: name), query: query, body: object, bodyText: text,
                              contentType: "application/apply-patch+yaml", site: site("apply", Self.describe(gvk, ns, name)),
                              leavingOut: leavingOut)
    }

    /// Deletes the object with the given propagation policy (`Background`, `Foreground`, `Orphan`, or nil for
    /// the server's default). Returns false if it was already gone. With `waitUntilGone`, returns only once a
    /// GET answers 404 (finalizers done, a namespace's content removed), telling `progress` what still holds it, or
    /// throws `KubeError.timeout` saying so.
    @discardableResult
    public nonisolated func delete(_ gvk: GroupVersionKind, namespace: String?, name: String, propagation: String? = "Background",
                       waitUntilGone: Duration? = nil, progress: (@Sendable (String) -> Void)? = nil) async throws -> Bool {
        let r = try await resource(for: gvk)
        let ns = self.namespace(for: r, namespace)
        var body: JSON = ["apiVersion": "v1", "kind": "DeleteOptions"]
        if let propagation { body["propagationPolicy"] = .string(propagation) }
        do {
            _ = try await call(.DELETE, r.path(namespace: ns, name: name), body: body, site: site("delete", Self.describe(gvk, ns, name)))
        } catch KubeError.notFound { return false }
        if let waitUntilGone {
            _ = try await wait(for: .gone, gvk: gvk, namespace: ns, name: name, timeout: waitUntilGone, progress: progress)
        }
        return true
    }

    /// A bound service-account token (TokenRequest API), e.g. for a remote secret.
    public nonisolated func requestToken(namespace: String, serviceAccount: String, audiences: [String] = [],
                             expirationSeconds: Int? = nil) async throws -> String {
        var spec: JSON = ["audiences": .array(audiences.map(JSON.string))]
        if let expirationSeconds { spec["expirationSeconds"] = .int(expirationSeconds) }
        let body: JSON = ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec]
        let path = "/api/v1/namespaces/\(APIResource.segment(namespace))/serviceaccounts/\(APIResource.segment(serviceAccount))/token"
        let answer = try await call(.POST, path, body: body,
                                    site: site("request token", "ServiceAccount \(namespace)/\(serviceAccount)"))
        guard let token = answer[path: ["status", "token"]]?.string, !token.isEmpty else {
            throw KubeError.server(site("request token", "ServiceAccount \(namespace)/\(serviceAccount)"), code: 200, reason: nil,
                                   message: "the TokenRequest answer has no status.token", attempts: 1)
        }
        return token
    }

    /// How many times the exec credential plugin has run (0 for other credentials).
    public nonisolated func execPluginRuns() async -> Int { await transport.state.execRuns() }

    /// Closes the connections to the cluster once the requests in flight on them are answered; the next request
    /// opens new ones. For a cluster read once and then not for a while: an open connection keeps the buffer of its
    /// last large read, so a fleet-wide plan that kept every cluster's connection grew with the fleet (#17).
    public func closeConnections() async { await transport.state.closeConnections() }

    /// Requests on the open connections not yet answered (tests).
    nonisolated var requestsInFlight: Int { transport.state.requestsInFlight }

    /// Closes the connection pool. The client must not be used afterwards.
    public func shutdown() async throws { await transport.shutdown() }
}

/// `?fieldValidation=` on writes (kube-apiserver 1.25+, GA in 1.27): what the server does with a field its schema does not
/// declare, or a duplicate field. Strict: the request fails (400) naming them; Warn: they are dropped with a `Warning`
/// header each (`ServerWarnings`); Ignore: dropped silently. Servers older than 1.25 ignore the parameter.
public enum FieldValidation: String, Sendable {
    case strict = "Strict", warn = "Warn", ignore = "Ignore"
}

extension KubeClient: CustomStringConvertible {
    /// Context, server and kind of credential; never the credential itself.
    public nonisolated var description: String { "KubeClient(\(connection))" }
}
