import Foundation
import KubeModel

/// The defaults the API server fills in on every write, for the kinds Meshform and Istio's manifests
/// write. Because they run on every write (after a server-side apply has removed fields too), a field a
/// manager stops applying comes back with its default, as on a real server.
///
/// Sources (kubernetes/kubernetes): pkg/apis/core/v1/defaults.go (SetDefaults_Service, _PodSpec,
/// _Container, _Probe, _HTTPGetAction, _SecretVolumeSource, _ConfigMapVolumeSource, _Namespace),
/// pkg/apis/apps/v1/defaults.go (SetDefaults_Deployment, _DaemonSet, _StatefulSet, _ReplicaSet),
/// pkg/apis/admissionregistration/v1/defaults.go (SetDefaults_ValidatingWebhook, _MutatingWebhook, _Rule,
/// _ServiceReference), pkg/apis/rbac/v1/defaults.go (SetDefaults_Subject); Service's ipFamilies,
/// ipFamilyPolicy and internalTrafficPolicy are set by pkg/registry/core/service/storage (single-stack IPv4).
enum Defaults {
    static func apply(_ t: ResourceType, _ o: inout JSON) {
        guard t.group.isEmpty || t.group.hasSuffix("k8s.io") || t.group == "apps" else { return }   // built-ins only
        switch t.storageKey {
        case "services": service(&o)
        case "pods": if var spec = o["spec"] { podSpec(&spec); o["spec"] = spec }
        case "deployments.apps":
            set(&o, ["spec", "replicas"], 1)
            set(&o, ["spec", "revisionHistoryLimit"], 10)
            set(&o, ["spec", "progressDeadlineSeconds"], 600)
            if o[path: ["spec", "strategy", "type"]] == nil { o[path: ["spec", "strategy", "type"]] = "RollingUpdate" }
            if o[path: ["spec", "strategy", "type"]]?.string == "RollingUpdate" {
                set(&o, ["spec", "strategy", "rollingUpdate", "maxUnavailable"], "25%")
                set(&o, ["spec", "strategy", "rollingUpdate", "maxSurge"], "25%")
            }
            template(&o)
        case "replicasets.apps":
            set(&o, ["spec", "replicas"], 1); template(&o)
        case "daemonsets.apps":
            set(&o, ["spec", "revisionHistoryLimit"], 10)
            if o[path: ["spec", "updateStrategy", "type"]] == nil { o[path: ["spec", "updateStrategy", "type"]] = "RollingUpdate" }
            if o[path: ["spec", "updateStrategy", "type"]]?.string == "RollingUpdate" {
                set(&o, ["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"], 1)
                set(&o, ["spec", "updateStrategy", "rollingUpdate", "maxSurge"], 0)
            }
            template(&o)
        case "statefulsets.apps":
            set(&o, ["spec", "replicas"], 1)
            set(&o, ["spec", "revisionHistoryLimit"], 10)
            set(&o, ["spec", "podManagementPolicy"], "OrderedReady")
            if o[path: ["spec", "updateStrategy", "type"]] == nil { o[path: ["spec", "updateStrategy", "type"]] = "RollingUpdate" }
            if o[path: ["spec", "updateStrategy", "type"]]?.string == "RollingUpdate" {
                set(&o, ["spec", "updateStrategy", "rollingUpdate", "partition"], 0)
            }
            set(&o, ["spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted"], "Retain")
            set(&o, ["spec", "persistentVolumeClaimRetentionPolicy", "whenScaled"], "Retain")
            template(&o)
        case "mutatingwebhookconfigurations.admissionregistration.k8s.io", "validatingwebhookconfigurations.admissionregistration.k8s.io":
            let mutating = t.kind.hasPrefix("Mutating")
            eachItem(&o, ["webhooks"]) { w in
                set(&w, ["failurePolicy"], "Fail")
                set(&w, ["matchPolicy"], "Equivalent")
                set(&w, ["namespaceSelector"], [:])
                set(&w, ["objectSelector"], [:])
                set(&w, ["timeoutSeconds"], 10)
                if mutating { set(&w, ["reinvocationPolicy"], "Never") }
                if w[path: ["clientConfig", "service"]] != nil { set(&w, ["clientConfig", "service", "port"], 443) }
                eachItem(&w, ["rules"]) { set(&$0, ["scope"], "*") }
            }
        case "rolebindings.rbac.authorization.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io":
            eachItem(&o, ["subjects"]) { s in
                if s["apiGroup"] == nil, ["User", "Group"].contains(s["kind"]?.string ?? "") { s["apiGroup"] = "rbac.authorization.k8s.io" }
            }
        case "namespaces":
            set(&o, ["spec", "finalizers"], ["kubernetes"])
        default: break
        }
    }

