import Foundation
import Testing
import KubeModel
@testable import KubeSim

/// Deployments roll out as a real cluster's controllers do it (ReplicaSet per template, Pods per replica,
/// Available from ready pods at the observed generation), and the opt-in realism of clusters without a
/// load-balancer controller or with pods that never become ready.
@Suite(.enabled(if: TestSim.kubectlPath != nil, "kubectl is not installed (apt-get install kubernetes-client)"))
struct WorkloadTests {
    func ok(_ r: (out: String, err: String, status: Int32), sourceLocation: SourceLocation = #_sourceLocation) -> String {
        #expect(r.status == 0, "kubectl failed: \(r.err)", sourceLocation: sourceLocation)
        return r.out
    }

    /// kubectl's typed `create deployment` sends protobuf, which KubeSim does not read for Deployments; apply does.
    func deployment(_ t: TestSim, _ name: String, image: String, replicas: Int = 1) async throws {
        let path = t.dir + "/\(name).yaml"
        try Data("""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: \(name), namespace: default, labels: {app: \(name)}}
            spec:
              replicas: \(replicas)
              selector: {matchLabels: {app: \(name)}}
              template:
                metadata: {labels: {app: \(name)}}
                spec: {containers: [{name: main, image: "\(image)"}]}
            """.utf8).write(to: URL(fileURLWithPath: path))
        _ = ok(try await t.kubectl("apply", "-f", path))
    }

    func json(_ t: TestSim, _ args: String...) async throws -> JSON {
        try JSON(data: Data(ok(try await t.kubectl(args + ["-o", "json"])).utf8))
    }

    @Test func deploymentsGetReplicaSetsAndPodsAndBecomeAvailable() async throws {
        try await TestSim.with("rollout") { t in
            t.sim.setFaults(FaultSettings(runPods: true))
            try await deployment(t, "web", image: "nginx:1.27", replicas: 2)
            #expect(ok(try await t.kubectl("wait", "--for=condition=Available", "deployment/web", "-n", "default", "--timeout=20s")).contains("condition met"))
            var d = try await json(t, "get", "deployment", "web", "-n", "default")
            #expect(d[path: ["status", "readyReplicas"]] == 2 && d[path: ["status", "updatedReplicas"]] == 2)
            #expect(d[path: ["status", "observedGeneration"]] == d[path: ["metadata", "generation"]])
            let sets = try await json(t, "get", "replicasets", "-n", "default", "-l", "app=web")["items"]?.array ?? []
            #expect(sets.count == 1)
            let rs = sets.first ?? [:]
            #expect(rs[path: ["metadata", "ownerReferences"]]?[0]?["uid"] == d[path: ["metadata", "uid"]])
            let hash = rs[path: ["metadata", "labels", "pod-template-hash"]]?.string ?? "?"
            #expect(rs.name == "web-\(hash)")
            let pods = try await json(t, "get", "pods", "-n", "default", "-l", "app=web")["items"]?.array ?? []
            #expect(pods.count == 2)
            #expect(pods.allSatisfy { $0[path: ["status", "phase"]] == "Running" && $0.labels["pod-template-hash"] == hash })
            #expect(pods.allSatisfy { $0[path: ["metadata", "ownerReferences"]]?[0]?["name"]?.string == rs.name })

            // A new template: a new ReplicaSet takes the replicas, the old one is scaled to 0.
            _ = ok(try await t.kubectl("set", "image", "deployment/web", "main=nginx:1.28", "-n", "default"))
            #expect(try await t.eventually(10) {
                let d = try await json(t, "get", "deployment", "web", "-n", "default")
                return d[path: ["status", "observedGeneration"]] == d[path: ["metadata", "generation"]] && d[path: ["status", "updatedReplicas"]] == 2
                    && d[path: ["status", "replicas"]] == 2 && d[path: ["status", "availableReplicas"]] == 2
            })
            let after = try await json(t, "get", "replicasets", "-n", "default", "-l", "app=web")["items"]?.array ?? []
            #expect(after.count == 2)
            #expect(after.first { $0.name == rs.name }?[path: ["spec", "replicas"]] == 0)

