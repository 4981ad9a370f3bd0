import Foundation
import KubeModel
import StateStore
import Yams

/// The mesh file: one YAML file that says everything the external control plane guide does.
/// The reference is docs/mesh-file.md; `plans/` holds examples.
public enum MeshFile {
    static let topKeys = ["mesh", "meshID", "state", "istio", "clusters", "controlPlane", "workloads", "lifecycle"]
    static let istioKeys = ["version", "renderer", "istioctl", "helm", "charts", "manifests", "revision"]
    static let clusterKeys = ["name", "context", "kubeconfig", "role", "network", "gateways", "server"]
    static let gatewayKeys = ["eastWest", "ingress", "egress"]
    static let controlPlaneKeys = ["namespace", "gateway", "address", "tls", "proxyMetadata", "istiod"]
    static let cpGatewayKeys = ["namespace", "name", "ports"]
    static let portKeys = ["name", "port", "targetPort"]
    static let tlsKeys = ["secretName", "certFile", "keyFile", "checkHandshake"]
    static let istiodKeys = ["env", "values"]
    static let workloadKeys = ["name", "cluster", "namespace", "injection", "manifests", "dependsOn"]
    static let manifestKeys = ["path", "selector"]
    static let lifecycleKeys = ["preventDestroy", "ignoreFields", "upgrade"]
    static let ignoreKeys = ["resource", "fields"]

    /// The word for "use the gateway Service's load-balancer address" in `controlPlane.address`.
    public static let gatewayLoadBalancerWord = "gateway-load-balancer"

    /// The guide's gateway ports: status, xDS/CA, webhooks.
    public static let guidePorts = [GatewayPort(name: "status-port", port: 15021, targetPort: 15021),
                                    GatewayPort(name: "tls-xds", port: 15012, targetPort: 15012),
                                    GatewayPort(name: "tls-webhook", port: 15017, targetPort: 15017)]
    public static let guideProxyMetadata = ["XDS_ROOT_CA": "/etc/ssl/certs/ca-certificates.crt",
                                            "CA_ROOT_CA": "/etc/ssl/certs/ca-certificates.crt"]

    /// A mesh file describes a few clusters: 1 MiB and 64 levels are far beyond any real one, and bound what
    /// a hostile one can cost (see `YAMLGuard`).
    static let limits = YAMLGuard.Limits(textBytes: 1 << 20, documentBytes: 1 << 20, depth: 64)

