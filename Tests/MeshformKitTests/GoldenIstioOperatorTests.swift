import Foundation
import KubeModel
import Testing
@testable import MeshformKit

/// The IstioOperator documents Meshform writes equal, field for field, the guide's own YAML, for each of its three
/// revisions (../shared/guide/README.md): the seed on disk (external-controlplane.seed.zh.md, Istio < 1.11), and
/// the two istio.io revisions of content/en/docs/setup/install/external-controlplane/index.md quoted below
/// verbatim: `Middle` (commit 02e24d62, Istio 1.11-1.21) and `Newest` (commit 8892748a, Istio 1.22 and later),
/// chosen by the mesh file's Istio version. `--set` flags the guide passes are folded in where it passes them.
@Suite struct GoldenIstioOperatorTests {
    /// The guide's variables, substituted as the shell does in its heredocs.
    static func expand(_ text: String) -> String {
        var t = text
        for (k, v) in guideEnvironment.sorted(by: { $0.key.count > $1.key.count }) {
            t = t.replacingOccurrences(of: "${\(k)}", with: v).replacingOccurrences(of: "$\(k)", with: v)
        }
        return t
    }

    /// Every `cat <<EOF > NAME ... EOF` heredoc in the guide markdown, by file name, de-indented.
    static func heredocs(in markdown: String) -> [String: String] {
        var out: [String: String] = [:]
        let lines = markdown.components(separatedBy: "\n")
        var i = 0
        while i < lines.count {
            let l = lines[i].trimmingCharacters(in: .whitespaces)
            if l.hasPrefix("$ cat <<EOF > "), let name = l.components(separatedBy: "> ").last {
                let indent = lines[i].prefix { $0 == " " }.count
                var body: [String] = []
                i += 1
                while i < lines.count, lines[i].trimmingCharacters(in: .whitespaces) != "EOF" {
                    body.append(String(lines[i].dropFirst(min(indent, lines[i].prefix { $0 == " " }.count))))
                    i += 1
                }
                out[name] = body.joined(separator: "\n")
            }
            i += 1
        }
        return out
    }

    static func mesh(version: String) throws -> MeshTopology {
        let text = try String(contentsOfFile: TestPaths.plan("multi-remote.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "version: 1.24.0", with: "version: \(version)")
            .replacingOccurrences(of: "gateways: {eastWest: true, ingress: true}", with: "gateways: {eastWest: true, ingress: true, egress: true}")
        return try MeshFile.parse(text: text, path: TestPaths.plan("multi-remote.yaml"), environment: guideEnvironment)
    }

    static func documents(_ t: MeshTopology) -> [String: JSON] {
        var out: [String: JSON] = [:]
        for c in IstioOperatorDocuments.components(for: t, address: Compiler.addressText(t)) { out[c.id] = c.istioOperator }
        return out
    }

    static func parse(_ yaml: String) throws -> JSON { try YAMLDocuments.parseOne(expand(yaml)) }

    @Test(.enabled(if: TestPaths.guidePresent, "../shared/guide is absent"))
    func olderGuideRevisionDocumentsMatch() throws {
        let md = try String(contentsOf: TestPaths.guide.appendingPathComponent("external-controlplane.seed.zh.md"), encoding: .utf8)
        let guide = Self.heredocs(in: md)
        #expect(Set(guide.keys) == ["controlplane-gateway.yaml", "external-istiod.yaml", "external-istiod-gw.yaml",
                                    "remote-config-cluster.yaml", "istio-ingressgateway.yaml", "istio-egressgateway.yaml"])
        let t = try Self.mesh(version: "1.9.5")
        #expect(IstioOperatorForm(version: t.istio.version) == .seed)
        let docs = Self.documents(t)
        #expect(docs["controlplane-gateway@external"] == (try Self.parse(guide["controlplane-gateway.yaml"]!)))
        #expect(docs["external-istiod@external"] == (try Self.parse(guide["external-istiod.yaml"]!)))
        #expect(docs["remote-config-cluster@remote1"] == (try Self.parse(guide["remote-config-cluster.yaml"]!)))
        #expect(docs["ingress-gateway@remote1"] == (try Self.parse(guide["istio-ingressgateway.yaml"]!)))
        #expect(docs["egress-gateway@remote1"] == (try Self.parse(guide["istio-egressgateway.yaml"]!)))
    }

