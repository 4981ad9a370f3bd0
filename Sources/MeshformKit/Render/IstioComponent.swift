import Crypto
import Foundation
import KubeModel

/// One Istio install step of the guide: an IstioOperator document for one cluster, which a
/// `ComponentRenderer` turns into Kubernetes objects with Istio's own tools.
public struct IstioComponent: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable {
        /// The ingress gateway on the external cluster exposing 15021/15012/15017 (controlplane-gateway.yaml).
        case controlPlaneGateway = "controlplane-gateway"
        /// istiod in the control-plane namespace of the external cluster (external-istiod.yaml).
        case externalIstiod = "external-istiod"
        /// The config cluster's install: CRDs, `istio` ConfigMap, webhooks pointing at the external istiod.
        case remoteConfigCluster = "remote-config-cluster"
        /// A further remote's install: webhooks only (second-config-cluster.yaml).
        case remoteCluster = "remote-cluster"
        /// `istio-eastwestgateway` (gen-eastwest-gateway.sh output with the guide's --set flags).
        case eastWestGateway = "eastwest-gateway"
        /// The workload ingress gateway in the control-plane namespace with `injectionTemplate: gateway`.
        case ingressGateway = "ingress-gateway"
        /// The optional egress gateway, likewise.
        case egressGateway = "egress-gateway"
    }

    public var kind: Kind
    /// The cluster the rendered objects go to.
    public var cluster: String
    /// The IstioOperator document, as the guide writes it.
    public var istioOperator: JSON
    /// Where namespaced objects that the renderer leaves without a namespace go.
    public var namespace: String
    /// The Istio version the documents are written for (renderers check their tool against it).
    public var istioVersion: String
    /// Values a pre-rendered manifest may refer to as `{{name}}` (see ManifestDirectoryRenderer).
    public var parameters: [String: String]

    public init(kind: Kind, cluster: String, istioOperator: JSON, namespace: String, istioVersion: String, parameters: [String: String]) {
        self.kind = kind; self.cluster = cluster; self.istioOperator = istioOperator
        self.namespace = namespace; self.istioVersion = istioVersion; self.parameters = parameters
    }

    /// e.g. `eastwest-gateway@remote1`: names the component in output and in `Resource.component`.
    public var id: String { "\(kind.rawValue)@\(cluster)" }
}

/// Turns an Istio component into the Kubernetes objects to apply. Implementations run Istio's own
/// tooling (istioctl, helm) or read pre-rendered manifests; none re-implements Istio's charts.
public protocol ComponentRenderer: Sendable {
    func render(_ component: IstioComponent) async throws -> RenderedManifests
}

/// What a renderer produced for one component: the objects, and the SHA-256 of the text they were parsed from. The
/// mesh's `configHash` covers the digests, so a changed tool, chart or manifest changes it exactly when its output
/// changed (hashing the text once is far cheaper than re-encoding megabytes of objects for every cluster).
public struct RenderedManifests: Sendable {
    public var documents: [JSON]
    public var digest: String

    /// Parses `text` (through `ParsedManifestCache`) and digests it.
    init(text: String) throws {
        documents = try ParsedManifestCache.documents(text)
        digest = Self.digest(of: text)
    }

    init(documents: [JSON], digest: String) { self.documents = documents; self.digest = digest }

    static func digest(of text: String) -> String {
        Hex.encode(SHA256.hash(data: Data(text.utf8)))
    }
}

/// A renderer failed; the message says which component, which tool and what to do.
public struct RenderError: Error, CustomStringConvertible {
    public var component: String
    public var message: String
    public init(component: String, message: String) { self.component = component; self.message = message }
    public var description: String { "rendering \(component): \(message)" }
}
