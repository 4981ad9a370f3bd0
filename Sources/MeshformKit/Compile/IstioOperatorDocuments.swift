import KubeModel

/// The IstioOperator documents the guide writes, filled in from the mesh file, in the form the mesh's Istio
/// version understands (`IstioOperatorForm`). Golden tests (GoldenIstioOperatorTests) hold them equal, field for
/// field, to the guide's YAML in each of its three revisions.
public enum IstioOperatorDocuments {
    /// Every component of the mesh, in install order: control-plane gateway, config cluster, external
    /// istiod, further remotes, then per data-plane cluster east-west, ingress and egress gateways.
    public static func components(for t: MeshTopology, address: String) -> [IstioComponent] {
        let form = IstioOperatorForm(version: t.istio.version)
        let cp = t.controlPlane
        let ext = t.externalCluster
        let config = t.configCluster
        func params(_ cluster: ClusterSpec) -> [String: String] {
            ["address": address, "cluster": cluster.name, "network": cluster.network, "meshID": t.meshID,
             "namespace": cp.namespace, "gatewayNamespace": cp.gateway.namespace, "gatewayName": cp.gateway.name,
             "configCluster": config?.name ?? ext.name].merging(IstioRevision(t).parameters) { a, _ in a }
        }
        func component(_ kind: IstioComponent.Kind, _ cluster: ClusterSpec, _ doc: JSON, namespace: String) -> IstioComponent {
            IstioComponent(kind: kind, cluster: cluster.name, istioOperator: doc, namespace: namespace,
                           istioVersion: t.istio.version, parameters: params(cluster))
        }

        var out: [IstioComponent] = [component(.controlPlaneGateway, ext, controlPlaneGateway(cp), namespace: cp.gateway.namespace)]
        if let config {
            out.append(component(.remoteConfigCluster, config, remoteConfigCluster(t, config, address: address, form: form), namespace: cp.namespace))
        }
        out.append(component(.externalIstiod, ext, externalIstiod(t, address: address, form: form), namespace: cp.namespace))
        for c in t.clusters where c.role == .remote {
            out.append(component(.remoteCluster, c, remoteCluster(t, c, address: address, form: form), namespace: cp.namespace))
        }
        for c in t.dataPlaneClusters {
            if c.gateways.eastWest { out.append(component(.eastWestGateway, c, eastWestGateway(t, c, form: form), namespace: cp.namespace)) }
            if c.gateways.ingress { out.append(component(.ingressGateway, c, workloadGateway(cp, egress: false, form: form), namespace: cp.namespace)) }
            if c.gateways.egress { out.append(component(.egressGateway, c, workloadGateway(cp, egress: true, form: form), namespace: cp.namespace)) }
        }
        return out
    }

    /// controlplane-gateway.yaml: the external cluster's ingress gateway with the control-plane ports.
    public static func controlPlaneGateway(_ cp: ControlPlaneSpec) -> JSON {
        var gw: JSON = ["name": .string(cp.gateway.name), "enabled": true,
                        "k8s": ["service": ["ports": .array(cp.gateway.ports.map { ["port": .int($0.port), "targetPort": .int($0.targetPort), "name": .string($0.name)] })]]]
        if cp.gateway.namespace != "istio-system" { gw["namespace"] = .string(cp.gateway.namespace) }
        return ["apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
                "metadata": ["namespace": .string(cp.gateway.namespace)],
                "spec": ["components": ["ingressGateways": [gw]]]]
    }

    /// `meshConfig`; the IP-address variant drops the guide's system-CA proxy metadata ("delete the proxy metadata"
    /// in the newest revision): TLS passes through the gateway, so proxies meet istiod's own certificate.
    static func meshConfig(_ t: MeshTopology, address: String, form: IstioOperatorForm) -> JSON {
        var metadata = t.controlPlane.proxyMetadata
        if form == .newest, t.controlPlane.address.isIPAddress {
            for k in MeshFile.guideProxyMetadata.keys { metadata[k] = nil }
        }
        var defaultConfig: JSON = ["discoveryAddress": .string("\(address):15012")]
        if !metadata.isEmpty { defaultConfig["proxyMetadata"] = .object(metadata.mapValues(JSON.string)) }
        return ["rootNamespace": .string(t.controlPlane.namespace), "defaultConfig": defaultConfig]
    }