    @Test(.enabled(if: TestPaths.guidePresent, "../shared/guide is absent"))
    func routingObjectsMatchTheGuide() throws {
        let md = try String(contentsOf: TestPaths.guide.appendingPathComponent("external-controlplane.seed.zh.md"), encoding: .utf8)
        let expected = try YAMLDocuments.parse(Self.expand(Self.heredocs(in: md)["external-istiod-gw.yaml"]!))
        let t = try Self.mesh(version: "1.24.0")
        #expect(GlueObjects.routing(t.controlPlane) == expected)
    }

    @Test func middleGuideRevisionDocumentsMatch() throws {
        let t = try Self.mesh(version: "1.21.2")
        #expect(IstioOperatorForm(version: t.istio.version) == .middle)
        let docs = Self.documents(t)
        #expect(docs["controlplane-gateway@external"] == (try Self.parse(Middle.controlPlaneGateway)))
        #expect(docs["remote-config-cluster@remote1"] == (try Self.parse(Middle.remoteConfigCluster)))
        #expect(docs["external-istiod@external"] == (try Self.parse(Middle.externalIstiod)))
        #expect(docs["remote-cluster@remote2"] == (try Self.parse(Middle.secondConfigCluster)))
        #expect(docs["ingress-gateway@remote1"] == (try Self.parse(Middle.ingressGateway)))
        #expect(docs["egress-gateway@remote1"] == (try Self.parse(Middle.egressGateway)))
        // gen-eastwest-gateway.sh --mesh mesh1 --cluster NAME --network NET, plus the guide's two --set flags.
        for (cluster, network) in [("remote1", "network1"), ("remote2", "network2")] {
            var expected = try Self.parse(Middle.eastWest(cluster: cluster, network: network))
            expected[path: ["spec", "values", "gateways", "istio-ingressgateway", "injectionTemplate"]] = "gateway"
            expected[path: ["spec", "values", "global", "istioNamespace"]] = "external-istiod"
            #expect(docs["eastwest-gateway@\(cluster)"] == expected)
        }
        #expect(docs.count == 8)
    }

    @Test func newestGuideRevisionDocumentsMatch() throws {
        let t = try Self.mesh(version: "1.24.0")
        #expect(IstioOperatorForm(version: t.istio.version) == .newest)
        let docs = Self.documents(t)
        #expect(docs["controlplane-gateway@external"] == (try Self.parse(Middle.controlPlaneGateway)))
        // `istioctl manifest generate -f remote-config-cluster.yaml --set values.defaultRevision=default`
        var config = try Self.parse(Newest.remoteConfigCluster)
        config[path: ["spec", "values", "defaultRevision"]] = "default"
        #expect(docs["remote-config-cluster@remote1"] == config)
        #expect(docs["external-istiod@external"] == (try Self.parse(Newest.externalIstiod)))
        #expect(docs["remote-cluster@remote2"] == (try Self.parse(Newest.secondRemoteCluster)))
        // `istioctl install -f istio-ingressgateway.yaml --set values.global.istioNamespace=external-istiod`
        for (id, yaml) in [("ingress-gateway@remote1", Newest.ingressGateway), ("egress-gateway@remote1", Newest.egressGateway)] {
            var expected = try Self.parse(yaml)
            expected[path: ["spec", "values", "global", "istioNamespace"]] = "external-istiod"
            #expect(docs[id] == expected)
        }
        // gen-eastwest-gateway.sh output with the newest revision's one --set flag.
        for (cluster, network) in [("remote1", "network1"), ("remote2", "network2")] {
            var expected = try Self.parse(Middle.eastWest(cluster: cluster, network: network))
            expected[path: ["spec", "values", "global", "istioNamespace"]] = "external-istiod"
            #expect(docs["eastwest-gateway@\(cluster)"] == expected)
        }
        #expect(docs.count == 8)
    }

