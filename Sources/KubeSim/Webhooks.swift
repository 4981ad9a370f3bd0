import AsyncHTTPClient
import Foundation
import KubeModel
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// What an admission webhook is told about one request (k8s.io/apiserver pkg/admission Attributes).
struct AdmissionAttributes: Sendable {
    /// CREATE, UPDATE or DELETE.
    var operation: String
    var type: ResourceType
    var version: String
    var subresource: String
    /// The object's namespace; for a Namespace object, its own name (as kube-apiserver sets it).
    var namespace: String
    var name: String
    var object: JSON?
    var oldObject: JSON?
    var user: SimUser
    var dryRun: Bool
    var options: JSON
}

/// One webhook of a Mutating- or ValidatingWebhookConfiguration, as stored (defaults already applied).
struct AdmissionWebhook: Sendable {
    var configuration: String
    var mutating: Bool
    var spec: JSON
    var name: String { spec["name"]?.string ?? "" }
    var ignoresFailures: Bool { spec["failurePolicy"]?.string == "Ignore" }
    var timeoutSeconds: Int { spec["timeoutSeconds"]?.int ?? 10 }

    /// Whether the request is one this webhook asks for: its rules, namespaceSelector and objectSelector, as
    /// k8s.io/apiserver pkg/admission/plugin/webhook/predicates (rules/rules.go, namespace/matcher.go,
    /// object/matcher.go) decide. `namespaceLabels` are the labels of the request's namespace (nil: none).
    /// Not modelled: matchConditions (CEL) and matchPolicy Equivalent's other versions of a kind.
    func matches(_ a: AdmissionAttributes, namespaceLabels: [String: String]?) -> Bool {
        let rules = spec["rules"]?.array ?? []
        guard rules.contains(where: { Self.rule($0, matches: a) }) else { return false }
        // namespace/matcher.go: a cluster-scoped object other than a Namespace is never exempted.
        if !(a.namespace.isEmpty && a.type.resource != "namespaces"), let selector = spec["namespaceSelector"],
           !Self.selectorIsEmpty(selector), !Self.selector(selector, matches: namespaceLabels ?? [:]) {
            return false
        }
        // object/matcher.go: the new or the old object may match.
        if let selector = spec["objectSelector"], !Self.selectorIsEmpty(selector) {
            let labels = [a.object, a.oldObject].compactMap { $0?.labels }
            if !labels.contains(where: { Self.selector(selector, matches: $0) }) { return false }
        }
        return true
    }

    static func rule(_ r: JSON, matches a: AdmissionAttributes) -> Bool {
        func exactOrWildcard(_ key: String, _ value: String) -> Bool {
            (r[key]?.array ?? []).contains { $0.string == "*" || $0.string == value }
        }
        let isNamespace = a.type.group.isEmpty && a.type.resource == "namespaces"
        switch r["scope"]?.string ?? "*" {
        case "Namespaced": if isNamespace || a.namespace.isEmpty { return false }
        case "Cluster": if !(isNamespace || a.namespace.isEmpty) { return false }
        case "*": break
        default: return false
        }
        guard exactOrWildcard("operations", a.operation) || exactOrWildcard("operations", "*"),
              exactOrWildcard("apiGroups", a.type.group), exactOrWildcard("apiVersions", a.version) else { return false }
        return (r["resources"]?.array ?? []).contains { item in
            let parts = (item.string ?? "").split(separator: "/", maxSplits: 1).map(String.init)
            let res = parts.first ?? "", sub = parts.count > 1 ? parts[1] : ""
            return (res == "*" || res == a.type.resource) && (sub == "*" || sub == a.subresource)
        }
    }

    static func selectorIsEmpty(_ s: JSON) -> Bool {
        (s["matchLabels"]?.object ?? [:]).isEmpty && (s["matchExpressions"]?.array ?? []).isEmpty
    }

    /// A metav1.LabelSelector (matchLabels and matchExpressions) against a set of labels.
    static func selector(_ s: JSON, matches labels: [String: String]) -> Bool {
        for (k, v) in s["matchLabels"]?.object ?? [:] where labels[k] != v.string { return false }
        for e in s["matchExpressions"]?.array ?? [] {
            let key = e["key"]?.string ?? ""
            let values = Set((e["values"]?.array ?? []).compactMap(\.string))
            switch e["operator"]?.string ?? "" {
            case "In": if !(labels[key].map(values.contains) ?? false) { return false }
            case "NotIn": if labels[key].map(values.contains) ?? false { return false }
            case "Exists": if labels[key] == nil { return false }
            case "DoesNotExist": if labels[key] != nil { return false }
            default: return false
            }
        }
        return true
    }
}

