import Foundation

/// Where a Kubernetes API error happened: which cluster (kubeconfig context) and which object, so that a
/// person reading the message knows what to look at. Never holds a credential.
public struct ErrorSite: Sendable, Hashable, CustomStringConvertible {
    /// The kubeconfig context (or cluster) name the request went to.
    public var context: String
    /// The object or collection, e.g. `apps/v1 Deployment istio-system/istiod`, when known.
    public var object: String?
    /// The operation, e.g. `apply`, `get`, `list`, `delete`, `discovery`.
    public var operation: String?

    public init(context: String, object: String? = nil, operation: String? = nil) {
        self.context = context; self.object = object; self.operation = operation
    }

    public var description: String {
        var s = "context \"\(context)\""
        if let operation { s = "\(operation) in " + s }
        if let object { s += ", \(object)" }
        return s
    }
}

/// One reason the API server gave for rejecting an object (`Status.details.causes`).
public struct StatusCause: Sendable, Hashable, CustomStringConvertible {
    public var reason: String?
    public var message: String
    public var field: String?
    public init(reason: String?, message: String, field: String?) { self.reason = reason; self.message = message; self.field = field }
    public var description: String { field.map { "\($0): \(message)" } ?? message }
}

/// Every failure the client reports, typed so that callers can act on the kind of failure
/// (a missing object, a conflicting field manager, a timeout) rather than parse text.
///
/// Guaranteed: no case carries a bearer token, client key, password or exec-plugin output; messages are
/// built from kubeconfig names, file paths, object names and API server `Status` messages only.
public enum KubeError: Error, CustomStringConvertible, Sendable {
    /// The kubeconfig could not be read or does not describe what was asked for (missing context, bad file).
    case kubeconfig(file: String?, context: String?, message: String)
    /// An exec credential plugin (e.g. `aws eks get-token`, `gke-gcloud-auth-plugin`, `kubelogin`) failed.
    case execPlugin(context: String, file: String?, command: String, message: String)
    /// The kind is not served by the cluster (not in discovery, even after a refresh).
    case unknownKind(ErrorSite, kind: String)
    case notFound(ErrorSite, message: String)
    case alreadyExists(ErrorSite, message: String)
    /// Server-side apply found fields owned by other managers (or an update raced a resourceVersion).
    case conflict(ErrorSite, managers: [String], fields: [String], message: String)
    case invalid(ErrorSite, causes: [StatusCause], message: String)
    case unauthorized(ErrorSite, message: String)
    case forbidden(ErrorSite, message: String)
    /// A wait (or a server-side timeout) ran out; `waitingFor` says what was still missing.
    case timeout(ErrorSite, waitingFor: String)
    /// The certificate presented by the server did not verify against the cluster's CA (or another TLS failure).
    case tls(ErrorSite, message: String)
    /// The connection failed or dropped, after `attempts` tries.
    case transport(ErrorSite, message: String, attempts: Int)
    /// Any other non-success answer (5xx after the retry budget, 429 still throttled, unexpected 4xx).
    case server(ErrorSite, code: Int, reason: String?, message: String, attempts: Int)

    /// Where the error happened (nil for kubeconfig and plugin errors, which name their context directly).
    public var site: ErrorSite? {
        switch self {
        case .kubeconfig, .execPlugin: return nil
        case .unknownKind(let s, _), .notFound(let s, _), .alreadyExists(let s, _), .conflict(let s, _, _, _),
             .invalid(let s, _, _), .unauthorized(let s, _), .forbidden(let s, _), .timeout(let s, _), .tls(let s, _),
             .transport(let s, _, _), .server(let s, _, _, _, _):
            return s
        }
    }

    /// HTTP status code for API answers, nil for local failures.
    public var statusCode: Int? {
        switch self {
        case .notFound: return 404
        case .alreadyExists, .conflict: return 409
        case .invalid: return 422
        case .unauthorized: return 401
        case .forbidden: return 403
        case .server(_, let code, _, _, _): return code
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .kubeconfig(let file, let context, let message):
            var s = "kubeconfig"
            if let file { s += " \(file)" }
            if let context { s += " (context \"\(context)\")" }
            return s + ": " + message
        case .execPlugin(let context, let file, let command, let message):
            return "exec credential plugin \"\(command)\" for context \"\(context)\"\(file.map { " (kubeconfig \($0))" } ?? ""): \(message)"
        case .unknownKind(let site, let kind):
            return "\(site): the server does not serve \(kind) (not in API discovery; is its CRD installed?)"
        case .notFound(let site, let message): return "not found (\(site)): \(message)"
        case .alreadyExists(let site, let message): return "already exists (\(site)): \(message)"
        case .conflict(let site, let managers, let fields, let message):
            var s = "conflict (\(site))"
            if !fields.isEmpty { s += ": field(s) \(fields.joined(separator: ", "))" }
            if !managers.isEmpty { s += " owned by manager(s) \(managers.map { "\"\($0)\"" }.joined(separator: ", "))" }
            return s + " — \(message)"
        case .invalid(let site, let causes, let message):
            if causes.isEmpty { return "invalid (\(site)): \(message)" }
            return "invalid (\(site)): " + causes.map(\.description).joined(separator: "; ")
        case .unauthorized(let site, let message):
            return "unauthorized (\(site)): the credentials were refused — \(message)"
        case .forbidden(let site, let message): return "forbidden (\(site)): \(message)"
        case .timeout(let site, let waitingFor): return "timed out (\(site)): still waiting for \(waitingFor)"
        case .tls(let site, let message): return "TLS failure (\(site)): \(message)"
        case .transport(let site, let message, let attempts):
            return "connection failure (\(site)) after \(attempts) attempt(s): \(message)"
        case .server(let site, let code, let reason, let message, let attempts):
            return "HTTP \(code)\(reason.map { " \($0)" } ?? "") (\(site))\(attempts > 1 ? " after \(attempts) attempts" : ""): \(message)"
        }
    }
}
