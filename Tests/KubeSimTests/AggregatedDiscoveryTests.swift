import Foundation
import Testing
import KubeModel
@testable import KubeSim

/// `/api` and `/apis` answer in the aggregated form (`APIGroupDiscoveryList`) when the Accept header asks for it, and in
/// the legacy form otherwise, as kube-apiserver 1.30 does (kubernetes/kubernetes
/// staging/src/k8s.io/apiserver/pkg/endpoints/discovery/aggregated/wrapper.go).
@Suite struct AggregatedDiscoveryTests {
    /// client-go's Accept header for discovery (discovery_client.go `acceptDiscoveryFormats`).
    static let clientGoAccept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
        + "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"

    static func versions(_ list: JSON, group: String) -> [JSON] {
        list["items"]?.array?.first { ($0[path: ["metadata", "name"]]?.string ?? "") == group }?["versions"]?.array ?? []
    }

    static func resource(_ version: JSON, _ name: String) -> JSON? {
        version["resources"]?.array?.first { $0["resource"]?.string == name }
    }

    @Test func apiAndApisAnswerInTheFormTheAcceptHeaderAsksFor() async throws {
        try await TestSim.with("aggregated") { t in
            let apis = try await t.http("GET", "/apis", accept: Self.clientGoAccept)
            #expect(apis.code == 200)
            #expect(apis.headers["content-type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
            #expect(apis.body["kind"] == "APIGroupDiscoveryList" && apis.body["apiVersion"] == "apidiscovery.k8s.io/v2")
            let apps = Self.versions(apis.body, group: "apps")
            #expect(apps.map { $0["version"]?.string } == ["v1"] && apps.first?["freshness"] == "Current")
            let deployments = try #require(apps.first.flatMap { Self.resource($0, "deployments") })
            #expect(deployments["responseKind"] == ["group": "", "version": "", "kind": "Deployment"])
            #expect(deployments["scope"] == "Namespaced" && deployments["singularResource"] == "deployment")
            #expect(deployments["verbs"]?.array?.contains("patch") == true && deployments["shortNames"] == ["deploy"])
            #expect(deployments["subresources"]?.array?.compactMap { $0["subresource"]?.string } == ["status", "scale"])
            let clusterRoles = try #require(Self.versions(apis.body, group: "rbac.authorization.k8s.io").first.flatMap { Self.resource($0, "clusterroles") })
            #expect(clusterRoles["scope"] == "Cluster")
            #expect(Self.versions(apis.body, group: "").isEmpty)   // the core group is at /api only

            let api = try await t.http("GET", "/api", accept: Self.clientGoAccept)
            #expect(api.headers["content-type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
            #expect(api.body["items"]?.array?.count == 1)
            let core = Self.versions(api.body, group: "")
            let serviceAccounts = try #require(core.first.flatMap { Self.resource($0, "serviceaccounts") })
            #expect(serviceAccounts["subresources"]?[0] == ["subresource": "token", "responseKind": ["group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"], "verbs": ["create"]])

            // v2beta1 when only that is asked for; the legacy documents for plain JSON, anything else, or JSON listed first.
            let beta = try await t.http("GET", "/apis", accept: "application/json;as=APIGroupDiscoveryList;v=v2beta1;g=apidiscovery.k8s.io")
            #expect(beta.headers["content-type"] == "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList")
            #expect(beta.body["apiVersion"] == "apidiscovery.k8s.io/v2beta1")
            for accept in [nil, "application/json", "application/json," + Self.clientGoAccept] {
                let legacy = try await t.http("GET", "/apis", accept: accept)
                #expect(legacy.headers["content-type"] == "application/json")
                #expect(legacy.body["kind"] == "APIGroupList")
            }
            #expect(try await t.http("GET", "/api", accept: "application/json").body["kind"] == "APIVersions")
            // Group-version documents have one form only.
            #expect(try await t.http("GET", "/apis/apps/v1", accept: Self.clientGoAccept).body["kind"] == "APIResourceList")
            #expect(t.sim.discoveryRequests["/apis (aggregated v2)"] == 1 && t.sim.discoveryRequests["/apis (aggregated v2beta1)"] == 1)
            #expect(t.sim.discoveryRequests["/apis"] == 3)
        }
    }

    @Test func anEstablishedCRDIsListedWithItsGroupAndVersion() async throws {
        try await TestSim.with("aggregated-crd") { t in
            let group = "aggregated.meshform.dev"
            #expect(Self.versions(try await t.http("GET", "/apis", accept: Self.clientGoAccept).body, group: group).isEmpty)
            #expect(try await t.http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                     body: WidgetCRD.definition(group: group, spec: ["type": "object"])).code == 201)
            #expect(try await t.eventually {
                !Self.versions(try await t.http("GET", "/apis", accept: Self.clientGoAccept).body, group: group).isEmpty
            })
            let versions = Self.versions(try await t.http("GET", "/apis", accept: Self.clientGoAccept).body, group: group)
            let widgets = try #require(versions.first.flatMap { Self.resource($0, "widgets") })
            #expect(widgets["responseKind"] == ["group": .string(group), "version": "v1", "kind": "Widget"])
            #expect(widgets["scope"] == "Namespaced")
        }
    }

    @Test func aServerBefore126AnswersInTheLegacyFormWhateverIsAsked() async throws {
        try await TestSim.with(options: KubeSimOptions(name: "legacy", faults: FaultSettings(legacyDiscovery: true))) { t in
            let apis = try await t.http("GET", "/apis", accept: Self.clientGoAccept)
            #expect(apis.headers["content-type"] == "application/json" && apis.body["kind"] == "APIGroupList")
            #expect(try await t.http("GET", "/api", accept: Self.clientGoAccept).body["kind"] == "APIVersions")
        }
    }
}
