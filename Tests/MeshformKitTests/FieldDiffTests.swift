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

    /// Across clusters, a run's memo gives exactly what comparing afresh gives: for the same copy again, a copy drifted
    /// in one cluster, a copy whose labels differ, another intent, and other ignore rules.
    @Test func aMemoGivesTheSameChangesAsComparingAfresh() {
        var same = applied
        same[path: ["metadata", "uid"]] = "u-1"
        same["status"] = ["readyReplicas": 1]
        var drifted = same
        drifted[path: ["spec", "replicas"]] = 3
        var relabelled = same
        relabelled[path: ["metadata", "labels", "app"]] = "other"
        var otherIntent = applied
        otherIntent[path: ["spec", "template", "spec", "containers"]] = [["name": "discovery", "image": "pilot:1.25"]]
        let ignoreReplicas = [FieldPattern(".spec.replicas")]
        let cases: [(JSON, JSON, [FieldPattern])] = [
            (applied, same, []), (applied, same, []), (applied, same, []), (applied, drifted, []), (applied, same, []),
            (applied, drifted, []), (applied, relabelled, []), (otherIntent, same, []), (otherIntent, same, []),
            (applied, drifted, ignoreReplicas), (applied, drifted, ignoreReplicas), (applied, drifted, []),
        ]
        let memo = FieldDiff.Memo()
        for (intended, live, ignore) in cases {
            #expect(FieldDiff.compare(intended: intended, live: live, ignoring: ignore, memo: memo)
                    == FieldDiff.compare(intended: intended, live: live, ignoring: ignore))
        }
        #expect(FieldDiff.compare(intended: applied, live: drifted, memo: memo).map(\.path) == [".spec.replicas"])
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

    @Test func integerAndFloatingPointCompareByValue() {
        #expect(FieldDiff.compare(intended: ["a": 1], live: ["a": 1.0]).isEmpty)
    }
}

/// A real API server stores some values in another spelling (issue 11): those are no change.
@Suite struct ServerCanonicalFormDiffTests {
    let deployment: JSON = [
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "istiod", "annotations": nil],
        "spec": ["replicas": 0, "template": ["metadata": ["creationTimestamp": nil], "spec": [
            "securityContext": ["runAsUser": 0],
            "containers": [["name": "discovery", "env": [],
                            "readinessProbe": ["initialDelaySeconds": 0, "httpGet": ["path": "/ready", "port": 8080]],
                            "resources": ["limits": ["memory": "2048Mi", "cpu": "2000m"], "requests": ["cpu": 0.5]]]]]]],
    ]

    /// What a real server returns for `deployment`: quantities canonical, nulls and omitempty zeros dropped.
    var stored: JSON {
        var l = deployment
        l[path: ["metadata", "annotations"]] = nil
        l[path: ["spec", "template", "metadata"]] = [:]
        l[path: ["spec", "template", "spec", "containers"]] = [["name": "discovery",
            "readinessProbe": ["httpGet": ["path": "/ready", "port": 8080]],
            "resources": ["limits": ["memory": "2Gi", "cpu": "2"], "requests": ["cpu": "500m"]]]]
        return l
    }

    @Test func whatTheServerStoresForTheSentValueIsNoChange() {
        #expect(FieldDiff.compare(intended: deployment, live: stored).isEmpty)
    }

    @Test func aQuantityChangedByMeaningIsAChange() {
        var live = stored
        live[path: ["spec", "template", "spec", "containers"]] = [["name": "discovery",
            "readinessProbe": ["httpGet": ["path": "/ready", "port": 8080]],
            "resources": ["limits": ["memory": "1Gi", "cpu": "2"], "requests": ["cpu": "500m"]]]]
        let changes = FieldDiff.compare(intended: deployment, live: live)
        #expect(changes.map(\.path) == [".spec.template.spec.containers[name=discovery].resources.limits.memory"])
        #expect(changes.first?.before == "1Gi" && changes.first?.after == "2048Mi")
    }

    @Test func pointerFieldsKeepTheirZeroSoTheirAbsenceIsAChange() {
        var live = stored
        live[path: ["spec", "replicas"]] = nil
        live[path: ["spec", "template", "spec", "securityContext"]] = [:]
        #expect(FieldDiff.compare(intended: deployment, live: live).map(\.path)
                == [".spec.replicas", ".spec.template.spec.securityContext.runAsUser"])
    }

    @Test func customResourcesAreStoredAsSentSoOnlyNullIsDropped() {
        let cr: JSON = ["apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": ["name": "g", "labels": nil],
                        "spec": ["resources": ["limits": ["memory": "2048Mi"]], "servers": [], "enabled": false]]
        let live: JSON = ["apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": ["name": "g"],
                          "spec": ["resources": ["limits": ["memory": "2Gi"]]]]
        #expect(FieldDiff.compare(intended: cr, live: live).map(\.path)
                == [".spec.enabled", ".spec.resources.limits.memory", ".spec.servers"])
    }

    @Test func quantitiesAreComparedOnlyWhereTheTypeIsAQuantity() {
        let cm: JSON = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c"], "data": ["limits": "2048Mi"]]
        let live: JSON = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c"], "data": ["limits": "2Gi"]]
        #expect(FieldDiff.compare(intended: cm, live: live).map(\.path) == [".data.limits"])
        // A map keeps an entry with an empty value, so its absence is a change.
        let empty: JSON = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c"], "data": ["flag": ""]]
        #expect(FieldDiff.compare(intended: empty, live: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c"], "data": [:]])
                .map(\.path) == [".data.flag"])
        let quota: JSON = ["apiVersion": "v1", "kind": "ResourceQuota", "metadata": ["name": "q"], "spec": ["hard": ["pods": "1000"]]]
        #expect(FieldDiff.compare(intended: quota, live: ["apiVersion": "v1", "kind": "ResourceQuota", "metadata": ["name": "q"],
                                                          "spec": ["hard": ["pods": "1k"]]]).isEmpty)
    }
}