/// Why a webhook refused a request or could not be asked.
enum WebhookOutcome: Sendable {
    /// Allowed; for a mutating webhook, the JSON Patch it returned (nil: no change), and its warnings.
    case allowed(patch: JSON?, warnings: [String])
    /// The webhook answered `allowed: false` (webhook/errors ToStatusErr).
    case rejected(APIError)
    /// The webhook could not be called or answered nonsense (util/webhook ErrCallingWebhook); failurePolicy decides.
    case callFailed(String)
}

/// Calls admission webhooks over HTTPS, as kube-apiserver does: `POST` an AdmissionReview v1 to
/// `clientConfig.url` (or the Service's DNS name) with `?timeout=Ns`, trusting `clientConfig.caBundle`, within
/// `timeoutSeconds`.
final class WebhookCaller: Sendable {
    /// Made at the first call, so a KubeSim that calls no webhook holds no client (one must be shut down);
    /// none is made once the KubeSim has stopped.
    private let made = Mutex<(client: HTTPClient?, stopped: Bool)>((nil, false))

    private var client: HTTPClient? {
        made.withLock { made in
            if made.stopped { return nil }
            if let client = made.client { return client }
            var config = HTTPClient.Configuration()
            // A refused connection is the webhook's failure at once (failurePolicy decides), not a retried dial.
            config.connectionPool.retryConnectionEstablishment = false
            config.redirectConfiguration = .disallow
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
            made.client = client
            return client
        }
    }

    func shutdown() async throws {
        let client = made.withLock { made in defer { made = (nil, true) }; return made.client }
        try await client?.shutdown()
    }

    /// Where kube-apiserver would send the review: the URL, or `https://NAME.NAMESPACE.svc:PORT/PATH` for a Service
    /// reference (which KubeSim cannot reach: there is nothing behind a Service here). `service` is the
    /// referenced Service as stored, if any.
    static func target(_ w: AdmissionWebhook, service: (JSON?) ) -> (url: String, unreachable: String?) {
        let timeout = "timeout=\(w.timeoutSeconds)s"
        if let url = w.spec[path: ["clientConfig", "url"]]?.string {
            return (url + (url.contains("?") ? "&" : "?") + timeout, nil)
        }
        let ref = w.spec[path: ["clientConfig", "service"]] ?? [:]
        let name = ref["name"]?.string ?? "", ns = ref["namespace"]?.string ?? ""
        let port = ref["port"]?.int ?? 443, path = ref["path"]?.string ?? ""
        let url = "https://\(name).\(ns).svc:\(port)\(path)?\(timeout)"
        guard let service else { return (url, "service \"\(name)\" not found") }
        // A Service with no ready endpoints: kube-proxy rejects connections to its cluster IP.
        let ip = service[path: ["spec", "clusterIP"]]?.string ?? ""
        return (url, "dial tcp \(ip):\(port): connect: connection refused")
    }

