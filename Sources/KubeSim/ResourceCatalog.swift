import Foundation
import KubeModel

/// One kind the server serves: its REST resource name, scope, and whether it has a status subresource.
struct ResourceType: Sendable, Hashable {
    var group: String
    var versions: [String]          // served versions, preferred first
    var resource: String            // plural, as in the URL
    var singular: String
    var kind: String
    var namespaced: Bool
    var shortNames: [String] = []
    var categories: [String] = []
    var hasStatus: Bool = false

    var listKind: String { kind + "List" }
    /// Where objects of this kind are stored, whatever version they are read in.
    var storageKey: String { group.isEmpty ? resource : "\(resource).\(group)" }
    /// `deployments.apps`, as error messages name a resource.
    var qualifiedName: String { storageKey }
    func apiVersion(_ version: String) -> String { group.isEmpty ? version : "\(group)/\(version)" }
}

/// Built-in kinds and the kinds CRDs add. Not thread-safe: the store guards it with its lock.
struct ResourceCatalog {
    private(set) var all: [ResourceType] = []
    private var byResource: [String: ResourceType] = [:]   // "group/version/resource"
    private var byKind: [String: ResourceType] = [:]       // "group/Kind"

    init() { for t in Self.builtIns { add(t) } }

    mutating func add(_ t: ResourceType) {
        remove(group: t.group, resource: t.resource)
        all.append(t)
        for v in t.versions { byResource["\(t.group)/\(v)/\(t.resource)"] = t }
        byKind["\(t.group)/\(t.kind)"] = t
    }

    mutating func remove(group: String, resource: String) {
        guard let i = all.firstIndex(where: { $0.group == group && $0.resource == resource }) else { return }
        let t = all.remove(at: i)
        for v in t.versions { byResource["\(t.group)/\(v)/\(t.resource)"] = nil }
        byKind["\(t.group)/\(t.kind)"] = nil
    }

    func lookup(group: String, version: String, resource: String) -> ResourceType? {
        byResource["\(group)/\(version)/\(resource)"]
    }
    func lookup(group: String, kind: String) -> ResourceType? { byKind["\(group)/\(kind)"] }

    /// Groups with their versions (preferred first), in a stable order: built-in groups first.
    var groups: [(name: String, versions: [String])] {
        var order: [String] = []
        var versions: [String: [String]] = [:]
        for t in all where !t.group.isEmpty {
            if versions[t.group] == nil { order.append(t.group); versions[t.group] = [] }
            for v in t.versions where !versions[t.group]!.contains(v) { versions[t.group]!.append(v) }
        }
        return order.map { ($0, versions[$0]!) }
    }

    func resources(group: String, version: String) -> [ResourceType] {
        all.filter { $0.group == group && $0.versions.contains(version) }
    }

