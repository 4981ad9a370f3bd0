import Foundation
import KubeModel
import Testing
@testable import MeshformKit

/// A webhook configuration whose `webhooks` list loses an element (the default revision tag of a canary upgrade
/// written over the unrevisioned injector, whose `namespace.sidecar-injector.istio.io` hook the tag does not carry):
/// server-side apply removes the element from the associative list, so the plan shows it as a removal.
@Suite struct RemovedListElementTests {
    static func hook(_ name: String, url: String) -> JSON {
        ["name": .string(name), "clientConfig": ["url": .string(url)], "sideEffects": "None", "admissionReviewVersions": ["v1"]]
    }
    static let applied: JSON = [
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": ["name": "istio-sidecar-injector-external-istiod", "labels": ["istio.io/rev": "default"]],
        "webhooks": [hook("namespace.sidecar-injector.istio.io", url: "https://istiod.example.com:15017/inject/"),
                     hook("object.sidecar-injector.istio.io", url: "https://istiod.example.com:15017/inject/")]]

    static var tag: JSON {
        var t = applied
        t[path: ["metadata", "labels", "istio.io/rev"]] = "1-25-0"
        t["webhooks"] = [hook("rev.namespace.sidecar-injector.istio.io", url: "https://istiod.example.com:15017/inject/"),
                         hook("object.sidecar-injector.istio.io", url: "https://istiod.example.com:15017/inject/")]
        return t
    }

    @Test func aWebhookDroppedFromTheListIsARemoval() {
        let fields = FieldDiff.compare(intended: Self.tag, live: Self.applied, previouslyApplied: Self.applied)
        #expect(fields.map(\.path) == [".metadata.labels.istio.io/rev", ".webhooks[name=rev.namespace.sidecar-injector.istio.io]",
                                       ".webhooks[name=namespace.sidecar-injector.istio.io]"])
        let removed = fields.last
        #expect(removed?.after == nil && removed?.before?["name"] == "namespace.sidecar-injector.istio.io")
    }

    @Test func aFieldDroppedInsideAKeptElementIsARemoval() {
        var intended = Self.applied
        intended["webhooks"] = [["name": "namespace.sidecar-injector.istio.io", "clientConfig": ["url": "https://istiod.example.com:15017/inject/"],
                                 "admissionReviewVersions": ["v1"]],
                                Self.hook("object.sidecar-injector.istio.io", url: "https://istiod.example.com:15017/inject/")]
        let fields = FieldDiff.compare(intended: intended, live: Self.applied, previouslyApplied: Self.applied)
        #expect(fields == [FieldChange(path: ".webhooks[name=namespace.sidecar-injector.istio.io].sideEffects", before: "None", after: nil)])
    }

    /// An element another manager added (never in what Meshform applied) is not Meshform's to remove.
    @Test func anElementMeshformNeverAppliedIsNoChange() {
        var live = Self.applied
        live["webhooks"] = .array((Self.applied["webhooks"]?.array ?? []) + [Self.hook("theirs.example.com", url: "https://x/")])
        #expect(FieldDiff.compare(intended: Self.applied, live: live, previouslyApplied: Self.applied).isEmpty)
    }

    @Test func thePlanTextShowsTheRemovedWebhook() throws {
        let fields = FieldDiff.compare(intended: Self.tag, live: Self.applied, previouslyApplied: Self.applied)
        let change = PlannedChange(address: try ResourceAddress(parsing: "config/admissionregistration.k8s.io/MutatingWebhookConfiguration/_/istio-sidecar-injector-external-istiod"),
                                   cluster: "config", action: .update, reason: nil, fields: fields, before: Self.applied, after: Self.tag,
                                   afterUnknown: [], sensitive: false)
        let plan = Plan(operation: .apply, mesh: "m", meshFile: "m.yaml", stateLineage: nil, stateSerial: 1, configHash: "",
                        createdAt: Date(), changes: [change], refreshed: true)
        let text = PlanText(color: false).render(plan)
        #expect(text.contains("      - .webhooks[name=namespace.sidecar-injector.istio.io] = {"), "\(text)")
        #expect(text.contains("      + .webhooks[name=rev.namespace.sidecar-injector.istio.io] = {"))
        #expect(text.contains("Plan: 0 to add, 1 to change, 0 to destroy."))
    }
}
