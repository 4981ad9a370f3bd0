import Foundation
import KubeModel
import NIOSSL
import X509

/// Who a bearer token is, as the API server's authenticators report it (kubernetes/kubernetes
/// pkg/serviceaccount/util.go names service accounts `system:serviceaccount:NS:NAME`, with the groups
/// `system:serviceaccounts` and `system:serviceaccounts:NS`; every authenticated user is in `system:authenticated`).
struct SimUser: Equatable {
    var name: String
    var groups: [String]

    /// The kubeconfig's admin user: `system:masters`, which RBAC allows everything.
    static let admin = SimUser(name: "kubernetes-admin", groups: ["system:masters", "system:authenticated"])

    init(name: String, groups: [String]) { self.name = name; self.groups = groups }

    /// A user as the token table records it (`system:serviceaccount:NS:NAME` for service-account tokens).
    init(recorded name: String) {
        self.name = name
        let parts = name.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 4, parts[0] == "system", parts[1] == "serviceaccount" {
            groups = ["system:serviceaccounts", "system:serviceaccounts:\(parts[2])", "system:authenticated"]
        } else {
            groups = ["system:authenticated"]
        }
    }

    /// A client certificate (already verified against the CA in the handshake) names its user as kube-apiserver's
    /// x509 authenticator reads it: the subject's CommonName is the user name and each Organization a group
    /// (k8s.io/apiserver/pkg/authentication/request/x509, CommonNameUserConversion). No CommonName, no user.
    init?(certificate: NIOSSLCertificate) {
        guard let der = try? certificate.toDERBytes(), let c = try? Certificate(derEncoded: der) else { return nil }
        var name: String?
        var groups: [String] = []
        for rdn in c.subject {
            for a in rdn {
                if a.type == .RDNAttributeType.commonName { name = String(a.value) }
                else if a.type == .RDNAttributeType.organizationName, let g = String(a.value) { groups.append(g) }
            }
        }
        guard let name, !name.isEmpty else { return nil }
        self.init(name: name, groups: groups + ["system:authenticated"])
    }
}

/// What a request wants to do, as SelfSubjectAccessReview's `spec.resourceAttributes` says it.
struct AccessAttributes {
    var verb: String
    var group: String
    var resource: String
    var subresource: String
    var namespace: String
    var name: String

    init(_ spec: JSON) {
        verb = spec["verb"]?.string ?? ""; group = spec["group"]?.string ?? ""
        resource = spec["resource"]?.string ?? ""; subresource = spec["subresource"]?.string ?? ""
        namespace = spec["namespace"]?.string ?? ""; name = spec["name"]?.string ?? ""
    }
}

/// Kubernetes' RBAC authorizer over the Roles, ClusterRoles and bindings stored in this KubeSim, as
/// kubernetes/kubernetes plugin/pkg/auth/authorizer/rbac/rbac.go and pkg/apis/rbac/v1/evaluation_helpers.go
/// evaluate them: a ClusterRoleBinding grants its role everywhere; a RoleBinding grants its Role or ClusterRole
/// in its own namespace only; a rule matches when verb, API group, resource (`*`, `resource/subresource`,
/// `*/subresource`) and resource name (empty list: any) all match. `system:masters` is allowed everything.
///
/// KubeSim enforces it on every resource request (403 Forbidden, with Kubernetes' message) and answers
/// SelfSubjectAccessReview with it. Discovery, OpenAPI and /version are open to every authenticated user, as the
/// default `system:discovery` ClusterRole allows.
enum RBAC {
    /// Call with the store's lock held. Returns whether allowed and, as Kubernetes does, the binding that allowed it.
    static func authorize(_ user: SimUser, _ a: AccessAttributes, store: StoreState) -> (allowed: Bool, reason: String) {
        if user.groups.contains("system:masters") { return (true, "") }
        func objects(_ kind: String, _ namespace: String?) -> [JSON] {
            guard let t = store.catalog.lookup(group: "rbac.authorization.k8s.io", kind: kind) else { return [] }
            return store.objects(t, namespace: namespace).map(\.2)
        }
        func role(_ ref: JSON?, namespace: String) -> JSON? {
            guard let kind = ref?["kind"]?.string, let name = ref?["name"]?.string else { return nil }
            return objects(kind, kind == "Role" ? namespace : nil).first { $0.name == name && (kind != "Role" || $0.namespace == namespace) }
        }
        var bindings: [(binding: JSON, namespace: String?)] = objects("ClusterRoleBinding", nil).map { ($0, nil) }
        if !a.namespace.isEmpty { bindings += objects("RoleBinding", a.namespace).map { ($0, a.namespace) } }
        for (b, ns) in bindings where (b["subjects"]?.array ?? []).contains(where: { subjectMatches($0, user, bindingNamespace: ns) }) {
            guard let r = role(b["roleRef"], namespace: ns ?? "") else { continue }
            if (r["rules"]?.array ?? []).contains(where: { ruleAllows($0, a) }) {
                let kind = ns == nil ? "ClusterRoleBinding" : "RoleBinding"
                let where_ = ns.map { " in namespace \"\($0)\"" } ?? ""
                return (true, "RBAC: allowed by \(kind) \"\(b.name ?? "")\" of \(b[path: ["roleRef", "kind"]]?.string ?? "") \"\(r.name ?? "")\" to \(subjectText(user))\(where_)")
            }
        }
        return (false, "")
    }