    static let builtIns: [ResourceType] = [
        ResourceType(group: "", versions: ["v1"], resource: "namespaces", singular: "namespace", kind: "Namespace", namespaced: false, shortNames: ["ns"], hasStatus: true),
        ResourceType(group: "", versions: ["v1"], resource: "configmaps", singular: "configmap", kind: "ConfigMap", namespaced: true, shortNames: ["cm"]),
        ResourceType(group: "", versions: ["v1"], resource: "secrets", singular: "secret", kind: "Secret", namespaced: true),
        ResourceType(group: "", versions: ["v1"], resource: "serviceaccounts", singular: "serviceaccount", kind: "ServiceAccount", namespaced: true, shortNames: ["sa"]),
        ResourceType(group: "", versions: ["v1"], resource: "services", singular: "service", kind: "Service", namespaced: true, shortNames: ["svc"], categories: ["all"], hasStatus: true),
        ResourceType(group: "", versions: ["v1"], resource: "pods", singular: "pod", kind: "Pod", namespaced: true, shortNames: ["po"], categories: ["all"], hasStatus: true),
        ResourceType(group: "", versions: ["v1"], resource: "endpoints", singular: "endpoints", kind: "Endpoints", namespaced: true, shortNames: ["ep"]),
        ResourceType(group: "", versions: ["v1"], resource: "events", singular: "event", kind: "Event", namespaced: true, shortNames: ["ev"]),
        // Istio's istiod chart writes one for a remote's `istiod` Service when remotePilotAddress is an IP.
        ResourceType(group: "discovery.k8s.io", versions: ["v1"], resource: "endpointslices", singular: "endpointslice", kind: "EndpointSlice", namespaced: true),
        ResourceType(group: "apps", versions: ["v1"], resource: "deployments", singular: "deployment", kind: "Deployment", namespaced: true, shortNames: ["deploy"], categories: ["all"], hasStatus: true),
        ResourceType(group: "apps", versions: ["v1"], resource: "replicasets", singular: "replicaset", kind: "ReplicaSet", namespaced: true, shortNames: ["rs"], categories: ["all"], hasStatus: true),
        ResourceType(group: "apps", versions: ["v1"], resource: "statefulsets", singular: "statefulset", kind: "StatefulSet", namespaced: true, shortNames: ["sts"], categories: ["all"], hasStatus: true),
        ResourceType(group: "apps", versions: ["v1"], resource: "daemonsets", singular: "daemonset", kind: "DaemonSet", namespaced: true, shortNames: ["ds"], categories: ["all"], hasStatus: true),
        ResourceType(group: "autoscaling", versions: ["v2"], resource: "horizontalpodautoscalers", singular: "horizontalpodautoscaler", kind: "HorizontalPodAutoscaler", namespaced: true, shortNames: ["hpa"], categories: ["all"], hasStatus: true),
        ResourceType(group: "policy", versions: ["v1"], resource: "poddisruptionbudgets", singular: "poddisruptionbudget", kind: "PodDisruptionBudget", namespaced: true, shortNames: ["pdb"], hasStatus: true),
        ResourceType(group: "rbac.authorization.k8s.io", versions: ["v1"], resource: "roles", singular: "role", kind: "Role", namespaced: true),
        ResourceType(group: "rbac.authorization.k8s.io", versions: ["v1"], resource: "rolebindings", singular: "rolebinding", kind: "RoleBinding", namespaced: true),
        ResourceType(group: "rbac.authorization.k8s.io", versions: ["v1"], resource: "clusterroles", singular: "clusterrole", kind: "ClusterRole", namespaced: false),
        ResourceType(group: "rbac.authorization.k8s.io", versions: ["v1"], resource: "clusterrolebindings", singular: "clusterrolebinding", kind: "ClusterRoleBinding", namespaced: false),
        ResourceType(group: "admissionregistration.k8s.io", versions: ["v1"], resource: "mutatingwebhookconfigurations", singular: "mutatingwebhookconfiguration", kind: "MutatingWebhookConfiguration", namespaced: false),
        ResourceType(group: "admissionregistration.k8s.io", versions: ["v1"], resource: "validatingwebhookconfigurations", singular: "validatingwebhookconfiguration", kind: "ValidatingWebhookConfiguration", namespaced: false),
        ResourceType(group: "apiextensions.k8s.io", versions: ["v1"], resource: "customresourcedefinitions", singular: "customresourcedefinition", kind: "CustomResourceDefinition", namespaced: false, shortNames: ["crd", "crds"], hasStatus: true),
    ]

    /// The kind a CRD serves, or nil if the CRD is not well-formed.
    static func fromCRD(_ crd: JSON) -> ResourceType? {
        guard let spec = crd["spec"], let group = spec["group"]?.string,
              let plural = spec[path: ["names", "plural"]]?.string, let kind = spec[path: ["names", "kind"]]?.string
        else { return nil }
        let versionObjects = (spec["versions"]?.array ?? []).filter { $0["served"]?.bool ?? true }
        var versions = versionObjects.compactMap { $0["name"]?.string }
        if let storage = versionObjects.first(where: { $0["storage"]?.bool == true })?["name"]?.string,
           let i = versions.firstIndex(of: storage) { versions.remove(at: i); versions.insert(storage, at: 0) }
        guard !versions.isEmpty else { return nil }
        let hasStatus = versionObjects.contains { $0[path: ["subresources", "status"]] != nil }
        return ResourceType(
            group: group, versions: versions, resource: plural,
            singular: spec[path: ["names", "singular"]]?.string ?? kind.lowercased(), kind: kind,
            namespaced: (spec["scope"]?.string ?? "Namespaced") == "Namespaced",
            shortNames: (spec[path: ["names", "shortNames"]]?.array ?? []).compactMap(\.string),
            categories: (spec[path: ["names", "categories"]]?.array ?? []).compactMap(\.string),
            hasStatus: hasStatus)
    }
}
