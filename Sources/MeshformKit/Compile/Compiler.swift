import Crypto
import Foundation
import KubeModel

/// Turns a mesh topology into every object the guide creates, on the right cluster, with the dependencies
/// that make the order right (see `DependencyRules`).
///
/// Guarantees: every body carries `app.kubernetes.io/managed-by: meshform` and `meshform.dev/mesh: <mesh>`;
/// Secrets are sensitive; webhook `caBundle`/`failurePolicy` are ignored for drift (istiod patches them);
/// values known only after apply are explicit `ComputedValue`s; the output is a pure function of the
/// mesh file, the environment it read and the renderer's output (same input, same bytes).
public struct Compiler: Sendable {
    public static let managedByLabel = "app.kubernetes.io/managed-by"
    public static let managedByValue = "meshform"
    public static let meshLabel = "meshform.dev/mesh"
    public static let webhookIgnoreFields = ["webhooks[*].clientConfig.caBundle", "webhooks[*].failurePolicy"]
    static let systemNamespaces: Set<String> = ["default", "kube-system", "kube-public", "kube-node-lease"]

    public let renderer: any ComponentRenderer

    public init(renderer: any ComponentRenderer) { self.renderer = renderer }

    /// The renderer the mesh file asks for.
    public static func renderer(for t: MeshTopology) -> any ComponentRenderer {
        switch t.istio.renderer {
        case .istioctl(let path): return IstioctlRenderer(path: path ?? "istioctl", expectedVersion: t.istio.version)
        case .helm(let path, let charts): return HelmRenderer(path: path ?? "helm", charts: charts, expectedVersion: t.istio.version)
        case .manifests(let dir): return ManifestDirectoryRenderer(directory: dir)
        }
    }

    /// The control-plane address as written into documents: the hostname, or the computed placeholder.
    public static func addressText(_ t: MeshTopology) -> String {
        if case .hostname(let h) = t.controlPlane.address { return h }
        return GlueObjects.addressPlaceholder
    }

    public func compile(_ t: MeshTopology) async throws -> CompiledMesh {
        let cp = t.controlPlane
        let ext = t.externalCluster.name
        let address = Self.addressText(t)
        let components = IstioOperatorDocuments.components(for: t, address: address)
        var set = ResourceSet()

        // Istio components, rendered by Istio's tools.
        var rendered: [String] = []
        for c in components {
            let r = try await renderer.render(c)
            rendered.append(r.digest)
            for doc in r.documents.flatMap(GlueObjects.expandList) where doc.kind != nil {
                var d = doc
                if d.namespace == nil, !ClusterScopedKinds.contains(d) { d[path: ["metadata", "namespace"]] = .string(c.namespace) }
                try set.add(cluster: c.cluster, body: d, component: c.id)
            }
        }
        try RevisionGlue.addDefaultTags(to: &set, topology: t)  // the default revision tag of a revisioned install
        var glue: [JSON] = []
        func addGlue(_ cluster: String, _ body: JSON, _ step: String) throws {
            try set.add(cluster: cluster, body: body, component: step); glue.append(body)
        }

        // The guide's kubectl steps on the external cluster.
        try addGlue(ext, GlueObjects.istiodServiceAccount(cp), "control-plane")
        if let tls = try GlueObjects.tlsSecret(cp) { try addGlue(ext, tls, "control-plane-tls") }
        for r in RevisionGlue.routing(t) { try addGlue(ext, r, "control-plane-routing") }

        // Remote secrets, one per data-plane cluster; a ServiceAccount the render lacks comes with its RBAC.
        for c in t.dataPlaneClusters {
            let rs = RemoteSecret(cluster: c, topology: t)
            if set.resources[rs.serviceAccountAddress] == nil {
                try addGlue(c.name, rs.serviceAccount, "remote-secret@\(c.name)")
                for body in rs.rbac {
                    if set.resources[try ResourceAddress(cluster: c.name, object: body)] == nil { try addGlue(c.name, body, "remote-secret@\(c.name)") }
                }
            }
            set.insert(rs.tokenSecret); glue.append(rs.tokenSecret.body)
            set.insert(rs.secret); glue.append(rs.secret.body)
        }

        // expose-services.yaml where istiod reads it: the config cluster in the newest revision (istiod reads
        // mesh config there only), every east-west cluster before.
        let form = IstioOperatorForm(version: t.istio.version)
        let eastWest = t.dataPlaneClusters.filter(\.gateways.eastWest)
        let exposeOn = form == .newest ? (eastWest.isEmpty ? [] : [t.configCluster].compactMap { $0 }) : eastWest
        for c in exposeOn {
            try addGlue(c.name, GlueObjects.exposeServices(namespace: cp.namespace, istioVersion: t.istio.version), "expose-services@\(c.name)")
        }

        // Newest revision: each further remote's system namespace names the cluster whose control plane manages it.
        if form == .newest, let config = t.configCluster {
            for c in t.clusters where c.role == .remote {
                let ns = GlueObjects.namespace(cp.namespace, annotations: ["topology.istio.io/controlPlaneClusters": config.name])
                try addGlue(c.name, ns, "namespaces")
            }
        }

        // Workloads.
        var workloadObjects: [String: [ResourceAddress]] = [:]
        var parsedManifests: [String: [JSON]] = [:]
        for w in t.workloads {
            let ns = GlueObjects.namespace(w.namespace, labels: w.injection ? ["istio-injection": "enabled"] : [:])
            try addGlue(w.cluster, ns, "workload \(w.name)")
            for body in try GlueObjects.workloadObjects(w, parsed: &parsedManifests) {
                try addGlue(w.cluster, body, "workload \(w.name)")
                workloadObjects[w.name, default: []].append(try ResourceAddress(cluster: w.cluster, object: body))
            }
        }

        // Every namespace an object lives in, including the remotes' control-plane namespace.
        let used = Set(set.resources.keys.compactMap { a in a.namespace.map { "\(a.cluster)/\($0)" } })
        for key in used.sorted() {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            let nsAddr = ResourceAddress(cluster: parts[0], group: "core", kind: "Namespace", namespace: nil, name: parts[1])
            if !Self.systemNamespaces.contains(parts[1]), set.resources[nsAddr] == nil {
                try addGlue(parts[0], GlueObjects.namespace(parts[1]), "namespaces")
            }
        }

        // Per-resource flags and computed values.
        var gatewayAddress: ComputedValue?
        if case .gatewayLoadBalancer = cp.address {
            let svc = ResourceAddress(cluster: ext, group: "core", kind: "Service", namespace: cp.gateway.namespace, name: cp.gateway.name)
            guard set.resources[svc] != nil else { throw CompileError.missingGatewayService(svc) }
            gatewayAddress = ComputedValue(placeholder: GlueObjects.addressPlaceholder, producer: svc, source: .loadBalancerAddress)
        }
        var all = set.resources
        for (a, var r) in all {
            r.body = Self.labelled(r.body, mesh: t.name)
            switch a.kind {
            case "CustomResourceDefinition": r.readiness = .established
            case "Deployment": r.readiness = .available
            case "Secret": r.sensitive = true
            case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration": r.ignoreFields += Self.webhookIgnoreFields
            default: break
            }
            if let gatewayAddress {
                if a == gatewayAddress.producer { r.readiness = .loadBalancerAddress }
                else if Self.contains(gatewayAddress.placeholder, in: r.body) { r.computed.append(gatewayAddress) }
            }
            for rule in t.lifecycle.ignoreFields where a.matches(pattern: rule.resource) { r.ignoreFields += rule.fields }
            r.preventDestroy = t.lifecycle.preventDestroy.contains { a.matches(pattern: $0) }
            all[a] = r
        }
        DependencyRules.apply(to: &all, topology: t, workloadObjects: workloadObjects)

        let graph = ResourceGraph(resources: Array(all.values))
        let order: [ResourceAddress]
        do { order = try graph.topologicalOrder() } catch let e as GraphCycleError { throw CompileError.cycle(e) }
        let resources = order.map { all[$0]! }

        let hash = Self.configHash(source: t.sourceText, renderedDigests: rendered, glue: glue)
        return CompiledMesh(topology: t, resources: resources, configHash: hash, components: components, graph: graph)
    }