    /// Reads, checks and returns the mesh at `path`. Throws `MeshFileError` listing every problem found.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> MeshTopology {
        let text: String
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        if size > limits.textBytes {
            throw MeshFileError([.init(location: SourceLocation(file: path, line: 1, column: 1),
                                       message: "the mesh file is \(YAMLGuard.mebibytes(size)); the limit is \(YAMLGuard.mebibytes(limits.textBytes))",
                                       fix: "check the path: a mesh file describes clusters and workloads, and names manifest files rather than holding them.")])
        }
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw MeshFileError([.init(location: SourceLocation(file: path, line: 1, column: 1),
                                       message: "cannot read the mesh file", fix: "check the path and that the file is readable UTF-8 text.")])
        }
        return try parse(text: text, path: path, environment: environment)
    }

    /// Parses mesh file text; relative paths inside resolve against the directory of `path`.
    public static func parse(text: String, path: String, environment: [String: String]) throws -> MeshTopology {
        let node: Node?
        do {
            try YAMLGuard.check(text, limits: limits)
            node = try Yams.compose(yaml: text)
        } catch let e as YAMLInputError {
            throw MeshFileError([refused(e, file: path)])
        } catch let e as YamlError {
            throw MeshFileError([yamlSyntax(e, file: path)])
        }
        let r = MeshFileReader(file: path, environment: environment)
        guard let node, let top = r.mapping(node, path: "", known: topKeys) else {
            if node == nil { r.error(nil as Node?, "the mesh file is empty", fix: "start from plans/external-controlplane.yaml.") }
            throw MeshFileError(r.diagnostics)
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        func resolve(_ p: String) -> String {
            let expanded = (p as NSString).expandingTildeInPath
            return expanded.hasPrefix("/") ? expanded : base.appendingPathComponent(expanded).standardizedFileURL.path
        }
        func required<T>(_ m: [String: Node], _ key: String, _ path: String, at parent: Node, _ read: (Node?, String) -> T?) -> T? {
            guard let n = m[key] else {
                r.error(parent, "\(path.isEmpty ? "the mesh file" : path) has no '\(key)'", fix: "add `\(key): ...` (see docs/mesh-file.md).")
                return nil
            }
            return read(n, path.isEmpty ? key : "\(path).\(key)")
        }

        let name = required(top, "mesh", "", at: node, r.string) ?? "mesh"
        let meshID = top["meshID"].flatMap { r.string($0, path: "meshID") } ?? "mesh1"
        let state = top["state"].flatMap { n in r.string(n, path: "state").flatMap { stateLocation($0, at: n) } }

        // istio
        var istio = IstioSettings(version: "0", renderer: .istioctl(path: nil))
        if let n = required(top, "istio", "", at: node, { n, p in n.flatMap { r.mapping($0, path: p, known: istioKeys) } }) {
            istio.version = required(n, "version", "istio", at: top["istio"]!, r.string) ?? "0"
            istio.revision = n["revision"].flatMap { r.string($0, path: "istio.revision") }  // day 2: DayTwo/IstioRevision.swift
            let which = n["renderer"].flatMap { r.string($0, path: "istio.renderer") } ?? "istioctl"
            let tool = { (k: String) in n[k].flatMap { r.string($0, path: "istio.\(k)") }.map(resolveTool) }
            switch which {
            case "istioctl": istio.renderer = .istioctl(path: tool("istioctl"))
            case "helm":
                let charts = required(n, "charts", "istio", at: top["istio"]!, r.string).map(resolve) ?? ""
                istio.renderer = .helm(path: tool("helm"), charts: charts)
            case "manifests":
                let dir = required(n, "manifests", "istio", at: top["istio"]!, r.string).map(resolve) ?? ""
                istio.renderer = .manifests(directory: dir)
            default:
                r.error(n["renderer"], "istio.renderer '\(which)' is not a renderer", fix: "write istioctl (default), helm or manifests.")
            }
            if istio.version != "0", IstioVersion(istio.version) == nil {
                r.error(n["version"], "istio.version '\(istio.version)' is not a version", fix: "write the Istio release, e.g. 1.24.0.")
            }
        }
        /// `state:` is checked as `--state` is, and a password in it is refused: a mesh file is shared and committed.
        /// The message never repeats the value.
        func stateLocation(_ s: String, at n: Node) -> String? {
            guard StateLocation.isURL(s) else { return s.isEmpty ? nil : resolve(s) }
            do {
                _ = try PostgresLocation(url: s, environment: environment)
                return s
            } catch StateError.badLocation(_, let detail) {
                r.error(n, "state is not a usable PostgreSQL URL: \(detail)",
                        fix: "write state: postgres://USER@HOST:PORT/DB?sslmode=verify-full (see docs/state-backends.md).")
            } catch {
                r.error(n, "state is not a usable PostgreSQL URL", fix: "write state: postgres://USER@HOST:PORT/DB?sslmode=verify-full.")
            }
            return nil
        }
        func resolveTool(_ p: String) -> String { p.contains("/") ? resolve(p) : p }
        /// A cluster's `server:`: an https URL with a host, as istioctl create-remote-secret's `--server` takes it.
        func server(_ n: Node?, path: String) -> String? {
            guard let n, let s = r.string(n, path: path) else { return nil }
            guard let u = URLComponents(string: s), u.scheme == "https", let host = u.host, !host.isEmpty,
                  u.query == nil, u.user == nil else {
                r.error(n, "\(path) '\(s)' is not an API server address", fix: "write the URL istiod reaches the API server at, e.g. https://10.0.0.12:6443.")
                return nil
            }
            return s
        }

        // clusters
        var clusters: [ClusterSpec] = []
        if let items = required(top, "clusters", "", at: node, r.list) {
            for (i, item) in items.enumerated() {
                let p = "clusters[\(i)]"
                guard let m = r.mapping(item, path: p, known: clusterKeys) else { continue }
                let cname = required(m, "name", p, at: item, r.string) ?? ""
                let context = m["context"].flatMap { r.string($0, path: "\(p).context") } ?? cname
                let roleText = required(m, "role", p, at: item, r.string) ?? "remote"
                let role = ClusterRole(rawValue: roleText)
                if role == nil { r.error(m["role"], "\(p).role '\(roleText)' is not a role", fix: "write external, config or remote.") }
                var gw = ClusterGateways()
                if let g = m["gateways"], let gm = r.mapping(g, path: "\(p).gateways", known: gatewayKeys) {
                    gw.eastWest = gm["eastWest"].flatMap { r.bool($0, path: "\(p).gateways.eastWest") } ?? false
                    gw.ingress = gm["ingress"].flatMap { r.bool($0, path: "\(p).gateways.ingress") } ?? false
                    gw.egress = gm["egress"].flatMap { r.bool($0, path: "\(p).gateways.egress") } ?? false
                }
                clusters.append(ClusterSpec(name: cname, context: context,
                                            kubeconfig: m["kubeconfig"].flatMap { r.string($0, path: "\(p).kubeconfig") }.map(resolve),
                                            role: role ?? .remote,
                                            network: m["network"].flatMap { r.string($0, path: "\(p).network") } ?? "network1",
                                            gateways: gw, server: server(m["server"], path: "\(p).server")))
            }
        }

        // control plane
        var cp = ControlPlaneSpec(namespace: "external-istiod",
                                  gateway: ControlPlaneGateway(namespace: "istio-system", name: "istio-ingressgateway", ports: guidePorts),
                                  address: .gatewayLoadBalancer, tls: TLSSecretSpec(secretName: "external-istiod-tls"),
                                  proxyMetadata: guideProxyMetadata, istiodEnv: [:], istiodValues: .object([:]))
        if let cpNode = required(top, "controlPlane", "", at: node, { n, p in n }),
           let m = r.mapping(cpNode, path: "controlPlane", known: controlPlaneKeys) {
            if let ns = m["namespace"].flatMap({ r.string($0, path: "controlPlane.namespace") }) { cp.namespace = ns }
            if let g = m["gateway"], let gm = r.mapping(g, path: "controlPlane.gateway", known: cpGatewayKeys) {
                if let v = gm["namespace"].flatMap({ r.string($0, path: "controlPlane.gateway.namespace") }) { cp.gateway.namespace = v }
                if let v = gm["name"].flatMap({ r.string($0, path: "controlPlane.gateway.name") }) { cp.gateway.name = v }
                if let ports = r.list(gm["ports"], path: "controlPlane.gateway.ports") {
                    cp.gateway.ports = ports.enumerated().compactMap { i, pn in
                        let p = "controlPlane.gateway.ports[\(i)]"
                        guard let pm = r.mapping(pn, path: p, known: portKeys),
                              let n = required(pm, "name", p, at: pn, r.string),
                              let port = required(pm, "port", p, at: pn, r.int) else { return nil }
                        return GatewayPort(name: n, port: port, targetPort: pm["targetPort"].flatMap { r.int($0, path: "\(p).targetPort") } ?? port)
                    }
                }
            }
            if let a = required(m, "address", "controlPlane", at: cpNode, r.string) {
                cp.address = a == gatewayLoadBalancerWord ? .gatewayLoadBalancer : .hostname(a)
            }
            if let t = required(m, "tls", "controlPlane", at: cpNode, { n, p in n }),
               let tm = r.mapping(t, path: "controlPlane.tls", known: tlsKeys) {
                cp.tls.secretName = required(tm, "secretName", "controlPlane.tls", at: t, r.string) ?? cp.tls.secretName
                cp.tls.certificateFile = tm["certFile"].flatMap { r.string($0, path: "controlPlane.tls.certFile") }.map(resolve)
                cp.tls.keyFile = tm["keyFile"].flatMap { r.string($0, path: "controlPlane.tls.keyFile") }.map(resolve)
                cp.tls.checkHandshake = tm["checkHandshake"].flatMap { r.bool($0, path: "controlPlane.tls.checkHandshake") } ?? true
                if (cp.tls.certificateFile == nil) != (cp.tls.keyFile == nil) {
                    r.error(t, "controlPlane.tls needs both certFile and keyFile, or neither",
                            fix: "add the missing file, or remove both to use an existing Secret named secretName.")
                }
            }
            if let pm = m["proxyMetadata"].flatMap({ r.stringMap($0, path: "controlPlane.proxyMetadata") }) { cp.proxyMetadata = pm }
            if let i = m["istiod"], let im = r.mapping(i, path: "controlPlane.istiod", known: istiodKeys) {
                cp.istiodEnv = im["env"].flatMap { r.stringMap($0, path: "controlPlane.istiod.env") } ?? [:]
                cp.istiodValues = im["values"].flatMap { r.json($0, path: "controlPlane.istiod.values") } ?? .object([:])
            }
        }

        // workloads
        var workloads: [WorkloadSpec] = []
        if let items = r.list(top["workloads"], path: "workloads") {
            for (i, item) in items.enumerated() {
                let p = "workloads[\(i)]"
                guard let m = r.mapping(item, path: p, known: workloadKeys) else { continue }
                let wname = required(m, "name", p, at: item, r.string) ?? ""
                var manifests: [ManifestReference] = []
                for (j, mn) in (r.list(m["manifests"], path: "\(p).manifests") ?? []).enumerated() {
                    let mp = "\(p).manifests[\(j)]"
                    if case .scalar = mn { if let s = r.string(mn, path: mp) { manifests.append(.init(path: resolve(s), selector: nil)) }; continue }
                    guard let mm = r.mapping(mn, path: mp, known: manifestKeys),
                          let file = required(mm, "path", mp, at: mn, r.string) else { continue }
                    manifests.append(.init(path: resolve(file), selector: mm["selector"].flatMap { r.string($0, path: "\(mp).selector") }))
                }
                workloads.append(WorkloadSpec(name: wname, cluster: required(m, "cluster", p, at: item, r.string) ?? "",
                                              namespace: m["namespace"].flatMap { r.string($0, path: "\(p).namespace") } ?? wname,
                                              injection: m["injection"].flatMap { r.bool($0, path: "\(p).injection") } ?? true,
                                              manifests: manifests,
                                              dependsOn: m["dependsOn"].flatMap { r.stringList($0, path: "\(p).dependsOn") } ?? []))
            }
        }

        // lifecycle
        var lifecycle = LifecycleSpec()
        if let l = top["lifecycle"], let lm = r.mapping(l, path: "lifecycle", known: lifecycleKeys) {
            if let u = lm["upgrade"] { lifecycle.upgrade = UpgradeMode.read(u, r) }  // day 2: DayTwo/UpgradeMode.swift
            lifecycle.preventDestroy = lm["preventDestroy"].flatMap { r.stringList($0, path: "lifecycle.preventDestroy") } ?? []
            for (i, n) in (r.list(lm["ignoreFields"], path: "lifecycle.ignoreFields") ?? []).enumerated() {
                let p = "lifecycle.ignoreFields[\(i)]"
                guard let im = r.mapping(n, path: p, known: ignoreKeys),
                      let res = required(im, "resource", p, at: n, r.string),
                      let fields = required(im, "fields", p, at: n, r.stringList) else { continue }
                lifecycle.ignoreFields.append(IgnoreRule(resource: res, fields: fields))
            }
        }

        var topology = MeshTopology(name: name, meshID: meshID, istio: istio, clusters: clusters, controlPlane: cp,
                                    workloads: workloads, lifecycle: lifecycle, sourcePath: path, sourceText: text,
                                    sourceMap: r.sourceMap)
        // The rules run even after schema errors, so one run reports everything; with schema errors,
        // only problems at a place in the file are kept (a missing value is already reported).
        let reported = Set(r.diagnostics.map(\.location))
        let problems = MeshValidation.check(topology, partial: !r.diagnostics.isEmpty).filter { !reported.contains($0.location) }
        if !r.diagnostics.isEmpty || !problems.isEmpty { throw MeshFileError(r.diagnostics + problems) }
        topology.sourceMap = r.sourceMap
        topology.state = state
        return topology
    }

    /// A problem `YAMLGuard` found before composing: a key written twice, a limit, or YAML syntax.
    private static func refused(_ e: YAMLInputError, file: String) -> MeshFileError.Diagnostic {
        let at = SourceLocation(file: file, line: e.line, column: e.column)
        if let d = e.duplicate {
            return .init(location: at, message: "field '\(d.path)' is written twice (first at line \(d.firstLine))",
                         fix: "keep one '\(d.path.split(separator: ".").last ?? "")' line and delete the other.")
        }
        if e.message.hasPrefix("not valid YAML") {
            return .init(location: at, message: "the mesh file is \(e.message)",
                         fix: "check indentation (spaces, not tabs) and that every 'key:' is followed by a space.")
        }
        return .init(location: at, message: "the mesh file is refused: \(e.message)",
                     fix: "write the values out instead of through anchors and aliases, and keep the file to what docs/mesh-file.md describes.")
    }

    private static func yamlSyntax(_ e: YamlError, file: String) -> MeshFileError.Diagnostic {
        // Never "\(e)": Yams puts the whole text into some of its messages.
        var line = 1, column = 1, problem = "the YAML could not be read"
        switch e {
        case .scanner(_, let p, let mark, _), .parser(_, let p, let mark, _), .composer(_, let p, let mark, _):
            line = mark.line; column = mark.column; problem = p
        case .duplicatedKeysInMapping(let keys, let context):
            line = context.mark.line; column = context.mark.column; problem = "keys written twice: \(keys.joined(separator: ", "))"
        case .reader(let p, _, _, _): problem = p
        default: break
        }
        return .init(location: SourceLocation(file: file, line: line, column: column),
                     message: "the mesh file is not valid YAML: \(problem)",
                     fix: "check indentation (spaces, not tabs) and that every 'key:' is followed by a space.")
    }
}
