import KubeModel

/// A parsed, validated mesh file: everything the Istio guide needs said, in the guide's words.
///
/// Built only by `MeshFile.load`, which guarantees: names are DNS-1123 labels and unique, exactly one
/// external cluster and at most one config cluster exist, every workload names a known cluster, and
/// workload `dependsOn` has no cycle.
public struct MeshTopology: Sendable {
    /// The mesh's name (labels every object as `meshform.dev/mesh`).
    public var name: String
    public var meshID: String
    public var istio: IstioSettings
    public var clusters: [ClusterSpec]
    public var controlPlane: ControlPlaneSpec
    public var workloads: [WorkloadSpec]
    public var lifecycle: LifecycleSpec
    /// `state:`, where the mesh's state lives when neither `--state` nor `MESHFORM_STATE` says: a file path
    /// (resolved against the mesh file's directory) or a `postgres://` URL without a password.
    public var state: String? = nil
    /// The mesh file's path and bytes (the compiler hashes them into `configHash`).
    public var sourcePath: String
    public var sourceText: String
    /// Where each field was written (`clusters[1].role` -> line and column), for errors found later.
    public var sourceMap: [String: SourceLocation]

    public var externalCluster: ClusterSpec { clusters.first { $0.role == .external }! }
    public var configCluster: ClusterSpec? { clusters.first { $0.role == .config } }
    /// The clusters running workloads against the external control plane: the config cluster first, then remotes.
    public var dataPlaneClusters: [ClusterSpec] {
        clusters.filter { $0.role == .config } + clusters.filter { $0.role == .remote }
    }
    public func cluster(named n: String) -> ClusterSpec? { clusters.first { $0.name == n } }
}

/// A line and column in the mesh file (1-based).
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public init(file: String, line: Int, column: Int) { self.file = file; self.line = line; self.column = column }
    public var description: String { "\(file):\(line):\(column)" }
}

public enum ClusterRole: String, Sendable, CaseIterable {
    /// Hosts the control plane (istiod in the control-plane namespace, and the gateway exposing it).
    case external
    /// The first remote: runs workloads and holds the mesh configuration (CRDs, `istio` ConfigMap).
    case config
    /// Any further remote: runs workloads, a source of endpoints only.
    case remote
}

public struct ClusterSpec: Sendable, Hashable {
    public var name: String
    /// The kube context in the user's kubeconfig.
    public var context: String
    /// Optional kubeconfig file; nil means the default (`KUBECONFIG` or ~/.kube/config).
    public var kubeconfig: String?
    public var role: ClusterRole
    public var network: String
    public var gateways: ClusterGateways
    /// The API server address written into this cluster's remote secret (istioctl create-remote-secret's
    /// `--server`); nil means the kubeconfig's, which istiod often cannot reach (127.0.0.1, a private endpoint).
    public var server: String? = nil
}

/// The gateways the guide installs on a data-plane cluster, each rendered with `injectionTemplate: gateway`.
public struct ClusterGateways: Sendable, Hashable {
    /// `istio-eastwestgateway`, labelled `istio: eastwestgateway` and the cluster's network, plus the
    /// `cross-network-gateway` Gateway exposing services.
    public var eastWest: Bool = false
    public var ingress: Bool = false
    public var egress: Bool = false
    public init(eastWest: Bool = false, ingress: Bool = false, egress: Bool = false) {
        self.eastWest = eastWest; self.ingress = ingress; self.egress = egress
    }
}

public struct ControlPlaneSpec: Sendable {
    /// Where istiod runs on the external cluster (the guide's `external-istiod`).
    public var namespace: String
    public var gateway: ControlPlaneGateway
    public var address: ControlPlaneAddress
    public var tls: TLSSecretSpec
    public var proxyMetadata: [String: String]
    /// Extra istiod environment variables (appended to the guide's).
    public var istiodEnv: [String: String]
    /// Extra IstioOperator `values`, merged (RFC 7386) into the external istiod document.
    public var istiodValues: JSON
}

