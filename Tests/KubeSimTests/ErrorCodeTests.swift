import Foundation
import Testing
import KubeModel
@testable import KubeSim

/// Every error the issue lists, answered as the real API server answers it: the HTTP code and a `Status`
/// object with the matching reason, checked over real HTTPS with curl.
@Suite struct ErrorCodeTests {
    func expectStatus(_ a: TestSim.HTTPAnswer, _ code: Int, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.code == code, sourceLocation: sourceLocation)
        #expect(a.body["kind"] == "Status", sourceLocation: sourceLocation)
        #expect(a.body["status"] == "Failure", sourceLocation: sourceLocation)
        #expect(a.body["reason"]?.string == reason, sourceLocation: sourceLocation)
        #expect(a.body["code"]?.int == code, sourceLocation: sourceLocation)
    }

    @Test func unauthorizedWithoutOrWithWrongToken() async throws {
        try await TestSim.with { t in
            expectStatus(try await t.http("GET", "/api/v1/namespaces", token: nil), 401, "Unauthorized")
            expectStatus(try await t.http("GET", "/api/v1/namespaces", token: "not-a-token"), 401, "Unauthorized")
            // The admin endpoint's token is not an API token, and the API token does not open the admin endpoint.
            expectStatus(try await t.http("GET", "/api/v1/namespaces", token: t.sim.adminEndpointToken), 401, "Unauthorized")
            expectStatus(try await t.http("GET", "/admin/faults"), 401, "Unauthorized")
            #expect(try await t.http("GET", "/api/v1/namespaces").code == 200)
        }
    }

    @Test func notFoundAlreadyExistsInvalidMethodNotAllowed() async throws {
        try await TestSim.with { t in
            let nf = try await t.http("GET", "/api/v1/namespaces/default/configmaps/missing")
            expectStatus(nf, 404, "NotFound")
            #expect(nf.body[path: ["details", "name"]] == "missing")
            expectStatus(try await t.http("GET", "/apis/nope.example.com/v1/things"), 404, "NotFound")
            expectStatus(try await t.http("POST", "/api/v1/namespaces/absent/configmaps", body: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "x"]]), 404, "NotFound")

            let cm: JSON = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "a"], "data": ["k": "v"]]
            let created = try await t.http("POST", "/api/v1/namespaces/default/configmaps", body: cm)
            #expect(created.code == 201)
            #expect(created.body[path: ["metadata", "uid"]]?.string?.isEmpty == false)
            #expect(created.body[path: ["metadata", "creationTimestamp"]] != nil)
            #expect(created.body[path: ["metadata", "managedFields"]]?.array?.first?["operation"] == "Update")
            expectStatus(try await t.http("POST", "/api/v1/namespaces/default/configmaps", body: cm), 409, "AlreadyExists")

            let bad = try await t.http("POST", "/api/v1/namespaces/default/configmaps", body: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "Bad_Name"]])
            expectStatus(bad, 422, "Invalid")
            #expect(bad.body[path: ["details", "causes"]]?.array?.first?["field"] == "metadata.name")
            let deploy: JSON = ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "d"],
                                "spec": ["selector": ["matchLabels": ["app": "a"]], "template": ["metadata": ["labels": ["app": "b"]]]]]
            let inv = try await t.http("POST", "/apis/apps/v1/namespaces/default/deployments", body: deploy)
            expectStatus(inv, 422, "Invalid")
            #expect(inv.body[path: ["details", "causes"]]?.array?.first?["field"] == "spec.template.metadata.labels")

            expectStatus(try await t.http("POST", "/api/v1"), 405, "MethodNotAllowed")
            expectStatus(try await t.http("PUT", "/api/v1/namespaces/default/configmaps"), 405, "MethodNotAllowed")
            expectStatus(try await t.http("PATCH", "/api/v1/namespaces/default/configmaps/a", body: ["data": ["k": "w"]], contentType: "text/plain"), 415, "UnsupportedMediaType")
        }
    }

    @Test func staleResourceVersionConflicts() async throws {
        try await TestSim.with { t in
            let v1 = try await t.http("POST", "/api/v1/namespaces/default/configmaps", body: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c"], "data": ["n": "1"]]).body
            var next = v1; next["data"] = ["n": "2"]
            let v2 = try await t.http("PUT", "/api/v1/namespaces/default/configmaps/c", body: next)
            #expect(v2.code == 200)
            #expect(Int(v2.body.resourceVersion!)! > Int(v1.resourceVersion!)!)
            var stale = v1; stale["data"] = ["n": "3"]
            let conflict = try await t.http("PUT", "/api/v1/namespaces/default/configmaps/c", body: stale)
            expectStatus(conflict, 409, "Conflict")
            #expect(conflict.body["message"]?.string?.contains("the object has been modified") == true)
            // A merge patch naming the old resourceVersion is refused the same way.
            expectStatus(try await t.http("PATCH", "/api/v1/namespaces/default/configmaps/c", body: ["metadata": ["resourceVersion": .string(v1.resourceVersion!)], "data": ["n": "4"]],
                                    contentType: "application/merge-patch+json"), 409, "Conflict")
        }
    }

    @Test func dryRunStoresNothing() async throws {
        try await TestSim.with { t in
            let before = try await t.http("GET", "/api/v1/namespaces/default/configmaps").body[path: ["metadata", "resourceVersion"]]
            let dry = try await t.http("POST", "/api/v1/namespaces/default/configmaps?dryRun=All", body: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "dry"]])
            #expect(dry.code == 201)
            #expect(dry.body.name == "dry")
            #expect(try await t.http("GET", "/api/v1/namespaces/default/configmaps/dry").code == 404)
            let ssa = try await t.http("PATCH", "/api/v1/namespaces/default/configmaps/dry2?fieldManager=m&dryRun=All",
                                 body: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "dry2"]], contentType: "application/apply-patch+yaml")
            #expect(ssa.code == 201)
            #expect(try await t.http("GET", "/api/v1/namespaces/default/configmaps/dry2").code == 404)
            _ = try await t.http("POST", "/api/v1/namespaces/default/configmaps", body: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "real"]])
            #expect(try await t.http("DELETE", "/api/v1/namespaces/default/configmaps/real?dryRun=All").code == 200)
            #expect(try await t.http("GET", "/api/v1/namespaces/default/configmaps/real").code == 200)
            #expect(before != nil)
        }
    }
}
