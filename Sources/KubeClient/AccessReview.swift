import Foundation
import KubeModel

/// The answer of a SelfSubjectAccessReview (authorization.k8s.io/v1): may the client's own credentials do this?
public struct AccessDecision: Sendable, Equatable {
    public var allowed: Bool
    /// The authorizer's reason (RBAC names the binding that allowed it); may be empty.
    public var reason: String
}

extension KubeClient {
    /// `kubectl auth can-i VERB RESOURCE [-n NAMESPACE]`: asks the API server whether these credentials may do it
    /// (`POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`; kubernetes/api authorization/v1/types.go).
    /// `namespace` nil means all namespaces. Credentials the server rejects throw `KubeError.unauthorized`.
    public nonisolated func accessReview(verb: String, group: String, resource: String, namespace: String? = nil) async throws -> AccessDecision {
        var attributes: JSON = ["verb": .string(verb), "group": .string(group), "resource": .string(resource)]
        if let namespace { attributes["namespace"] = .string(namespace) }
        let review: JSON = ["apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                            "spec": ["resourceAttributes": attributes]]
        let what = "\(verb) \(group.isEmpty ? "" : group + "/")\(resource)" + (namespace.map { " in namespace \($0)" } ?? "")
        let answer = try await call(.POST, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body: review,
                                    site: site("access review", what))
        return AccessDecision(allowed: answer[path: ["status", "allowed"]]?.bool ?? false,
                              reason: answer[path: ["status", "reason"]]?.string ?? "")
    }
}
