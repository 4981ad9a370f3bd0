import Foundation
import KubeModel

/// The controllers a real cluster runs, reduced to what a client observes, each acting after a delay:
/// Deployments become Available, LoadBalancer Services get an address, CRDs become Established and serve
/// their kind, legacy service-account token Secrets are filled, and a terminating Namespace empties and goes.
struct ControllerSettings: Sendable {
    /// How long a controller waits before reporting status.
    var delay: Duration
    /// What token Secrets carry as ca.crt.
    var caPEM: String
}

/// The controllers run on the store's state, with its lock held (`react` is called by every commit); work they
/// do later takes the lock again through `owner`.
extension StoreState {
    /// The run-time settings (admin endpoint): no load-balancer controller, pods never ready, webhooks called.
    func settings() -> FaultSettings { server?.currentFaults ?? FaultSettings() }

    /// Called by the store (lock held) after every commit.
    func react(_ t: ResourceType, _ obj: JSON, _ type: String) {
        guard let name = obj.name else { return }
        let ns = obj.namespace ?? ""
        if type == "DELETED" { return deleted(t, obj) }
        if obj[path: ["metadata", "deletionTimestamp"]] != nil, let uid = obj[path: ["metadata", "uid"]]?.string {
            let finalizers = obj[path: ["metadata", "finalizers"]]?.array ?? []
            if finalizers.contains("foregroundDeletion") { once("fg/" + uid, delayed: false) { s in s.collect(owner: uid, foreground: true) } }
            if finalizers.contains("orphan") { once("orphan/" + uid, delayed: false) { s in s.collect(owner: uid, foreground: false) } }
        }
        if t.namespaced, namespaceExists(ns)?[path: ["metadata", "deletionTimestamp"]] != nil {
            once("ns/" + ns, delayed: false) { s in s.emptyNamespace(ns) }
        }
        switch t.storageKey {
        case "deployments.apps":
            if obj[path: ["metadata", "deletionTimestamp"]] == nil { once("deploy/" + ns + "/" + name) { s in s.syncDeployment(ns, name) } }
        case "replicasets.apps":
            if obj[path: ["metadata", "deletionTimestamp"]] == nil { once("rs/" + ns + "/" + name, delayed: false) { s in s.syncReplicaSet(ns, name) } }
            for owner in Self.controllerOf(obj, kind: "Deployment") { once("deploy/" + ns + "/" + owner, delayed: false) { s in s.syncDeployment(ns, owner) } }
        case "pods":
            if obj[path: ["status", "phase"]] == nil { once("kubelet/" + ns + "/" + name) { s in s.runPod(ns, name) } }
            for owner in Self.controllerOf(obj, kind: "ReplicaSet") { once("rs/" + ns + "/" + owner, delayed: false) { s in s.syncReplicaSet(ns, owner) } }
        case "services":
            if obj[path: ["spec", "type"]]?.string == "LoadBalancer", obj[path: ["status", "loadBalancer", "ingress"]] == nil,
               !settings().noLoadBalancer {
                later(t, ns, name) { o, s in
                    guard o[path: ["spec", "type"]]?.string == "LoadBalancer" else { return }
                    s.lbCounter += 1
                    o[path: ["status", "loadBalancer"]] = ["ingress": [["ip": .string("172.18.\(s.simIndex % 250).\(s.lbCounter % 250 + 1)"), "ipMode": "VIP"]]]
                }
            }
        case "customresourcedefinitions.apiextensions.k8s.io":
            later(t, ns, name) { o, s in
                guard let served = ResourceCatalog.fromCRD(o) else { return }
                s.catalog.add(served)
                let now = timestamp()
                var conditions = o[path: ["status", "conditions"]]?.array ?? []
                for (type, reason, message) in [("NamesAccepted", "NoConflicts", "no conflicts found"),
                                                ("Established", "InitialNamesAccepted", "the initial names have been accepted")]
                where !conditions.contains(where: { $0["type"]?.string == type }) {
                    conditions.append(["type": .string(type), "status": "True", "reason": .string(reason), "message": .string(message), "lastTransitionTime": .string(now)])
                }
                o[path: ["status", "conditions"]] = .array(conditions)
                o[path: ["status", "acceptedNames"]] = o[path: ["spec", "names"]]
                o[path: ["status", "storedVersions"]] = [.string(served.versions[0])]
            }
        case "secrets":
            if obj["type"]?.string == "kubernetes.io/service-account-token",
               let sa = obj.annotations["kubernetes.io/service-account.name"], obj[path: ["data", "token"]] == nil {
                // The token controller (pkg/controller/serviceaccount/tokens_controller.go) deletes a token
                // Secret whose ServiceAccount does not exist, and fills the others.
                let saType = catalog.lookup(group: "", kind: "ServiceAccount")!
                guard stored(saType, ns, sa) != nil else {
                    once("token/" + ns + "/" + name) { s in s.remove(t, ns, name) }
                    return
                }
                later(t, ns, name) { o, s in
                    guard o[path: ["data", "token"]] == nil else { return }
                    if let uid = s.stored(saType, ns, sa)?.object[path: ["metadata", "uid"]] {
                        o[path: ["metadata", "annotations", "kubernetes.io/service-account.uid"]] = uid
                    }
                    let token = randomToken()
                    s.tokens[token] = "system:serviceaccount:\(ns):\(sa)"
                    var data = o["data"]?.object ?? [:]
                    data["token"] = .string(Data(token.utf8).base64EncodedString())
                    data["ca.crt"] = .string(Data(s.controllers.caPEM.utf8).base64EncodedString())
                    data["namespace"] = .string(Data(ns.utf8).base64EncodedString())
                    o["data"] = .object(data)
                }
            }
        case "namespaces":
            if obj[path: ["metadata", "deletionTimestamp"]] != nil { once("ns/" + name) { s in s.emptyNamespace(name) } }
        default: break
        }
    }