    /// external-istiod.yaml.
    public static func externalIstiod(_ t: MeshTopology, address: String, form: IstioOperatorForm) -> JSON {
        let cp = t.controlPlane
        let config = t.configCluster ?? t.externalCluster
        var global: JSON = ["caAddress": .string("\(address):15012"), "istioNamespace": .string(cp.namespace),
                            "operatorManageWebhooks": true, "meshID": .string(t.meshID)]
        var spec: JSON = ["meshConfig": meshConfig(t, address: address, form: form)]
        switch form {
        case .seed:
            global["multiCluster"] = ["clusterName": .string(config.name)]
            var env: JSON = ["INJECTION_WEBHOOK_CONFIG_NAME": "", "VALIDATION_WEBHOOK_CONFIG_NAME": ""]
            for (k, v) in cp.istiodEnv { env[k] = .string(v) }
            spec["components"] = ["base": ["enabled": false], "ingressGateways": [["name": "istio-ingressgateway", "enabled": false]]]
            spec["values"] = ["global": global, "pilot": ["env": env]]
        case .middle, .newest:
            spec["profile"] = "empty"
            // A revision's objects are named `-REV` (the istiod chart's templates: deployment.yaml `istiod-REV`,
            // configmap.yaml `istio-REV`, istiod-injector-configmap.yaml `istio-sidecar-injector-REV`), so the guide's
            // overlay targets that Deployment and mounts those ConfigMaps.
            let suffix = IstioRevision(t).suffix
            let volume = { (name: String, cm: String) -> JSON in .string("name: \(name)\nconfigMap:\n  name: \(cm)\(suffix)") }
            let mount = { (name: String, path: String) -> JSON in .string("name: \(name)\nmountPath: \(path)") }
            // The IP-address variant names the webhooks istiod patches (it has no DNS name to put in their URLs).
            let ip = form == .newest && cp.address.isIPAddress
            var env: [JSON] = [["name": "INJECTION_WEBHOOK_CONFIG_NAME", "value": ip ? .string("istio-sidecar-injector-\(cp.namespace)") : ""],
                               ["name": "VALIDATION_WEBHOOK_CONFIG_NAME", "value": ip ? .string("istio-validator-\(cp.namespace)") : ""],
                               ["name": "EXTERNAL_ISTIOD", "value": "true"]]
            // Newest: istiod also watches remote secrets on its own (external) cluster.
            if form == .newest { env.append(["name": "LOCAL_CLUSTER_SECRET_WATCHER", "value": "true"]) }
            // SHARED_MESH_CONFIG names the config cluster's mesh-config ConfigMap, which the chart names `istio-REV` for a
            // revision (istio/istio pilot/pkg/bootstrap/mesh.go reads it beside the mounted file).
            env += [["name": "CLUSTER_ID", "value": .string(config.name)], ["name": "SHARED_MESH_CONFIG", "value": .string("istio" + suffix)]]
            for k in cp.istiodEnv.keys.sorted() { env.append(["name": .string(k), "value": .string(cp.istiodEnv[k]!)]) }
            spec["components"] = ["pilot": [
                "enabled": true,
                "k8s": ["overlays": [["kind": "Deployment", "name": .string("istiod" + suffix), "patches": [
                    ["path": "spec.template.spec.volumes[100]", "value": volume("config-volume", "istio")],
                    ["path": "spec.template.spec.volumes[100]", "value": volume("inject-volume", "istio-sidecar-injector")],
                    ["path": "spec.template.spec.containers[0].volumeMounts[100]", "value": mount("config-volume", "/etc/istio/config")],
                    ["path": "spec.template.spec.containers[0].volumeMounts[100]", "value": mount("inject-volume", "/var/lib/istio/inject")],
                ]]],
                        "env": .array(env)]]]
            if form == .newest {
                global["configValidation"] = false
                global["multiCluster"] = ["clusterName": .string(config.name)]
                global["network"] = .string(config.network)
            }
            spec["values"] = ["global": global]
        }
        if let extra = cp.istiodValues.object, !extra.isEmpty {
            spec["values"] = (spec["values"] ?? .object([:])).applyingMergePatch(cp.istiodValues)
        }
        return ["apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
                "metadata": ["namespace": .string(cp.namespace)], "spec": revisioned(spec, t)]
    }

