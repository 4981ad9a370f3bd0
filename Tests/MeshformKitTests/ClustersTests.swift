import Foundation
import KubeClient
import Synchronization
import Testing
@testable import MeshformKit

/// Resolving a mesh's clusters from the user's kubeconfig files (issue 17: loading was quadratic in the number of
/// clusters, every cluster parsing every file in KUBECONFIG).
@Suite struct ClustersTests {
    /// Files read through an injected loader, in order.
    final class ReadLog: Sendable {
        let paths = Mutex<[String]>([])
        func read(_ path: String) throws -> String {
            paths.withLock { $0.append(path) }
            return try Kubeconfig.readFile(path)
        }
    }

    /// A kubeconfig file with one cluster, user and context named `name` (nothing is contacted).
    static func kubeconfig(_ name: String, port: Int) -> String {
        """
        apiVersion: v1
        kind: Config
        clusters:
        - {name: \(name), cluster: {server: "https://127.0.0.1:\(port)", insecure-skip-tls-verify: true}}
        users:
        - {name: \(name)-admin, user: {token: token-\(name)}}
        contexts:
        - {name: \(name), context: {cluster: \(name), user: \(name)-admin}}
        current-context: \(name)

        """
    }

    @Test func nClustersParseEachKubeconfigFileOnce() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let remotes = 24
        let names = ["external"] + (1...remotes).map { "r\($0)" }
        var files: [String] = []
        for (i, name) in names.enumerated() {
            let path = dir.appendingPathComponent("\(name).kubeconfig").path
            try Self.kubeconfig(name, port: 40000 + i).write(toFile: path, atomically: true, encoding: .utf8)
            files.append(path)
        }
        // The last remote names its own file in the mesh file; the others come from KUBECONFIG (which lists it too).
        var mesh = """
            mesh: many
            istio: {version: 1.24.0}
            clusters:
              - {name: external, context: external, role: external}
              - {name: r1, context: r1, role: config}

            """
        for i in 2..<remotes { mesh += "  - {name: r\(i), context: r\(i), role: remote}\n" }
        mesh += "  - {name: r\(remotes), context: r\(remotes), role: remote, kubeconfig: \(files.last!)}\n"
        mesh += "controlPlane: {address: istiod.example.com, tls: {secretName: istiod-tls}}\n"
        let topology = try loadMesh(mesh)

        let log = ReadLog()
        let clusters = try Clusters(topology: topology, environment: ["KUBECONFIG": files.joined(separator: ":")],
                                    kubeconfigs: KubeconfigLoader(readFile: { try log.read($0) }))
        let reads = log.paths.withLock { $0 }
        #expect(reads.count == names.count, "\(names.count) clusters read \(reads.count) kubeconfig files")
        #expect(Set(reads) == Set(files))
        // Each cluster still reaches its own server, through its own context.
        for (i, name) in names.enumerated() {
            #expect(clusters.endpoints[name]?.server == "https://127.0.0.1:\(40000 + i)")
            #expect(clusters.clients[name]?.contextName == name)
        }
        await clusters.shutdown()
    }

    /// A day-2 step that needs one cluster resolves that one only: no client for the others, and a context of theirs that
    /// does not exist is not its error.
    @Test func onlyTheNamedClustersAreResolved() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("external.kubeconfig").path
        try Self.kubeconfig("external", port: 40000).write(toFile: path, atomically: true, encoding: .utf8)
        let topology = try loadMesh("""
            mesh: one
            istio: {version: 1.24.0}
            clusters:
              - {name: external, context: external, role: external}
              - {name: r1, context: no-such-context, role: config}
            controlPlane: {address: istiod.example.com, tls: {secretName: istiod-tls}}

            """)
        let environment = ["KUBECONFIG": path]
        #expect {
            try Clusters(topology: topology, environment: environment)
        } throws: { error in
            guard case .cluster(let name, let context, _) = error as? SessionError else { return false }
            return name == "r1" && context == "no-such-context"
        }
        let one = try Clusters(topology: topology, environment: environment, only: ["external"])
        #expect(Array(one.clients.keys) == ["external"])
        #expect(one.endpoints["external"]?.server == "https://127.0.0.1:40000")
        await one.shutdown()
    }
}
