import KubeModel

/// The IstioOperator documents the guide writes, filled in from the mesh file, in the form the mesh's Istio
/// version understands (`IstioOperatorForm`). A golden test holds them equal, field for field, to the
/// guide's YAML for both revisions.
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
             "configCluster": config?.name ?? ext.name]
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
            if c.gateways.eastWest { out.append(component(.eastWestGateway, c, eastWestGateway(t, c), namespace: cp.namespace)) }
            if c.gateways.ingress { out.append(component(.ingressGateway, c, workloadGateway(cp, egress: false), namespace: cp.namespace)) }
            if c.gateways.egress { out.append(component(.egressGateway, c, workloadGateway(cp, egress: true), namespace: cp.namespace)) }
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

    static func meshConfig(_ t: MeshTopology, address: String) -> JSON {
        ["rootNamespace": .string(t.controlPlane.namespace),
         "defaultConfig": ["discoveryAddress": .string("\(address):15012"),
                           "proxyMetadata": .object(t.controlPlane.proxyMetadata.mapValues(JSON.string))]]
    }

    /// external-istiod.yaml.
    public static func externalIstiod(_ t: MeshTopology, address: String, form: IstioOperatorForm) -> JSON {
        let cp = t.controlPlane
        let configName = t.configCluster?.name ?? t.externalCluster.name
        var global: JSON = ["caAddress": .string("\(address):15012"), "istioNamespace": .string(cp.namespace),
                            "operatorManageWebhooks": true, "meshID": .string(t.meshID)]
        var spec: JSON = ["meshConfig": meshConfig(t, address: address)]
        switch form {
        case .legacy:
            global["multiCluster"] = ["clusterName": .string(configName)]
            var env: JSON = ["INJECTION_WEBHOOK_CONFIG_NAME": "", "VALIDATION_WEBHOOK_CONFIG_NAME": ""]
            for (k, v) in cp.istiodEnv { env[k] = .string(v) }
            spec["components"] = ["base": ["enabled": false], "ingressGateways": [["name": "istio-ingressgateway", "enabled": false]]]
            spec["values"] = ["global": global, "pilot": ["env": env]]
        case .current:
            spec["profile"] = "empty"
            let volume = { (name: String, cm: String) -> JSON in .string("name: \(name)\nconfigMap:\n  name: \(cm)") }
            let mount = { (name: String, path: String) -> JSON in .string("name: \(name)\nmountPath: \(path)") }
            var env: [JSON] = [["name": "INJECTION_WEBHOOK_CONFIG_NAME", "value": ""],
                               ["name": "VALIDATION_WEBHOOK_CONFIG_NAME", "value": ""],
                               ["name": "EXTERNAL_ISTIOD", "value": "true"],
                               ["name": "CLUSTER_ID", "value": .string(configName)],
                               ["name": "SHARED_MESH_CONFIG", "value": "istio"]]
            for k in cp.istiodEnv.keys.sorted() { env.append(["name": .string(k), "value": .string(cp.istiodEnv[k]!)]) }
            spec["components"] = ["pilot": [
                "enabled": true,
                "k8s": ["overlays": [["kind": "Deployment", "name": "istiod", "patches": [
                    ["path": "spec.template.spec.volumes[100]", "value": volume("config-volume", "istio")],
                    ["path": "spec.template.spec.volumes[100]", "value": volume("inject-volume", "istio-sidecar-injector")],
                    ["path": "spec.template.spec.containers[0].volumeMounts[100]", "value": mount("config-volume", "/etc/istio/config")],
                    ["path": "spec.template.spec.containers[0].volumeMounts[100]", "value": mount("inject-volume", "/var/lib/istio/inject")],
                ]]],
                        "env": .array(env)]]]
            spec["values"] = ["global": global]
        }
        if let extra = cp.istiodValues.object, !extra.isEmpty {
            spec["values"] = (spec["values"] ?? .object([:])).applyingMergePatch(cp.istiodValues)
        }
        return ["apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
                "metadata": ["namespace": .string(cp.namespace)], "spec": spec]
    }

    /// remote-config-cluster.yaml: the config cluster's install.
    public static func remoteConfigCluster(_ t: MeshTopology, _ c: ClusterSpec, address: String, form: IstioOperatorForm) -> JSON {
        let ns = t.controlPlane.namespace
        let spec: JSON
        switch form {
        case .legacy:
            spec = legacyRemote(t, c, address: address, validation: true)
        case .current:
            spec = ["profile": "external", "components": ["base": ["enabled": true]],
                    "values": ["global": ["istioNamespace": .string(ns)], "pilot": ["configMap": true],
                               "istiodRemote": ["injectionURL": .string(injectionURL(address, c))]]]
        }
        return ["apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "metadata": ["namespace": .string(ns)], "spec": spec]
    }

    /// second-config-cluster.yaml: a further remote (endpoints only, no mesh config).
    public static func remoteCluster(_ t: MeshTopology, _ c: ClusterSpec, address: String, form: IstioOperatorForm) -> JSON {
        let ns = t.controlPlane.namespace
        let spec: JSON
        switch form {
        case .legacy:
            // The older guide's section on further clusters is cut off; this is its remote document
            // without the config cluster's validation webhook, for this cluster and network.
            spec = legacyRemote(t, c, address: address, validation: false)
        case .current:
            spec = ["profile": "external",
                    "values": ["global": ["istioNamespace": .string(ns)],
                               "istiodRemote": ["injectionURL": .string(injectionURL(address, c))]]]
        }
        return ["apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "metadata": ["namespace": .string(ns)], "spec": spec]
    }

    /// `https://ADDR:15017/inject/:ENV:cluster=NAME:ENV:net=NETWORK`: the injector learns the pod's cluster and network from the path.
    public static func injectionURL(_ address: String, _ c: ClusterSpec) -> String {
        "https://\(address):15017/inject/:ENV:cluster=\(c.name):ENV:net=\(c.network)"
    }

    static func legacyRemote(_ t: MeshTopology, _ c: ClusterSpec, address: String, validation: Bool) -> JSON {
        var values: JSON = ["global": ["caAddress": .string("\(address):15012"), "istioNamespace": .string(t.controlPlane.namespace),
                                       "meshID": .string(t.meshID), "multiCluster": ["clusterName": .string(c.name)]],
                            "istiodRemote": ["injectionURL": .string("https://\(address):15017/inject")]]
        if validation { values["base"] = ["validationURL": .string("https://\(address):15017/validate")] }
        else { values[path: ["global", "network"]] = .string(c.network) }
        return ["profile": "remote", "meshConfig": meshConfig(t, address: address),
                "components": ["pilot": ["enabled": false], "ingressGateways": [["name": "istio-ingressgateway", "enabled": false]],
                               "istiodRemote": ["enabled": true]],
                "values": values]
    }

    /// samples/multicluster/gen-eastwest-gateway.sh output for the cluster, with the guide's
    /// `--set values.gateways.istio-ingressgateway.injectionTemplate=gateway --set values.global.istioNamespace=...` folded in.
    public static func eastWestGateway(_ t: MeshTopology, _ c: ClusterSpec) -> JSON {
        ["apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "metadata": ["name": "eastwest"],
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
                                        "istioNamespace": .string(t.controlPlane.namespace)],
                             "gateways": ["istio-ingressgateway": ["injectionTemplate": "gateway"]]]]]
    }

    /// istio-ingressgateway.yaml / istio-egressgateway.yaml: workload gateways in the control-plane namespace.
    public static func workloadGateway(_ cp: ControlPlaneSpec, egress: Bool) -> JSON {
        let name = egress ? "istio-egressgateway" : "istio-ingressgateway"
        return ["apiVersion": "operator.istio.io/v1alpha1", "kind": "IstioOperator",
                "spec": ["profile": "empty",
                         "components": [egress ? "egressGateways" : "ingressGateways": [["namespace": .string(cp.namespace), "name": .string(name), "enabled": true]]],
                         "values": ["gateways": [name: ["injectionTemplate": "gateway"]]]]]
    }
}
