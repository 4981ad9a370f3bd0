import Foundation
import Testing
import KubeModel
@testable import KubeSim

/// SelfSubjectAccessReview judged by Kubernetes' RBAC rules over the stored Roles and bindings: what
/// `meshform verify` asks with a remote secret's token, and what `kubectl auth can-i` asks.
struct AccessReviewTests {
    static func review(_ verb: String, _ resource: String, group: String = "", namespace: String? = nil) -> JSON {
        var a: JSON = ["verb": .string(verb), "group": .string(group), "resource": .string(resource)]
        if let namespace { a["namespace"] = .string(namespace) }
        return ["apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": ["resourceAttributes": a]]
    }

    func allowed(_ t: TestSim, _ token: String?, _ verb: String, _ resource: String, group: String = "", namespace: String? = nil) async throws -> Bool? {
        let r = try await t.http("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                                 body: Self.review(verb, resource, group: group, namespace: namespace), token: token)
        #expect(r.code == 201, "\(r.body)")
        return r.body[path: ["status", "allowed"]]?.bool
    }

    /// A service account and its legacy token, filled by the token controller.
    func serviceAccountToken(_ t: TestSim, namespace: String, name: String) async throws -> String {
        _ = try await t.http("POST", "/api/v1/namespaces/\(namespace)/serviceaccounts", body: ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": .string(name)]])
        let r = try await t.http("POST", "/api/v1/namespaces/\(namespace)/serviceaccounts/\(name)/token",
                                 body: ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest"])
        return try #require(r.body[path: ["status", "token"]]?.string)
    }

    @Test func rbacDecidesForServiceAccountsAndAdminMayDoAnything() async throws {
        try await TestSim.with("ssar") { t in
            _ = try await t.http("POST", "/api/v1/namespaces", body: ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "mesh"]])
            let token = try await serviceAccountToken(t, namespace: "mesh", name: "reader")

            // The admin (system:masters) may; the bare service account may not, anywhere.
            #expect(try await allowed(t, "", "list", "pods") == true)
            #expect(try await allowed(t, token, "list", "pods") == false)

            // A ClusterRole bound cluster-wide: list pods and services everywhere, nothing else.
            _ = try await t.http("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", body: [
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": ["name": "reader"],
                "rules": [["apiGroups": [""], "resources": ["pods", "services"], "verbs": ["get", "list", "watch"]],
                          ["apiGroups": ["discovery.k8s.io"], "resources": ["*"], "verbs": ["list"]]]])
            _ = try await t.http("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", body: [
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": ["name": "reader"],
                "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader"],
                "subjects": [["kind": "ServiceAccount", "name": "reader", "namespace": "mesh"]]])
            #expect(try await allowed(t, token, "list", "pods") == true)
            #expect(try await allowed(t, token, "list", "services", namespace: "default") == true)
            #expect(try await allowed(t, token, "list", "endpointslices", group: "discovery.k8s.io") == true)
            #expect(try await allowed(t, token, "delete", "pods") == false)
            #expect(try await allowed(t, token, "list", "secrets") == false)
            #expect(try await allowed(t, token, "list", "pods", group: "apps") == false)
            // Requests are judged the same way.
            #expect(try await t.http("GET", "/api/v1/pods", token: token).code == 200)
            #expect(try await t.http("GET", "/api/v1/namespaces/default/services", token: token).code == 200)
            let forbidden = try await t.http("GET", "/api/v1/namespaces/default/secrets", token: token)
            #expect(forbidden.code == 403 && forbidden.body["reason"] == "Forbidden")
            #expect(forbidden.body["message"]?.string?.contains("cannot list resource \"secrets\" in API group \"\" in the namespace \"default\"") == true)
            #expect(try await t.http("DELETE", "/api/v1/namespaces/default/pods/any", token: token).code == 403)

            // A RoleBinding grants only in its namespace.
            _ = try await t.http("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/mesh/roles", body: [
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": ["name": "secrets"],
                "rules": [["apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]]]])
            _ = try await t.http("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/mesh/rolebindings", body: [
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": ["name": "secrets"],
                "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secrets"],
                "subjects": [["kind": "Group", "name": "system:serviceaccounts:mesh"]]])
            #expect(try await allowed(t, token, "list", "secrets", namespace: "mesh") == true)
            #expect(try await allowed(t, token, "list", "secrets", namespace: "default") == false)
            #expect(try await allowed(t, token, "list", "secrets") == false)

            // Unknown tokens are not anybody: 401, no review.
            #expect(try await t.http("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                                     body: Self.review("list", "pods"), token: "wrong-token").code == 401)
            // A body that is not a review is refused.
            #expect(try await t.http("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                                     body: ["apiVersion": "v1", "kind": "ConfigMap"]).code == 400)
        }
    }

    @Test(.enabled(if: TestSim.kubectlPath != nil, "kubectl is not installed"))
    func kubectlAuthCanIAsksTheReview() async throws {
        try await TestSim.with("ssar-kubectl") { t in
            _ = try await t.kubectl("create", "namespace", "mesh")
            _ = try await t.kubectl("create", "serviceaccount", "robot", "-n", "mesh")
            let token = try await t.kubectl("create", "token", "robot", "-n", "mesh").out.trimmingCharacters(in: .whitespacesAndNewlines)
            let before = try await t.kubectl("--token", token, "auth", "can-i", "list", "pods", "--all-namespaces")
            #expect(before.out.trimmingCharacters(in: .whitespacesAndNewlines) == "no", "\(before)")
            // (kubectl's typed `create clusterrole` sends protobuf KubeSim does not read: the role goes in as JSON.)
            #expect(try await t.http("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", body: [
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": ["name": "robot-view"],
                "rules": [["apiGroups": [""], "resources": ["pods"], "verbs": ["list"]]]]).code == 201)
            #expect(try await t.http("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", body: [
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": ["name": "robot-view"],
                "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "robot-view"],
                "subjects": [["kind": "ServiceAccount", "name": "robot", "namespace": "mesh"]]]).code == 201)
            let after = try await t.kubectl("--token", token, "auth", "can-i", "list", "pods", "--all-namespaces")
            #expect(after.out.trimmingCharacters(in: .whitespacesAndNewlines) == "yes", "\(after)")
            #expect(try await t.kubectl("auth", "can-i", "delete", "nodes").out.hasPrefix("yes"))
        }
    }
}
