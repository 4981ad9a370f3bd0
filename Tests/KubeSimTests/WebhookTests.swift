import Foundation
import Testing
import KubeModel
@testable import KubeSim

/// Admission webhooks called at their URL (opt-in: `FaultSettings.callWebhooks`), through the real kubectl:
/// AdmissionReview v1 over HTTPS trusting the caBundle, rules and selectors matched as kube-apiserver matches
/// them, denials and patches applied, failurePolicy and timeoutSeconds honoured when the webhook cannot answer.
@Suite(.enabled(if: TestSim.kubectlPath != nil, "needs kubectl (.ci/run installs it)"))
struct WebhookTests {
    /// Runs `body` with a sim that calls admission webhooks (`callWebhooks`), stopped afterwards.
    static func with<T>(_ name: String, callWebhooks: Bool = true, _ body: (TestSim) async throws -> T) async throws -> T {
        try await TestSim.with(options: KubeSimOptions(name: name, controllerDelay: .milliseconds(20),
                                                       faults: FaultSettings(callWebhooks: callWebhooks)), body)
    }

    func apply(_ t: TestSim, _ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let file = t.dir + "/\(UUID().uuidString).yaml"
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try await t.kubectl("apply", "-f", file)
        #expect(r.status == 0, "\(r.err)", sourceLocation: sourceLocation)
    }

    func webhookConfiguration(kind: String, name: String, webhook: String, clientConfig: String, failurePolicy: String = "Fail",
                              timeoutSeconds: Int = 10, resources: String = "configmaps", selectors: String = "") -> String {
        """
        apiVersion: admissionregistration.k8s.io/v1
        kind: \(kind)
        metadata: {name: \(name)}
        webhooks:
        - name: \(webhook)
          clientConfig:
        \(clientConfig)
          rules:
          - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [\(resources)]}
          failurePolicy: \(failurePolicy)
          timeoutSeconds: \(timeoutSeconds)
          sideEffects: None
          admissionReviewVersions: [v1]
        \(selectors)
        """
    }

    @Test func aDenyingWebhookRefusesTheWriteInItsNamespacesOnly() async throws {
        try await Self.with("wh-deny") { t in
            try await TestWebhook.with { hook in
                try await apply(t, webhookConfiguration(
                    kind: "ValidatingWebhookConfiguration", name: "guard", webhook: "deny.example.com",
                    clientConfig: "    url: \(hook.url("/deny"))\n    caBundle: \(hook.caBundle)",
                    selectors: "  namespaceSelector: {matchLabels: {guarded: \"true\"}}"))
                #expect(try await t.kubectl("create", "namespace", "guarded").status == 0)
                #expect(try await t.kubectl("label", "namespace", "guarded", "guarded=true").status == 0)

                let refused = try await t.kubectl("create", "configmap", "a", "-n", "guarded", "--from-literal=k=v")
                #expect(refused.status != 0)
                #expect(refused.err.contains("admission webhook \"deny.example.com\" denied the request: configmaps named a are not allowed here"), "\(refused.err)")
                #expect(try await t.kubectl("get", "configmap", "a", "-n", "guarded").status != 0)
                let review = try #require(hook.reviews.last)
                #expect(review["operation"] == "CREATE" && review["namespace"] == "guarded" && review[path: ["resource", "resource"]] == "configmaps")
                #expect(review[path: ["userInfo", "username"]] == "kubernetes-admin")
                #expect(review[path: ["object", "data", "k"]] == "v")

                // Outside the selected namespaces the webhook is not asked.
                let asked = hook.reviews.count
                #expect(try await t.kubectl("create", "configmap", "a", "-n", "default", "--from-literal=k=v").status == 0)
                #expect(hook.reviews.count == asked)

                // Opt-in: through the admin endpoint, webhooks are no longer called.
                let off = try await t.http("PUT", "/admin/faults", body: ["callWebhooks": false], token: t.sim.adminEndpointToken)
                #expect(off.code == 200)
                #expect(try await t.kubectl("create", "configmap", "a", "-n", "guarded", "--from-literal=k=v").status == 0)
            }
        }
    }

    @Test func aDeleteIsSentWithTheOldObjectAndCanBeDenied() async throws {
        try await Self.with("wh-delete") { t in
            try await TestWebhook.with { hook in
                try await apply(t, """
                apiVersion: admissionregistration.k8s.io/v1
                kind: ValidatingWebhookConfiguration
                metadata: {name: protect}
                webhooks:
                - name: protect.example.com
                  clientConfig: {url: \(hook.url("/deny")), caBundle: \(hook.caBundle)}
                  rules: [{apiGroups: [""], apiVersions: [v1], operations: [DELETE], resources: [namespaces], scope: Cluster}]
                  objectSelector: {matchLabels: {protected: "true"}}
                  sideEffects: None
                  admissionReviewVersions: [v1]
                """)
                #expect(try await t.kubectl("create", "namespace", "kept").status == 0)
                #expect(try await t.kubectl("label", "namespace", "kept", "protected=true").status == 0)
                #expect(try await t.kubectl("create", "namespace", "free").status == 0)
                #expect(hook.reviews.isEmpty)   // creates and updates are not in the rule

                let refused = try await t.kubectl("delete", "namespace", "kept", "--wait=false")
                #expect(refused.err.contains("admission webhook \"protect.example.com\" denied the request: namespaces named kept are not allowed here"), "\(refused.err)")
                let review = try #require(hook.reviews.last)
                #expect(review["operation"] == "DELETE" && review["namespace"] == "kept" && (review["object"] ?? .null) == .null)   // RawExtension nil: null
                #expect(review[path: ["oldObject", "metadata", "labels", "protected"]] == "true")
                #expect(try await t.kubectl("get", "namespace", "kept", "-o", "jsonpath={.status.phase}").out == "Active")
                #expect(try await t.kubectl("delete", "namespace", "free", "--wait=false").status == 0)
            }
        }
    }