    /// The newest revision's IP-address variant: its `sed` edits applied by hand to the documents above.
    @Test func newestGuideRevisionIPAddressVariant() throws {
        var env = guideEnvironment
        env["EXTERNAL_ISTIOD_ADDR"] = "203.0.113.7"
        let text = try String(contentsOfFile: TestPaths.plan("multi-remote.yaml"), encoding: .utf8)
        let t = try MeshFile.parse(text: text, path: TestPaths.plan("multi-remote.yaml"), environment: env)
        #expect(t.controlPlane.address.isIPAddress)
        let docs = Self.documents(t)
        #expect(docs["remote-config-cluster@remote1"] == (try YAMLDocuments.parseOne(Newest.remoteConfigClusterIP)))
        #expect(docs["remote-cluster@remote2"] == (try YAMLDocuments.parseOne(Newest.secondRemoteClusterIP)))
        #expect(docs["external-istiod@external"] == (try YAMLDocuments.parseOne(Newest.externalIstiodIP)))
        #expect(GlueObjects.routing(t.controlPlane) == (try YAMLDocuments.parse(Newest.gatewayIP)))
        // The load-balancer address is the same variant.
        #expect(ControlPlaneAddress.gatewayLoadBalancer.isIPAddress)
        #expect(ControlPlaneAddress.hostname("2001:db8::7").isIPAddress)
        #expect(!ControlPlaneAddress.hostname("istiod.example.com").isIPAddress)
        #expect(!ControlPlaneAddress.hostname("10.0.0.300").isIPAddress)
    }

    @Test func injectionPathEscapesSlashes() {
        let c = ClusterSpec(name: "cluster/1", context: "c", kubeconfig: nil, role: .remote, network: "net/2", gateways: .init())
        #expect(IstioOperatorDocuments.injectionPath(c) == "/inject/cluster/cluster--slash--1/net/net--slash--2")
    }

    @Test func versionChoosesTheForm() {
        #expect(IstioOperatorForm(version: "1.10.6") == .seed)
        #expect(IstioOperatorForm(version: "1.11.0") == .middle)
        #expect(IstioOperatorForm(version: "1.21.9") == .middle)
        #expect(IstioOperatorForm(version: "1.22.0-beta.1") == .newest)
        #expect(IstioOperatorForm(version: "v1.24.1") == .newest)
        #expect(IstioVersion("1.9.8")! < IstioVersion("1.10.0")!)
    }

