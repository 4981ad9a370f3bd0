import Foundation
import KubeModel

/// An API error as the real server reports it: an HTTP code and a `Status` object with a reason.
struct APIError: Error, Sendable {
    var code: Int
    var reason: String
    var message: String
    var details: JSON? = nil
    var retryAfter: Int? = nil

    var status: JSON {
        var s: JSON = ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                       "message": .string(message), "reason": .string(reason), "code": .int(code)]
        if let details { s["details"] = details }
        return s
    }

    static func notFound(_ t: ResourceType, _ name: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "\(t.qualifiedName) \"\(name)\" not found",
                 details: ["name": .string(name), "group": .string(t.group), "kind": .string(t.resource)])
    }
    static func namespaceNotFound(_ ns: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "namespaces \"\(ns)\" not found",
                 details: ["name": .string(ns), "kind": "namespaces"])
    }
    static func pathNotFound(_ path: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource",
                 details: ["causes": [["reason": "UnexpectedServerResponse", "message": "404 page not found"]]])
    }
    static func alreadyExists(_ t: ResourceType, _ name: String) -> APIError {
        APIError(code: 409, reason: "AlreadyExists", message: "\(t.qualifiedName) \"\(name)\" already exists",
                 details: ["name": .string(name), "group": .string(t.group), "kind": .string(t.resource)])
    }
    static func staleConflict(_ t: ResourceType, _ name: String) -> APIError {
        APIError(code: 409, reason: "Conflict",
                 message: "Operation cannot be fulfilled on \(t.qualifiedName) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
                 details: ["name": .string(name), "group": .string(t.group), "kind": .string(t.resource)])
    }
    static func invalid(_ t: ResourceType, _ name: String, _ causes: [(field: String, message: String)]) -> APIError {
        // field.ErrorList.ToAggregate (apimachinery util/errors): one message alone, several deduplicated in brackets.
        var seen = Set<String>()
        let messages = causes.map { "\($0.field): \($0.message)" }.filter { seen.insert($0).inserted }
        let text = messages.count == 1 ? messages[0] : "[" + messages.joined(separator: ", ") + "]"
        return APIError(code: 422, reason: "Invalid", message: "\(t.kind).\(t.group.isEmpty ? "" : t.group) \"\(name)\" is invalid: \(text)",
                        details: ["name": .string(name), "group": .string(t.group), "kind": .string(t.kind),
                                  "causes": .array(causes.map { ["reason": "FieldValueInvalid", "message": .string($0.message), "field": .string($0.field)] })])
    }
    static func badRequest(_ message: String) -> APIError { APIError(code: 400, reason: "BadRequest", message: message) }
    static let unauthorized = APIError(code: 401, reason: "Unauthorized", message: "Unauthorized")
    static func methodNotAllowed(_ method: String) -> APIError {
        APIError(code: 405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource")
    }
    static func unsupportedMediaType(_ type: String) -> APIError {
        APIError(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json")
    }
    static func injected(_ code: Int, retryAfter: Int) -> APIError {
        switch code {
        case 429: return APIError(code: 429, reason: "TooManyRequests", message: "injected fault: too many requests, please try again later",
                                  details: ["retryAfterSeconds": .int(retryAfter)], retryAfter: retryAfter)
        case 503: return APIError(code: 503, reason: "ServiceUnavailable", message: "injected fault: the server is currently unable to handle the request",
                                  details: ["retryAfterSeconds": .int(retryAfter)], retryAfter: retryAfter)
        default: return APIError(code: code, reason: "InternalError", message: "Internal error occurred: injected fault")
        }
    }
}

/// KubeModel's canonical JSON text and bytes, as free functions for the server's call sites.
@inline(__always) func canonicalText(_ v: JSON) -> String { v.canonicalText }
@inline(__always) func canonicalBytes(_ v: JSON) -> [UInt8] { v.canonicalBytes }