    @Test func aMutatingWebhookPatchIsStoredUnlessItsObjectSelectorExcludes() async throws {
        try await Self.with("wh-mutate") { t in
            try await TestWebhook.with { hook in
                try await apply(t, webhookConfiguration(
                    kind: "MutatingWebhookConfiguration", name: "labeller", webhook: "label.example.com",
                    clientConfig: "    url: \(hook.url("/label"))\n    caBundle: \(hook.caBundle)",
                    selectors: "  objectSelector: {matchExpressions: [{key: skip, operator: DoesNotExist}]}"))
                #expect(try await t.kubectl("create", "configmap", "b", "--from-literal=k=v").status == 0)
                let labelled = try await t.kubectl("get", "configmap", "b", "-o", "jsonpath={.metadata.labels.admitted-by}")
                #expect(labelled.out == "test-webhook", "\(labelled.err)")

                try await apply(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default, labels: {skip: \"yes\"}}\ndata: {k: v}\n")
                let skipped = try await t.kubectl("get", "configmap", "c", "-o", "jsonpath={.metadata.labels}")
                #expect(!skipped.out.contains("admitted-by"), "\(skipped.out)")

                // A server-side dry run is sent to a webhook without side effects, patched, and not stored.
                let dry = try await t.kubectl("create", "configmap", "d", "--from-literal=k=v", "--dry-run=server", "-o", "jsonpath={.metadata.labels.admitted-by}")
                #expect(dry.status == 0 && dry.out == "test-webhook", "\(dry.err)")
                #expect(hook.reviews.last?["dryRun"] == true)
                #expect(try await t.kubectl("get", "configmap", "d").status != 0)
            }
        }
    }

    @Test func anUnreachableWebhookFailsClosedWithFailAndOpenWithIgnore() async throws {
        try await Self.with("wh-down") { t in
            let config = { (policy: String) in
                self.webhookConfiguration(kind: "MutatingWebhookConfiguration", name: "down", webhook: "inject.example.com",
                                          clientConfig: "    url: https://127.0.0.1:1/inject", failurePolicy: policy)
            }
            try await apply(t, config("Fail"))
            let refused = try await t.kubectl("create", "configmap", "e", "--from-literal=k=v")
            #expect(refused.status != 0)
            // kube-apiserver's words: apierrors.NewInternalError(ErrCallingWebhook), Go's dial error inside.
            #expect(refused.err.contains("Internal error occurred: failed calling webhook \"inject.example.com\": failed to call webhook: Post \"https://127.0.0.1:1/inject?timeout=10s\": dial tcp 127.0.0.1:1: connect: connection refused"), "\(refused.err)")

            try await apply(t, config("Ignore"))
            #expect(try await t.kubectl("create", "configmap", "e", "--from-literal=k=v").status == 0)
        }
    }

    @Test func aServiceReferenceWithNothingBehindItFailsAsOnARealCluster() async throws {
        try await Self.with("wh-svc") { t in
            try await apply(t, webhookConfiguration(
                kind: "MutatingWebhookConfiguration", name: "istio-like", webhook: "namespace.sidecar-injector.istio.io",
                clientConfig: "    service: {name: istiod, namespace: istio-system, path: /inject}"))
            let missing = try await t.kubectl("create", "configmap", "f", "--from-literal=k=v")
            #expect(missing.err.contains("failed calling webhook \"namespace.sidecar-injector.istio.io\": failed to call webhook: Post \"https://istiod.istio-system.svc:443/inject?timeout=10s\": service \"istiod\" not found"), "\(missing.err)")
            #expect(try await t.kubectl("create", "namespace", "istio-system").status == 0)
            try await apply(t, "apiVersion: v1\nkind: Service\nmetadata: {name: istiod, namespace: istio-system}\nspec: {ports: [{port: 443, targetPort: 15017}]}\n")
            let refused = try await t.kubectl("create", "configmap", "f", "--from-literal=k=v")
            #expect(refused.err.contains(": connect: connection refused"), "\(refused.err)")
        }
    }

    @Test func aWebhookSlowerThanTimeoutSecondsFailsWithADeadline() async throws {
        try await Self.with("wh-slow") { t in
            try await TestWebhook.with { hook in
                try await apply(t, webhookConfiguration(
                    kind: "ValidatingWebhookConfiguration", name: "slow", webhook: "slow.example.com",
                    clientConfig: "    url: \(hook.url("/slow"))\n    caBundle: \(hook.caBundle)", timeoutSeconds: 1))
                let r = try await t.kubectl("create", "configmap", "g", "--from-literal=k=v")
                #expect(r.err.contains("failed calling webhook \"slow.example.com\": failed to call webhook: Post \"\(hook.url("/slow"))?timeout=1s\": context deadline exceeded"), "\(r.err)")
            }
        }
    }

    @Test func aCABundleThatDoesNotSignTheWebhookFailsTheCall() async throws {
        try await Self.with("wh-ca") { t in
            try await TestWebhook.with { hook in
                let other = try SimIdentity.generate(name: "other")
                try await apply(t, webhookConfiguration(
                    kind: "ValidatingWebhookConfiguration", name: "wrong-ca", webhook: "ca.example.com",
                    clientConfig: "    url: \(hook.url("/allow"))\n    caBundle: \(Data(other.caPEM.utf8).base64EncodedString())"))
                let r = try await t.kubectl("create", "configmap", "h", "--from-literal=k=v")
                #expect(r.err.contains("x509: certificate signed by unknown authority"), "\(r.err)")
                #expect(hook.reviews.isEmpty)
            }
        }
    }
}
