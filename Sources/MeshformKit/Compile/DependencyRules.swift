import KubeModel

/// The edges that make the guide's order right. Each rule is one sentence of the guide or of Kubernetes:
///
/// 1. A namespaced object waits for its Namespace.
/// 2. A custom resource waits for its CRD to be established (even when both come in the same render).
/// 3. A ServiceAccount token Secret waits for its ServiceAccount; a (Cluster)RoleBinding for its ServiceAccounts.
/// 4. The external istiod waits for the config cluster's CRDs, its `istio` ConfigMap and its remote secret
///    (istiod reads mesh config and CRDs from the config cluster).
/// 5. Every webhook configuration on a data-plane cluster waits for istiod to be available and for the
///    path to it (control-plane gateway with its Service and TLS Secret, Gateway/VirtualService/DestinationRule):
///    a webhook pointing at a down istiod blocks pod creation. Apply then checks that path live (`ReachabilityGate`).
/// 6. Objects that create pods on a data-plane cluster (workloads, gateways) wait for that cluster's
///    injection webhook, so they start with sidecars.
/// 7. Anything containing a computed value waits for its producer (the gateway's address before
///    everything that names it; the token before the remote secret).
/// 8. A workload waits for the workloads it names in `dependsOn`.
enum DependencyRules {
    static let podKinds: Set<String> = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"]
    static let gatewayComponents: Set<IstioComponent.Kind> = [.eastWestGateway, .ingressGateway, .egressGateway]

    static func apply(to rs: inout [ResourceAddress: Resource], topology t: MeshTopology, workloadObjects: [String: [ResourceAddress]]) {
        let cp = t.controlPlane
        let ext = t.externalCluster.name
        let dataPlane = Set(t.dataPlaneClusters.map(\.name))

        // Indexes.
        var crds: [String: ResourceAddress] = [:]         // "cluster|group|Kind" -> CRD
        var crdsByCluster: [String: [ResourceAddress]] = [:]
        var webhooksByCluster: [String: [ResourceAddress]] = [:]
        var mutatingByCluster: [String: [ResourceAddress]] = [:]
        for (a, r) in rs {
            if a.kind == "CustomResourceDefinition", a.group == "apiextensions.k8s.io",
               let g = r.body[path: ["spec", "group"]]?.string, let k = r.body[path: ["spec", "names", "kind"]]?.string {
                crds["\(a.cluster)|\(g)|\(k)"] = a
                crdsByCluster[a.cluster, default: []].append(a)
            }
            if a.kind == "MutatingWebhookConfiguration" || a.kind == "ValidatingWebhookConfiguration" {
                webhooksByCluster[a.cluster, default: []].append(a)
                if a.kind == "MutatingWebhookConfiguration" { mutatingByCluster[a.cluster, default: []].append(a) }
            }
        }
        func exists(_ a: ResourceAddress) -> ResourceAddress? { rs[a] != nil ? a : nil }

        let istiod = ResourceAddress(cluster: ext, group: "apps", kind: "Deployment", namespace: cp.namespace, name: IstioRevision(t).istiodName)
        let cpGateway = ResourceAddress(cluster: ext, group: "apps", kind: "Deployment", namespace: cp.gateway.namespace, name: cp.gateway.name)
        let routing = RevisionGlue.routing(t).compactMap { try? ResourceAddress(cluster: ext, object: $0) }
        let cpGatewayService = ResourceAddress(cluster: ext, group: "core", kind: "Service", namespace: cp.gateway.namespace, name: cp.gateway.name)
        let tlsSecret = ResourceAddress(cluster: ext, group: "core", kind: "Secret", namespace: cp.gateway.namespace, name: cp.tls.secretName)
        let webhookPrerequisites = ([istiod, cpGateway, cpGatewayService, tlsSecret] + routing).compactMap(exists)
        let istiodService = exists(ResourceAddress(cluster: ext, group: "core", kind: "Service", namespace: cp.namespace, name: IstioRevision(t).istiodName))

        var istiodNeeds: [ResourceAddress] = []
        if let config = t.configCluster {
            istiodNeeds += crdsByCluster[config.name] ?? []
            // The mesh config: `istio`, or `istio-REV` as the istiod chart names a revision's (templates/configmap.yaml).
            istiodNeeds += [ResourceAddress(cluster: config.name, group: "core", kind: "ConfigMap", namespace: cp.namespace, name: "istio"),
                            ResourceAddress(cluster: config.name, group: "core", kind: "ConfigMap", namespace: cp.namespace, name: "istio" + IstioRevision(t).suffix),
                            RemoteSecret(cluster: config, topology: t).secretAddress].compactMap(exists)
        }

        var objectWorkload: [ResourceAddress: String] = [:]
        for (w, addrs) in workloadObjects { for a in addrs { objectWorkload[a] = w } }

        for a in Array(rs.keys) {
            var r = rs[a]!
            var deps = r.dependsOn
            // 1
            if let ns = a.namespace, let nsAddr = exists(ResourceAddress(cluster: a.cluster, group: "core", kind: "Namespace", namespace: nil, name: ns)) {
                deps.insert(nsAddr)
            }
            // 2
            if let crd = crds["\(a.cluster)|\(a.apiGroup)|\(a.kind)"] { deps.insert(crd) }
            // 3
            if a.kind == "Secret", r.body["type"]?.string == "kubernetes.io/service-account-token",
               let sa = r.body.annotations["kubernetes.io/service-account.name"],
               let saAddr = exists(ResourceAddress(cluster: a.cluster, group: "core", kind: "ServiceAccount", namespace: a.namespace, name: sa)) {
                deps.insert(saAddr)
            }
            if a.kind == "RoleBinding" || a.kind == "ClusterRoleBinding" {
                for s in r.body["subjects"]?.array ?? [] where s["kind"]?.string == "ServiceAccount" {
                    if let n = s["name"]?.string, let sa = exists(ResourceAddress(cluster: a.cluster, group: "core", kind: "ServiceAccount",
                                                                                   namespace: s["namespace"]?.string ?? a.namespace, name: n)) {
                        deps.insert(sa)
                    }
                }
            }
            // 4
            if a == istiod { deps.formUnion(istiodNeeds) }
            // 5
            if dataPlane.contains(a.cluster), a.kind == "MutatingWebhookConfiguration" || a.kind == "ValidatingWebhookConfiguration" {
                deps.formUnion(webhookPrerequisites)
            }
            if routing.contains(a), let istiodService { deps.insert(istiodService) }
            // 6
            if dataPlane.contains(a.cluster), podKinds.contains(a.kind) {
                let fromGateway = r.component.map { c in gatewayComponents.contains { c.hasPrefix($0.rawValue + "@") } } ?? false
                if fromGateway || objectWorkload[a] != nil { deps.formUnion(mutatingByCluster[a.cluster] ?? []) }
            }
            // 7
            for c in r.computed { deps.insert(c.producer) }
            // 8
            if let w = objectWorkload[a], let spec = t.workloads.first(where: { $0.name == w }) {
                for d in spec.dependsOn { deps.formUnion(workloadObjects[d] ?? []) }
            }
            deps.remove(a)
            r.dependsOn = deps
            rs[a] = r
        }
    }
}