    /// An object went: the garbage collector deletes its dependents (pkg/controller/garbagecollector), a
    /// ServiceAccount's token Secrets and tokens go with it (tokens_controller.go), and a foreground owner
    /// or a terminating namespace waiting for it may finish.
    private func deleted(_ t: ResourceType, _ obj: JSON) {
        let ns = obj.namespace ?? ""
        if let uid = obj[path: ["metadata", "uid"]]?.string { once("gc/" + uid, delayed: false) { s in s.collect(owner: uid, foreground: nil) } }
        for ref in obj[path: ["metadata", "ownerReferences"]]?.array ?? [] {
            if let owner = ref["uid"]?.string { once("fg/" + owner, delayed: false) { s in s.collect(owner: owner, foreground: true) } }
        }
        if t.namespaced, namespaceExists(ns)?[path: ["metadata", "deletionTimestamp"]] != nil {
            once("ns/" + ns, delayed: false) { s in s.emptyNamespace(ns) }
        }
        for owner in Self.controllerOf(obj, kind: t.storageKey == "pods" ? "ReplicaSet" : "Deployment")
        where ["pods", "replicasets.apps"].contains(t.storageKey) {
            let key = (t.storageKey == "pods" ? "rs/" : "deploy/") + ns + "/" + owner
            once(key, delayed: false) { s in t.storageKey == "pods" ? s.syncReplicaSet(ns, owner) : s.syncDeployment(ns, owner) }
        }
        // A Secret-based token stops authenticating with its Secret: the legacy token authenticator looks the Secret up
        // on every request ("Token has been invalidated": kubernetes/kubernetes pkg/serviceaccount/legacy.go).
        if t.storageKey == "secrets", obj["type"]?.string == "kubernetes.io/service-account-token",
           let encoded = obj[path: ["data", "token"]]?.string, let raw = Data(base64Encoded: encoded) {
            tokens[String(decoding: raw, as: UTF8.self)] = nil
        }
        if t.storageKey == "serviceaccounts", let name = obj.name {
            let user = "system:serviceaccount:\(ns):\(name)"
            tokens = tokens.filter { $0.value != user }
            let secrets = catalog.lookup(group: "", kind: "Secret")!
            for (sns, sname, s) in objects(secrets, namespace: ns)
            where s["type"]?.string == "kubernetes.io/service-account-token" && s.annotations["kubernetes.io/service-account.name"] == name {
                once("token/" + sns + "/" + sname) { s in s.remove(secrets, sns, sname) }
            }
        }
    }

