import Foundation
import KubeClient
import KubeModel
import KubeSim
import Testing
@testable import MeshformKit

extension EndToEnd {
/// A canary upgrade with the helm renderer: Istio's real charts (../shared/fixtures/istio/charts) rendered by the real
/// Helm engine (../shared/tools/helm), applied to three KubeSim clusters, phase by phase.
///
/// Only one chart version exists here (Istio's development chart, version 1.0.0), so the two installs are the same
/// charts rendered twice: for `istio.version` 1.24.0 unrevisioned, and for 1.25.0 with `istio.revision: 1-25-0`
/// (the charts' `revision` value). What this proves is the revision's part of an upgrade (every object the charts
/// name `-REV`, the webhooks, the default tag, the routing, the rollback); a change the charts of a newer Istio make
/// to shared objects (CRDs, say) is not exercised.
@Suite struct HelmUpgradeEndToEndTests {
    typealias U = UpgradeEndToEndTests
    typealias Forms = IstioFormEndToEndTests
    static let vwc = GroupVersionKind(apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingWebhookConfiguration")
    static let defaultValidator = "istiod-default-validator"

    static func upgraded(_ text: String) -> String {
        text.replacingOccurrences(of: "  version: 1.24.0\n", with: "  version: 1.25.0\n  revision: 1-25-0\n")
    }

    static func hookNames(_ o: JSON?) -> [String] { (o?["webhooks"]?.array ?? []).compactMap { $0["name"]?.string } }

    /// Every webhook configuration of the data-plane clusters and the gateway's VirtualService, as comparable values.
    static func webhooksAndRoutes(_ h: MeshHarness) async throws -> [String: JSON] {
        var out: [String: JSON] = [:]
        for (cluster, snapshot) in [("config", try await h.snapshot("config")), ("remote2", try await h.snapshot("remote2")),
                                    ("external", try await h.snapshot("external"))] {
            for (k, v) in snapshot where k.hasPrefix("MutatingWebhookConfiguration/") || k.hasPrefix("ValidatingWebhookConfiguration/")
                || k.hasPrefix("VirtualService/") || k.hasPrefix("DestinationRule/") {
                out["\(cluster)/\(k)"] = v
            }
        }
        return out
    }

    @Test(.enabled(if: Forms.realHelmAvailable, "needs ../shared/fixtures/istio/charts and ../shared/tools/helm with Python 3.12 (.ci/run runs its setup)"))
    func canaryUpgradeWithRealHelmOnRealCharts() async throws {
        try await MeshHarness.with { h in
            let tool = try await Forms.realHelm(h)
            guard case .succeeded = try await Forms.apply(try await h.session(try Forms.helmMeshFile(h, tool))) else {
                Issue.record("the 1.24.0 install failed"); return
            }
            let file = try Forms.helmMeshFile(h, tool, edit: Self.upgraded)
            let tagBefore = try await h.withClient("config") { try await $0.get(U.mwc, namespace: nil, name: U.tagWebhook) }
            #expect(Self.hookNames(tagBefore) == ["rev.namespace.sidecar-injector.istio.io", "rev.object.sidecar-injector.istio.io",
                                                  "namespace.sidecar-injector.istio.io", "object.sidecar-injector.istio.io"])

            // Phase 1: the charts' revision objects beside the old ones; nothing the old revision uses changes.
            let p1 = try await U.applyPhase(h, file, 1)
            #expect(p1.changes.filter { $0.action.changes }.allSatisfy { $0.action == .create || $0.address.description.hasSuffix("/VirtualService/\(U.ns)/external-istiod-vs") },
                    "\(p1.changes.filter { $0.action.changes && $0.action != .create }.map(\.address))")
            try await h.withClient("external") { c in
                #expect(try await c.get(U.deployment, namespace: U.ns, name: "istiod") != nil)
                let istiod = try await c.get(U.deployment, namespace: U.ns, name: "istiod-1-25-0")
                #expect(istiod?.labels["istio.io/rev"] == "1-25-0")
                // The guide's overlay reached the revision's Deployment and mounts the revision's ConfigMaps (the chart's names).
                let volumes = (istiod?[path: ["spec", "template", "spec", "volumes"]]?.array ?? [])
                    .reduce(into: [String: String]()) { $0[$1["name"]?.string ?? ""] = $1[path: ["configMap", "name"]]?.string }
                #expect(volumes["config-volume"] == "istio-1-25-0" && volumes["inject-volume"] == "istio-sidecar-injector-1-25-0", "\(volumes)")
                for cm in ["istio-1-25-0", "istio-sidecar-injector-1-25-0"] {
                    #expect(try await c.get(GroupVersionKind(apiVersion: "v1", kind: "ConfigMap"), namespace: U.ns, name: cm) != nil, "\(cm)")
                }
                let hosts = U.routeHosts(try await c.get(U.virtualService, namespace: U.ns, name: "external-istiod-vs"))
                #expect(hosts["rev-1-25-0"] == "istiod-1-25-0.\(U.ns).svc.cluster.local" && hosts["#1"] == "istiod.\(U.ns).svc.cluster.local", "\(hosts)")
            }
            for (cluster, net) in [("config", "network1"), ("remote2", "network2")] {
                try await h.withClient(cluster) { c in
                    let rev = try await c.get(U.mwc, namespace: nil, name: U.revisionWebhook)
                    #expect(Self.hookNames(rev) == ["rev.namespace.sidecar-injector.istio.io", "rev.object.sidecar-injector.istio.io"], "\(cluster)")
                    #expect(U.webhookURLs(rev).allSatisfy { $0 == "https://istiod.mesh.example.com:15017/rev/1-25-0/inject/cluster/\(cluster)/net/\(net)" },
                            "\(cluster): \(U.webhookURLs(rev))")
                    #expect(rev?["webhooks"]?[0]?[path: ["namespaceSelector", "matchExpressions"]]?[0]?["values"] == ["1-25-0"])
                }
            }
            let tagAfter = try await h.withClient("config") { try await $0.get(U.mwc, namespace: nil, name: U.tagWebhook) }
            #expect(tagAfter?.resourceVersion == tagBefore?.resourceVersion, "the default tag was written in phase 1")