    /// SHA-256 (hex) of the mesh file, of what the renderer produced for each component (`RenderedManifests.digest`:
    /// its output, not its inputs) and of every object Meshform builds itself: a changed chart, istioctl or manifest
    /// changes the hash (a saved plan goes stale; drift reports the configuration as changed) exactly when its output
    /// changed. Rendered bodies are covered through their text's digest, which is far cheaper than re-encoding them.
    static func configHash(source: String, renderedDigests: [String], glue: [JSON]) -> String {
        var h = SHA256()
        h.update(data: Data(source.utf8))
        for d in renderedDigests { h.update(data: Data("\u{0}rendered \(d)".utf8)) }
        for g in glue { h.update(data: Data("\u{0}".utf8)); h.update(data: g.encoded()) }
        return Hex.encode(h.finalize())
    }

    /// The body with the ownership labels drift uses to find orphans.
    static func labelled(_ body: JSON, mesh: String) -> JSON {
        var b = body
        var labels = b[path: ["metadata", "labels"]]?.object ?? [:]
        labels[managedByLabel] = .string(managedByValue)
        labels[meshLabel] = .string(mesh)
        b[path: ["metadata", "labels"]] = .object(labels)
        return b
    }

    /// Byte search: rendered bodies hold megabytes of text (CRD schemas, injector templates),
    /// and `String.contains` is far slower.
    static func containsBytes(_ haystack: String, _ needle: String) -> Bool {
        var h = haystack, n = needle
        return h.withUTF8 { hb in
            n.withUTF8 { nb in
                guard nb.count > 0 else { return true }
                guard hb.count >= nb.count else { return false }
                let first = nb[0], last = hb.count - nb.count
                var i = 0
                while i <= last {
                    if hb[i] == first {
                        var j = 1
                        while j < nb.count && hb[i + j] == nb[j] { j += 1 }
                        if j == nb.count { return true }
                    }
                    i += 1
                }
                return false
            }
        }
    }

    static func contains(_ needle: String, in v: JSON) -> Bool {
        switch v {
        case .string(let s): return containsBytes(s, needle)
        case .array(let a): return a.contains { contains(needle, in: $0) }
        case .object(let o): return o.values.contains { contains(needle, in: $0) }
        default: return false
        }
    }
}

/// Resources by address while compiling; the same object from two sources must be identical.
struct ResourceSet {
    var resources: [ResourceAddress: Resource] = [:]

    mutating func add(cluster: String, body: JSON, component: String) throws {
        let a: ResourceAddress
        do { a = try ResourceAddress(cluster: cluster, object: body) } catch {
            throw CompileError.badObject(component: component, reason: "\(error)")
        }
        if let existing = resources[a] {
            guard existing.body == body else {
                throw CompileError.conflictingObjects(a, first: existing.component ?? "?", second: component)
            }
            return
        }
        resources[a] = Resource(address: a, body: body, component: component)
    }

    mutating func insert(_ r: Resource) { resources[r.address] = r }
}