    /// The middle revision's YAML, verbatim (istio/istio.io 02e24d62, external-controlplane/index.md).
    enum Middle {
        static let controlPlaneGateway = """
            apiVersion: install.istio.io/v1alpha1
            kind: IstioOperator
            metadata:
              namespace: istio-system
            spec:
              components:
                ingressGateways:
                  - name: istio-ingressgateway
                    enabled: true
                    k8s:
                      service:
                        ports:
                          - port: 15021
                            targetPort: 15021
                            name: status-port
                          - port: 15012
                            targetPort: 15012
                            name: tls-xds
                          - port: 15017
                            targetPort: 15017
                            name: tls-webhook
            """
        static let remoteConfigCluster = """
            apiVersion: install.istio.io/v1alpha1
            kind: IstioOperator
            metadata:
              namespace: external-istiod
            spec:
              profile: external
              components:
                base:
                  enabled: true
              values:
                global:
                  istioNamespace: external-istiod
                pilot:
                  configMap: true
                istiodRemote:
                  injectionURL: https://${EXTERNAL_ISTIOD_ADDR}:15017/inject/:ENV:cluster=${REMOTE_CLUSTER_NAME}:ENV:net=network1
            """
        static let externalIstiod = """
            apiVersion: install.istio.io/v1alpha1
            kind: IstioOperator
            metadata:
              namespace: external-istiod
            spec:
              profile: empty
              meshConfig:
                rootNamespace: external-istiod
                defaultConfig:
                  discoveryAddress: $EXTERNAL_ISTIOD_ADDR:15012
                  proxyMetadata:
                    XDS_ROOT_CA: /etc/ssl/certs/ca-certificates.crt
                    CA_ROOT_CA: /etc/ssl/certs/ca-certificates.crt
              components:
                pilot:
                  enabled: true
                  k8s:
                    overlays:
                    - kind: Deployment
                      name: istiod
                      patches:
                      - path: spec.template.spec.volumes[100]
                        value: |-
                          name: config-volume
                          configMap:
                            name: istio
                      - path: spec.template.spec.volumes[100]
                        value: |-
                          name: inject-volume
                          configMap:
                            name: istio-sidecar-injector
                      - path: spec.template.spec.containers[0].volumeMounts[100]
                        value: |-
                          name: config-volume
                          mountPath: /etc/istio/config
                      - path: spec.template.spec.containers[0].volumeMounts[100]
                        value: |-
                          name: inject-volume
                          mountPath: /var/lib/istio/inject
                    env:
                    - name: INJECTION_WEBHOOK_CONFIG_NAME
                      value: ""
                    - name: VALIDATION_WEBHOOK_CONFIG_NAME
                      value: ""
                    - name: EXTERNAL_ISTIOD
                      value: "true"
                    - name: CLUSTER_ID
                      value: ${REMOTE_CLUSTER_NAME}
                    - name: SHARED_MESH_CONFIG
                      value: istio
              values:
                global:
                  caAddress: $EXTERNAL_ISTIOD_ADDR:15012
                  istioNamespace: external-istiod
                  operatorManageWebhooks: true
                  meshID: mesh1
            """
        static let secondConfigCluster = """
            apiVersion: install.istio.io/v1alpha1
            kind: IstioOperator
            metadata:
              namespace: external-istiod
            spec:
              profile: external
              values:
                global:
                  istioNamespace: external-istiod
                istiodRemote:
                  injectionURL: https://${EXTERNAL_ISTIOD_ADDR}:15017/inject/:ENV:cluster=${SECOND_CLUSTER_NAME}:ENV:net=network2
            """
        static let ingressGateway = """
            apiVersion: operator.istio.io/v1alpha1
            kind: IstioOperator
            spec:
              profile: empty
              components:
                ingressGateways:
                - namespace: external-istiod
                  name: istio-ingressgateway
                  enabled: true
              values:
                gateways:
                  istio-ingressgateway:
                    injectionTemplate: gateway
            """
        static let egressGateway = """
            apiVersion: operator.istio.io/v1alpha1
            kind: IstioOperator
            spec:
              profile: empty
              components:
                egressGateways:
                - namespace: external-istiod
                  name: istio-egressgateway
                  enabled: true
              values:
                gateways:
                  istio-egressgateway:
                    injectionTemplate: gateway
            """
        /// istio/istio samples/multicluster/gen-eastwest-gateway.sh output (multi-network form).
        static func eastWest(cluster: String, network: String) -> String {
            """
            apiVersion: install.istio.io/v1alpha1
            kind: IstioOperator
            metadata:
              name: eastwest
            spec:
              profile: empty
              components:
                ingressGateways:
                  - name: istio-eastwestgateway
                    label:
                      istio: eastwestgateway
                      app: istio-eastwestgateway
                      topology.istio.io/network: \(network)
                    enabled: true
                    k8s:
                      env:
                        # sni-dnat adds the clusters required for AUTO_PASSTHROUGH mode
                        - name: ISTIO_META_ROUTER_MODE
                          value: "sni-dnat"
                        # traffic through this gateway should be routed inside the network
                        - name: ISTIO_META_REQUESTED_NETWORK_VIEW
                          value: \(network)
                      service:
                        ports:
                          - name: status-port
                            port: 15021
                            targetPort: 15021
                          - name: mtls
                            port: 15443
                            targetPort: 15443
                          - name: tcp-istiod
                            port: 15012
                            targetPort: 15012
                          - name: tcp-webhook
                            port: 15017
                            targetPort: 15017
              values:
                global:
                  meshID: mesh1
                  network: \(network)
                  multiCluster:
                    clusterName: \(cluster)
            """
        }
    }

