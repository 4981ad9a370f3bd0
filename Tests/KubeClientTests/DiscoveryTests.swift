import Foundation
import Testing
@testable import KubeClient
import KubeModel
import KubeSim

/// Kinds resolve through aggregated discovery (one request at `/api`, one at `/apis`), and through one request per
/// group-version on a server that answers in the legacy form only.
@Suite struct DiscoveryTests {
    static let deployment = GroupVersionKind(group: "apps", version: "v1", kind: "Deployment")
    static let clusterRole = GroupVersionKind(group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRole")

    @Test func kindsResolveThroughAggregatedDiscoveryInOneRequestPerRoot() async throws {
        try await SimCluster.with("aggregated") { cluster in
            try await cluster.withClient { client in
                // Named groups only: `/apis` alone, once, however many callers ask at the same time.
                let resolved = try await withThrowingTaskGroup(of: APIResource.self) { group in
                    for i in 0..<20 { group.addTask { try await client.resource(for: i % 2 == 0 ? Self.deployment : Self.clusterRole) } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(resolved.filter { $0.kind == "Deployment" }.allSatisfy { $0.name == "deployments" && $0.namespaced && $0.groupVersionPath == "/apis/apps/v1" })
                #expect(resolved.filter { $0.kind == "ClusterRole" }.allSatisfy { $0.name == "clusterroles" && !$0.namespaced })
                #expect(cluster.sim.discoveryRequests == ["/apis (aggregated v2)": 1])
                // Core kinds: `/api`, once.
                let configMap = try await client.resource(for: configMapKind)
                let namespace = try await client.resource(for: namespaceKind)
                #expect(configMap.path(namespace: "default", name: "c") == "/api/v1/namespaces/default/configmaps/c" && configMap.verbs.contains("list"))
                #expect(namespace.path(namespace: nil, name: "ns") == "/api/v1/namespaces/ns")
                _ = try await client.resource(for: Self.deployment)
                #expect(cluster.sim.discoveryRequests == ["/apis (aggregated v2)": 1, "/api (aggregated v2)": 1])
            }
        }
    }

    @Test func aKindServedAfterTheFirstReadIsFoundByReadingAgain() async throws {
        try await SimCluster.with("aggregated-crd") { cluster in
            try await cluster.withClient { client in
                let gadget = GroupVersionKind(group: "gadgets.meshform.dev", version: "v1", kind: "Gadget")
                _ = try await client.resource(for: Self.deployment)
                let missing = await #expect(throws: KubeError.self) { _ = try await client.resource(for: gadget) }
                guard case .unknownKind = missing else { Issue.record("expected unknownKind, got \(String(describing: missing))"); return }
                #expect(cluster.sim.discoveryRequests == ["/apis (aggregated v2)": 2])   // the miss read it again
                let crd: JSON = [
                    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": ["name": "gadgets.gadgets.meshform.dev"],
                    "spec": ["group": "gadgets.meshform.dev", "scope": "Cluster",
                             "names": ["plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"],
                             "versions": [["name": "v1", "served": true, "storage": true,
                                           "schema": ["openAPIV3Schema": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]]]]]]
                _ = try await client.apply(crd, fieldManager: "meshform")
                _ = try await client.wait(for: .condition(type: "Established"), gvk: GroupVersionKind(apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition"),
                                          namespace: nil, name: "gadgets.gadgets.meshform.dev", timeout: .seconds(10))
                let r = try await client.resource(for: gadget)
                #expect(r.name == "gadgets" && !r.namespaced && r.groupVersionPath == "/apis/gadgets.meshform.dev/v1")
                #expect(cluster.sim.discoveryRequests == ["/apis (aggregated v2)": 3])
                #expect(try await client.listKinds().contains { $0.kind == "Gadget" && $0.version == "v1" })
            }
        }
    }

    @Test func aServerThatAnswersInTheLegacyFormIsReadGroupVersionByGroupVersion() async throws {
        try await SimCluster.with("legacy", faults: FaultSettings(legacyDiscovery: true)) { cluster in
            try await cluster.withClient { client in
                let configMap = try await client.resource(for: configMapKind)
                let deployment = try await client.resource(for: Self.deployment)
                _ = try await client.resource(for: Self.clusterRole)
                #expect(configMap.name == "configmaps" && deployment.name == "deployments" && deployment.namespaced)
                // Asked once for the aggregated form; after the legacy answer, each group-version is read directly.
                #expect(cluster.sim.discoveryRequests == ["/api": 1, "/api/v1": 1, "/apis/apps/v1": 1, "/apis/rbac.authorization.k8s.io/v1": 1])
                let kinds = try await client.listKinds()
                #expect(kinds.contains { $0.kind == "Deployment" } && kinds.contains { $0.kind == "ConfigMap" })
                let unknown = await #expect(throws: KubeError.self) {
                    _ = try await client.resource(for: GroupVersionKind(group: "nothing.meshform.dev", version: "v1", kind: "Nothing"))
                }
                guard case .unknownKind = unknown else { Issue.record("expected unknownKind, got \(String(describing: unknown))"); return }
            }
        }
    }

    @Test func theContentTypeSaysWhichFormTheServerAnswered() {
        #expect(AggregatedDiscovery.isAggregated(contentType: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"))
        // Parameters in any order, with others added by intermediaries (client-go's ContentTypeIsGVK examples).
        #expect(AggregatedDiscovery.isAggregated(contentType: "application/json; as=APIGroupDiscoveryList;v=v2beta1;g=apidiscovery.k8s.io;charset=utf-8"))
        #expect(!AggregatedDiscovery.isAggregated(contentType: "application/json"))
        #expect(!AggregatedDiscovery.isAggregated(contentType: "application/json; charset=UTF-8"))
        #expect(!AggregatedDiscovery.isAggregated(contentType: "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList"))
        #expect(!AggregatedDiscovery.isAggregated(contentType: nil))
    }

    @Test func aStaleGroupVersionAndAResourceWithoutKindAreNotCached() {
        // As an aggregator answers when an aggregated API server cannot be reached (apidiscovery/v2 types.go `Stale`).
        let list: JSON = ["kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "items": [
            ["metadata": ["name": "metrics.k8s.io"], "versions": [["version": "v1beta1", "freshness": "Stale"]]],
            ["metadata": ["name": "example.com"], "versions": [
                ["version": "v2", "freshness": "Current", "resources": [
                    ["resource": "things", "responseKind": ["group": "example.com", "version": "v2", "kind": "Thing"], "scope": "Cluster", "verbs": ["get"]],
                    ["resource": "parents", "scope": "Namespaced", "verbs": [], "subresources": [["subresource": "child", "verbs": ["get"]]]]]],
                ["version": "v1", "freshness": "Current", "resources": []]]]]]
        let parsed = AggregatedDiscovery(list)
        #expect(parsed.stale == [GroupVersion(group: "metrics.k8s.io", version: "v1beta1")])
        #expect(parsed.preferredVersions == ["example.com": "v2"])
        let things = parsed.resources[GroupVersion(group: "example.com", version: "v2")] ?? []
        #expect(things.map(\.kind) == ["Thing"] && things.first?.namespaced == false && things.first?.name == "things")
    }
}