            // Phase 2, with a failure injected (remote2's default tag refuses the write): everything rolls back.
            let before = try await Self.webhooksAndRoutes(h)
            guard try await U.applyPhaseTwoRefusedByRemote2sTag(h, file) else { return }
            let rolledBack = try await Self.webhooksAndRoutes(h)
            #expect(Set(rolledBack.keys) == Set(before.keys), "\(Set(rolledBack.keys).symmetricDifference(Set(before.keys)))")
            for (k, v) in before where rolledBack[k] != v { Issue.record("\(k) differs after the rollback") }
            #expect(rolledBack["config/MutatingWebhookConfiguration/_/\(U.tagWebhook)"]?.labels["istio.io/rev"] == "default")
            #expect(rolledBack["config/ValidatingWebhookConfiguration/_/\(Self.defaultValidator)"]?.labels["istio.io/rev"] == "default")

            // Phase 2 again: the default tag (Istio's revision-tags template for `default`) and the default validator
            // move to 1-25-0, the gateway's default routes lead to istiod-1-25-0. The chart's unrevisioned webhook has the
            // template's four hooks with the same URLs already, so the tag's move is a change of labels only.
            let p2 = try await U.applyPhase(h, file, 2)
            if ProcessInfo.processInfo.environment["MESHFORM_PRINT_EXAMPLES"] != nil { print(PlanText(color: false).render(p2)) }
            let tagChange = p2.changes.first { $0.address.description == "config/admissionregistration.k8s.io/MutatingWebhookConfiguration/_/\(U.tagWebhook)" }
            #expect(tagChange?.action == .update && tagChange?.fields.allSatisfy { $0.path.hasPrefix(".metadata.labels.") } == true,
                    "\(tagChange?.fields.map(\.path) ?? [])")
            for cluster in ["config", "remote2"] {
                try await h.withClient(cluster) { c in
                    let tag = try await c.get(U.mwc, namespace: nil, name: U.tagWebhook)
                    #expect(tag?.labels["istio.io/rev"] == "1-25-0" && tag?.labels["istio.io/tag"] == "default", "\(cluster)")
                    #expect(Self.hookNames(tag) == Self.hookNames(tagBefore), "\(cluster): \(Self.hookNames(tag))")
                    #expect(U.webhookURLs(tag).allSatisfy { !$0.contains("/rev/") && $0.contains(":15017/inject/cluster/\(cluster)/") }, "\(U.webhookURLs(tag))")
                }
            }
            try await h.withClient("config") { c in
                let validator = try await c.get(Self.vwc, namespace: nil, name: Self.defaultValidator)
                #expect(validator?.labels["istio.io/rev"] == "1-25-0")
            }
            try await h.withClient("external") { c in
                let hosts = U.routeHosts(try await c.get(U.virtualService, namespace: U.ns, name: "external-istiod-vs"))
                #expect(Set(hosts.values) == ["istiod-1-25-0.\(U.ns).svc.cluster.local"], "\(hosts)")
            }

            // Phase 3 after -finalize: the old revision's objects go; nothing of the new one is touched.
            let p3 = try await U.applyPhase(h, file, 3, finalize: true)
            #expect(p3.changes.contains { $0.action == .delete && $0.address.description == "external/apps/Deployment/\(U.ns)/istiod" })
            #expect(!p3.changes.contains { $0.action.changes && $0.action != .delete })
            try await h.withClient("external") { c in
                let old = try await c.get(U.deployment, namespace: U.ns, name: "istiod")
                let new = try await c.get(U.deployment, namespace: U.ns, name: "istiod-1-25-0")
                #expect(old == nil && new != nil)
            }
            try await h.withClient("config") { c in
                let tag = try await c.get(U.mwc, namespace: nil, name: U.tagWebhook)
                let rev = try await c.get(U.mwc, namespace: nil, name: U.revisionWebhook)
                #expect(tag?.labels["istio.io/rev"] == "1-25-0" && rev != nil)
            }
            let done = try await U.session(h, file)
            #expect(done.upgrade == nil)
            let (p, _) = try await done.plan(PlanOptions())
            #expect(!p.hasChanges, "\(p.changes.filter { $0.action.changes }.map { "\($0.action) \($0.address) \($0.fields.map(\.path))" })")
        }
    }
}
}
