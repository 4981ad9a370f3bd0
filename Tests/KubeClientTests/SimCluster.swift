import Foundation
import KubeClient
import KubeModel
import KubeSim
import TestSupport

/// A KubeSim over real HTTPS, and helpers to reach it through a kubeconfig file as a user would.
struct SimCluster {
    let sim: KubeSim
    let dir: TempDirectory

    static func start(_ name: String, faults: FaultSettings = FaultSettings(),
                      controllerDelay: Duration = .milliseconds(30)) async throws -> SimCluster {
        let sim = try await KubeSim.start(KubeSimOptions(name: name, port: 0, controllerDelay: controllerDelay, faults: faults))
        return SimCluster(sim: sim, dir: try TempDirectory())
    }

    /// Runs `body` with a new cluster and stops it afterwards, whether `body` returns or throws.
    static func with<T>(_ name: String, faults: FaultSettings = FaultSettings(), controllerDelay: Duration = .milliseconds(30),
                        _ body: (SimCluster) async throws -> T) async throws -> T {
        let cluster = try await start(name, faults: faults, controllerDelay: controllerDelay)
        let result: T
        do { result = try await body(cluster) } catch { try? await cluster.stop(); throw error }
        try await cluster.stop()
        return result
    }

    /// Runs `body` with a client of this cluster (see `client(options:)`), shut down afterwards.
    func withClient<T>(options: ClientOptions = ClientOptions(), _ body: (KubeClient) async throws -> T) async throws -> T {
        try await withShutdown(try client(options: options), body)
    }

    /// Writes the sim's own kubeconfig and returns its path.
    func kubeconfigFile(context: String? = nil) throws -> String {
        let path = dir.path + "/\(context ?? sim.name).kubeconfig"
        try sim.writeKubeconfig(to: path, contextName: context)
        return path
    }

    /// A client built the way MeshformKit builds one: kubeconfig file -> context -> connection.
    func client(options: ClientOptions = ClientOptions()) throws -> KubeClient {
        let kc = try Kubeconfig.load(explicitPath: try kubeconfigFile())
        return KubeClient(connection: try ClusterConnection(kubeconfig: kc, context: nil), options: options)
    }

    /// A kubeconfig for this sim with a custom `user:` block (YAML lines indented by 4).
    func kubeconfig(user: String, context: String = "custom") -> String {
        """
        apiVersion: v1
        kind: Config
        current-context: \(context)
        clusters:
        - name: \(sim.name)
          cluster:
            server: \(sim.url)
            certificate-authority-data: \(Data(sim.caPEM.utf8).base64EncodedString())
        users:
        - name: u
          user:
        \(user)
        contexts:
        - name: \(context)
          context: {cluster: \(sim.name), user: u}
        """
    }

    func stop() async throws {
        try await sim.stop()
        dir.remove()
    }
}

let configMapKind = GroupVersionKind(group: "", version: "v1", kind: "ConfigMap")
let namespaceKind = GroupVersionKind(group: "", version: "v1", kind: "Namespace")

func configMap(_ name: String, namespace: String = "default", data: [String: String], labels: [String: String] = [:]) -> JSON {
    var o: JSON = ["apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": ["name": .string(name), "namespace": .string(namespace)],
                   "data": .object(data.mapValues(JSON.string))]
    if !labels.isEmpty { o[path: ["metadata", "labels"]] = .object(labels.mapValues(JSON.string)) }
    return o
}
