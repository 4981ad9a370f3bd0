import Foundation
import Testing
import KubeModel
@testable import KubeSim

/// The acceptance test: the real kubectl, with its default validation, against an in-process KubeSim.
/// Skipped (with this reason) only when kubectl or the shared Istio fixtures are absent.
@Suite(.enabled(if: TestSim.kubectlPath != nil && Fixtures.present,
                "kubectl is not installed (apt-get install kubernetes-client) or ../shared/fixtures/istio is absent"))
struct KubectlTests {
    func ok(_ r: (out: String, err: String, status: Int32), sourceLocation: SourceLocation = #_sourceLocation) -> String {
        #expect(r.status == 0, "kubectl failed: \(r.err)", sourceLocation: sourceLocation)
        return r.out
    }

    @Test func istioInstallSamplesLabelPatchWaitAndDelete() async throws {
        try await TestSim.with("kubectl", delay: .milliseconds(100)) { t in
            let allOn = Fixtures.istio + "/istioctl-output/all-on.yaml"
            let samples = ["sleep", "helloworld", "helloworld-gateway", "expose-services"].map { Fixtures.istio + "/samples/\($0).yaml" }

            #expect(ok(try await t.kubectl("version", "-o", "json")).contains("v1.32"))
            _ = ok(try await t.kubectl("create", "namespace", "istio-system"))

            // Client-side apply, twice (the second is a strategic merge patch computed by kubectl), then server-side.
            let first = ok(try await t.kubectl("apply", "-f", allOn))
            #expect(first.contains("customresourcedefinition.apiextensions.k8s.io/virtualservices.networking.istio.io created"))
            #expect(first.contains("deployment.apps/istiod created"))
            let second = ok(try await t.kubectl("apply", "-f", allOn))
            #expect(second.contains("serviceaccount/istiod unchanged"))
            // Switching to server-side apply conflicts where a defaulted value sits inside an atomic list that
            // client-side apply owns (a webhook's rules get `scope: "*"`): the real server merges the applied
            // configuration undefaulted and defaults afterwards (k8s.io/apimachinery managedfields
            // structuredmerge.go), so the migration needs --force-conflicts, as on a real cluster.
            let conflict = try await t.kubectl("apply", "--server-side", "-f", allOn)
            #expect(conflict.status != 0 && conflict.err.contains(#"conflict with "kubectl-client-side-apply" using admissionregistration.k8s.io/v1: .webhooks[name="rev.validation.istio.io"].rules"#))
            let ssa = ok(try await t.kubectl("apply", "--server-side", "--force-conflicts", "-f", allOn))
            #expect(ssa.contains("deployment.apps/istiod serverside-applied"))
            let mf = ok(try await t.kubectl("get", "deployment", "istiod", "-n", "istio-system", "-o", "jsonpath={.metadata.managedFields[*].manager}"))
            #expect(mf.contains("kubectl"))

            // The samples into a labelled namespace; CRD kinds listed across namespaces.
            _ = ok(try await t.kubectl("create", "namespace", "demo"))
            _ = ok(try await t.kubectl("label", "namespace", "demo", "istio-injection=enabled"))
            #expect(ok(try await t.kubectl("get", "namespace", "demo", "-o", "jsonpath={.metadata.labels.istio-injection}")) == "enabled")
            for s in samples { _ = ok(try await t.kubectl("apply", "-n", "demo", "-f", s)) }
            let gateways = ok(try await t.kubectl("get", "gateways.networking.istio.io", "-A"))
            #expect(gateways.contains("demo") && gateways.contains("helloworld-gateway") && gateways.contains("cross-network-gateway"))
            #expect(ok(try await t.kubectl("get", "virtualservices", "-A", "-o", "name")).contains("virtualservice.networking.istio.io/helloworld"))

            // label, patch (strategic, merge, json), wait.
            _ = ok(try await t.kubectl("label", "deployment", "sleep", "-n", "demo", "team=mesh"))
            _ = ok(try await t.kubectl("patch", "deployment", "sleep", "-n", "demo", "-p", #"{"spec":{"replicas":2}}"#))
            _ = ok(try await t.kubectl("patch", "deployment", "sleep", "-n", "demo", "--type=merge", "-p", #"{"metadata":{"annotations":{"a":"b"}}}"#))
            _ = ok(try await t.kubectl("patch", "deployment", "sleep", "-n", "demo", "--type=json", "-p", #"[{"op":"add","path":"/metadata/labels/j","value":"1"}]"#))
            let wait = ok(try await t.kubectl("wait", "--for=condition=Available", "deployment/sleep", "-n", "demo", "--timeout=20s"))
            #expect(wait.contains("condition met"))
            let got = ok(try await t.kubectl("get", "deployment", "sleep", "-n", "demo", "-o", "json", "--show-managed-fields"))
            let d = try JSON(data: Data(got.utf8))
            #expect(d[path: ["spec", "replicas"]] == 2)
            #expect(d[path: ["status", "readyReplicas"]] == 2)
            #expect(d.labels["team"] == "mesh" && d.labels["j"] == "1" && d.annotations["a"] == "b")
            let managers = (d[path: ["metadata", "managedFields"]]?.array ?? []).compactMap { $0["manager"]?.string }
            #expect(Set(managers).isSuperset(of: ["kubectl-client-side-apply", "kubectl-label", "kubectl-patch"]))

            // Delete everything; nothing is left behind.
            for s in samples.reversed() { _ = ok(try await t.kubectl("delete", "-n", "demo", "-f", s)) }
            _ = ok(try await t.kubectl("delete", "-f", allOn))
            _ = ok(try await t.kubectl("delete", "namespace", "demo", "istio-system"))
            #expect(ok(try await t.kubectl("get", "namespaces", "-o", "name")).split(separator: "\n").sorted() == ["namespace/default", "namespace/kube-public", "namespace/kube-system"])
            #expect(ok(try await t.kubectl("get", "crd", "-o", "name")).isEmpty)
            #expect(ok(try await t.kubectl("get", "deployments,services,serviceaccounts,configmaps,roles,rolebindings", "-A", "-o", "name")).isEmpty)
            #expect(ok(try await t.kubectl("get", "clusterroles,clusterrolebindings,mutatingwebhookconfigurations,validatingwebhookconfigurations", "-o", "name")).isEmpty)
        }
    }

    /// kubectl 1.32 asks for aggregated discovery first (client-go discovery_client.go `acceptDiscoveryFormats`) and,
    /// answered in that form, reads no group-version by itself; an established CRD's kind is in it.
    @Test func kubectlReadsDiscoveryInTheAggregatedForm() async throws {
        try await TestSim.with("kubectl-discovery") { t in
            try await t.install(crd: WidgetCRD.definition(group: "discovery.meshform.dev", spec: ["type": "object"]))
            let names = ok(try await t.kubectl("--cache-dir", t.dir + "/kubectl-cache", "api-resources", "-o", "name"))
            #expect(names.contains("widgets.discovery.meshform.dev") && names.contains("deployments.apps") && names.contains("configmaps"))
            let requests = t.sim.discoveryRequests
            #expect((requests["/api (aggregated v2)"] ?? 0) >= 1 && (requests["/apis (aggregated v2)"] ?? 0) >= 1, "\(requests)")
            #expect(requests.keys.filter { $0.hasPrefix("/api/") || $0.hasPrefix("/apis/") }.isEmpty, "read one by one: \(requests)")
        }
    }

    @Test func serviceAccountTokenFromKubectlAuthenticates() async throws {
        try await TestSim.with("kubectl-token") { t in
            _ = ok(try await t.kubectl("create", "serviceaccount", "robot"))
            let token = ok(try await t.kubectl("create", "token", "robot")).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(!token.isEmpty)
            #expect(try await t.http("GET", "/api/v1/namespaces", token: token).code == 403)   // authenticated; no RBAC granted
            let err = try await t.kubectl("get", "configmap", "absent")
            #expect(err.status != 0)
            #expect(err.err.contains("NotFound") && err.err.contains("\"absent\" not found"))
        }
    }
}