    /// The garbage collector for one owner (it runs without the controller delay: the delay stands for
    /// controllers that report status, and a real collector reacts within milliseconds): with `foreground` nil the owner is gone and its dependents are
    /// deleted (Background); true: the owner waits with `foregroundDeletion` until its dependents are gone;
    /// false: the owner has `orphan`, so its dependents lose the owner reference and the owner goes.
    private func collect(owner uid: String, foreground: Bool?) {
        let dependents = dependents(of: uid)
        if foreground == false {
            for (t, ns, n, _) in dependents {
                guard var s = stored(t, ns, n) else { continue }
                let refs = (s.object[path: ["metadata", "ownerReferences"]]?.array ?? []).filter { $0["uid"]?.string != uid }
                s.object[path: ["metadata", "ownerReferences"]] = refs.isEmpty ? nil : .array(refs)
                s.object[path: ["metadata", "resourceVersion"]] = .string(String(nextRevision()))
                commit(t, ns, n, s, type: "MODIFIED", object: s.object)
            }
            dropFinalizer("orphan", owner: uid)
            return
        }
        for (t, ns, n, o) in dependents where o[path: ["metadata", "deletionTimestamp"]] == nil {
            _ = try? delete(n, WriteContext(type: t, version: t.versions[0], namespace: ns, manager: "", dryRun: false))
        }
        if foreground == true, self.dependents(of: uid).isEmpty { dropFinalizer("foregroundDeletion", owner: uid) }
    }

    private func dropFinalizer(_ finalizer: String, owner uid: String) {
        for t in catalog.all {
            for (ns, n, o) in objects(t, namespace: nil) where o[path: ["metadata", "uid"]]?.string == uid {
                guard var s = stored(t, ns, n) else { return }
                let rest = (o[path: ["metadata", "finalizers"]]?.array ?? []).filter { $0 != .string(finalizer) }
                s.object[path: ["metadata", "finalizers"]] = rest.isEmpty ? nil : .array(rest)
                s.object[path: ["metadata", "resourceVersion"]] = .string(String(nextRevision()))
                commit(t, ns, n, s, type: "MODIFIED", object: s.object)
                finishDeletion(t, ns, n)
                return
            }
        }
    }

    /// The namespace controller (pkg/controller/namespace/deletion): deletes what the namespace holds
    /// (objects with finalizers stay until those are removed), then drops the `kubernetes` finalizer, and
    /// the namespace goes once its own finalizers are gone too.
    private func emptyNamespace(_ name: String) {
        let nsType = catalog.lookup(group: "", kind: "Namespace")!
        guard var ns = stored(nsType, "", name), ns.object[path: ["metadata", "deletionTimestamp"]] != nil else { return }
        var left = 0
        for t in catalog.all where t.namespaced {
            for (ons, n, o) in objects(t, namespace: name) where ons == name {
                if o[path: ["metadata", "deletionTimestamp"]] == nil {
                    _ = try? delete(n, WriteContext(type: t, version: t.versions[0], namespace: ons, manager: "", dryRun: false))
                }
                if stored(t, ons, n) != nil { left += 1 }
            }
        }
        guard left == 0 else { return }
        if ns.object[path: ["spec", "finalizers"]] != nil {
            ns.object[path: ["spec", "finalizers"]] = nil
            ns.object[path: ["metadata", "resourceVersion"]] = .string(String(nextRevision()))
            commit(nsType, "", name, ns, type: "MODIFIED", object: ns.object)
        }
        finishDeletion(nsType, "", name)
    }