    static func service(_ o: inout JSON) {
        set(&o, ["spec", "type"], "ClusterIP")
        set(&o, ["spec", "sessionAffinity"], "None")
        let type = o[path: ["spec", "type"]]?.string ?? "ClusterIP"
        if o[path: ["spec", "sessionAffinity"]]?.string == "ClientIP" {
            set(&o, ["spec", "sessionAffinityConfig", "clientIP", "timeoutSeconds"], 10800)
        }
        eachItem(&o, ["spec", "ports"]) { p in
            set(&p, ["protocol"], "TCP")
            if p["targetPort"] == nil || p["targetPort"] == .int(0) || p["targetPort"] == .string("") { p["targetPort"] = p["port"] }
        }
        if type != "ExternalName" {
            set(&o, ["spec", "internalTrafficPolicy"], "Cluster")
            set(&o, ["spec", "ipFamilyPolicy"], "SingleStack")
            set(&o, ["spec", "ipFamilies"], ["IPv4"])
        }
        if type == "LoadBalancer" || type == "NodePort" { set(&o, ["spec", "externalTrafficPolicy"], "Cluster") }
        if type == "LoadBalancer" { set(&o, ["spec", "allocateLoadBalancerNodePorts"], true) }
    }

    /// A workload's pod template: template defaults as SetDefaults_PodSpec and the containers' own.
    static func template(_ o: inout JSON) {
        guard var spec = o[path: ["spec", "template", "spec"]] else { return }
        podSpec(&spec)
        o[path: ["spec", "template", "spec"]] = spec
    }

    static func podSpec(_ s: inout JSON) {
        set(&s, ["dnsPolicy"], "ClusterFirst")
        set(&s, ["restartPolicy"], "Always")
        set(&s, ["terminationGracePeriodSeconds"], 30)
        set(&s, ["securityContext"], [:])
        set(&s, ["schedulerName"], "default-scheduler")
        if let sa = s["serviceAccount"], s["serviceAccountName"] == nil { s["serviceAccountName"] = sa }
        if let sa = s["serviceAccountName"], s["serviceAccount"] == nil { s["serviceAccount"] = sa }   // the deprecated alias
        for list in ["containers", "initContainers"] { eachItem(&s, [list], container) }
        eachItem(&s, ["volumes"]) { v in
            if v["secret"] != nil { set(&v, ["secret", "defaultMode"], 420) }
            if v["configMap"] != nil { set(&v, ["configMap", "defaultMode"], 420) }
            if v["downwardAPI"] != nil { set(&v, ["downwardAPI", "defaultMode"], 420) }
            if v["projected"] != nil { set(&v, ["projected", "defaultMode"], 420) }
        }
    }

    static func container(_ c: inout JSON) {
        set(&c, ["terminationMessagePath"], "/dev/termination-log")
        set(&c, ["terminationMessagePolicy"], "File")
        if c["imagePullPolicy"] == nil, let image = c["image"]?.string {
            // SetDefaults_Container: Always for `:latest` or no tag, else IfNotPresent (a digest counts as a tag).
            let name = image.split(separator: "/").last.map(String.init) ?? image
            let tag = name.contains("@") ? "digest" : (name.split(separator: ":", maxSplits: 1).dropFirst().first.map(String.init) ?? "latest")
            c["imagePullPolicy"] = .string(tag == "latest" ? "Always" : "IfNotPresent")
        }
        eachItem(&c, ["ports"]) { set(&$0, ["protocol"], "TCP") }
        eachItem(&c, ["env"]) { e in
            if e[path: ["valueFrom", "fieldRef"]] != nil { set(&e, ["valueFrom", "fieldRef", "apiVersion"], "v1") }
        }
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] where c[probe] != nil {
            set(&c, [probe, "timeoutSeconds"], 1)
            set(&c, [probe, "periodSeconds"], 10)
            set(&c, [probe, "successThreshold"], 1)
            set(&c, [probe, "failureThreshold"], 3)
            if c[path: [probe, "httpGet"]] != nil { set(&c, [probe, "httpGet", "scheme"], "HTTP") }
        }
    }

    /// Sets a field only where it is absent.
    static func set(_ o: inout JSON, _ path: [String], _ value: JSON) {
        if o[path: path] == nil { o[path: path] = value }
    }

    static func eachItem(_ o: inout JSON, _ path: [String], _ body: (inout JSON) -> Void) {
        guard var items = o[path: path]?.array else { return }
        for i in items.indices { body(&items[i]) }
        o[path: path] = .array(items)
    }
}