/// The ingress gateway on the external cluster that exposes istiod to the remotes.
public struct ControlPlaneGateway: Sendable {
    public var namespace: String
    public var name: String
    public var ports: [GatewayPort]
}

public struct GatewayPort: Sendable, Hashable {
    public var name: String
    public var port: Int
    public var targetPort: Int
}

/// How remotes reach istiod.
public enum ControlPlaneAddress: Sendable, Hashable {
    /// A DNS name the user set up for the gateway (the guide's `EXTERNAL_ISTIOD_ADDR`).
    case hostname(String)
    /// The gateway Service's load-balancer address, known only after apply.
    case gatewayLoadBalancer

    /// The guide's IP-address variant ("If you are using an IP address for the EXTERNAL_ISTIOD_ADDR"): no DNS
    /// name with a signed certificate, so TLS passes through the gateway to istiod. True for the load-balancer
    /// address and for a literal IPv4 or IPv6 address.
    public var isIPAddress: Bool {
        guard case .hostname(let h) = self else { return true }
        if h.contains(":") { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isNumber) && Int(p)! <= 255 }
    }
}

public struct TLSSecretSpec: Sendable, Hashable {
    /// The Secret's name (the guide's `SSL_SECRET_NAME`), in the gateway's namespace.
    public var secretName: String
    /// When both are set Meshform creates the Secret from these PEM files; otherwise it must exist.
    public var certificateFile: String?
    public var keyFile: String?
    /// Before the remote webhooks (failurePolicy Fail) are applied, and in `meshform verify`: complete a TLS
    /// handshake with the control-plane address on 15012 and 15017 from where Meshform runs. Off only where that
    /// address cannot answer from here (KubeSim's load balancers are addresses, not servers).
    public var checkHandshake = true
}

public struct IstioSettings: Sendable, Hashable {
    /// e.g. "1.24.0". Chooses the IstioOperator form (see `IstioOperatorForm`) and is checked against the renderer.
    public var version: String
    public var renderer: RendererSpec
    /// The control-plane revision this version installs (`istio.io/rev`); nil: the unrevisioned install ("default").
    /// A new revision beside the applied one makes the version change a canary upgrade (docs/day2.md).
    public var revision: String? = nil
}

public enum RendererSpec: Sendable, Hashable {
    /// `istioctl manifest generate`; path nil means `istioctl` on PATH.
    case istioctl(path: String?)
    /// `helm template` with Istio's charts in `charts` (a directory holding base/, istiod/, gateway/ ...).
    case helm(path: String?, charts: String)
    /// A directory of pre-rendered manifests, one file per component (see docs/mesh-file.md).
    case manifests(directory: String)
}

public struct WorkloadSpec: Sendable, Hashable {
    public var name: String
    public var cluster: String
    public var namespace: String
    /// Label the namespace `istio-injection=enabled`.
    public var injection: Bool
    public var manifests: [ManifestReference]
    /// Other workloads (by name) to apply first.
    public var dependsOn: [String]
}

public struct ManifestReference: Sendable, Hashable {
    /// Absolute (resolved against the mesh file's directory).
    public var path: String
    /// A kubectl-style equality selector, e.g. `version=v1` or `app=sleep,version!=v2`.
    public var selector: String?
}

public struct LifecycleSpec: Sendable, Hashable {
    /// Address patterns (segments may be `*`) that destroy refuses to delete.
    public var preventDestroy: [String] = []
    public var ignoreFields: [IgnoreRule] = []
    /// Whether a canary upgrade's last phase (removing the old revision) waits for `apply -finalize`.
    public var upgrade: UpgradeMode = .manual
    public init(preventDestroy: [String] = [], ignoreFields: [IgnoreRule] = []) {
        self.preventDestroy = preventDestroy; self.ignoreFields = ignoreFields
    }
}

public struct IgnoreRule: Sendable, Hashable {
    public var resource: String
    public var fields: [String]
}
