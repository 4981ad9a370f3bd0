import KubeModel

/// One desired Kubernetes object in one cluster, with everything apply, plan and drift need to handle it.
public struct Resource: Sendable {
    public var address: ResourceAddress
    /// The desired object; may contain computed placeholders (see `computed`).
    public var body: JSON
    public var dependsOn: Set<ResourceAddress>
    /// The computed values whose placeholders appear somewhere in `body`.
    public var computed: [ComputedValue]
    /// What apply must wait for after applying this object before its dependents run.
    public var readiness: Readiness
    /// Secrets: values masked in output, hashed in state.
    public var sensitive: Bool
    public var preventDestroy: Bool
    /// Field paths whose live value is never diffed, e.g. `webhooks[*].clientConfig.caBundle`.
    public var ignoreFields: [String]
    /// The rendered component or glue step this object came from (for output).
    public var component: String?

    public init(address: ResourceAddress, body: JSON, dependsOn: Set<ResourceAddress> = [],
                computed: [ComputedValue] = [], readiness: Readiness = .none, sensitive: Bool = false,
                preventDestroy: Bool = false, ignoreFields: [String] = [], component: String? = nil) {
        self.address = address; self.body = body; self.dependsOn = dependsOn; self.computed = computed
        self.readiness = readiness; self.sensitive = sensitive; self.preventDestroy = preventDestroy
        self.ignoreFields = ignoreFields; self.component = component
    }
}

/// What "done" means for an applied object, beyond the API server accepting it.
public enum Readiness: String, Hashable, Codable, Sendable {
    case none
    /// A CustomResourceDefinition whose `Established` condition is true: its kind is served.
    case established
    /// A Deployment whose rollout is complete (`kubectl rollout status`: observed generation, updated and available replicas).
    case available
    /// A Service of type LoadBalancer with `status.loadBalancer.ingress[0]` set.
    case loadBalancerAddress
    /// A `kubernetes.io/service-account-token` Secret whose `data.token` the token controller has filled.
    case tokenPopulated
}

/// A value known only after apply, written into bodies as a unique placeholder string and resolved by
/// Apply when its producer is done.
public struct ComputedValue: Hashable, Codable, Sendable {
    /// A unique string in the body; a valid hostname so it survives istioctl/helm rendering.
    public var placeholder: String
    /// The resource whose post-apply state yields the value.
    public var producer: ResourceAddress
    public var source: Source

    public enum Source: Hashable, Codable, Sendable {
        /// The producer is a Service: `status.loadBalancer.ingress[0].ip` or `.hostname`.
        case loadBalancerAddress
        /// The producer is the ServiceAccount token Secret in `remoteCluster`: Apply builds a kubeconfig
        /// for that cluster's API server (server and CA from the user's kubeconfig for its context, the
        /// token from the Secret's `data.token`), as `istioctl create-remote-secret` writes it.
        case remoteKubeconfig(clusterName: String, remoteCluster: String)
    }

    public init(placeholder: String, producer: ResourceAddress, source: Source) {
        self.placeholder = placeholder; self.producer = producer; self.source = source
    }

    /// What plan output shows in place of the placeholder.
    public static let displayText = "(known after apply)"
}
