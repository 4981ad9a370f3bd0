import Foundation
import KubeModel
import Testing
@testable import MeshformKit

/// The IstioOperator documents Meshform writes equal, field for field, the guide's own YAML, for both
/// revisions: the older one on disk (../shared/guide/external-controlplane.seed.zh.md, Istio < 1.11) and
/// the current English one (istio/istio.io content/en/docs/setup/install/external-controlplane/index.md,
/// quoted below), chosen by the mesh file's Istio version.
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
        #expect(IstioOperatorForm(version: t.istio.version) == .legacy)
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

    @Test func currentGuideRevisionDocumentsMatch() throws {
        let t = try Self.mesh(version: "1.24.0")
        #expect(IstioOperatorForm(version: t.istio.version) == .current)
        let docs = Self.documents(t)
        #expect(docs["controlplane-gateway@external"] == (try Self.parse(Current.controlPlaneGateway)))
        #expect(docs["remote-config-cluster@remote1"] == (try Self.parse(Current.remoteConfigCluster)))
        #expect(docs["external-istiod@external"] == (try Self.parse(Current.externalIstiod)))
        #expect(docs["remote-cluster@remote2"] == (try Self.parse(Current.secondConfigCluster)))
        #expect(docs["ingress-gateway@remote1"] == (try Self.parse(Current.ingressGateway)))
        #expect(docs["egress-gateway@remote1"] == (try Self.parse(Current.egressGateway)))
        // gen-eastwest-gateway.sh --mesh mesh1 --cluster NAME --network NET, plus the guide's two --set flags.
        for (cluster, network) in [("remote1", "network1"), ("remote2", "network2")] {
            var expected = try Self.parse(Current.eastWest(cluster: cluster, network: network))
            expected[path: ["spec", "values", "gateways", "istio-ingressgateway", "injectionTemplate"]] = "gateway"
            expected[path: ["spec", "values", "global", "istioNamespace"]] = "external-istiod"
            #expect(docs["eastwest-gateway@\(cluster)"] == expected)
        }
        #expect(docs.count == 8)
    }

    @Test func versionChoosesTheForm() {
        #expect(IstioOperatorForm(version: "1.10.6") == .legacy)
        #expect(IstioOperatorForm(version: "1.11.0") == .current)
        #expect(IstioOperatorForm(version: "v1.24.1") == .current)
        #expect(IstioVersion("1.9.8")! < IstioVersion("1.10.0")!)
    }

    /// The current English guide's YAML, verbatim (istio/istio.io, external-controlplane/index.md).
    enum Current {
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
}
