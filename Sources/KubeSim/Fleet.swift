import Foundation

/// Many virtual clusters served from one process, so a 1,000-cluster mesh (about 50,000 objects) can be measured on
/// one machine (issue 17).
///
/// Each cluster is a whole KubeSim on its own port of 127.0.0.1, with its own CA, tokens, objects and controllers:
/// nothing is shared but the process (and NIO's event loops). Ports rather than a path or SNI per cluster because
/// every client then reaches a cluster exactly as it reaches a real one, through an ordinary kubeconfig, and the
/// server needs no routing of its own. A process may listen on thousands of ports; `ulimit -n` must allow two
/// descriptors per cluster and one per client connection.
///
/// ```swift
/// let fleet = try await Fleet.start(names: ["external", "r1", "r2"]) { KubeSimOptions(name: $0) }
/// let files = try fleet.writeKubeconfigs(directory: "/tmp/fleet")   // name -> /tmp/fleet/NAME.kubeconfig
/// try await fleet.stop()
/// ```
public final class Fleet: Sendable {
    /// The clusters, in the order named.
    public let clusters: [KubeSim]

    private init(clusters: [KubeSim]) { self.clusters = clusters }

    public subscript(name: String) -> KubeSim? { clusters.first { $0.name == name } }

    /// Starts one KubeSim per name (`options` gives each its settings; its `name` must be the name given), a few
    /// at a time; returns once every port is bound. If one cannot start, those already started are stopped and
    /// the error is thrown.
    public static func start(names: [String], concurrency: Int = 8,
                             options: @escaping @Sendable (String) -> KubeSimOptions = { KubeSimOptions(name: $0) }) async throws -> Fleet {
        guard Set(names).count == names.count else { throw FleetError.duplicateNames }
        var started: [String: KubeSim] = [:]
        var failure: Error?
        await withTaskGroup(of: Result<KubeSim, Error>.self) { group in
            var next = names.makeIterator()
            func add() -> Bool {
                guard let name = next.next() else { return false }
                group.addTask {
                    do { return .success(try await KubeSim.start(options(name))) } catch { return .failure(error) }
                }
                return true
            }
            for _ in 0..<max(1, concurrency) where add() {}
            for await result in group {
                switch result {
                case .success(let sim): started[sim.name] = sim
                case .failure(let error): failure = failure ?? error
                }
                if failure == nil { _ = add() }
            }
        }
        if let failure {
            for sim in started.values { try? await sim.stop() }
            throw failure
        }
        return Fleet(clusters: names.compactMap { started[$0] })
    }

    /// Writes each cluster's kubeconfig (context = cluster name) to `directory/NAME.kubeconfig`; returns the paths
    /// by name.
    @discardableResult
    public func writeKubeconfigs(directory: String) throws -> [String: String] {
        var paths: [String: String] = [:]
        for sim in clusters {
            let path = (directory as NSString).appendingPathComponent("\(sim.name).kubeconfig")
            try sim.writeKubeconfig(to: path)
            paths[sim.name] = path
        }
        return paths
    }

    /// Stops every cluster (each as `KubeSim.stop` does); the first error is thrown after all have stopped.
    public func stop() async throws {
        var first: Error?
        for sim in clusters {
            do { try await sim.stop() } catch { first = first ?? error }
        }
        if let first { throw first }
    }
}

public enum FleetError: Error, CustomStringConvertible {
    case duplicateNames
    public var description: String { "kubesim fleet: every cluster needs its own name" }
}