    /// Runs `work` (lock held) after the delay, once for any number of requests made before it runs. A step
    /// that follows from another controller's step (`delayed: false`) runs as soon as the lock is free, so a
    /// rollout, a cascade or a namespace's termination costs one delay, not one per object.
    private func once(_ key: String, delayed: Bool = true, _ work: @escaping @Sendable (StoreState) -> Void) {
        guard scheduled.insert(key).inserted else { return }
        let delay = controllers.delay, owner = self.owner
        Task {
            if delayed { try? await Task.sleep(for: delay) }
            owner?.withLock { s in
                s.scheduled.remove(key)
                work(s)
            }
        }
    }

    // MARK: workloads (pkg/controller/deployment, pkg/controller/replicaset, and the kubelet's status)

    /// Names of the owners of `kind` that control the object (`ownerReferences[].controller`).
    static func controllerOf(_ o: JSON, kind: String) -> [String] {
        (o[path: ["metadata", "ownerReferences"]]?.array ?? []).filter { $0["kind"]?.string == kind && $0["controller"] == true }.compactMap { $0["name"]?.string }
    }

    static func ownerReference(_ o: JSON, kind: String, apiVersion: String) -> JSON {
        ["apiVersion": .string(apiVersion), "kind": .string(kind), "name": o[path: ["metadata", "name"]] ?? "",
         "uid": o[path: ["metadata", "uid"]] ?? "", "controller": true, "blockOwnerDeletion": true]
    }

    /// `pod-template-hash`: FNV-32a of the template, spelt with `rand.SafeEncodeString`'s alphabet
    /// (pkg/controller/controller_utils.go ComputeHash).
    static func templateHash(_ template: JSON) -> String {
        var h: UInt32 = 2166136261
        for b in canonicalText(template).utf8 { h ^= UInt32(b); h = h &* 16777619 }
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String(String(h).utf8.map { alphabet[Int($0) % alphabet.count] })
    }

    func create(_ kind: String, group: String, _ ns: String, _ body: JSON) {
        guard let t = catalog.lookup(group: group, kind: kind) else { return }
        _ = try? create(body, WriteContext(type: t, version: t.versions[0], namespace: ns, manager: "kube-controller-manager", dryRun: false))
    }

    func setStatus(_ t: ResourceType, _ ns: String, _ name: String, _ change: (inout JSON) -> Void) {
        guard var s = stored(t, ns, name) else { return }
        let before = s.object
        change(&s.object)
        guard s.object != before else { return }
        s.object[path: ["metadata", "resourceVersion"]] = .string(String(nextRevision()))
        commit(t, ns, name, s, type: "MODIFIED", object: s.object)
    }

