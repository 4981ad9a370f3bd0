import Foundation
import KubeModel

/// Discovery documents, legacy (`APIVersions`, `APIGroupList`, one `APIResourceList` per group-version) and aggregated
/// (`APIGroupDiscoveryList` at `/api` and `/apis`, when the Accept header asks for it, as kube-apiserver 1.26+ does),
/// and the OpenAPI v3 index kubectl reads. kubectl 1.32 asks for the aggregated form first.
///
/// The OpenAPI v3 documents list, for every built-in kind, a PATCH operation with the `fieldValidation`
/// query parameter: that is what tells kubectl the server validates fields itself (`--validate=strict`),
/// so it needs no schemas. No schema is given for a kind, so kubectl's client-side apply computes its
/// strategic merge patches from its compiled-in types (the real patch strategies). CRD groups are left out of the index, and kubectl then checks the Namespace
/// kind, as the real kubectl does for CRDs.
enum Discovery {
    static let verbs: JSON = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

    static func version() -> JSON {
        ["major": "1", "minor": "32", "gitVersion": "v1.32.0-kubesim", "gitCommit": "0000000000000000000000000000000000000000",
         "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc",
         "platform": "linux/amd64"]
    }

    static func coreVersions(port: Int) -> JSON {
        ["kind": "APIVersions", "versions": ["v1"],
         "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": .string("127.0.0.1:\(port)")]]]
    }

    static func groupList(_ c: ResourceCatalog) -> JSON {
        ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(c.groups.map { group($0.name, $0.versions) })]
    }

    static func group(_ name: String, _ versions: [String]) -> JSON {
        let vs: [JSON] = versions.map { ["groupVersion": .string("\(name)/\($0)"), "version": .string($0)] }
        return ["kind": "APIGroup", "apiVersion": "v1", "name": .string(name), "versions": .array(vs), "preferredVersion": vs[0]]
    }

    static func resourceList(_ c: ResourceCatalog, group: String, version: String) -> JSON? {
        let types = c.resources(group: group, version: version)
        if types.isEmpty { return nil }
        var rs: [JSON] = []
        for t in types {
            var r: JSON = ["name": .string(t.resource), "singularName": .string(t.singular), "namespaced": .bool(t.namespaced),
                           "kind": .string(t.kind), "verbs": verbs, "storageVersionHash": .string(String(t.storageKey.hashValue & 0xffffff, radix: 16))]
            if !t.shortNames.isEmpty { r["shortNames"] = .array(t.shortNames.map(JSON.string)) }
            if !t.categories.isEmpty { r["categories"] = .array(t.categories.map(JSON.string)) }
            rs.append(r)
            if t.hasStatus {
                rs.append(["name": .string(t.resource + "/status"), "singularName": "", "namespaced": .bool(t.namespaced),
                           "kind": .string(t.kind), "verbs": ["get", "patch", "update"]])
            }
            if Server.scalable.contains(t.storageKey) {
                rs.append(["name": .string(t.resource + "/scale"), "singularName": "", "namespaced": true, "group": "autoscaling",
                           "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]])
            }
            if t.storageKey == "serviceaccounts" {
                rs.append(["name": "serviceaccounts/token", "singularName": "", "namespaced": true, "group": "authentication.k8s.io",
                           "version": "v1", "kind": "TokenRequest", "verbs": ["create"]])
            }
        }
        return ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(group.isEmpty ? version : "\(group)/\(version)"),
                "resources": .array(rs)]
    }

    // MARK: Aggregated discovery

    /// The aggregated discovery (`APIGroupDiscoveryList`) version the Accept header asks for at `/api` or `/apis`, or nil
    /// for the legacy documents. Aggregated discovery is beta in Kubernetes 1.26 (`apidiscovery.k8s.io/v2beta1`) and GA
    /// in 1.30 (`v2`); a client asks for it by media-type parameters, in order of preference, e.g. client-go's
    /// `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,...;v=v2beta1;...,application/json`
    /// (kubernetes/kubernetes staging/src/k8s.io/client-go/discovery/discovery_client.go, `AcceptV2`). The server takes
    /// the first range it can serve (apiserver pkg/endpoints/discovery/aggregated/wrapper.go and negotiation.go), so a
    /// plain `application/json` or `*/*` listed first means the legacy form, and one it does not know is skipped.
    static func aggregatedVersion(accept: String) -> String? {
        for range in MediaType.ranges(accept: accept) {
            if let v = range.aggregatedDiscoveryVersion { return v }
            let asks = ["g", "v", "as"].contains { range.parameters[$0] != nil }
            if !asks, ["application/json", "application/*", "*/*"].contains(range.type) { return nil }
        }
        return nil
    }

    /// The Content-Type of an aggregated answer: what tells the client which form it got (client-go's
    /// `ContentTypeIsGVK`); legacy answers say plain `application/json`.
    static func aggregatedContentType(_ version: String) -> String {
        "application/json;g=apidiscovery.k8s.io;v=\(version);as=APIGroupDiscoveryList"
    }

    /// `GET /api` (core: true) or `GET /apis` in the aggregated form: every group, its versions (preferred first) and,
    /// for each, every resource with its kind, scope, verbs and subresources, so one request replaces one per
    /// group-version. Shape: kubernetes/kubernetes staging/src/k8s.io/api/apidiscovery/v2/types.go. Built-in
    /// resources name their kind with an empty group and version (the apiserver converts its legacy lists as they are:
    /// endpoints/installer.go `ConvertGroupVersionIntoToDiscovery`); a CRD's names its group and version
    /// (apiextensions-apiserver pkg/apiserver/customresource_discovery_controller.go). Only established CRDs are in the
    /// catalog, so a new kind appears here once it is served.
    static func aggregated(_ c: ResourceCatalog, core: Bool, version: String) -> JSON {
        let groups: [(name: String, versions: [String])] = core ? [("", ["v1"])] : c.groups
        let items: [JSON] = groups.map { g in
            let versions: [JSON] = g.versions.map { v in
                ["version": .string(v), "resources": .array(c.resources(group: g.name, version: v).map { aggregatedResource($0, version: v) }),
                 "freshness": "Current"]
            }
            let metadata: JSON = g.name.isEmpty ? ["creationTimestamp": .null] : ["name": .string(g.name), "creationTimestamp": .null]
            return ["metadata": metadata, "versions": .array(versions)]
        }
        return ["kind": "APIGroupDiscoveryList", "apiVersion": .string("apidiscovery.k8s.io/\(version)"), "metadata": [:],
                "items": .array(items)]
    }

    static func aggregatedResource(_ t: ResourceType, version: String) -> JSON {
        let builtIn = ResourceCatalog.builtIns.contains { $0.storageKey == t.storageKey }
        let kind: JSON = ["group": .string(builtIn ? "" : t.group), "version": .string(builtIn ? "" : version), "kind": .string(t.kind)]
        var r: JSON = ["resource": .string(t.resource), "responseKind": kind, "scope": .string(t.namespaced ? "Namespaced" : "Cluster"),
                       "singularResource": .string(t.singular), "verbs": verbs]
        if !t.shortNames.isEmpty { r["shortNames"] = .array(t.shortNames.map(JSON.string)) }
        if !t.categories.isEmpty { r["categories"] = .array(t.categories.map(JSON.string)) }
        var subresources: [JSON] = []
        if t.hasStatus { subresources.append(["subresource": "status", "responseKind": kind, "verbs": ["get", "patch", "update"]]) }
        if Server.scalable.contains(t.storageKey) {
            subresources.append(["subresource": "scale", "responseKind": ["group": "autoscaling", "version": "v1", "kind": "Scale"],
                                 "verbs": ["get", "patch", "update"]])
        }
        if t.storageKey == "serviceaccounts" {
            subresources.append(["subresource": "token", "responseKind": ["group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"],
                                 "verbs": ["create"]])
        }
        if !subresources.isEmpty { r["subresources"] = .array(subresources) }
        return r
    }

    static func openAPIv3Index() -> JSON {
        var paths: [String: JSON] = [:]
        for gv in builtInGroupVersions() {
            let p = gv.group.isEmpty ? "api/\(gv.version)" : "apis/\(gv.group)/\(gv.version)"
            paths[p] = ["serverRelativeURL": .string("/openapi/v3/\(p)?hash=kubesim1")]
        }
        return ["paths": .object(paths)]
    }

    static func builtInGroupVersions() -> [GroupVersion] {
        var seen: [GroupVersion] = []
        for t in ResourceCatalog.builtIns { for v in t.versions {
            let gv = GroupVersion(group: t.group, version: v)
            if !seen.contains(gv) { seen.append(gv) }
        } }
        return seen
    }

    static func openAPIv3(group: String, version: String) -> JSON? {
        let types = ResourceCatalog.builtIns.filter { $0.group == group && $0.versions.contains(version) }
        if types.isEmpty { return nil }
        let prefix = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        var paths: [String: JSON] = [:]
        for t in types {
            let path = t.namespaced ? "\(prefix)/namespaces/{namespace}/\(t.resource)/{name}" : "\(prefix)/\(t.resource)/{name}"
            let gvk: JSON = ["group": .string(group), "version": .string(version), "kind": .string(t.kind)]
            let params: JSON = [["name": "fieldValidation", "in": "query", "schema": ["type": "string", "uniqueItems": true]],
                                ["name": "fieldManager", "in": "query", "schema": ["type": "string", "uniqueItems": true]],
                                ["name": "dryRun", "in": "query", "schema": ["type": "string", "uniqueItems": true]],
                                ["name": "force", "in": "query", "schema": ["type": "boolean", "uniqueItems": true]]]
            let op: JSON = ["operationId": .string("patch\(t.kind)"), "parameters": params, "x-kubernetes-action": "patch",
                            "x-kubernetes-group-version-kind": gvk,
                            "responses": ["200": ["description": "OK"]]]
            paths[path] = ["patch": op]
        }
        return ["openapi": "3.0.0", "info": ["title": "Kubernetes", "version": "v1.32.0"],
                "paths": .object(paths), "components": ["schemas": [:]]]
    }
}
