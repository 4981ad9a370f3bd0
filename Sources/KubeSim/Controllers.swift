import Foundation
import KubeModel

/// The controllers a real cluster runs, reduced to what a client observes, each acting after a delay:
/// Deployments become Available, LoadBalancer Services get an address, CRDs become Established and serve
/// their kind, legacy service-account token Secrets are filled, and a terminating Namespace empties and goes.
final class Controllers: @unchecked Sendable {
    let store: Store
    let delay: Duration
    let caPEM: String
    var lbCounter = 0   // guarded by the store's lock

    init(store: Store, delay: Duration, caPEM: String) { self.store = store; self.delay = delay; self.caPEM = caPEM }

    /// Called by the store (lock held) after every commit.
    func react(_ t: ResourceType, _ obj: JSON, _ type: String) {
        guard let name = obj.name else { return }
        let ns = obj.namespace ?? ""
        if type == "DELETED" { return deleted(t, obj) }
        if obj[path: ["metadata", "deletionTimestamp"]] != nil, let uid = obj[path: ["metadata", "uid"]]?.string {
            let finalizers = obj[path: ["metadata", "finalizers"]]?.array ?? []
            if finalizers.contains("foregroundDeletion") { once("fg/" + uid) { self.collect(owner: uid, foreground: true) } }
            if finalizers.contains("orphan") { once("orphan/" + uid) { self.collect(owner: uid, foreground: false) } }
        }
        if t.namespaced, store.namespaceExists(ns)?[path: ["metadata", "deletionTimestamp"]] != nil {
            once("ns/" + ns) { self.emptyNamespace(ns) }
        }
        switch t.storageKey {
        case "deployments.apps":
            let replicas = obj[path: ["spec", "replicas"]]?.int ?? 1
            if obj[path: ["status", "observedGeneration"]] != obj[path: ["metadata", "generation"]]
                || obj[path: ["status", "readyReplicas"]]?.int ?? 0 != replicas {
                later(t, ns, name) { o, _ in Controllers.deploymentStatus(&o) }
            }
        case "services":
            if obj[path: ["spec", "type"]]?.string == "LoadBalancer", obj[path: ["status", "loadBalancer", "ingress"]] == nil {
                later(t, ns, name) { o, s in
                    guard o[path: ["spec", "type"]]?.string == "LoadBalancer" else { return }
                    self.lbCounter += 1
                    o[path: ["status", "loadBalancer"]] = ["ingress": [["ip": .string("172.18.\(s.simIndex % 250).\(self.lbCounter % 250 + 1)"), "ipMode": "VIP"]]]
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
                let saType = store.catalog.lookup(group: "", kind: "ServiceAccount")!
                guard store.stored(saType, ns, sa) != nil else {
                    once("token/" + ns + "/" + name) { self.store.remove(t, ns, name) }
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
                    data["ca.crt"] = .string(Data(self.caPEM.utf8).base64EncodedString())
                    data["namespace"] = .string(Data(ns.utf8).base64EncodedString())
                    o["data"] = .object(data)
                }
            }
        case "namespaces":
            if obj[path: ["metadata", "deletionTimestamp"]] != nil { once("ns/" + name) { self.emptyNamespace(name) } }
        default: break
        }
    }

    /// An object went: the garbage collector deletes its dependents (pkg/controller/garbagecollector), a
    /// ServiceAccount's token Secrets and tokens go with it (tokens_controller.go), and a foreground owner
    /// or a terminating namespace waiting for it may finish.
    private func deleted(_ t: ResourceType, _ obj: JSON) {
        let ns = obj.namespace ?? ""
        if let uid = obj[path: ["metadata", "uid"]]?.string { once("gc/" + uid) { self.collect(owner: uid, foreground: nil) } }
        for ref in obj[path: ["metadata", "ownerReferences"]]?.array ?? [] {
            if let owner = ref["uid"]?.string { once("fg/" + owner) { self.collect(owner: owner, foreground: true) } }
        }
        if t.namespaced, store.namespaceExists(ns)?[path: ["metadata", "deletionTimestamp"]] != nil {
            once("ns/" + ns) { self.emptyNamespace(ns) }
        }
        if t.storageKey == "serviceaccounts", let name = obj.name {
            let user = "system:serviceaccount:\(ns):\(name)"
            store.tokens = store.tokens.filter { $0.value != user }
            let secrets = store.catalog.lookup(group: "", kind: "Secret")!
            for (sns, sname, s) in store.objects(secrets, namespace: ns)
            where s["type"]?.string == "kubernetes.io/service-account-token" && s.annotations["kubernetes.io/service-account.name"] == name {
                once("token/" + sns + "/" + sname) { self.store.remove(secrets, sns, sname) }
            }
        }
    }

    /// The garbage collector for one owner: with `foreground` nil the owner is gone and its dependents are
    /// deleted (Background); true: the owner waits with `foregroundDeletion` until its dependents are gone;
    /// false: the owner has `orphan`, so its dependents lose the owner reference and the owner goes.
    private func collect(owner uid: String, foreground: Bool?) {
        let dependents = store.dependents(of: uid)
        if foreground == false {
            for (t, ns, n, _) in dependents {
                guard var s = store.stored(t, ns, n) else { continue }
                let refs = (s.object[path: ["metadata", "ownerReferences"]]?.array ?? []).filter { $0["uid"]?.string != uid }
                s.object[path: ["metadata", "ownerReferences"]] = refs.isEmpty ? nil : .array(refs)
                s.object[path: ["metadata", "resourceVersion"]] = .string(String(store.nextRevision()))
                store.commit(t, ns, n, s, type: "MODIFIED", object: s.object)
            }
            dropFinalizer("orphan", owner: uid)
            return
        }
        for (t, ns, n, o) in dependents where o[path: ["metadata", "deletionTimestamp"]] == nil {
            _ = try? store.delete(n, WriteContext(type: t, version: t.versions[0], namespace: ns, manager: "", dryRun: false))
        }
        if foreground == true, store.dependents(of: uid).isEmpty { dropFinalizer("foregroundDeletion", owner: uid) }
    }

    private func dropFinalizer(_ finalizer: String, owner uid: String) {
        for t in store.catalog.all {
            for (ns, n, o) in store.objects(t, namespace: nil) where o[path: ["metadata", "uid"]]?.string == uid {
                guard var s = store.stored(t, ns, n) else { return }
                let rest = (o[path: ["metadata", "finalizers"]]?.array ?? []).filter { $0 != .string(finalizer) }
                s.object[path: ["metadata", "finalizers"]] = rest.isEmpty ? nil : .array(rest)
                s.object[path: ["metadata", "resourceVersion"]] = .string(String(store.nextRevision()))
                store.commit(t, ns, n, s, type: "MODIFIED", object: s.object)
                store.finishDeletion(t, ns, n)
                return
            }
        }
    }

    /// The namespace controller (pkg/controller/namespace/deletion): deletes what the namespace holds
    /// (objects with finalizers stay until those are removed), then drops the `kubernetes` finalizer, and
    /// the namespace goes once its own finalizers are gone too.
    private func emptyNamespace(_ name: String) {
        let nsType = store.catalog.lookup(group: "", kind: "Namespace")!
        guard var ns = store.stored(nsType, "", name), ns.object[path: ["metadata", "deletionTimestamp"]] != nil else { return }
        var left = 0
        for t in store.catalog.all where t.namespaced {
            for (ons, n, o) in store.objects(t, namespace: name) where ons == name {
                if o[path: ["metadata", "deletionTimestamp"]] == nil {
                    _ = try? store.delete(n, WriteContext(type: t, version: t.versions[0], namespace: ons, manager: "", dryRun: false))
                }
                if store.stored(t, ons, n) != nil { left += 1 }
            }
        }
        guard left == 0 else { return }
        if ns.object[path: ["spec", "finalizers"]] != nil {
            ns.object[path: ["spec", "finalizers"]] = nil
            ns.object[path: ["metadata", "resourceVersion"]] = .string(String(store.nextRevision()))
            store.commit(nsType, "", name, ns, type: "MODIFIED", object: ns.object)
        }
        store.finishDeletion(nsType, "", name)
    }

    /// Runs `work` (lock held) after the delay, once for any number of requests made before it runs.
    private var scheduled = Set<String>()   // guarded by the store's lock
    private func once(_ key: String, _ work: @escaping () -> Void) {
        guard scheduled.insert(key).inserted else { return }
        Task { [store, delay] in
            try? await Task.sleep(for: delay)
            store.withLock {
                self.scheduled.remove(key)
                work()
            }
        }
    }

    static func deploymentStatus(_ o: inout JSON) {
        let replicas = o[path: ["spec", "replicas"]]?.int ?? 1
        let now = timestamp()
        var status: JSON = ["observedGeneration": o[path: ["metadata", "generation"]] ?? 1, "replicas": .int(replicas),
                            "updatedReplicas": .int(replicas), "readyReplicas": .int(replicas), "availableReplicas": .int(replicas)]
        if replicas == 0 { status["readyReplicas"] = nil; status["availableReplicas"] = nil; status["updatedReplicas"] = nil; status["replicas"] = nil }
        let old = o[path: ["status", "conditions"]]?.array ?? []
        func condition(_ type: String, _ reason: String, _ message: String) -> JSON {
            let since = old.first { $0["type"]?.string == type && $0["status"]?.string == "True" }?["lastTransitionTime"] ?? .string(now)
            return ["type": .string(type), "status": "True", "reason": .string(reason), "message": .string(message),
                    "lastUpdateTime": .string(now), "lastTransitionTime": since]
        }
        status["conditions"] = [condition("Available", "MinimumReplicasAvailable", "Deployment has minimum availability."),
                                condition("Progressing", "NewReplicaSetAvailable", "ReplicaSet \"\(o.name ?? "")\" has successfully progressed.")]
        o["status"] = status
    }

    /// After the delay, changes the object's status (lock held) and commits it if it changed.
    private func later(_ t: ResourceType, _ ns: String, _ name: String, _ change: @escaping (inout JSON, Store) -> Void) {
        Task { [store, delay] in
            try? await Task.sleep(for: delay)
            store.withLock {
                guard var s = store.stored(t, ns, name) else { return }
                let before = s.object
                change(&s.object, store)
                guard s.object != before else { return }
                s.object[path: ["metadata", "resourceVersion"]] = .string(String(store.nextRevision()))
                store.commit(t, ns, name, s, type: "MODIFIED", object: s.object)
            }
        }
    }
}
