import Foundation
import KubeClient
import KubeModel
import StateStore
import Testing
@testable import MeshformKit

/// The engine against what a real kube-apiserver does and KubeSim (so far) does not (issue 11).
extension EndToEnd {
@Suite struct RealServerEndToEndTests {
    /// The mesh with the external cluster's components rendered from the real istioctl output (all-on.yaml).
    static func realIstioctlMesh(_ h: MeshHarness) async throws -> MeshSession {
        let manifests = h.dir.appendingPathComponent("manifests")
        try FileManager.default.copyItem(at: MeshHarness.packageRoot.appendingPathComponent("plans/demo"), to: manifests)
        let gateway = manifests.appendingPathComponent("controlplane-gateway.yaml")
        try FileManager.default.removeItem(at: gateway)
        try FileManager.default.copyItem(at: MeshHarness.sharedFixtures.appendingPathComponent("istioctl-output/all-on.yaml"), to: gateway)
        return try await h.session(try h.multiRemote([{ $0.replacingOccurrences(of: "manifests: demo", with: "manifests: \(manifests.path)") }]))
    }

    /// What kube-apiserver stores for this fixture's objects, where KubeSim keeps the text as sent: every
    /// `resource.Quantity` in canonical form (`2048Mi` -> `2Gi`, `2000m` -> `2`, `1024Mi` -> `1Gi`), `null` fields
    /// gone, and `omitempty` strings (EnvVar `value: ""`) gone.
    static func asRealServerStores(_ v: JSON, path: [String] = []) -> JSON {
        switch v {
        case .object(let o):
            var out: [String: JSON] = [:]
            for (k, x) in o {
                if x.isNull || (k == "value" && x == "" && path.last == "env") { continue }
                if path.count >= 2, path[path.count - 2] == "resources", ["limits", "requests"].contains(path.last!), let s = x.string ?? x.int.map(String.init) {
                    out[k] = .string(Quantity.canonical(s) ?? s); continue
                }
                out[k] = asRealServerStores(x, path: path + [k])
            }
            return .object(out)
        case .array(let a): return .array(a.map { asRealServerStores($0, path: path) })
        default: return v
        }
    }

