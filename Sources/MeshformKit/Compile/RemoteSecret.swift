import KubeModel

/// The remote secret: how the external istiod reaches a data-plane cluster's API server, built natively
/// as `istioctl x create-remote-secret` does (istio/istio istioctl/pkg/multicluster/remote_secret.go).
///
/// In the remote cluster, a long-lived token Secret `<sa>-istio-remote-secret-token` of type
/// `kubernetes.io/service-account-token` for ServiceAccount `istiod` (type config) or
/// `istio-reader-service-account` (type remote), which the token controller fills. On the external
/// cluster, in the control-plane namespace, a Secret holding a kubeconfig for the remote API server with
/// that token: `istio-kubeconfig` key `config` (type config) or `istio-remote-secret-<cluster>` key
/// `<cluster>` (type remote), labelled `istio/multiCluster: "true"` and annotated
/// `networking.istio.io/cluster`. The kubeconfig is a computed, sensitive value Apply builds.
public struct RemoteSecret: Sendable {
    public enum SecretType: String, Sendable { case config, remote }

    public var cluster: ClusterSpec
    public var type: SecretType
    public var externalCluster: String
    public var namespace: String

    public init(cluster: ClusterSpec, externalCluster: String, namespace: String) {
        self.cluster = cluster; self.externalCluster = externalCluster; self.namespace = namespace
        self.type = cluster.role == .config ? .config : .remote
    }

    public var serviceAccountName: String { type == .config ? "istiod" : "istio-reader-service-account" }
    public var tokenSecretName: String { "\(serviceAccountName)-istio-remote-secret-token" }
    public var secretName: String { type == .config ? "istio-kubeconfig" : "istio-remote-secret-\(cluster.name)" }
    public var dataKey: String { type == .config ? "config" : cluster.name }
    public var placeholder: String { "computed-remote-kubeconfig-\(cluster.name).meshform.invalid" }

    public var serviceAccountAddress: ResourceAddress {
        ResourceAddress(cluster: cluster.name, group: "core", kind: "ServiceAccount", namespace: namespace, name: serviceAccountName)
    }
    public var tokenAddress: ResourceAddress {
        ResourceAddress(cluster: cluster.name, group: "core", kind: "Secret", namespace: namespace, name: tokenSecretName)
    }
    public var secretAddress: ResourceAddress {
        ResourceAddress(cluster: externalCluster, group: "core", kind: "Secret", namespace: namespace, name: secretName)
    }

    /// The ServiceAccount, for when the rendered remote profile does not contain it.
    public var serviceAccount: JSON {
        ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": .string(serviceAccountName), "namespace": .string(namespace)]]
    }

    /// The token Secret in the remote cluster; the token controller fills `data.token` and `data.ca.crt`.
    public var tokenSecret: Resource {
        Resource(address: tokenAddress,
                 body: ["apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                        "metadata": ["name": .string(tokenSecretName), "namespace": .string(namespace),
                                     "annotations": ["kubernetes.io/service-account.name": .string(serviceAccountName)]]],
                 dependsOn: [serviceAccountAddress], readiness: .tokenPopulated, sensitive: true,
                 component: "remote-secret@\(cluster.name)")
    }

    public var computedKubeconfig: ComputedValue {
        ComputedValue(placeholder: placeholder, producer: tokenAddress,
                      source: .remoteKubeconfig(clusterName: cluster.name, remoteCluster: cluster.name))
    }

    /// The Secret on the external cluster; its only value is the computed kubeconfig's placeholder.
    public var secret: Resource {
        Resource(address: secretAddress,
                 body: ["apiVersion": "v1", "kind": "Secret",
                        "metadata": ["name": .string(secretName), "namespace": .string(namespace),
                                     "labels": ["istio/multiCluster": "true"],
                                     "annotations": ["networking.istio.io/cluster": .string(cluster.name)]],
                        "stringData": [dataKey: .string(placeholder)]],
                 dependsOn: [tokenAddress, ResourceAddress(cluster: externalCluster, group: "core", kind: "Namespace", namespace: nil, name: namespace)],
                 computed: [computedKubeconfig], sensitive: true, component: "remote-secret@\(cluster.name)")
    }
}