    func call(_ w: AdmissionWebhook, _ a: AdmissionAttributes, service: JSON?) async -> WebhookOutcome {
        let uid = UUID().uuidString.lowercased()
        let (url, unreachable) = Self.target(w, service: service)
        if let unreachable { return .callFailed("failed to call webhook: Post \"\(url)\": \(unreachable)") }
        var review: JSON = [
            "uid": .string(uid),
            "kind": ["group": .string(a.type.group), "version": .string(a.version), "kind": .string(a.type.kind)],
            "resource": ["group": .string(a.type.group), "version": .string(a.version), "resource": .string(a.type.resource)],
            "requestKind": ["group": .string(a.type.group), "version": .string(a.version), "kind": .string(a.type.kind)],
            "requestResource": ["group": .string(a.type.group), "version": .string(a.version), "resource": .string(a.type.resource)],
            "name": .string(a.name), "operation": .string(a.operation),
            "userInfo": ["username": .string(a.user.name), "groups": .array(a.user.groups.map { .string($0) })],
            "object": a.object ?? .null, "oldObject": a.oldObject ?? .null,
            "dryRun": .bool(a.dryRun), "options": a.options,
        ]
        if !a.subresource.isEmpty { review["subResource"] = .string(a.subresource); review["requestSubResource"] = .string(a.subresource) }
        if a.type.namespaced || a.type.resource == "namespaces" { review["namespace"] = .string(a.namespace) }
        let body: JSON = ["apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": review]

        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json, */*")
        request.body = .bytes(ByteBuffer(bytes: canonicalBytes(body)))
        var tls = TLSConfiguration.makeClientConfiguration()
        if let bundle = w.spec[path: ["clientConfig", "caBundle"]]?.string, !bundle.isEmpty {
            guard let pem = Data(base64Encoded: bundle), let roots = try? NIOSSLCertificate.fromPEMBytes(Array(pem)), !roots.isEmpty else {
                return .callFailed("failed to call webhook: Post \"\(url)\": tls: failed to verify certificate: x509: certificate signed by unknown authority")
            }
            tls.trustRoots = .certificates(roots)
        }
        request.tlsConfiguration = tls
        guard let client else { return .callFailed("failed to call webhook: the API server is shutting down") }
        let answer: JSON
        do {
            let response = try await client.execute(request, timeout: .seconds(Int64(w.timeoutSeconds)))
            let bytes = try await response.body.collect(upTo: 16 << 20)
            guard (200...299).contains(Int(response.status.code)) else {
                let text = String(buffer: bytes)
                return .callFailed("failed to call webhook: " + (text.isEmpty
                    ? "the server responded with the status code \(response.status.code) but did not return more information"
                    : "an error on the server (\"\(text)\") has prevented the request from succeeding"))
            }
            answer = try JSON.parse(Data(bytes.readableBytesView))
        } catch {
            return .callFailed("failed to call webhook: Post \"\(url)\": " + Self.describe(error, url: url))
        }
        // webhook/request VerifyAdmissionResponse.
        let invalid = "received invalid webhook response: "
        guard answer["apiVersion"]?.string == "admission.k8s.io/v1", answer["kind"]?.string == "AdmissionReview" else {
            return .callFailed(invalid + "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got \(answer["apiVersion"]?.string ?? ""), Kind=\(answer["kind"]?.string ?? "")")
        }
        guard let response = answer["response"], response.object != nil else { return .callFailed(invalid + "webhook response was absent") }
        guard response["uid"]?.string == uid else {
            return .callFailed(invalid + "expected response.uid=\"\(uid)\", got \"\(response["uid"]?.string ?? "")\"")
        }
        let warnings = (response["warnings"]?.array ?? []).compactMap(\.string)
        guard response["allowed"]?.bool == true else { return .rejected(Self.denial(w.name, response["status"])) }
        guard let patch = response["patch"]?.string, !patch.isEmpty else { return .allowed(patch: nil, warnings: warnings) }
        if !w.mutating { return .callFailed(invalid + "validating webhook may not return a patch") }
        guard response["patchType"]?.string == "JSONPatch" else {
            return .callFailed(invalid + "webhook returned response.patch but not response.patchType")
        }
        guard let data = Data(base64Encoded: patch), let ops = try? JSON.parse(data), ops.array != nil else {
            return .callFailed(invalid + "the patch is not a JSON Patch")
        }
        return .allowed(patch: ops, warnings: warnings)
    }

    /// A denial as the 1.28-1.32 API server reports it (webhook/errors/statuserror.go ToStatusErr): the webhook's
    /// status, at least 400, its message prefixed with who denied.
    static func denial(_ webhook: String, _ status: JSON?) -> APIError {
        let deniedBy = "admission webhook \"\(webhook)\" denied the request"
        let code = max(status?["code"]?.int ?? 0, 400)
        let message = status?["message"]?.string ?? "", reason = status?["reason"]?.string ?? ""
        let text = !message.isEmpty ? "\(deniedBy): \(message)" : !reason.isEmpty ? "\(deniedBy): \(reason)" : "\(deniedBy) without explanation"
        return APIError(code: code, reason: reason, message: text, details: status?["details"])
    }

    /// A call failure in the words of Go's HTTP client, which is what a real API server's message carries.
    static func describe(_ error: any Error, url: String) -> String {
        let text = String(describing: error)
        let host = URLComponents(string: url).map { "\($0.host ?? ""):\($0.port ?? 443)" } ?? ""
        if let e = error as? HTTPClientError, [.deadlineExceeded, .connectTimeout, .readTimeout].contains(e) {
            return "context deadline exceeded"
        }
        if text.contains("connection refused") || text.contains("ECONNREFUSED") || text.contains("errno: 111") {
            return "dial tcp \(host): connect: connection refused"
        }
        if error is NIOSSLError || text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("handshakeFailed") {
            return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
        }
        if text.contains("NXDOMAIN") || text.contains("unknownHost") || text.contains("Name or service not known") {
            return "dial tcp: lookup \(URLComponents(string: url)?.host ?? ""): no such host"
        }
        return text
    }
}
