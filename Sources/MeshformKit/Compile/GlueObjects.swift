import Foundation
import KubeModel

/// The objects Meshform builds itself rather than rendering with Istio's tools: the guide's `kubectl`
/// steps (namespaces, the istiod ServiceAccount, the TLS secret, the routing Gateway/VirtualService/
/// DestinationRule, workload namespaces and manifests) and the east-west `cross-network-gateway`.
enum GlueObjects {
    /// The placeholder written wherever the control-plane address goes when it is the gateway's load-balancer
    /// address, replaced by that address at apply. An IP address (RFC 5737 TEST-NET-1, never routed), so Istio's
    /// charts render what they render for an IP: with `global.remotePilotAddress` an IP, the istiod chart adds the
    /// EndpointSlice behind the remote `istiod` Service that the IP variant's webhooks call
    /// (manifests/charts/istio-control/istio-discovery/templates/remote-istiod-endpointslices.yaml).
    static let addressPlaceholder = "192.0.2.240"

    static func namespace(_ name: String, labels: [String: String] = [:], annotations: [String: String] = [:]) -> JSON {
        var ns: JSON = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]]
        if !labels.isEmpty { ns[path: ["metadata", "labels"]] = .object(labels.mapValues(JSON.string)) }
        if !annotations.isEmpty { ns[path: ["metadata", "annotations"]] = .object(annotations.mapValues(JSON.string)) }
        return ns
    }

    /// `kubectl create sa istiod-service-account -n external-istiod` on the external cluster.
    static func istiodServiceAccount(_ cp: ControlPlaneSpec) -> JSON {
        ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": "istiod-service-account", "namespace": .string(cp.namespace)]]
    }

    /// The gateway's TLS Secret from PEM files, in the gateway's namespace (where `credentialName` is looked up).
    static func tlsSecret(_ cp: ControlPlaneSpec) throws -> JSON? {
        guard let certFile = cp.tls.certificateFile, let keyFile = cp.tls.keyFile else { return nil }
        func read(_ p: String, _ what: String) throws -> String {
            guard let d = FileManager.default.contents(atPath: p) else { throw CompileError.unreadableFile(path: p, what: what) }
            return d.base64EncodedString()
        }
        return ["apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": ["name": .string(cp.tls.secretName), "namespace": .string(cp.gateway.namespace)],
                "data": ["tls.crt": .string(try read(certFile, "TLS certificate")), "tls.key": .string(try read(keyFile, "TLS key"))]]
    }

    /// external-istiod-gw.yaml: Gateway, VirtualService and DestinationRule routing 15012 and 15017 to istiod,
    /// TLS terminated at the gateway with `tls.secretName`, hosts the address. In the guide's IP-address variant
    /// (`ControlPlaneAddress.isIPAddress`) the gateway passes TLS through to istiod (`PASSTHROUGH`, `tls` routes
    /// with `sniHosts`, hosts `*`) and there is no DestinationRule, as the newest revision's sed edits make it.
    static func routing(_ cp: ControlPlaneSpec) -> [JSON] {
        let ip = cp.address.isIPAddress
        var host = "*"
        if !ip, case .hostname(let h) = cp.address { host = h }
        let istiod = "istiod.\(cp.namespace).svc.cluster.local"
        let server = { (port: Int, name: String) -> JSON in
            ["port": ["number": .int(port), "protocol": ip ? "tls" : "https", "name": .string((ip ? "tls-" : "https-") + name)],
             "tls": ip ? ["mode": "PASSTHROUGH"] : ["mode": "SIMPLE", "credentialName": .string(cp.tls.secretName)], "hosts": [.string(host)]]
        }
        let gateway: JSON = ["apiVersion": "networking.istio.io/v1beta1", "kind": "Gateway",
                             "metadata": ["name": "external-istiod-gw", "namespace": .string(cp.namespace)],
                             "spec": ["selector": ["istio": "ingressgateway"], "servers": [server(15012, "XDS"), server(15017, "WEBHOOK")]]]
        let route = { (port: Int, target: Int) -> JSON in
            ["match": [ip ? ["port": .int(port), "sniHosts": ["*"]] : ["port": .int(port)]],
             "route": [["destination": ["host": .string(istiod), "port": ["number": .int(target)]]]]]
        }
        let vs: JSON = ["apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
                        "metadata": ["name": "external-istiod-vs", "namespace": .string(cp.namespace)],
                        "spec": ["hosts": [.string(host)], "gateways": ["external-istiod-gw"], ip ? "tls" : "http": [route(15012, 15012), route(15017, 443)]]]
        if ip { return [gateway, vs] }
        let dr: JSON = ["apiVersion": "networking.istio.io/v1alpha3", "kind": "DestinationRule",
                        "metadata": ["name": "external-istiod-dr", "namespace": .string(cp.namespace)],
                        "spec": ["host": .string(istiod), "trafficPolicy": ["portLevelSettings": [
                            ["port": ["number": 15012], "tls": ["mode": "SIMPLE"], "connectionPool": ["http": ["h2UpgradePolicy": "UPGRADE"]]],
                            ["port": ["number": 443], "tls": ["mode": "SIMPLE"]]]]]]
        return [gateway, vs, dr]
    }

    /// istio/istio samples/multicluster/expose-services.yaml, in the control-plane namespace. Its Gateway is
    /// `networking.istio.io/v1` from Istio 1.22 on (the first release serving v1) and `v1alpha3` before.
    static func exposeServices(namespace: String, istioVersion: String) -> JSON {
        let v1 = IstioVersion(istioVersion).map { $0 >= IstioOperatorForm.firstNewestVersion } ?? true
        return ["apiVersion": v1 ? "networking.istio.io/v1" : "networking.istio.io/v1alpha3", "kind": "Gateway",
                "metadata": ["name": "cross-network-gateway", "namespace": .string(namespace)],
                "spec": ["selector": ["istio": "eastwestgateway"],
                         "servers": [["port": ["number": 15443, "name": "tls", "protocol": "TLS"], "tls": ["mode": "AUTO_PASSTHROUGH"], "hosts": ["*.local"]]]]]
    }

    /// A workload's objects: each manifest's documents matching its selector (as `kubectl apply -l`),
    /// namespaced into the workload's namespace unless they name their own. `parsed` holds each file's documents by
    /// path for one compile: a fleet's remotes often run the same workload from the same file, which is then read and
    /// parsed once; a large file goes through `ParsedManifestCache`, so a cron drift check does not parse it again.
    static func workloadObjects(_ w: WorkloadSpec, parsed: inout [String: [JSON]]) throws -> [JSON] {
        var out: [JSON] = []
        for m in w.manifests {
            let docs = try parsed[m.path] ?? manifestDocuments(m.path, of: w)
            parsed[m.path] = docs
            let selector = m.selector.flatMap(LabelSelector.init)
            for doc in docs.flatMap(expandList) where doc.kind != nil {
                if let selector, !selector.matches(doc.labels) { continue }
                var d = doc
                if d.namespace == nil, !ClusterScopedKinds.contains(d) { d[path: ["metadata", "namespace"]] = .string(w.namespace) }
                out.append(d)
            }
        }
        return out
    }

    private static func manifestDocuments(_ path: String, of w: WorkloadSpec) throws -> [JSON] {
        let what = "manifest of workload \(w.name)"
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        if size > YAMLGuard.Limits.manifests.textBytes {
            throw CompileError.invalidManifest(path: path, line: 1, column: 1, message: "the file is \(YAMLGuard.mebibytes(size)); the limit is \(YAMLGuard.mebibytes(YAMLGuard.Limits.manifests.textBytes))", what: what)
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CompileError.unreadableFile(path: path, what: what)
        }
        do { return try ParsedManifestCache.documents(text) } catch let e as YAMLInputError {
            throw CompileError.invalidManifest(path: path, line: e.line, column: e.column, message: e.message, what: what)
        }
    }

    /// `kind: List` documents hold their objects in `items`.
    static func expandList(_ doc: JSON) -> [JSON] {
        if doc.kind == "List" || (doc.kind?.hasSuffix("List") ?? false && doc["items"] != nil) { return doc["items"]?.array ?? [] }
        return [doc]
    }
}

/// Kinds that have no namespace; everything else gets one.
enum ClusterScopedKinds {
    static let kinds: Set<String> = ["Namespace", "Node", "PersistentVolume", "StorageClass", "CustomResourceDefinition",
                                     "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration",
                                     "ValidatingWebhookConfiguration", "PriorityClass", "APIService", "IngressClass",
                                     "RuntimeClass", "CSIDriver", "VolumeAttachment", "ValidatingAdmissionPolicy",
                                     "ValidatingAdmissionPolicyBinding", "GatewayClass"]
    static func contains(_ obj: JSON) -> Bool { obj.kind.map(kinds.contains) ?? false }
}