    /// The Deployment controller: one ReplicaSet per template (named by its hash) scaled to the replicas,
    /// older ones scaled to 0; status from the ReplicaSets, Available when enough pods are ready.
    func syncDeployment(_ ns: String, _ name: String) {
        let dt = catalog.lookup(group: "apps", kind: "Deployment")!, rt = catalog.lookup(group: "apps", kind: "ReplicaSet")!
        guard let d = stored(dt, ns, name)?.object, d[path: ["metadata", "deletionTimestamp"]] == nil,
              let uid = d[path: ["metadata", "uid"]]?.string else { return }
        let replicas = d[path: ["spec", "replicas"]]?.int ?? 1
        var template = d[path: ["spec", "template"]] ?? [:]
        let hash = Self.templateHash(template)
        template[path: ["metadata", "labels", "pod-template-hash"]] = .string(hash)
        let owned = objects(rt, namespace: ns).filter { ($0.2[path: ["metadata", "ownerReferences"]]?.array ?? []).contains { $0["uid"]?.string == uid } }
        let newName = "\(name)-\(hash)"
        for (_, n, rs) in owned where n != newName && rs[path: ["spec", "replicas"]]?.int != 0 {
            setStatus(rt, ns, n) { Self.scale(&$0, to: 0) }
        }
        if let current = stored(rt, ns, newName)?.object {
            if current[path: ["spec", "replicas"]]?.int != replicas { setStatus(rt, ns, newName) { Self.scale(&$0, to: replicas) } }
        } else {
            var selector = d[path: ["spec", "selector"]] ?? [:]
            selector[path: ["matchLabels", "pod-template-hash"]] = .string(hash)
            create("ReplicaSet", group: "apps", ns, [
                "metadata": ["name": .string(newName), "namespace": .string(ns), "labels": template[path: ["metadata", "labels"]] ?? [:],
                             "annotations": ["deployment.kubernetes.io/revision": .string(String(owned.count + 1))],
                             "ownerReferences": [Self.ownerReference(d, kind: "Deployment", apiVersion: "apps/v1")]],
                "spec": ["replicas": .int(replicas), "selector": selector, "template": template]])
        }
        let sets = objects(rt, namespace: ns).filter { ($0.2[path: ["metadata", "ownerReferences"]]?.array ?? []).contains { $0["uid"]?.string == uid } }
        func sum(_ key: String, _ only: String? = nil) -> Int {
            sets.filter { only == nil || $0.1 == only }.reduce(0) { $0 + ($1.2[path: ["status", key]]?.int ?? 0) }
        }
        let ready = sum("readyReplicas"), available = sum("availableReplicas"), updated = sum("replicas", newName)
        setStatus(dt, ns, name) { o in
            // maxUnavailable as a percentage rounds down (apps/v1 RollingUpdate), so one replica needs one ready.
            let maxUnavailable = Self.scaled(o[path: ["spec", "strategy", "rollingUpdate", "maxUnavailable"]], of: replicas, roundUp: false)
            let isAvailable = available >= replicas - maxUnavailable
            let done = isAvailable && updated == replicas && sum("replicas") == replicas && available == replicas
            var status: JSON = ["observedGeneration": o[path: ["metadata", "generation"]] ?? 1, "replicas": .int(sum("replicas")),
                                "updatedReplicas": .int(updated), "readyReplicas": .int(ready), "availableReplicas": .int(available)]
            if sum("replicas") - available > 0 { status["unavailableReplicas"] = .int(sum("replicas") - available) }
            for k in ["replicas", "updatedReplicas", "readyReplicas", "availableReplicas"] where status[k] == 0 { status[k] = nil }
            let old = o[path: ["status", "conditions"]]?.array ?? []
            func condition(_ type: String, _ value: Bool, _ reason: String, _ message: String) -> JSON {
                let prev = old.first { $0["type"]?.string == type }
                let same = prev?["status"]?.string == (value ? "True" : "False")
                let now = timestamp()
                return ["type": .string(type), "status": .string(value ? "True" : "False"), "reason": .string(reason), "message": .string(message),
                        "lastUpdateTime": same && prev?["reason"]?.string == reason ? prev?["lastUpdateTime"] ?? .string(now) : .string(now),
                        "lastTransitionTime": same ? prev?["lastTransitionTime"] ?? .string(now) : .string(now)]
            }
            // deployment/sync.go: the new ReplicaSet's ReplicaFailure condition is the Deployment's too.
            let failure = stored(rt, ns, newName)?.object[path: ["status", "conditions"]]?.array?.first { $0["type"] == "ReplicaFailure" }
            status["conditions"] = .array([
                isAvailable ? condition("Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.")
                            : condition("Available", false, "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
                done ? condition("Progressing", true, "NewReplicaSetAvailable", "ReplicaSet \"\(newName)\" has successfully progressed.")
                     : condition("Progressing", true, "ReplicaSetUpdated", "ReplicaSet \"\(newName)\" is progressing."),
            ] + (failure.map { [condition("ReplicaFailure", true, "FailedCreate", $0["message"]?.string ?? "")] } ?? []))
            o["status"] = status
        }
    }

    static func scale(_ o: inout JSON, to replicas: Int) {
        o[path: ["spec", "replicas"]] = .int(replicas)
        o[path: ["metadata", "generation"]] = .int((o[path: ["metadata", "generation"]]?.int ?? 1) + 1)
    }

    /// An int-or-percent (`25%`, `1`) of `total`, as intstr.GetScaledValueFromIntOrPercent.
    static func scaled(_ v: JSON?, of total: Int, roundUp: Bool) -> Int {
        switch v {
        case .int(let i)?: return i
        case .string(let s)? where s.hasSuffix("%"):
            let pct = Double(s.dropLast()) ?? 0
            let x = Double(total) * pct / 100
            return Int(roundUp ? x.rounded(.up) : x.rounded(.down))
        default: return 0
        }
    }

    /// The ReplicaSet controller: as many pods as replicas, owned by the set; status counts ready pods
    /// (with `runPods`; see FaultSettings).
    func syncReplicaSet(_ ns: String, _ name: String) {
        let rt = catalog.lookup(group: "apps", kind: "ReplicaSet")!, pt = catalog.lookup(group: "", kind: "Pod")!
        guard let rs = stored(rt, ns, name)?.object, let uid = rs[path: ["metadata", "uid"]]?.string else { return }
        let replicas = rs[path: ["spec", "replicas"]]?.int ?? 1
        var pods = objects(pt, namespace: ns).filter {
            $0.2[path: ["metadata", "deletionTimestamp"]] == nil && ($0.2[path: ["metadata", "ownerReferences"]]?.array ?? []).contains { $0["uid"]?.string == uid }
        }
        if !settings().runPods {
            // No Pod objects: the set reports its replicas as the kubelet would (ready, or not at all).
            let ready = settings().podsNeverReady ? 0 : replicas
            setStatus(rt, ns, name) { o in
                var status: JSON = ["observedGeneration": o[path: ["metadata", "generation"]] ?? 1, "replicas": .int(replicas),
                                    "fullyLabeledReplicas": .int(replicas), "readyReplicas": .int(ready), "availableReplicas": .int(ready)]
                for (k, v) in status.object ?? [:] where v == 0 && k != "observedGeneration" { status[k] = nil }
                o["status"] = status
            }
            return
        }
        if rs[path: ["metadata", "deletionTimestamp"]] == nil {
            let missing: [JSON] = (pods.count..<max(pods.count, replicas)).map { _ in
                let suffix = String((0..<5).map { _ in "bcdfghjklmnpqrstvwxz2456789".randomElement()! })
                var template = rs[path: ["spec", "template"]] ?? [:]
                template[path: ["metadata", "name"]] = .string("\(name)-\(suffix)")
                template[path: ["metadata", "ownerReferences"]] = [Self.ownerReference(rs, kind: "ReplicaSet", apiVersion: "apps/v1")]
                return ["apiVersion": "v1", "kind": "Pod", "metadata": template["metadata"] ?? [:], "spec": template["spec"] ?? [:]]
            }
            if settings().callWebhooks {
                createThroughAdmission(missing, rs, ns, name)
            } else {
                for pod in missing { create("Pod", group: "", ns, pod) }
            }
            for (_, n, _) in pods.dropFirst(replicas) { remove(pt, ns, n) }
            pods = objects(pt, namespace: ns).filter { ($0.2[path: ["metadata", "ownerReferences"]]?.array ?? []).contains { $0["uid"]?.string == uid } }
        }
        let ready = pods.filter { p in (p.2[path: ["status", "conditions"]]?.array ?? []).contains { $0["type"] == "Ready" && $0["status"] == "True" } }.count
        setStatus(rt, ns, name) { o in
            var status: JSON = ["observedGeneration": o[path: ["metadata", "generation"]] ?? 1, "replicas": .int(pods.count),
                                "fullyLabeledReplicas": .int(pods.count), "readyReplicas": .int(ready), "availableReplicas": .int(ready)]
            for k in ["replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas"] where status[k] == 0 { status[k] = nil }
            if pods.count < replicas, let failure = o[path: ["status", "conditions"]] { status["conditions"] = failure }
            o["status"] = status
        }
    }

    /// The ReplicaSet controller's pod creations as API requests through admission webhooks (outside the lock). A
    /// refusal becomes the set's `ReplicaFailure` condition (reason FailedCreate, the API error as message, as
    /// pkg/controller/replicaset calculateStatus writes it), which the Deployment shows too; it is tried again
    /// when the set's generation changes (the real controller also retries on a backoff).
    private func createThroughAdmission(_ pods: [JSON], _ rs: JSON, _ ns: String, _ name: String) {
        guard !pods.isEmpty, let uid = rs[path: ["metadata", "uid"]]?.string else { return }
        let generation = rs[path: ["metadata", "generation"]] ?? 1
        let failed = (rs[path: ["status", "conditions"]]?.array ?? []).contains { $0["type"] == "ReplicaFailure" }
        if failed && rs[path: ["status", "observedGeneration"]] == generation { return }
        guard creatingPods.insert(uid).inserted else { return }
        let server = self.server, owner = self.owner
        Task {
            var refusal: APIError?
            for pod in pods { if let e = await server?.createPodAsController(namespace: ns, pod) { refusal = e; break } }
            let failure = refusal
            owner?.withLock { s in
                s.creatingPods.remove(uid)
                guard let failure, let rt = s.catalog.lookup(group: "apps", kind: "ReplicaSet") else { return }
                s.setStatus(rt, ns, name) { o in
                    o[path: ["status", "observedGeneration"]] = generation
                    o[path: ["status", "conditions"]] = [["type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                                          "message": .string(failure.message), "lastTransitionTime": .string(timestamp())]]
                }
            }
        }
    }

    /// The scheduler and kubelet, reduced to status: a pod runs and is ready, unless pods never become
    /// ready (`podsNeverReady`), where its containers wait in ImagePullBackOff.
    func runPod(_ ns: String, _ name: String) {
        let pt = catalog.lookup(group: "", kind: "Pod")!
        let neverReady = settings().podsNeverReady
        setStatus(pt, ns, name) { o in
            let now = timestamp()
            let containers = o[path: ["spec", "containers"]]?.array ?? []
            let statuses: [JSON] = containers.map { c in
                var s: JSON = ["name": c["name"] ?? "", "image": c["image"] ?? "", "imageID": "", "ready": .bool(!neverReady), "restartCount": 0,
                               "started": .bool(!neverReady)]
                s["state"] = neverReady ? ["waiting": ["reason": "ImagePullBackOff", "message": .string("Back-off pulling image \"\(c["image"]?.string ?? "")\"")]]
                                        : ["running": ["startedAt": .string(now)]]
                return s
            }
            func cond(_ type: String, _ ok: Bool) -> JSON {
                var c: JSON = ["type": .string(type), "status": .string(ok ? "True" : "False"), "lastProbeTime": .null, "lastTransitionTime": .string(now)]
                if !ok { c["reason"] = "ContainersNotReady" }
                c["lastProbeTime"] = nil
                return c
            }
            o["status"] = ["phase": .string(neverReady ? "Pending" : "Running"), "hostIP": "172.18.0.2", "podIP": .string("10.244.0.\(abs(name.hashValue) % 250 + 2)"),
                           "startTime": .string(now), "qosClass": "BestEffort", "containerStatuses": .array(statuses),
                           "conditions": [cond("PodScheduled", true), cond("Initialized", true), cond("ContainersReady", !neverReady), cond("Ready", !neverReady)]]
        }
    }

    /// After the delay, changes the object's status (lock held) and commits it if it changed.
    private func later(_ t: ResourceType, _ ns: String, _ name: String, _ change: @escaping @Sendable (inout JSON, StoreState) -> Void) {
        let delay = controllers.delay, owner = self.owner
        Task {
            try? await Task.sleep(for: delay)
            owner?.withLock { s in
                guard var stored = s.stored(t, ns, name) else { return }
                let before = stored.object
                change(&stored.object, s)
                guard stored.object != before else { return }
                stored.object[path: ["metadata", "resourceVersion"]] = .string(String(s.nextRevision()))
                s.commit(t, ns, name, stored, type: "MODIFIED", object: stored.object)
            }
        }
    }
}
