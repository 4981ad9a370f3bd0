import Foundation
import KubeClient
import KubeModel

/// The guide's checks ("Set up the remote config cluster" / "Deploy a sample application" / the verification steps
/// of Istio's "Install Istio with an External Control Plane"), run read-only against the live clusters.
///
/// Each check reads what it judges; none writes. A check that cannot be made here is `notRun` with its reason,
/// never `passed`. Remote-secret credentials are used only to ask the remote API server about themselves.
struct Verifier {
    let mesh: CompiledMesh
    let clients: [String: KubeClient]
    /// Where the user's kubeconfig reaches each cluster's API server.
    var endpoints: [String: ClusterEndpoint] = [:]
    /// Per TLS handshake.
    var handshakeTimeout: Duration = .seconds(10)

    var topology: MeshTopology { mesh.topology }

    /// What istiod reads from a remote cluster: the read rules both istiod ClusterRoles grant (istio/istio
    /// manifests/charts/istiod/templates/clusterrole.yaml and reader-clusterrole.yaml), and, on the config cluster,
    /// the mesh configuration it watches there. Verb `list` across all namespaces, as istiod's informers do.
    static let istiodReads: [(group: String, resource: String)] = [
        ("", "pods"), ("", "services"), ("", "endpoints"), ("", "namespaces"), ("", "nodes"),
        ("discovery.k8s.io", "endpointslices"), ("apiextensions.k8s.io", "customresourcedefinitions"),
    ]
    static let configClusterReads: [(group: String, resource: String)] = [
        ("networking.istio.io", "virtualservices"), ("networking.istio.io", "destinationrules"), ("networking.istio.io", "gateways"),
    ]

    static let webhookKinds: Set<String> = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
    static let secretGVK = GroupVersionKind(apiVersion: "v1", kind: "Secret")

    func run() async -> VerifyReport {
        let gatewayService = try? await client(topology.externalCluster.name)
            .get(GroupVersionKind(apiVersion: "v1", kind: "Service"), namespace: topology.controlPlane.gateway.namespace,
                 name: topology.controlPlane.gateway.name)
        let gatewayAddress = GatewayAddress.of(gatewayService)

        var jobs: [@Sendable () async -> [VerifyCheck]] = []
        jobs.append { await istiod() }
        for c in topology.dataPlaneClusters {
            jobs.append { await webhooks(on: c.name, gatewayAddress: gatewayAddress) }
            jobs.append { await remoteSecret(for: c) }
        }
        jobs.append { await gatewayTLS(gatewayAddress: gatewayAddress) }
        var seen = Set<String>()
        for w in topology.workloads where w.injection && seen.insert("\(w.cluster)/\(w.namespace)").inserted {
            jobs.append { await sidecars(cluster: w.cluster, namespace: w.namespace) }
        }
        jobs.append {
            [VerifyCheck("traffic", "", .notRun,
                         "a request through the mesh needs running pods with sidecars; Meshform does not exec into pods. The guide's "
                         + "check: kubectl exec -n sample deploy/sleep -c sleep -- curl -sS helloworld.sample:5000/hello")]
        }
        let results = await withTaskGroup(of: (Int, [VerifyCheck]).self) { group in
            for (i, job) in jobs.enumerated() { group.addTask { (i, await job()) } }
            var out: [(Int, [VerifyCheck])] = []
            for await r in group { out.append(r) }
            return out.sorted { $0.0 < $1.0 }.flatMap(\.1)
        }
        return VerifyReport(checks: results)
    }

    private func client(_ cluster: String) throws -> KubeClient {
        guard let c = clients[cluster] else { throw ApplyError.noConnection(cluster: cluster) }
        return c
    }

    // MARK: - istiod