    /// remote-config-cluster.yaml: the config cluster's install. The newest form folds in the guide's
    /// `--set values.defaultRevision=default` (its `istiod-default-validator` webhook).
    public static func remoteConfigCluster(_ t: MeshTopology, _ c: ClusterSpec, address: String, form: IstioOperatorForm) -> JSON {
        let ns = t.controlPlane.namespace
        let spec: JSON
        switch form {
        case .seed:
            spec = seedRemote(t, c, address: address, validation: true)
        case .middle:
            spec = ["profile": "external", "components": ["base": ["enabled": true]],
                    "values": ["global": ["istioNamespace": .string(ns)], "pilot": ["configMap": true],
                               "istiodRemote": ["injectionURL": .string("\(webhookBase(t, address))/inject/:ENV:cluster=\(c.name):ENV:net=\(c.network)")]]]
        case .newest:
            var values = newestRemoteValues(t, c, address: address)
            values[path: ["global", "configCluster"]] = true
            values[path: ["pilot", "configMap"]] = true
            if !t.controlPlane.address.isIPAddress { values[path: ["base", "validationURL"]] = .string("\(webhookBase(t, address))/validate") }
            // The default-revision validator (`istiod-default-validator`) follows the default tag to the mesh file's revision.
            values["defaultRevision"] = .string(IstioRevision(t).name)
            spec = ["profile": "remote", "values": values]
        }
        return ["apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "metadata": ["namespace": .string(ns)], "spec": revisioned(spec, t)]
    }

    /// A further remote (endpoints only, no mesh config): second-config-cluster.yaml (middle),
    /// second-remote-cluster.yaml (newest).
    public static func remoteCluster(_ t: MeshTopology, _ c: ClusterSpec, address: String, form: IstioOperatorForm) -> JSON {
        let ns = t.controlPlane.namespace
        let spec: JSON
        switch form {
        case .seed:
            // The seed revision's section on further clusters is cut off; this is its remote document
            // without the config cluster's validation webhook, for this cluster and network.
            spec = seedRemote(t, c, address: address, validation: false)
        case .middle:
            spec = ["profile": "external",
                    "values": ["global": ["istioNamespace": .string(ns)],
                               "istiodRemote": ["injectionURL": .string("\(webhookBase(t, address))/inject/:ENV:cluster=\(c.name):ENV:net=\(c.network)")]]]
        case .newest:
            spec = ["profile": "remote", "values": newestRemoteValues(t, c, address: address)]
        }
        return ["apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "metadata": ["namespace": .string(ns)], "spec": revisioned(spec, t)]
    }

    /// The newest revision's remote values: `injectionURL`, or with an IP address (no DNS name for a URL's
    /// certificate) `injectionPath` plus `global.remotePilotAddress`, as the guide's sed edits make them.
    static func newestRemoteValues(_ t: MeshTopology, _ c: ClusterSpec, address: String) -> JSON {
        var values: JSON = ["global": ["istioNamespace": .string(t.controlPlane.namespace)]]
        if t.controlPlane.address.isIPAddress {
            values[path: ["global", "remotePilotAddress"]] = .string(address)
            values[path: ["istiodRemote", "injectionPath"]] = .string(injectionPath(c))
        } else {
            values[path: ["istiodRemote", "injectionURL"]] = .string(webhookBase(t, address) + injectionPath(c))
        }
        return values
    }

    /// Where the webhooks call istiod: `https://ADDRESS:15017`, and for a revision `.../rev/REV`, the path the
    /// control-plane gateway routes to that revision's istiod (RevisionGlue), so two revisions share one address.
    static func webhookBase(_ t: MeshTopology, _ address: String) -> String {
        "https://\(address):15017" + IstioRevision(t).webhookPathPrefix
    }

    /// `spec` with the mesh file's revision, as `istioctl manifest generate --set revision=REV` sets it (the
    /// IstioOperator's `spec.revision`; the helm renderer passes it as the charts' `revision` value). The
    /// unrevisioned install's document is the guide's, unchanged.
    static func revisioned(_ spec: JSON, _ t: MeshTopology) -> JSON {
        let rev = IstioRevision(t)
        guard !rev.isDefault else { return spec }
        var s = spec
        s["revision"] = .string(rev.name)
        return s
    }

    /// `/inject/cluster/NAME/net/NETWORK`: the injector learns the pod's cluster and network from the path;
    /// a `/` in either is written `--slash--` (the newest revision's tip).
    public static func injectionPath(_ c: ClusterSpec) -> String {
        let escape = { (s: String) in s.replacingOccurrences(of: "/", with: "--slash--") }
        return "/inject/cluster/\(escape(c.name))/net/\(escape(c.network))"
    }

    static func seedRemote(_ t: MeshTopology, _ c: ClusterSpec, address: String, validation: Bool) -> JSON {
        var values: JSON = ["global": ["caAddress": .string("\(address):15012"), "istioNamespace": .string(t.controlPlane.namespace),
                                       "meshID": .string(t.meshID), "multiCluster": ["clusterName": .string(c.name)]],
                            "istiodRemote": ["injectionURL": .string("\(webhookBase(t, address))/inject")]]
        if validation { values["base"] = ["validationURL": .string("\(webhookBase(t, address))/validate")] }
        else { values[path: ["global", "network"]] = .string(c.network) }
        return ["profile": "remote", "meshConfig": meshConfig(t, address: address, form: .seed),
                "components": ["pilot": ["enabled": false], "ingressGateways": [["name": "istio-ingressgateway", "enabled": false]],
                               "istiodRemote": ["enabled": true]],
                "values": values]
    }

    /// istio/istio samples/multicluster/gen-eastwest-gateway.sh output for the cluster (its port names are
    /// `status-port`, `mtls`, `tcp-istiod`, `tcp-webhook`), with the guide's `--set` flags folded in:
    /// `values.global.istioNamespace`, and before the newest revision also
    /// `values.gateways.istio-ingressgateway.injectionTemplate=gateway`.
    public static func eastWestGateway(_ t: MeshTopology, _ c: ClusterSpec, form: IstioOperatorForm) -> JSON {
        var doc: JSON = ["apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "metadata": ["name": "eastwest"],
         "spec": ["profile": "empty",
                  "components": ["ingressGateways": [[
                    "name": "istio-eastwestgateway",
                    "label": ["istio": "eastwestgateway", "app": "istio-eastwestgateway", "topology.istio.io/network": .string(c.network)],
                    "enabled": true,
                    "k8s": ["env": [["name": "ISTIO_META_ROUTER_MODE", "value": "sni-dnat"],
                                    ["name": "ISTIO_META_REQUESTED_NETWORK_VIEW", "value": .string(c.network)]],
                            "service": ["ports": [["name": "status-port", "port": 15021, "targetPort": 15021],
                                                  ["name": "mtls", "port": 15443, "targetPort": 15443],
                                                  ["name": "tcp-istiod", "port": 15012, "targetPort": 15012],
                                                  ["name": "tcp-webhook", "port": 15017, "targetPort": 15017]]]]]]],
                  "values": ["global": ["meshID": .string(t.meshID), "network": .string(c.network),
                                        "multiCluster": ["clusterName": .string(c.name)],
                                        "istioNamespace": .string(t.controlPlane.namespace)]]]]
        if form != .newest { doc[path: ["spec", "values", "gateways", "istio-ingressgateway", "injectionTemplate"]] = "gateway" }
        return doc
    }

    /// istio-ingressgateway.yaml / istio-egressgateway.yaml: workload gateways in the control-plane namespace.
    public static func workloadGateway(_ cp: ControlPlaneSpec, egress: Bool, form: IstioOperatorForm) -> JSON {
        let name = egress ? "istio-egressgateway" : "istio-ingressgateway"
        // The newest revision writes install.istio.io (and passes istioNamespace with --set, folded in here).
        var doc: JSON = ["apiVersion": form == .newest ? "install.istio.io/v1alpha1" : "operator.istio.io/v1alpha1", "kind": "IstioOperator",
                "spec": ["profile": "empty",
                         "components": [egress ? "egressGateways" : "ingressGateways": [["namespace": .string(cp.namespace), "name": .string(name), "enabled": true]]],
                         "values": ["gateways": [name: ["injectionTemplate": "gateway"]]]]]
        if form == .newest { doc[path: ["spec", "values", "global", "istioNamespace"]] = .string(cp.namespace) }
        return doc
    }
}
