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
        guard type != "DELETED", let name = obj.name else { return }
        let ns = obj.namespace ?? ""
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
                later(t, ns, name) { o, s in
                    guard o[path: ["data", "token"]] == nil else { return }
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
            if obj[path: ["metadata", "deletionTimestamp"]] != nil {
                Task { [store, delay] in
                    try? await Task.sleep(for: delay)
                    store.withLock {
                        for t in store.catalog.all where t.namespaced {
                            for (ons, n, _) in store.objects(t, namespace: name) where ons == name { store.remove(t, ons, n) }
                        }
                        store.remove(t, "", name)
                    }
                }
            }
        default: break
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