    func istiod() async -> [VerifyCheck] {
        let ext = topology.externalCluster.name, ns = topology.controlPlane.namespace
        let istiod = IstioRevision(topology).istiodName  // istiod-REV for a revisioned install (DayTwo)
        let target = "\(ext)/\(ns)/\(istiod)"
        do {
            guard let d = try await client(ext).get(GroupVersionKind(apiVersion: "apps/v1", kind: "Deployment"), namespace: ns, name: istiod) else {
                return [VerifyCheck("istiod", target, .failed, "Deployment \(ns)/\(istiod) does not exist on cluster \(ext); run meshform apply")]
            }
            let available = d[path: ["status", "conditions"]]?.array?.first { $0["type"]?.string == "Available" }
            if available?["status"]?.string == "True" {
                let ready = d[path: ["status", "readyReplicas"]]?.int ?? 0
                return [VerifyCheck("istiod", target, .passed, "Available (\(ready) ready replica\(ready == 1 ? "" : "s"))")]
            }
            let why = [available?["reason"]?.string, available?["message"]?.string].compactMap { $0 }.joined(separator: ": ")
            return [VerifyCheck("istiod", target, .failed, "not Available\(why.isEmpty ? "" : " (\(why))"); see kubectl -n \(ns) describe deployment istiod")]
        } catch {
            return [VerifyCheck("istiod", target, .failed, "cannot read it: \(error)")]
        }
    }

    // MARK: - Webhooks

    /// Every webhook configuration the mesh renders for the cluster is live and calls what the compiler rendered
    /// (`clientConfig` without `caBundle`, which istiod patches), with the gateway's live address in place of the
    /// computed one.
    func webhooks(on cluster: String, gatewayAddress: String?) async -> [VerifyCheck] {
        let expected = mesh.resources.filter { $0.address.cluster == cluster && Self.webhookKinds.contains($0.address.kind) }
        guard !expected.isEmpty else {
            return [VerifyCheck("webhooks", cluster, .notRun, "the mesh renders no webhook configuration for this cluster")]
        }
        var problems: [String] = [], urls = Set<String>()
        do {
            let c = try client(cluster)
            for r in expected {
                var body = r.body
                if Compiler.contains(GlueObjects.addressPlaceholder, in: body) {
                    guard let gatewayAddress else {
                        problems.append("the control-plane gateway has no load-balancer address, so \(r.address.kind) \(r.address.name) cannot be compared")
                        continue
                    }
                    var values = ComputedValues()
                    values[GlueObjects.addressPlaceholder] = gatewayAddress
                    body = values.substitute(in: body)
                }
                let gvk = GroupVersionKind(apiVersion: body.apiVersion ?? "v1", kind: r.address.kind)
                guard let live = try await c.get(gvk, namespace: nil, name: r.address.name) else {
                    problems.append("\(r.address.kind) \(r.address.name) is missing")
                    continue
                }
                let liveHooks = Dictionary((live["webhooks"]?.array ?? []).map { ($0["name"]?.string ?? "", $0) }, uniquingKeysWith: { a, _ in a })
                for hook in body["webhooks"]?.array ?? [] {
                    let name = hook["name"]?.string ?? ""
                    guard let l = liveHooks[name] else { problems.append("\(r.address.name) has no webhook \(name)"); continue }
                    let want = Self.callTarget(hook["clientConfig"]), got = Self.callTarget(l["clientConfig"])
                    if want != got {
                        problems.append("\(r.address.name) webhook \(name) calls \(Self.describe(got)), not \(Self.describe(want))")
                    } else {
                        urls.insert(Self.describe(want))
                    }
                }
            }
        } catch {
            problems.append("cannot read them: \(error)")
        }
        if !problems.isEmpty {
            return [VerifyCheck("webhooks", cluster, .failed, problems.joined(separator: "; ") + "; meshform apply writes them back")]
        }
        return [VerifyCheck("webhooks", cluster, .passed,
                            "\(expected.count) webhook configuration\(expected.count == 1 ? " calls" : "s call") \(urls.sorted().joined(separator: ", "))")]
    }

    /// Where a webhook calls: its `clientConfig` without `caBundle`.
    static func callTarget(_ clientConfig: JSON?) -> JSON {
        var c = clientConfig ?? .null
        c["caBundle"] = nil
        return c
    }

    static func describe(_ clientConfig: JSON) -> String {
        if let url = clientConfig["url"]?.string { return url }
        if let s = clientConfig["service"] {
            return "service \(s["namespace"]?.string ?? "")/\(s["name"]?.string ?? "")\(s["path"]?.string ?? "")"
        }
        return "nothing"
    }

    // MARK: - Remote secrets