    static func subjectText(_ u: SimUser) -> String {
        let p = u.name.split(separator: ":")
        return p.count == 4 && u.name.hasPrefix("system:serviceaccount:") ? "ServiceAccount \"\(p[3])/\(p[2])\"" : "User \"\(u.name)\""
    }

    static func subjectMatches(_ s: JSON, _ u: SimUser, bindingNamespace: String?) -> Bool {
        let name = s["name"]?.string ?? ""
        switch s["kind"]?.string {
        case "ServiceAccount":
            // A RoleBinding's ServiceAccount subject without a namespace means the binding's own.
            let ns = s["namespace"]?.string ?? bindingNamespace ?? ""
            return u.name == "system:serviceaccount:\(ns):\(name)"
        case "User": return u.name == name
        case "Group": return u.groups.contains(name)
        default: return false
        }
    }

    static func ruleAllows(_ rule: JSON, _ a: AccessAttributes) -> Bool {
        func list(_ k: String) -> [String] { (rule[k]?.array ?? []).compactMap(\.string) }
        let verbs = list("verbs"), groups = list("apiGroups"), resources = list("resources"), names = list("resourceNames")
        guard verbs.contains("*") || verbs.contains(a.verb) else { return false }
        guard groups.contains("*") || groups.contains(a.group) else { return false }
        let combined = a.subresource.isEmpty ? a.resource : "\(a.resource)/\(a.subresource)"
        let resourceOK = resources.contains { r in
            r == "*" || r == combined || (!a.subresource.isEmpty && r == "*/\(a.subresource)")
        }
        guard resourceOK else { return false }
        return names.isEmpty || names.contains(a.name)
    }
}

extension AccessAttributes {
    /// What a resource request asks, as the API server's request-info resolver names it
    /// (kubernetes/kubernetes staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go).
    init(_ req: SimRequest, _ p: ResourcePath) {
        switch (req.method, p.name) {
        case ("GET", nil): verb = req.flag("watch") ? "watch" : "list"
        case ("GET", _): verb = req.flag("watch") ? "watch" : "get"
        case ("POST", _): verb = "create"
        case ("PUT", _): verb = "update"
        case ("PATCH", _): verb = "patch"
        case ("DELETE", nil): verb = "deletecollection"
        case ("DELETE", _): verb = "delete"
        default: verb = req.method.lowercased()
        }
        group = p.type.group; resource = p.type.resource; subresource = p.subresource ?? ""
        namespace = p.namespace ?? ""; name = p.name ?? ""
    }
}

extension Server {
    /// nil when `user` may make this request; otherwise the 403 Kubernetes answers.
    func authorize(_ req: SimRequest, _ p: ResourcePath, user: SimUser) -> APIError? {
        if user.groups.contains("system:masters") { return nil }
        let a = AccessAttributes(req, p)
        if store.withLock({ st in RBAC.authorize(user, a, store: st) }).allowed { return nil }
        let what = a.subresource.isEmpty ? a.resource : "\(a.resource)/\(a.subresource)"
        let scope = a.namespace.isEmpty ? "at the cluster scope" : "in the namespace \"\(a.namespace)\""
        let object = a.name.isEmpty ? "\(what) is forbidden" : "\(what) \"\(a.name)\" is forbidden"
        return APIError(code: 403, reason: "Forbidden",
                        message: "\(object): User \"\(user.name)\" cannot \(a.verb) resource \"\(what)\" in API group \"\(a.group)\" \(scope)")
    }

    /// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: the spec's resource attributes judged for
    /// the caller by `RBAC`; the answer is the review with `status` filled (201, as Kubernetes answers).
    func selfSubjectAccessReview(_ req: SimRequest, user: SimUser) -> SimResponse {
        guard req.method == "POST" else { return .error(.methodNotAllowed(req.method)) }
        var review: JSON
        do { review = try parseBody(req) } catch let e as APIError { return .error(e) } catch { return .error(.badRequest("\(error)")) }
        guard review.kind == "SelfSubjectAccessReview" else {
            return .error(.badRequest("the body must be a SelfSubjectAccessReview, not \(review.kind ?? "an object without kind")"))
        }
        guard let attributes = review[path: ["spec", "resourceAttributes"]] else {
            // Non-resource URLs (/healthz, /version...): every authenticated user may GET them in KubeSim, as the
            // default system:discovery and system:public-info-viewer ClusterRoles allow.
            guard let path = review[path: ["spec", "nonResourceAttributes", "path"]]?.string else {
                return .error(APIError(code: 422, reason: "Invalid", message: "SelfSubjectAccessReview is invalid: spec.resourceAttributes: Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified"))
            }
            let get = review[path: ["spec", "nonResourceAttributes", "verb"]]?.string == "get"
            review["status"] = ["allowed": .bool(get), "reason": .string(get ? "KubeSim: \(path) is public" : "")]
            return .json(201, review)
        }
        let decision = store.withLock { st in RBAC.authorize(user, AccessAttributes(attributes), store: st) }
        let (allowed, reason) = (decision.allowed, decision.reason)
        var status: JSON = ["allowed": .bool(allowed)]
        if !reason.isEmpty { status["reason"] = .string(reason) }
        review["status"] = status
        return .json(201, review)
    }
}
