import Foundation
import Testing
@testable import KubeClient
import KubeModel
import KubeSim

/// Discovery, apply, list, delete, TokenRequest and waits against KubeSim.
@Suite struct ObjectTests {
    @Test func crdKindCreatedDuringTheTestIsDiscovered() async throws {
        try await SimCluster.with("crd") { cluster in
            try await cluster.withClient { client in
                let widget = GroupVersionKind(group: "example.meshform.dev", version: "v1", kind: "Widget")
                let before = await #expect(throws: KubeError.self) { _ = try await client.resource(for: widget) }
                guard case .unknownKind = before else { Issue.record("expected unknownKind, got \(String(describing: before))"); return }
                let crd: JSON = [
                    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": ["name": "widgets.example.meshform.dev"],
                    "spec": ["group": "example.meshform.dev", "scope": "Namespaced",
                             "names": ["plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"],
                             "versions": [["name": "v1", "served": true, "storage": true,
                                           "schema": ["openAPIV3Schema": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]]]]]]
                _ = try await client.apply(crd, fieldManager: "meshform")
                _ = try await client.wait(for: .condition(type: "Established"), gvk: GroupVersionKind(apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition"),
                                          namespace: nil, name: "widgets.example.meshform.dev", timeout: .seconds(10))
                let r = try await client.resource(for: widget)
                #expect(r.name == "widgets" && r.namespaced)
                let w: JSON = ["apiVersion": "example.meshform.dev/v1", "kind": "Widget", "metadata": ["name": "w1", "namespace": "default"], "spec": ["size": 3]]
                _ = try await client.apply(w, fieldManager: "meshform")
                #expect(try await client.get(widget, namespace: "default", name: "w1")?[path: ["spec", "size"]]?.int == 3)
                #expect(try await client.listKinds().contains { $0.kind == "Widget" && $0.group == "example.meshform.dev" })
            }
        }
    }

    @Test func serverSideApplyTwiceChangesNoResourceVersion() async throws {
        try await SimCluster.with("ssa") { cluster in
            try await cluster.withClient { client in
                let first = try await client.apply(configMap("mesh", data: ["a": "1"]), fieldManager: "meshform")
                let second = try await client.apply(configMap("mesh", data: ["a": "1"]), fieldManager: "meshform")
                #expect(first.resourceVersion != nil)
                #expect(first.resourceVersion == second.resourceVersion)
                let changed = try await client.apply(configMap("mesh", data: ["a": "2"]), fieldManager: "meshform")
                #expect(changed.resourceVersion != first.resourceVersion)
                // Dry run validates without storing.
                _ = try await client.apply(configMap("mesh", data: ["a": "3"]), fieldManager: "meshform", dryRun: true)
                #expect(try await client.get(configMapKind, namespace: "default", name: "mesh")?[path: ["data", "a"]]?.string == "2")
            }
        }
    }

