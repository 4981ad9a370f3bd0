import KubeModel

/// The remote secret: how the external istiod reaches a data-plane cluster's API server, built natively
/// as `istioctl x create-remote-secret` does (istio/istio istioctl/pkg/multicluster/remote_secret.go).
///
/// In the remote cluster, a long-lived token Secret `<sa>-istio-remote-secret-token` of type
/// `kubernetes.io/service-account-token` for ServiceAccount `istiod` (type config) or
/// `istio-reader-service-account` (type remote), which the token controller fills. Where istiod watches
/// (`secretCluster`), in the control-plane namespace, a Secret holding a kubeconfig for the remote API server
/// with that token: `istio-kubeconfig` key `config` (type config) or `istio-remote-secret-<cluster>` key
/// `<cluster>` (type remote), labelled `istio/multiCluster: "true"` and annotated
/// `networking.istio.io/cluster`. The kubeconfig is a computed, sensitive value Apply builds.
public struct RemoteSecret: Sendable {
    public enum SecretType: String, Sendable { case config, remote }

    public var cluster: ClusterSpec
    public var type: SecretType
    /// The cluster the Secret is applied to: the external cluster, except a `--type=remote` secret before the
    /// newest revision, which the guide applies on the config cluster (istiod watches secrets there; only
    /// `LOCAL_CLUSTER_SECRET_WATCHER` in the newest revision makes it watch its own cluster).
    public var secretCluster: String
    public var namespace: String

    public init(cluster: ClusterSpec, topology t: MeshTopology) {
        self.cluster = cluster; self.namespace = t.controlPlane.namespace
        self.type = cluster.role == .config ? .config : .remote
        let form = IstioOperatorForm(version: t.istio.version)
        secretCluster = type == .remote && form != .newest ? (t.configCluster ?? t.externalCluster).name : t.externalCluster.name
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
        ResourceAddress(cluster: secretCluster, group: "core", kind: "Secret", namespace: namespace, name: secretName)
    }

    /// The ServiceAccount, for when the rendered remote profile does not contain it.
    public var serviceAccount: JSON {
        ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": .string(serviceAccountName), "namespace": .string(namespace)]]
    }

    /// The ClusterRole and ClusterRoleBinding that go with a ServiceAccount Meshform creates itself, as
    /// `istioctl create-remote-secret --create-service-account` applies them (istioctl/pkg/multicluster/
    /// remote_secret.go renders the charts' RBAC). The rules are the istiod chart's reader role for a remote
    /// (manifests/charts/istio-control/istio-discovery/templates/reader-clusterrole.yaml with `istiodRemote`):
    /// what istiod reads in a remote, plus writing the `istio-ca-root-cert` ConfigMaps and patching webhook
    /// `caBundle`s, which it does in the config cluster. Named as the chart names them.
    public var rbac: [JSON] {
        let role = type == .config ? "istiod-clusterrole-\(namespace)" : "istio-reader-clusterrole-\(namespace)"
        let read: JSON = ["get", "list", "watch"]
        let rules: [JSON] = [
            ["apiGroups": ["config.istio.io", "security.istio.io", "networking.istio.io", "authentication.istio.io", "rbac.istio.io",
                           "telemetry.istio.io", "extensions.istio.io"], "resources": ["*"], "verbs": read],
            ["apiGroups": [""], "resources": ["endpoints", "pods", "services", "nodes", "replicationcontrollers", "namespaces", "secrets", "configmaps"], "verbs": read],
            ["apiGroups": ["networking.x-k8s.io", "gateway.networking.k8s.io"], "resources": ["gateways"], "verbs": read],
            ["apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": read],
            ["apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read],
            ["apiGroups": ["multicluster.x-k8s.io"], "resources": ["serviceexports"], "verbs": ["get", "list", "watch", "create", "delete"]],
            ["apiGroups": ["multicluster.x-k8s.io"], "resources": ["serviceimports"], "verbs": read],
            ["apiGroups": ["apps"], "resources": ["replicasets"], "verbs": read],
            ["apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]],
            ["apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]],
            ["apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "list", "watch", "update"]],
            ["apiGroups": ["admissionregistration.k8s.io"], "resources": ["mutatingwebhookconfigurations"], "verbs": ["get", "list", "watch", "update", "patch"]],
            ["apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingwebhookconfigurations"], "verbs": ["get", "list", "watch", "update"]],
        ]
        return [["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": ["name": .string(role)], "rules": .array(rules)],
                ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": ["name": .string(role)],
                 "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": .string(role)],
                 "subjects": [["kind": "ServiceAccount", "name": .string(serviceAccountName), "namespace": .string(namespace)]]]]
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
                 dependsOn: [tokenAddress, ResourceAddress(cluster: secretCluster, group: "core", kind: "Namespace", namespace: nil, name: namespace)],
                 computed: [computedKubeconfig], sensitive: true, component: "remote-secret@\(cluster.name)")
    }
}