    /// After an apply, every object (those of the real istioctl output among them) is rewritten live as a real server stores it (a PUT
    /// by another manager, as the server's own canonical form would be): `plan -detailed-exitcode` is still 0 and
    /// `drift` still clean.
    @Test(.enabled(if: MeshHarness.hasSharedFixtures, "../shared/fixtures/istio is absent, so there is no real istioctl output to apply"))
    func convergesWhereTheServerCanonicalisesValues() async throws {
        try await MeshHarness.with { h in
            let session = try await Self.realIstioctlMesh(h)
            let (_, result) = try await ApplyEndToEndTests.apply(session)
            guard case .succeeded = result else { Issue.record("apply: \(result)"); return }

            var rewritten: [String] = []
            let state = try StateStore.openReadOnly(path: h.statePath).objects()
            for o in state {
                try await h.withClient(o.cluster) { c in
                    let gvk = GroupVersionKind(apiVersion: o.apiVersion, kind: o.kind)
                    guard let live = try await c.get(gvk, namespace: o.namespace, name: o.name) else { Issue.record("\(o.address) is gone"); return }
                    let stored = ServerCanonicalForm.isBuiltIn(apiVersion: o.apiVersion) ? Self.asRealServerStores(live) : live
                    if stored != live {
                        let r = try await c.resource(for: gvk)
                        let put = try await c.request(method: .PUT, path: r.path(namespace: o.namespace, name: o.name),
                                                      query: [("fieldManager", "kube-apiserver")], body: Data(stored.canonicalText.utf8),
                                                      contentType: "application/json")
                        #expect(put.isSuccess, "\(o.address): \(put.status)")
                        rewritten.append(o.address)
                    }
                }
            }
            // The fixture's own values are ones a real server rewrites, and the state keeps them as sent. (Once KubeSim
            // canonicalises by itself, `rewritten` may be empty: the live values below hold either way.)
            let istiod = "external/apps/Deployment/istio-system/istiod"
            print("rewritten as a real server stores them: \(rewritten.sorted())")
            let applied = try #require(state.first { $0.address == istiod }).applied
            #expect(applied[path: ["spec", "template", "spec", "containers"]]?[0]?[path: ["resources", "requests", "memory"]] == "2048Mi")
            try await h.withClient("external") { c in
                let live = try #require(try await c.get(GroupVersionKind(apiVersion: "apps/v1", kind: "Deployment"), namespace: "istio-system", name: "istiod"))
                #expect(live[path: ["spec", "template", "spec", "containers"]]?[0]?[path: ["resources", "requests", "memory"]] == "2Gi")
                let gateway = try #require(try await c.get(GroupVersionKind(apiVersion: "apps/v1", kind: "Deployment"), namespace: "istio-system",
                                                           name: "istio-ingressgateway"))
                #expect(gateway[path: ["spec", "template", "spec", "containers"]]?[0]?[path: ["resources", "limits"]] == ["cpu": "2", "memory": "1Gi"])

                let (again, _) = try await session.plan(PlanOptions())
                #expect(!again.hasChanges, "\(again.changes.filter { $0.action.changes }.map { "\($0.action) \($0.address) \($0.fields.map(\.path))" })")
                let drift = try await session.drift()
                #expect(!drift.hasDrift, "\(drift.text())")
                if let binary = CLIEndToEndTests.binary {
                    let plan = try await MeshHarness.run(binary, ["plan", session.meshFile, "-detailed-exitcode", "--state", h.statePath], environment: h.environment)
                    #expect(plan.status == 0, "\(plan.output)")
                    let cron = try await MeshHarness.run(binary, ["drift", session.meshFile, "--quiet", "--state", h.statePath], environment: h.environment)
                    #expect(cron.status == 0 && cron.output.isEmpty, "\(cron.output)")
                }
            }
        }
    }

    /// A drift credential that may read each namespace but not list across all of them (RBAC as many teams grant it):
    /// the LIST for orphans gets 403, and drift says so and exits 1 instead of reporting "no orphans".
    @Test func aRefusedListForOrphansIsAnErrorNamingClusterAndKind() async throws {
        try await MeshHarness.with { h in
            let session = try await h.session(try h.multiRemote())
            let (_, result) = try await ApplyEndToEndTests.apply(session)
            guard case .succeeded = result else { Issue.record("apply: \(result)"); return }

            try await h.withClient("external") { admin in
                let state = try StateStore.openReadOnly(path: h.statePath).objects().filter { $0.cluster == "external" }
                let rbac = "rbac.authorization.k8s.io/v1"
                let readAll: JSON = [["apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list"]]]
                let clusterScoped: JSON = [["apiGroups": ["*"], "verbs": ["get", "list"], "resources": [
                    "namespaces", "clusterroles", "clusterrolebindings", "customresourcedefinitions",
                    "mutatingwebhookconfigurations", "validatingwebhookconfigurations"]]]
                for o: JSON in [
                    ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": "drift", "namespace": "default"]],
                    ["apiVersion": .string(rbac), "kind": "ClusterRole", "metadata": ["name": "drift-namespaced"], "rules": readAll],
                    ["apiVersion": .string(rbac), "kind": "ClusterRole", "metadata": ["name": "drift-cluster"], "rules": clusterScoped],
                    ["apiVersion": .string(rbac), "kind": "ClusterRoleBinding", "metadata": ["name": "drift-cluster"],
                     "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "drift-cluster"],
                     "subjects": [["kind": "ServiceAccount", "name": "drift", "namespace": "default"]]],
                ] { _ = try await admin.apply(o, fieldManager: "test", force: true) }
                for ns in Set(state.compactMap(\.namespace)) {
                    _ = try await admin.apply(["apiVersion": .string(rbac), "kind": "RoleBinding", "metadata": ["name": "drift", "namespace": .string(ns)],
                                               "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "drift-namespaced"],
                                               "subjects": [["kind": "ServiceAccount", "name": "drift", "namespace": "default"]]],
                                              fieldManager: "test", force: true)
                }
                let token = try await admin.requestToken(namespace: "default", serviceAccount: "drift")
                // The restricted kubeconfig comes first in KUBECONFIG, so its `external` context wins (kubectl's merge rule).
                let restricted = h.dir.appendingPathComponent("restricted.kubeconfig")
                let adminConfig = try String(contentsOfFile: h.kubeconfigs["external"]!, encoding: .utf8)
                let tokenLine = try #require(adminConfig.split(separator: "\n").first { $0.contains("token:") })
                try adminConfig.replacingOccurrences(of: String(tokenLine), with: "    token: \(token)").write(to: restricted, atomically: true, encoding: .utf8)
                var env = h.environment
                env["KUBECONFIG"] = restricted.path + ":" + env["KUBECONFIG"]!
                let restrictedSession = try await MeshSession(meshFile: session.meshFile, statePath: h.statePath, environment: env)

                let report = try await restrictedSession.drift()
                let error = try #require(report.unreachable["external"], "a refused LIST was counted as no orphans: \(report.text())")
                #expect(error.contains("listing Deployment (apps/v1) to find orphans failed") && error.contains("forbidden"), "\(error)")
                #expect(report.findings.isEmpty, "\(report.text())")
                #expect(report.text().contains("Error: cluster external could not be checked: listing"))
                if let binary = CLIEndToEndTests.binary {
                    let cron = try await MeshHarness.run(binary, ["drift", session.meshFile, "--quiet", "--state", h.statePath], environment: env)
                    #expect(cron.status == 1 && cron.output.contains("cluster external") && cron.output.contains("Deployment"), "\(cron.output)")
                }
            }
        }
    }

    /// A later apply of a webhook configuration (here: to undo an edit of its URL) keeps `failurePolicy` and
    /// `caBundle` as they are live: istiod's where istiod set them, the created value where no one else did.
    /// Dropping a field only Meshform owns would let the server reset it (KubeSim removes it; a real server sets the
    /// default `Fail`).
    @Test func webhookFieldsMeshformStopsOwningKeepTheirLiveValue() async throws {
        try await MeshHarness.with { h in
            let session = try await h.session(try h.multiRemote())
            let (_, result) = try await ApplyEndToEndTests.apply(session)
            guard case .succeeded = result else { Issue.record("apply: \(result)"); return }
            try await h.withClient("config") { c in
                let mutating = GroupVersionKind(group: "admissionregistration.k8s.io", version: "v1", kind: "MutatingWebhookConfiguration")
                let validating = GroupVersionKind(group: "admissionregistration.k8s.io", version: "v1", kind: "ValidatingWebhookConfiguration")
                let injector = try #require(try await c.list(mutating, namespace: nil).first)
                let validator = try #require(try await c.list(validating, namespace: nil).first)
                let hook = { (o: JSON) in o["webhooks"]?[0] ?? [:] }
                #expect(hook(validator)["failurePolicy"] == "Ignore", "the demo renders the validator with Ignore")

                // istiod patches the injector's caBundle and failurePolicy (its own manager); someone edits both URLs.
                _ = try await c.apply(["apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
                                       "metadata": ["name": injector["metadata"]!["name"]!],
                                       "webhooks": [["name": hook(injector)["name"]!, "failurePolicy": "Ignore",
                                                     "clientConfig": ["caBundle": "TFMwdExTMUNSVWRKVGk="]]]],
                                      fieldManager: "pilot-discovery", force: true)
                for (gvk, o) in [(mutating, injector), (validating, validator)] {
                    _ = try await c.apply(["apiVersion": "admissionregistration.k8s.io/v1", "kind": .string(gvk.kind),
                                           "metadata": ["name": o["metadata"]!["name"]!],
                                           "webhooks": [["name": hook(o)["name"]!, "clientConfig": ["url": "https://elsewhere.example:15017/x"]]]],
                                          fieldManager: "kubectl-edit", force: true)
                }
                let (plan, applied) = try await ApplyEndToEndTests.apply(session)
                #expect(plan.changes.filter { $0.action == .update }.count == 2, "\(plan.changes.filter { $0.action.changes }.map(\.address.description))")
                guard case .succeeded = applied else { Issue.record("apply: \(applied)"); return }

                let injectorNow = hook(try #require(try await c.get(mutating, namespace: nil, name: injector.name!)))
                let validatorNow = hook(try #require(try await c.get(validating, namespace: nil, name: validator.name!)))
                #expect(injectorNow[path: ["clientConfig", "url"]] == hook(injector)[path: ["clientConfig", "url"]])
                #expect(injectorNow[path: ["clientConfig", "caBundle"]] == "TFMwdExTMUNSVWRKVGk=" && injectorNow["failurePolicy"] == "Ignore",
                        "istiod's values stay: \(injectorNow)")
                #expect(validatorNow[path: ["clientConfig", "url"]] == hook(validator)[path: ["clientConfig", "url"]])
                #expect(validatorNow["failurePolicy"] == "Ignore", "not reset: \(validatorNow)")
                if MeshHarness.kubectlPath != nil {
                    let seen = try await h.kubectl("config", ["get", "validatingwebhookconfiguration", validator.name!, "-o", "jsonpath={.webhooks[0].failurePolicy}"])
                    #expect(seen.status == 0 && seen.output == "Ignore", "kubectl: \(seen.output)")
                }
                let (after, _) = try await session.plan(PlanOptions())
                #expect(!after.hasChanges, "\(after.changes.filter { $0.action.changes }.map { "\($0.address) \($0.fields.map(\.path))" })")
            }
        }
    }
}
}