    @Test func fieldManagerConflictIsReportedWithTheField() async throws {
        try await SimCluster.with("conflict") { cluster in
            try await cluster.withClient { client in
                _ = try await client.apply(configMap("owned", data: ["replicas": "1"]), fieldManager: "kubectl-edit")
                let error = await #expect(throws: KubeError.self) {
                    _ = try await client.apply(configMap("owned", data: ["replicas": "3"]), fieldManager: "meshform")
                }
                guard case .conflict(let site, let managers, let fields, _) = error else {
                    Issue.record("expected a conflict, got \(String(describing: error))"); return
                }
                #expect(managers == ["kubectl-edit"])
                #expect(fields.contains(".data.replicas"))
                #expect(site.object?.contains("default/owned") == true && site.context == "conflict")
                // force takes the field over.
                let forced = try await client.apply(configMap("owned", data: ["replicas": "3"]), fieldManager: "meshform", force: true)
                #expect(forced[path: ["data", "replicas"]]?.string == "3")
            }
        }
    }

    @Test func createReportsAlreadyExistsAndInvalid() async throws {
        try await SimCluster.with("create") { cluster in
            try await cluster.withClient { client in
                _ = try await client.create(configMap("c1", data: [:]))
                let dup = await #expect(throws: KubeError.self) { _ = try await client.create(configMap("c1", data: [:])) }
                guard case .alreadyExists = dup else { Issue.record("expected alreadyExists, got \(String(describing: dup))"); return }
                let bad: JSON = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "Not_A_Valid_Name", "namespace": "default"]]
                let invalid = await #expect(throws: KubeError.self) { _ = try await client.create(bad) }
                guard case .invalid(_, let causes, _) = invalid else { Issue.record("expected invalid, got \(String(describing: invalid))"); return }
                #expect(causes.contains { $0.field?.contains("name") == true })
            }
        }
    }

    @Test func listFollowsEveryPage() async throws {
        try await SimCluster.with("pages") { cluster in
            try await cluster.withClient(options: ClientOptions(pageSize: 3)) { client in
                for i in 0..<8 { _ = try await client.apply(configMap("p\(i)", data: [:], labels: ["set": i < 7 ? "mine" : "other"]), fieldManager: "t") }
                let mine = try await client.list(configMapKind, namespace: "default", labelSelector: "set=mine")
                #expect(mine.count == 7)
                #expect(mine.allSatisfy { $0.kind == "ConfigMap" && $0.apiVersion == "v1" })
                #expect(try await client.list(configMapKind, namespace: nil, labelSelector: "set in (mine,other)").count == 8)
            }
        }
    }

    @Test func deleteWaitsUntilGoneAndSaysWhenAlreadyGone() async throws {
        try await SimCluster.with("delete") { cluster in
            try await cluster.withClient { client in
                _ = try await client.apply(configMap("doomed", data: [:]), fieldManager: "t")
                #expect(try await client.delete(configMapKind, namespace: "default", name: "doomed", waitUntilGone: .seconds(5)))
                #expect(try await client.get(configMapKind, namespace: "default", name: "doomed") == nil)
                #expect(try await client.delete(configMapKind, namespace: "default", name: "doomed") == false)
            }
        }
    }

    @Test(.timeLimit(.minutes(1))) func waitsForAvailabilityAndLoadBalancerAndTimesOutClearly() async throws {
        try await SimCluster.with("wait") { cluster in
            try await cluster.withClient { client in
                let deploy: JSON = ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web", "namespace": "default"],
                                    "spec": ["replicas": 1, "selector": ["matchLabels": ["app": "web"]],
                                             "template": ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "web", "image": "nginx"]]]]]]
                _ = try await client.apply(deploy, fieldManager: "t")
                let available = try await client.wait(for: .condition(type: "Available"), gvk: GroupVersionKind(apiVersion: "apps/v1", kind: "Deployment"),
                                                      namespace: "default", name: "web", timeout: .seconds(10))
                #expect(available.name == "web")
                let svc: JSON = ["apiVersion": "v1", "kind": "Service", "metadata": ["name": "gw", "namespace": "default"],
                                 "spec": ["type": "LoadBalancer", "ports": [["port": 15443, "name": "tls"]], "selector": ["app": "web"]]]
                _ = try await client.apply(svc, fieldManager: "t")
                let withAddress = try await client.wait(for: .loadBalancerAddress, gvk: GroupVersionKind(apiVersion: "v1", kind: "Service"),
                                                        namespace: "default", name: "gw", timeout: .seconds(10))
                #expect(withAddress[path: ["status", "loadBalancer", "ingress"]]?[0]?["ip"]?.string != nil)

                // A wait that outlived its timeout would hang here until the test's time limit: no clock reading needed.
                _ = try await client.apply(configMap("never-ready", data: [:]), fieldManager: "t")
                let error = await #expect(throws: KubeError.self) {
                    _ = try await client.wait(for: .condition(type: "Ready"), gvk: configMapKind, namespace: "default", name: "never-ready",
                                              timeout: .milliseconds(600))
                }
                guard case .timeout(_, let waitingFor) = error else { Issue.record("expected timeout, got \(String(describing: error))"); return }
                #expect(waitingFor.contains("condition Ready=True") && waitingFor.contains("default/never-ready"))
            }
        }
    }

    @Test func requestedTokenAuthenticates() async throws {
        try await SimCluster.with("tokenrequest") { cluster in
            let client = try cluster.client()
            _ = try await client.apply(["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": "reader", "namespace": "default"]], fieldManager: "t")
            // KubeSim enforces RBAC: the reader may get namespaces once bound to a role that allows it.
            _ = try await client.apply(["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": ["name": "ns-reader"],
                                        "rules": [["apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]]]], fieldManager: "t")
            _ = try await client.apply(["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": ["name": "ns-reader"],
                                        "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ns-reader"],
                                        "subjects": [["kind": "ServiceAccount", "name": "reader", "namespace": "default"]]], fieldManager: "t")
            let token = try await client.requestToken(namespace: "default", serviceAccount: "reader", audiences: ["istio-ca"], expirationSeconds: 3600)
            #expect(!token.isEmpty && token != cluster.sim.token)
            let asReader = KubeClient(connection: ClusterConnection(contextName: "reader", server: cluster.sim.url,
                                                                    caData: Data(cluster.sim.caPEM.utf8), credentials: .token(token)))
            #expect(try await asReader.get(namespaceKind, namespace: nil, name: "default") != nil)
            try await asReader.shutdown(); try await client.shutdown()
        }
    }

    @Test func rawRequestReturnsAnyStatus() async throws {
        try await SimCluster.with("raw") { cluster in
            try await cluster.withClient { client in
                let version = try await client.request(method: .GET, path: "/version")
                #expect(version.status == 200 && version.json?["gitVersion"]?.string != nil)
                let missing = try await client.request(method: .GET, path: "/api/v1/namespaces/default/configmaps/nope")
                #expect(missing.status == 404)
            }
        }
    }
}