    /// The newest revision's YAML, verbatim (istio/istio.io 8892748a, external-controlplane/index.md).
    enum Newest {
        static let remoteConfigCluster = """
            apiVersion: install.istio.io/v1alpha1
            kind: IstioOperator
            metadata:
              namespace: external-istiod
            spec:
              profile: remote
              values:
                global:
                  istioNamespace: external-istiod
                  configCluster: true
                pilot:
                  configMap: true
                istiodRemote:
                  injectionURL: https://${EXTERNAL_ISTIOD_ADDR}:15017/inject/cluster/${REMOTE_CLUSTER_NAME}/net/network1
                base:
                  validationURL: https://${EXTERNAL_ISTIOD_ADDR}:15017/validate
            """
        static let externalIstiod = """
            apiVersion: install.istio.io/v1alpha1
            kind: IstioOperator
            metadata:
              namespace: external-istiod
            spec:
              profile: empty
              meshConfig:
                rootNamespace: external-istiod
                defaultConfig:
                  discoveryAddress: $EXTERNAL_ISTIOD_ADDR:15012
                  proxyMetadata:
                    XDS_ROOT_CA: /etc/ssl/certs/ca-certificates.crt
                    CA_ROOT_CA: /etc/ssl/certs/ca-certificates.crt
              components:
                pilot:
                  enabled: true
                  k8s:
                    overlays:
                    - kind: Deployment
                      name: istiod
                      patches:
                      - path: spec.template.spec.volumes[100]
                        value: |-
                          name: config-volume
                          configMap:
                            name: istio
                      - path: spec.template.spec.volumes[100]
                        value: |-
                          name: inject-volume
                          configMap:
                            name: istio-sidecar-injector
                      - path: spec.template.spec.containers[0].volumeMounts[100]
                        value: |-
                          name: config-volume
                          mountPath: /etc/istio/config
                      - path: spec.template.spec.containers[0].volumeMounts[100]
                        value: |-
                          name: inject-volume
                          mountPath: /var/lib/istio/inject
                    env:
                    - name: INJECTION_WEBHOOK_CONFIG_NAME
                      value: ""
                    - name: VALIDATION_WEBHOOK_CONFIG_NAME
                      value: ""
                    - name: EXTERNAL_ISTIOD
                      value: "true"
                    - name: LOCAL_CLUSTER_SECRET_WATCHER
                      value: "true"
                    - name: CLUSTER_ID
                      value: ${REMOTE_CLUSTER_NAME}
                    - name: SHARED_MESH_CONFIG
                      value: istio
              values:
                global:
                  caAddress: $EXTERNAL_ISTIOD_ADDR:15012
                  istioNamespace: external-istiod
                  operatorManageWebhooks: true
                  configValidation: false
                  meshID: mesh1
                  multiCluster:
                    clusterName: ${REMOTE_CLUSTER_NAME}
                  network: network1
            """
        static let secondRemoteCluster = """
            apiVersion: install.istio.io/v1alpha1
            kind: IstioOperator
            metadata:
              namespace: external-istiod
            spec:
              profile: remote
              values:
                global:
                  istioNamespace: external-istiod
                istiodRemote:
                  injectionURL: https://${EXTERNAL_ISTIOD_ADDR}:15017/inject/cluster/${SECOND_CLUSTER_NAME}/net/network2
            """
        static let ingressGateway = """
            apiVersion: install.istio.io/v1alpha1
            kind: IstioOperator
            spec:
              profile: empty
              components:
                ingressGateways:
                - namespace: external-istiod
                  name: istio-ingressgateway
                  enabled: true
              values:
                gateways:
                  istio-ingressgateway:
                    injectionTemplate: gateway
            """
        static let egressGateway = """
            apiVersion: install.istio.io/v1alpha1
            kind: IstioOperator
            spec:
              profile: empty
              components:
                egressGateways:
                - namespace: external-istiod
                  name: istio-egressgateway
                  enabled: true
              values:
                gateways:
                  istio-egressgateway:
                    injectionTemplate: gateway
            """

