import Testing
import KubeModel
@testable import MeshformKit

@Suite struct FieldDiffTests {
    let applied: JSON = [
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": ["name": "istiod", "namespace": "external-istiod", "labels": ["app": "istiod"]],
        "spec": ["replicas": 1, "template": ["spec": ["containers": [["name": "discovery", "image": "pilot:1.24"]]]]],
    ]

    @Test func serverDefaultsAndStatusAreNotDifferences() {
        var live = applied
        live[path: ["metadata", "uid"]] = "u-1"
        live[path: ["metadata", "annotations"]] = ["deployment.kubernetes.io/revision": "1"]
        live[path: ["spec", "strategy"]] = ["type": "RollingUpdate"]
        live[path: ["spec", "template", "spec", "containers"]] = [["name": "discovery", "image": "pilot:1.24", "imagePullPolicy": "IfNotPresent"]]
        live["status"] = ["readyReplicas": 1]
        #expect(FieldDiff.compare(intended: applied, live: live).isEmpty)
    }

    @Test func aChangedManagedFieldIsReportedByItsPath() {
        var live = applied
        live[path: ["spec", "replicas"]] = 3
        live[path: ["spec", "template", "spec", "containers"]] = [["name": "discovery", "image": "pilot:evil"]]
        let changes = FieldDiff.compare(intended: applied, live: live)
        #expect(changes.map(\.path) == [".spec.replicas", ".spec.template.spec.containers[name=discovery].image"])
        #expect(changes[0].before == 3 && changes[0].after == 1)
    }

    @Test func aFieldDroppedFromTheIntentIsARemoval() {
        var intended = applied
        intended[path: ["metadata", "labels"]] = nil
        let changes = FieldDiff.compare(intended: intended, live: applied, previouslyApplied: applied)
        #expect(changes == [FieldChange(path: ".metadata.labels", before: ["app": "istiod"], after: nil)])
    }

    @Test func ignoredFieldsAreNeverCompared() {
        let webhook: JSON = ["kind": "MutatingWebhookConfiguration", "webhooks": [
            ["name": "a.istio.io", "failurePolicy": "Ignore", "clientConfig": ["url": "https://x:15017/inject"]]]]
        var live = webhook
        live["webhooks"] = [["name": "a.istio.io", "failurePolicy": "Fail",
                             "clientConfig": ["url": "https://x:15017/inject", "caBundle": "LS0t"]]]
        let ignore = ["webhooks[*].failurePolicy", "webhooks[*].clientConfig.caBundle"].map(FieldPattern.init)
        #expect(FieldDiff.compare(intended: webhook, live: live, ignoring: ignore).isEmpty)
        #expect(FieldDiff.compare(intended: webhook, live: live).map(\.path) == [".webhooks[name=a.istio.io].failurePolicy"])
    }

    @Test func removingAnIgnoredFieldGivesUpItsOwnership() {
        let webhook: JSON = ["webhooks": [["name": "a", "failurePolicy": "Ignore", "sideEffects": "None"]]]
        #expect(FieldPattern("webhooks[*].failurePolicy").removed(from: webhook) == ["webhooks": [["name": "a", "sideEffects": "None"]]])
    }

    @Test func integerAndFloatingPointCompareByValue() {
        #expect(FieldDiff.compare(intended: ["a": 1], live: ["a": 1.0]).isEmpty)
    }
}