    /// The remote secret (on the cluster where istiod watches it) decodes to a kubeconfig whose credentials the remote API server
    /// accepts and authorises for what istiod lists. The kubeconfig and its token stay in memory.
    func remoteSecret(for cluster: ClusterSpec) async -> [VerifyCheck] {
        let rs = RemoteSecret(cluster: cluster, topology: topology)
        let ext = rs.secretCluster   // where this revision of the guide applies the secret
        func failed(_ s: String) -> [VerifyCheck] { [VerifyCheck("remote-secret", cluster.name, .failed, s)] }
        let secret: JSON?
        do { secret = try await client(ext).get(Self.secretGVK, namespace: rs.namespace, name: rs.secretName) } catch {
            return failed("cannot read Secret \(rs.namespace)/\(rs.secretName) on cluster \(ext): \(error)")
        }
        guard let secret else { return failed("Secret \(rs.namespace)/\(rs.secretName) does not exist on cluster \(ext); run meshform apply") }
        guard let b64 = secret[path: ["data", rs.dataKey]]?.string, let data = Data(base64Encoded: b64),
              let text = String(data: data, encoding: .utf8) else {
            return failed("Secret \(rs.namespace)/\(rs.secretName) has no key \(rs.dataKey) holding text")
        }
        // Parse errors may quote the text, which holds a token: say only that it is not a kubeconfig.
        guard let kubeconfig = try? Kubeconfig.parse(text), let connection = try? ClusterConnection(kubeconfig: kubeconfig, context: nil) else {
            return failed("key \(rs.dataKey) of Secret \(rs.namespace)/\(rs.secretName) is not a kubeconfig with a current context")
        }
        // Few retries: a server that does not answer is reported, not waited for.
        var options = ClientOptions()
        options.retry = RetryPolicy(maxAttempts: 2, maxElapsed: .seconds(10))
        options.connectTimeout = .seconds(10)
        let remote = KubeClient(connection: connection, options: options)
        let checks = await { () async -> [VerifyCheck] in
            let who = "ServiceAccount \(rs.namespace)/\(rs.serviceAccountName)"
            let reads = Self.istiodReads + (rs.type == .config ? Self.configClusterReads : [])
            var denied: [String] = []
            do {
                for r in reads {
                    let decision = try await remote.accessReview(verb: "list", group: r.group, resource: r.resource)
                    if !decision.allowed { denied.append(r.group.isEmpty ? r.resource : "\(r.resource).\(r.group)") }
                }
            } catch KubeError.unauthorized {
                return failed("\(connection.server) rejects the credentials in Secret \(rs.namespace)/\(rs.secretName) (401 Unauthorized): "
                              + "the token is wrong, expired or revoked. meshform apply rewrites the secret from \(who)'s token")
            } catch {
                // A server the secret names instead of the kubeconfig's (istioctl's --server) may be reachable only from
                // istiod's cluster: not reaching it from here says nothing about the secret.
                if let mine = endpoints[cluster.name]?.server, mine != connection.server, Self.isUnreachable(error) {
                    return [VerifyCheck("remote-secret", cluster.name, .notRun,
                                        "the secret names API server \(connection.server) (your kubeconfig: \(mine)), which does not answer from here: \(error)")]
                }
                return failed("cannot ask \(connection.server) about the secret's credentials: \(error)")
            }
            if !denied.isEmpty {
                return failed("the credentials authenticate, but may not list \(denied.joined(separator: ", ")) on cluster \(cluster.name): "
                              + "istiod needs RBAC there (a ClusterRole with get/list/watch bound to \(who), as the istiod chart renders)")
            }
            // The same cluster, not merely one that accepts the token: kube-system's uid is a cluster's identity
            // (the convention `kubectl` plugins and Istio's own cluster ID tooling rely on).
            let namespaceKind = GroupVersionKind(apiVersion: "v1", kind: "Namespace")
            let theirs: String?, ours: String?
            do { theirs = try await remote.get(namespaceKind, namespace: nil, name: "kube-system")?.uid } catch {
                return failed("the credentials cannot read namespace kube-system at \(connection.server), so which cluster they reach is unknown: \(error)")
            }
            do { ours = try await client(cluster.name).get(namespaceKind, namespace: nil, name: "kube-system")?.uid } catch {
                return failed("cannot read namespace kube-system on cluster \(cluster.name) through your kubeconfig to confirm the secret reaches it: \(error)")
            }
            guard let theirs, let ours, theirs == ours else {
                return failed("the secret's server \(connection.server) is another cluster than \(cluster.name) (kube-system has uid \(theirs ?? "none"), "
                              + "not \(ours ?? "none")): it was made for, or points at, the wrong cluster")
            }
            return [VerifyCheck("remote-secret", cluster.name, .passed,
                                "Secret \(rs.namespace)/\(rs.secretName): its credentials authenticate at \(connection.server) (cluster \(cluster.name)) "
                                + "and may list the \(reads.count) kinds istiod reads there")]
        }()
        try? await remote.shutdown()   // structured: before returning, not in a task nobody awaits
        return checks
    }