        // The IP-address variant (EXTERNAL_ISTIOD_ADDR=203.0.113.7): the guide's sed edits applied to the documents
        // above (remote-config-cluster.yaml with --set values.defaultRevision=default folded in as before).
        static let remoteConfigClusterIP = """
            apiVersion: install.istio.io/v1alpha1
            kind: IstioOperator
            metadata:
              namespace: external-istiod
            spec:
              profile: remote
              values:
                global:
                  istioNamespace: external-istiod
                  remotePilotAddress: 203.0.113.7
                  configCluster: true
                pilot:
                  configMap: true
                istiodRemote:
                  injectionPath: /inject/cluster/remote1/net/network1
                defaultRevision: default
            """
        static let secondRemoteClusterIP = """
            apiVersion: install.istio.io/v1alpha1
            kind: IstioOperator
            metadata:
              namespace: external-istiod
            spec:
              profile: remote
              values:
                global:
                  istioNamespace: external-istiod
                  remotePilotAddress: 203.0.113.7
                istiodRemote:
                  injectionPath: /inject/cluster/remote2/net/network2
            """
        static let externalIstiodIP = externalIstiod
            .replacingOccurrences(of: """
                      proxyMetadata:
                        XDS_ROOT_CA: /etc/ssl/certs/ca-certificates.crt
                        CA_ROOT_CA: /etc/ssl/certs/ca-certificates.crt

                """, with: "")
            // sed '/INJECTION_WEBHOOK_CONFIG_NAME/{n;s/value: ""/value: istio-sidecar-injector-external-istiod/;}', likewise VALIDATION
            .replacingOccurrences(of: "INJECTION_WEBHOOK_CONFIG_NAME\n          value: \"\"",
                                  with: "INJECTION_WEBHOOK_CONFIG_NAME\n          value: istio-sidecar-injector-external-istiod")
            .replacingOccurrences(of: "VALIDATION_WEBHOOK_CONFIG_NAME\n          value: \"\"",
                                  with: "VALIDATION_WEBHOOK_CONFIG_NAME\n          value: istio-validator-external-istiod")
            .replacingOccurrences(of: "$EXTERNAL_ISTIOD_ADDR", with: "203.0.113.7")
            .replacingOccurrences(of: "${REMOTE_CLUSTER_NAME}", with: "remote1")
        /// external-istiod-gw.yaml after `sed -e '55,$d' -e 's/mode: SIMPLE/mode: PASSTHROUGH/' -e '/credentialName:/d'
        /// -e "s/${EXTERNAL_ISTIOD_ADDR}/\"*\"/" -e 's/http:/tls:/' -e 's/https/tls/' -e '/route:/i sniHosts: - "*"'`.
        static let gatewayIP = """
            apiVersion: networking.istio.io/v1beta1
            kind: Gateway
            metadata:
              name: external-istiod-gw
              namespace: external-istiod
            spec:
              selector:
                istio: ingressgateway
              servers:
                - port:
                    number: 15012
                    protocol: tls
                    name: tls-XDS
                  tls:
                    mode: PASSTHROUGH
                  hosts:
                  - "*"
                - port:
                    number: 15017
                    protocol: tls
                    name: tls-WEBHOOK
                  tls:
                    mode: PASSTHROUGH
                  hosts:
                  - "*"
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: VirtualService
            metadata:
               name: external-istiod-vs
               namespace: external-istiod
            spec:
                hosts:
                - "*"
                gateways:
                - external-istiod-gw
                tls:
                - match:
                  - port: 15012
                    sniHosts:
                    - "*"
                  route:
                  - destination:
                      host: istiod.external-istiod.svc.cluster.local
                      port:
                        number: 15012
                - match:
                  - port: 15017
                    sniHosts:
                    - "*"
                  route:
                  - destination:
                      host: istiod.external-istiod.svc.cluster.local
                      port:
                        number: 443
            """
    }
}