            // Deleting the Deployment takes its ReplicaSets and Pods with it (garbage collection).
            _ = ok(try await t.kubectl("delete", "deployment", "web", "-n", "default"))
            #expect(try await t.eventually(10) { try await json(t, "get", "pods", "-n", "default")["items"]?.array?.isEmpty == true })
            d = try await json(t, "get", "replicasets", "-n", "default")
            #expect(d["items"]?.array?.isEmpty == true)
        }
    }

    @Test func podsThatNeverBecomeReadyAndNoLoadBalancer() async throws {
        try await TestSim.with("realism") { t in
            let set = try await t.http("PUT", "/admin/faults", body: ["podsNeverReady": true, "noLoadBalancer": true, "runPods": true], token: t.sim.adminEndpointToken)
            #expect(set.code == 200)
            try await deployment(t, "bad", image: "example.invalid/nope:1")
            let svcFile = t.dir + "/svc.yaml"
            try Data("apiVersion: v1\nkind: Service\nmetadata: {name: gw, namespace: default}\nspec: {type: LoadBalancer, selector: {app: gw}, ports: [{port: 443}]}\n".utf8)
                .write(to: URL(fileURLWithPath: svcFile))
            _ = ok(try await t.kubectl("apply", "-f", svcFile))
            #expect(try await t.eventually(10) {
                let pods = try await json(t, "get", "pods", "-n", "default", "-l", "app=bad")["items"]?.array ?? []
                return pods.first?[path: ["status", "containerStatuses"]]?[0]?[path: ["state", "waiting", "reason"]] == "ImagePullBackOff"
            })
            #expect(try await t.eventually(10) {
                let d = try await json(t, "get", "deployment", "bad", "-n", "default")
                return d[path: ["status", "observedGeneration"]] == d[path: ["metadata", "generation"]] && d[path: ["status", "replicas"]] == 1
            })
            let d = try await json(t, "get", "deployment", "bad", "-n", "default")
            let available = (d[path: ["status", "conditions"]]?.array ?? []).first { $0["type"] == "Available" }
            #expect(available?["status"] == "False" && available?["reason"] == "MinimumReplicasUnavailable")
            #expect(d[path: ["status", "readyReplicas"]] == nil)
            let svc = try await json(t, "get", "service", "gw", "-n", "default")
            #expect(svc[path: ["status", "loadBalancer", "ingress"]] == nil)
            #expect(svc[path: ["spec", "allocateLoadBalancerNodePorts"]] == true)
        }
    }

    @Test func withoutPodObjectsReplicaSetsStillGateAvailability() async throws {
        try await TestSim.with("nopods") { t in
            try await deployment(t, "web", image: "nginx:1.27", replicas: 3)
            #expect(ok(try await t.kubectl("wait", "--for=condition=Available", "deployment/web", "-n", "default", "--timeout=20s")).contains("condition met"))
            let d = try await json(t, "get", "deployment", "web", "-n", "default")
            #expect(d[path: ["status", "readyReplicas"]] == 3)
            #expect(try await json(t, "get", "replicasets", "-n", "default")["items"]?.array?.count == 1)
            #expect(try await json(t, "get", "pods", "-n", "default")["items"]?.array?.isEmpty == true)

            t.sim.setFaults(FaultSettings(podsNeverReady: true))
            try await deployment(t, "bad", image: "example.invalid/nope:1")
            #expect(try await t.eventually(10) {
                let d = try await json(t, "get", "deployment", "bad", "-n", "default")
                return d[path: ["status", "observedGeneration"]] == 1
                    && (d[path: ["status", "conditions"]]?.array ?? []).contains { $0["type"] == "Available" && $0["status"] == "False" }
            })
        }
    }

    @Test func kubectlScaleGoesThroughTheScaleSubresource() async throws {
        try await TestSim.with("scale") { t in
            try await deployment(t, "web", image: "nginx:1.27")
            #expect(ok(try await t.kubectl("scale", "deployment", "web", "--replicas=3", "-n", "default")).contains("deployment.apps/web scaled"))
            #expect(try await t.eventually(10) {
                let s = try await json(t, "get", "deployment", "web", "-n", "default", "--subresource=scale")
                return s["kind"] == "Scale" && s[path: ["spec", "replicas"]] == 3 && s[path: ["status", "replicas"]] == 3
                    && s[path: ["status", "selector"]] == "app=web"
            })
            // A stale resourceVersion conflicts, as on any write.
            let stale = try await t.http("PUT", "/apis/apps/v1/namespaces/default/deployments/web/scale",
                                         body: ["metadata": ["name": "web", "resourceVersion": "1"], "spec": ["replicas": 1]])
            #expect(stale.code == 409)
            let bad = try await t.http("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", body: ["spec": ["replicas": -1]],
                                       contentType: "application/merge-patch+json")
            #expect(bad.code == 422)
        }
    }
}

/// List pagination as kube-apiserver does it: opaque continue tokens that carry the list's revision and
/// expire (410 Expired) once that revision is compacted; watches from a compacted revision get 410 too.
@Suite(.enabled(if: TestSim.kubectlPath != nil, "kubectl is not installed (apt-get install kubernetes-client)"))
struct PaginationTests {
    @Test func continueTokensPageAndExpire() async throws {
        try await TestSim.with("pages") { t in
            for i in 0..<5 { _ = try await t.http("POST", "/api/v1/namespaces/default/configmaps", body: ["metadata": ["name": .string("cm\(i)")]]) }
            // The real client pages through them.
            let names = try await t.kubectl("get", "configmaps", "-n", "default", "--chunk-size=2", "-o", "name")
            #expect(names.status == 0)
            #expect(names.out.split(separator: "\n").filter { $0.hasPrefix("configmap/cm") }.count == 5)

            let first = try await t.http("GET", "/api/v1/namespaces/default/configmaps?limit=2")
            let token = first.body[path: ["metadata", "continue"]]?.string ?? ""
            #expect(first.body["items"]?.array?.count == 2 && !token.isEmpty)
            let second = try await t.http("GET", "/api/v1/namespaces/default/configmaps?limit=2&continue=\(token)")
            #expect(second.code == 200 && second.body["items"]?.array?.first?.name == "cm2")
            let listRV = first.body[path: ["metadata", "resourceVersion"]]?.string ?? ""

            // A later write, then a compaction up to it (as etcd compacts): the first page's revision is gone.
            _ = try await t.http("POST", "/api/v1/namespaces/default/configmaps", body: ["metadata": ["name": "late"]])
            let compact = try await t.http("POST", "/admin/compact", token: t.sim.adminEndpointToken)
            #expect(compact.code == 200)
            let expired = try await t.http("GET", "/api/v1/namespaces/default/configmaps?limit=2&continue=\(token)")
            #expect(expired.code == 410 && expired.body["reason"] == "Expired")
            let garbled = try await t.http("GET", "/api/v1/namespaces/default/configmaps?limit=2&continue=bm9wZQ==")
            #expect(garbled.code == 400)
            // A watch from before the compaction: one ERROR event carrying 410 Expired, then the stream ends.
            let watch = try await t.http("GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=\(Int(listRV)! - 1)")
            #expect(watch.body["type"] == "ERROR" && watch.body[path: ["object", "code"]] == 410)
        }
    }
}
