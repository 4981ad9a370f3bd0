import Foundation
import Testing
import KubeModel
@testable import KubeSim

/// The controllers, TokenRequest, CRDs serving their kinds, namespace deletion, list paging and watch.
@Suite struct ControllerTests {
    @Test func deploymentBecomesAvailableAndLoadBalancerGetsAnAddress() async throws {
        try await TestSim.with { t async throws in
            let d: JSON = ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "d"],
                           "spec": ["replicas": 2, "selector": ["matchLabels": ["app": "d"]], "template": ["metadata": ["labels": ["app": "d"]]]]]
            #expect(try await t.http("POST", "/apis/apps/v1/namespaces/default/deployments", body: d).code == 201)
            #expect(try await t.eventually {
                let s = try await t.http("GET", "/apis/apps/v1/namespaces/default/deployments/d").body["status"]
                return s?["readyReplicas"] == 2 && s?["availableReplicas"] == 2 && s?["observedGeneration"] == 1
                    && s?["conditions"]?.array?.contains { $0["type"] == "Available" && $0["status"] == "True" } == true
            })
            let svc: JSON = ["apiVersion": "v1", "kind": "Service", "metadata": ["name": "lb"], "spec": ["type": "LoadBalancer", "ports": [["port": 80]]]]
            #expect(try await t.http("POST", "/api/v1/namespaces/default/services", body: svc).code == 201)
            #expect(try await t.eventually {
                try await t.http("GET", "/api/v1/namespaces/default/services/lb").body[path: ["status", "loadBalancer", "ingress"]]?[0]?["ip"]?.string?.hasPrefix("172.18.") == true
            })
        }
    }

    @Test func tokenRequestAndLegacyTokenSecretsAuthenticate() async throws {
        try await TestSim.with { t in
            #expect(try await t.http("POST", "/api/v1/namespaces/default/serviceaccounts", body: ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": "reader"]]).code == 201)
            let tr = try await t.http("POST", "/api/v1/namespaces/default/serviceaccounts/reader/token", body: ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": ["expirationSeconds": 600]])
            #expect(tr.code == 201)
            let token = try #require(tr.body[path: ["status", "token"]]?.string)
            // Authenticated (not 401), and, with no RBAC granted, forbidden, as Kubernetes answers.
            let denied = try await t.http("GET", "/api/v1/namespaces", token: token)
            #expect(denied.code == 403 && denied.body["message"]?.string
                == "namespaces is forbidden: User \"system:serviceaccount:default:reader\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope")
            #expect(try await t.http("POST", "/api/v1/namespaces/default/serviceaccounts/absent/token", body: ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest"]).code == 404)

            let secret: JSON = ["apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                                "metadata": ["name": "reader-token", "annotations": ["kubernetes.io/service-account.name": "reader"]]]
            #expect(try await t.http("POST", "/api/v1/namespaces/default/secrets", body: secret).code == 201)
            var filled: JSON = .null
            #expect(try await t.eventually {
                filled = try await t.http("GET", "/api/v1/namespaces/default/secrets/reader-token").body
                return filled[path: ["data", "token"]] != nil
            })
            let legacy = String(decoding: Data(base64Encoded: filled[path: ["data", "token"]]!.string!)!, as: UTF8.self)
            #expect(try await t.http("GET", "/api/v1/namespaces", token: legacy).code == 403)
            #expect(String(decoding: Data(base64Encoded: filled[path: ["data", "ca.crt"]]!.string!)!, as: UTF8.self) == t.sim.caPEM)
            #expect(filled[path: ["data", "namespace"]] == .string(Data("default".utf8).base64EncodedString()))
        }
    }

    @Test func secretStringDataBecomesData() async throws {
        try await TestSim.with { t in
            let s = try await t.http("POST", "/api/v1/namespaces/default/secrets", body: ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "s"], "stringData": ["k": "v"]]).body
            #expect(s["stringData"] == nil)
            #expect(s[path: ["data", "k"]] == .string(Data("v".utf8).base64EncodedString()))
        }
    }

    @Test func crdServesItsKindOnceEstablished() async throws {
        try await TestSim.with { t in
            let crd: JSON = ["apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": ["name": "widgets.example.com"],
                             "spec": ["group": "example.com", "scope": "Namespaced", "names": ["plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]],
                                      "versions": [["name": "v1", "served": true, "storage": true, "schema": ["openAPIV3Schema": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]]]]]]
            #expect(try await t.http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body: crd).code == 201)
            #expect(try await t.eventually {
                let c = try await t.http("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com").body
                return c[path: ["status", "conditions"]]?.array?.contains { $0["type"] == "Established" && $0["status"] == "True" } == true
            })
            let groups = try await t.http("GET", "/apis").body["groups"]?.array ?? []
            #expect(groups.contains { $0["name"] == "example.com" })
            let rl = try await t.http("GET", "/apis/example.com/v1").body
            #expect(rl["resources"]?.array?.contains { $0["name"] == "widgets" && $0["kind"] == "Widget" } == true)
            let w: JSON = ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "w1", "labels": ["tier": "a"]], "spec": ["size": 3]]
            #expect(try await t.http("POST", "/apis/example.com/v1/namespaces/default/widgets", body: w).code == 201)
            #expect(try await t.http("GET", "/apis/example.com/v1/widgets").body["items"]?.array?.count == 1)
            #expect(try await t.http("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com").code == 200)
            #expect(try await t.http("GET", "/apis/example.com/v1/widgets").code == 404)
        }
    }

    @Test func namespaceDeletionRemovesItsContent() async throws {
        try await TestSim.with { t in
            #expect(try await t.http("POST", "/api/v1/namespaces", body: ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "gone"]]).code == 201)
            #expect(try await t.http("POST", "/api/v1/namespaces/gone/configmaps", body: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c"]]).code == 201)
            let del = try await t.http("DELETE", "/api/v1/namespaces/gone?propagationPolicy=Foreground")
            #expect(del.code == 200)
            #expect(del.body[path: ["status", "phase"]] == "Terminating")
            #expect(try await t.eventually { try await t.http("GET", "/api/v1/namespaces/gone").code == 404 })
            #expect(try await t.http("GET", "/api/v1/configmaps").body["items"]?.array?.contains { $0.namespace == "gone" } == false)
        }
    }

    @Test func listPagingAndSelectors() async throws {
        try await TestSim.with { t in
            for i in 0..<5 {
                _ = try await t.http("POST", "/api/v1/namespaces/default/configmaps", body: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string("c\(i)"), "labels": ["even": .string(i % 2 == 0 ? "yes" : "no")]]])
            }
            let page1 = try await t.http("GET", "/api/v1/namespaces/default/configmaps?limit=2").body
            #expect(page1["items"]?.array?.compactMap(\.name) == ["c0", "c1"])
            let cont = try #require(page1[path: ["metadata", "continue"]]?.string)
            let page2 = try await t.http("GET", "/api/v1/namespaces/default/configmaps?limit=2&continue=\(cont)").body
            #expect(page2["items"]?.array?.compactMap(\.name) == ["c2", "c3"])
            let even = try await t.http("GET", "/api/v1/namespaces/default/configmaps?labelSelector=even%3Dyes").body
            #expect(even["items"]?.array?.compactMap(\.name) == ["c0", "c2", "c4"])
            let byName = try await t.http("GET", "/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dc3").body
            #expect(byName["items"]?.array?.compactMap(\.name) == ["c3"])
        }
    }

    @Test func watchStreamsEventsForOneObject() async throws {
        try await TestSim.with { t in
            _ = try await t.http("POST", "/api/v1/namespaces/default/configmaps", body: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "w"]])
            let rv = try await t.http("GET", "/api/v1/namespaces/default/configmaps").body[path: ["metadata", "resourceVersion"]]!.string!
            // The writes may land before the watch starts or while it streams: a watch from `rv` gets every event after
            // it either way (replayed from the history, as the API server's watch cache does, or streamed), so no wait.
            let writer = Task {
                _ = try await t.http("PATCH", "/api/v1/namespaces/default/configmaps/w", body: ["data": ["a": "1"]], contentType: "application/merge-patch+json")
                _ = try await t.http("DELETE", "/api/v1/namespaces/default/configmaps/w")
            }
            let a = try await t.http("GET", "/api/v1/namespaces/default/configmaps?watch=true&fieldSelector=metadata.name%3Dw&resourceVersion=\(rv)&timeoutSeconds=2")
            try await writer.value
            guard case .string(let text) = a.body else { Issue.record("expected newline-delimited events"); return }
            let events = text.split(separator: "\n").compactMap { try? JSON(data: Data($0.utf8)) }
            #expect(events.compactMap { $0["type"]?.string } == ["MODIFIED", "DELETED"])
            #expect(events.first?[path: ["object", "data", "a"]] == "1")
        }
    }
}
