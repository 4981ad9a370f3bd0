import Foundation
import KubeModel

extension KubeError {
    /// The typed error for a non-success answer, read from its `Status` body when there is one.
    ///
    /// Field-manager conflicts from server-side apply come back as 409 with causes like
    /// `{"type": "FieldManagerConflict", "message": "conflict with \"kubectl\" using apps/v1", "field": ".spec.replicas"}`;
    /// the managers and fields are lifted out so the caller can say who owns what.
    public static func from(_ response: APIResponse, site: ErrorSite) -> KubeError {
        let status = response.json ?? .null
        let isStatus = status.kind == "Status"
        let reason = isStatus ? status["reason"]?.string : nil
        var message = isStatus ? (status["message"]?.string ?? "") : ""
        if message.isEmpty {
            message = String(decoding: response.body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if message.isEmpty { message = "HTTP \(response.status)" }
        let causes: [StatusCause] = (status[path: ["details", "causes"]]?.array ?? []).map {
            StatusCause(reason: $0["reason"]?.string ?? $0["type"]?.string, message: $0["message"]?.string ?? "", field: $0["field"]?.string)
        }
        switch (response.status, reason) {
        case (404, _), (_, "NotFound"): return .notFound(site, message: message)
        case (409, "AlreadyExists"): return .alreadyExists(site, message: message)
        case (409, _):
            var managers: [String] = []
            for text in causes.map(\.message) + [message] {
                for m in Self.quotedManagers(in: text) where !managers.contains(m) { managers.append(m) }
            }
            let fields = causes.compactMap(\.field)
            return .conflict(site, managers: managers, fields: fields, message: message)
        case (422, _), (_, "Invalid"): return .invalid(site, causes: causes, message: message)
        case (401, _): return .unauthorized(site, message: message)
        case (403, _): return .forbidden(site, message: message)
        case (504, _), (_, "Timeout"): return .timeout(site, waitingFor: "the server (\(message))")
        default:
            return .server(site, code: response.status, reason: reason, message: message, attempts: response.attempts)
        }
    }

    /// Manager names in text such as `conflict with "kubectl-client-side-apply" using v1`.
    static func quotedManagers(in text: String) -> [String] {
        var out: [String] = []
        var rest = Substring(text)
        while let r = rest.range(of: "conflict with \"") ?? rest.range(of: "conflicts with \"") {
            rest = rest[r.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { break }
            out.append(String(rest[..<end]))
            rest = rest[rest.index(after: end)...]
        }
        return out
    }
}