    static func isUnreachable(_ error: Error) -> Bool {
        switch error as? KubeError {
        case .transport?, .timeout?: return true
        default: return false
        }
    }

    // MARK: - Gateway TLS

    func gatewayTLS(gatewayAddress: String?) async -> [VerifyCheck] {
        let cp = topology.controlPlane
        let t = topology
        let host: String
        switch cp.address {
        case .hostname(let h): host = h
        case .gatewayLoadBalancer:
            guard let gatewayAddress else {
                return [VerifyCheck("gateway-tls", "", .failed,
                                    "the control-plane gateway Service \(cp.gateway.namespace)/\(cp.gateway.name) has no load-balancer address")]
            }
            host = gatewayAddress
        }
        let expected: [UInt8]?
        if cp.tls.checkHandshake, let c = clients[t.externalCluster.name] {
            expected = try? await GatewayTLS.expectedCertificate(t, client: c)
        } else {
            expected = nil
        }
        let compared = expected != nil
            ? "; the gateway presents the certificate of Secret \(cp.gateway.namespace)/\(cp.tls.secretName)"
            : (cp.address == .gatewayLoadBalancer ? " (certificate not compared with the load-balancer address)"
                                                   : " (Secret \(cp.gateway.namespace)/\(cp.tls.secretName) has no tls.crt to compare with)")
        return await withTaskGroup(of: VerifyCheck.self) { group in
            for port in [15012, 15017] {
                group.addTask {
                    let target = "\(host):\(port)"
                    guard cp.tls.checkHandshake else {
                        return VerifyCheck("gateway-tls", target, .notRun,
                                           "controlPlane.tls.checkHandshake is false in the mesh file")
                    }
                    do {
                        try await GatewayTLS.check(t, host: host, port: port, expected: expected, timeout: handshakeTimeout)
                        return VerifyCheck("gateway-tls", target, .passed, "a TLS handshake completed" + compared)
                    } catch {
                        return VerifyCheck("gateway-tls", target, .failed, "\(error)")
                    }
                }
            }
            var out: [VerifyCheck] = []
            for await c in group { out.append(c) }
            return out.sorted { $0.target < $1.target }
        }
    }

    // MARK: - Sidecars

    /// Pods in an injected namespace carry `istio-proxy`, as a container or (native sidecars, Istio 1.19+ on
    /// Kubernetes 1.28+) an init container. Pods that opt out (`sidecar.istio.io/inject: "false"`) are skipped.
    func sidecars(cluster: String, namespace: String) async -> [VerifyCheck] {
        let target = "\(cluster)/\(namespace)"
        let pods: [JSON]
        do { pods = try await client(cluster).list(GroupVersionKind(apiVersion: "v1", kind: "Pod"), namespace: namespace) } catch {
            return [VerifyCheck("sidecars", target, .failed, "cannot list pods: \(error)")]
        }
        let injected = pods.filter { p in
            (p.annotations["sidecar.istio.io/inject"] ?? p.labels["sidecar.istio.io/inject"]) != "false"
        }
        guard !injected.isEmpty else {
            return [VerifyCheck("sidecars", target, .notRun, "no pods to check in namespace \(namespace) (a simulated cluster such as KubeSim runs none)")]
        }
        let missing = injected.filter { p in
            let names = ((p[path: ["spec", "containers"]]?.array ?? []) + (p[path: ["spec", "initContainers"]]?.array ?? [])).compactMap { $0["name"]?.string }
            return !names.contains("istio-proxy")
        }.compactMap(\.name)
        if !missing.isEmpty {
            return [VerifyCheck("sidecars", target, .failed,
                                "\(missing.count) of \(injected.count) pods have no istio-proxy (\(missing.prefix(5).joined(separator: ", "))"
                                + "\(missing.count > 5 ? ", ..." : "")): created before injection was on, or the injection webhook was not called; "
                                + "kubectl -n \(namespace) rollout restart deployment")]
        }
        return [VerifyCheck("sidecars", target, .passed, "all \(injected.count) pods carry istio-proxy")]
    }
}
