import KubeModel

/// The rules a mesh file must follow beyond its schema: the ones whose breach would give a mesh that
/// cannot be installed, or an error much later from a cluster. Each problem points at the value to change.
enum MeshValidation {
    /// `partial`: the schema reader already found problems, so values may be missing; report only
    /// problems at values that were written.
    static func check(_ t: MeshTopology, partial: Bool = false) -> [MeshFileError.Diagnostic] {
        var out: [MeshFileError.Diagnostic] = []
        func at(_ path: String) -> SourceLocation {
            t.sourceMap[path] ?? SourceLocation(file: t.sourcePath, line: 1, column: 1)
        }
        func fail(_ path: String, _ message: String, _ fix: String) {
            if partial && t.sourceMap[path] == nil { return }
            out.append(.init(location: at(path), message: message, fix: fix))
        }
        func label(_ value: String, _ path: String, what: String) {
            if !DNS1123.isLabel(value) {
                fail(path, "\(what) '\(value)' is not a valid DNS-1123 label (lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit)",
                     "rename it, e.g. '\(DNS1123.suggestion(for: value))'.")
            }
        }

        label(t.name, "mesh", what: "mesh name")
        label(t.controlPlane.namespace, "controlPlane.namespace", what: "namespace")
        label(t.controlPlane.gateway.namespace, "controlPlane.gateway.namespace", what: "namespace")
        if let rev = t.istio.revision { label(rev, "istio.revision", what: "revision") }
        if let problem = IstioRevision.unsupported(t) { fail("istio.revision", problem.message, problem.fix) }  // DayTwo
        if !DNS1123.isSubdomain(t.controlPlane.tls.secretName) {
            fail("controlPlane.tls.secretName", "Secret name '\(t.controlPlane.tls.secretName)' is not a valid DNS-1123 subdomain",
                 "rename it, e.g. '\(DNS1123.suggestion(for: t.controlPlane.tls.secretName))'.")
        }
        if case .hostname(let h) = t.controlPlane.address, h.isEmpty || h.contains(" ") || h.contains("/") {
            fail("controlPlane.address", "'\(h)' is not a hostname or address",
                 "write the gateway's DNS name (the guide's EXTERNAL_ISTIOD_ADDR) or \(MeshFile.gatewayLoadBalancerWord).")
        }

        // The guide's IP-address variant (no DNS name) exists only in its newest revision: older Istio would get
        // gateway routing that passes TLS through to an istiod its proxies do not trust.
        if t.controlPlane.address.isIPAddress, IstioOperatorForm(version: t.istio.version) != .newest {
            fail("controlPlane.address", "an IP address (or \(MeshFile.gatewayLoadBalancerWord)) needs Istio 1.22 or later: the guide's IP-address variant is in its newest revision only, and istio.version is \(t.istio.version)",
                 "use the gateway's DNS name with a TLS certificate for it (the guide's EXTERNAL_ISTIOD_ADDR), or istio.version 1.22 or later.")
        }

        // Clusters: valid unique names, one external, one config.
        var seen: [String: Int] = [:]
        for (i, c) in t.clusters.enumerated() {
            label(c.name, "clusters[\(i)].name", what: "cluster name")
            if let first = seen[c.name] {
                fail("clusters[\(i)].name", "cluster name '\(c.name)' is used twice (also clusters[\(first)], line \(at("clusters[\(first)].name").line))",
                     "give each cluster its own name.")
            } else { seen[c.name] = i }
            if c.role != .external { label(c.network, "clusters[\(i)].network", what: "network name") }
            if c.role == .external, c.gateways != ClusterGateways() {
                fail("clusters[\(i)].gateways", "cluster '\(c.name)' is the external cluster; gateways here are for data-plane clusters",
                     "move the gateways to a config or remote cluster; the control-plane gateway is controlPlane.gateway.")
            }
        }
        let externals = t.clusters.indices.filter { t.clusters[$0].role == .external }
        let configs = t.clusters.indices.filter { t.clusters[$0].role == .config }
        if externals.isEmpty { fail("clusters", "no cluster has role external", "mark the cluster that hosts istiod with `role: external`.") }
        for i in externals.dropFirst() {
            fail("clusters[\(i)].role", "a second external cluster ('\(t.clusters[i].name)'); one control plane has one external cluster",
                 "set this cluster's role to remote, or write a second mesh file.")
        }
        if configs.isEmpty { fail("clusters", "no cluster has role config", "mark the first remote (the one holding mesh configuration) with `role: config`.") }
        for i in configs.dropFirst() {
            fail("clusters[\(i)].role", "a second config cluster ('\(t.clusters[i].name)'); the mesh has one config cluster (also '\(t.clusters[configs[0]].name)')",
                 "set `role: remote` here: further clusters only provide endpoints.")
        }

        // Workloads: valid unique names, known data-plane cluster, acyclic dependsOn.
        var workloadIndex: [String: Int] = [:]
        let clusterByName = Dictionary(t.clusters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })   // linear, not clusters x workloads
        for (i, w) in t.workloads.enumerated() {
            label(w.name, "workloads[\(i)].name", what: "workload name")
            label(w.namespace, "workloads[\(i)].namespace", what: "namespace")
            if let first = workloadIndex[w.name] {
                fail("workloads[\(i)].name", "workload name '\(w.name)' is used twice (also workloads[\(first)])", "give each workload its own name.")
            } else { workloadIndex[w.name] = i }
            if let c = clusterByName[w.cluster] {
                if c.role == .external {
                    fail("workloads[\(i)].cluster", "workload '\(w.name)' is on the external cluster '\(c.name)', which runs the control plane only",
                         "put it on a config or remote cluster.")
                }
            } else {
                let names = t.clusters.map(\.name)
                let hint = closest(w.cluster, in: names).map { "did you mean '\($0)'? " } ?? ""
                fail("workloads[\(i)].cluster", "workload '\(w.name)' names cluster '\(w.cluster)', which the mesh does not have",
                     "\(hint)use one of: \(someNames(names)).")
            }
            for (j, m) in w.manifests.enumerated() {
                guard let s = m.selector else { continue }
                do {
                    if try LabelSelector.parse(s).requirements.isEmpty {
                        fail("workloads[\(i)].manifests[\(j)].selector", "'\(s)' selects everything",
                             "write what to select, as kubectl -l takes it (e.g. version=v1), or leave selector out.")
                    }
                } catch {
                    fail("workloads[\(i)].manifests[\(j)].selector", "'\(s)' is not a label selector (\(error.message))",
                         "write it as kubectl -l takes it (e.g. version=v1 or 'version in (v1,v2)').")
                }
            }
        }
        for (i, w) in t.workloads.enumerated() {
            for (j, d) in w.dependsOn.enumerated() where workloadIndex[d] == nil {
                fail("workloads[\(i)].dependsOn[\(j)]", "workload '\(w.name)' depends on '\(d)', which is not a workload here",
                     "\(closest(d, in: Array(workloadIndex.keys)).map { "did you mean '\($0)'? " } ?? "")use one of: \(someNames(t.workloads.map(\.name))).")
            }
        }
        for cycle in workloadCycles(t.workloads) {
            let i = workloadIndex[cycle[0]]!
            fail("workloads[\(i)].dependsOn", "workloads depend on each other in a cycle: \((cycle + [cycle[0]]).joined(separator: " -> "))",
                 "remove one of these dependsOn entries so that an order exists.")
        }
        return out
    }

    /// A few names for a fix line: a file with thousands of entries must not give thousands of names per error.
    static func someNames(_ names: [String]) -> String {
        names.count <= 8 ? names.joined(separator: ", ") : names.prefix(8).joined(separator: ", ") + " (and \(names.count - 8) more)"
    }

    /// Each cycle of workload dependsOn once, starting at its first workload in file order.
    /// A depth-first walk with its own stack: a dependsOn chain of any length cannot overflow the call stack.
    static func workloadCycles(_ ws: [WorkloadSpec]) -> [[String]] {
        let deps = Dictionary(ws.map { ($0.name, $0.dependsOn) }, uniquingKeysWith: { a, _ in a })
        var state: [String: Int] = [:]  // 1 visiting, 2 done
        var path: [String] = []
        var onPath: [String: Int] = [:]  // name -> index in path
        var cycles: [[String]] = []
        for w in ws where state[w.name] == nil {
            var work: [(name: String, next: Int)] = [(w.name, 0)]
            state[w.name] = 1; onPath[w.name] = 0; path = [w.name]
            while let (n, i) = work.last {
                let ds = deps[n] ?? []
                if i < ds.count {
                    work[work.count - 1].next = i + 1
                    let d = ds[i]
                    guard deps[d] != nil else { continue }
                    if state[d] == 1, let k = onPath[d] { cycles.append(Array(path[k...])) }
                    else if state[d] == nil {
                        state[d] = 1; onPath[d] = path.count; path.append(d); work.append((d, 0))
                    }
                    continue
                }
                work.removeLast(); path.removeLast(); onPath[n] = nil; state[n] = 2
            }
        }
        return cycles
    }
}
