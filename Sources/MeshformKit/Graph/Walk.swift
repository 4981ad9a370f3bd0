/// The concurrent walker: each vertex runs once all its dependencies have succeeded, with at most
/// `parallelism` vertices running at a time. After the first failure no new vertex starts; the ones already
/// running finish, so the result says exactly what was done (which rollback needs).
public enum GraphWalk {
    /// A vertex's result (a named struct: Swift 6.3 release builds crashed copying tuple task-group results).
    struct Finished<Vertex: Sendable>: Sendable { var vertex: Vertex; var error: (any Error)? }

    /// What a walk did; `Vertex` is what it walked (resource addresses, for apply).
    public struct Outcome<Vertex: Sendable>: Sendable {
        /// Vertices that succeeded, in the order they finished.
        public var completed: [Vertex] = []
        /// Vertices that failed, with their errors.
        public var failed: [(vertex: Vertex, error: any Error)] = []
        /// Vertices never started (a dependency failed, or the walk stopped).
        public var notStarted: [Vertex] = []
        public var succeeded: Bool { failed.isEmpty && notStarted.isEmpty }
    }

    /// Walks `vertices` (in a stable order that ties are broken by) respecting `dependencies`
    /// (vertex -> the vertices it needs first; unknown names are ignored).
    public static func run<Vertex: Hashable & Sendable>(vertices: [Vertex], dependencies: [Vertex: Set<Vertex>], parallelism: Int,
                           _ body: @escaping @Sendable (Vertex) async throws -> Void) async -> Outcome<Vertex> {
        let known = Set(vertices)
        var waitingOn: [Vertex: Set<Vertex>] = [:]
        var dependents: [Vertex: [Vertex]] = [:]
        for v in vertices {
            let deps = (dependencies[v] ?? []).intersection(known).subtracting([v])
            waitingOn[v] = deps
            for d in deps { dependents[d, default: []].append(v) }
        }
        let position = Dictionary(uniqueKeysWithValues: vertices.enumerated().map { ($1, $0) })
        var ready = vertices.filter { waitingOn[$0]!.isEmpty }
        var outcome = Outcome<Vertex>()
        var started = Set<Vertex>()
        var stopping = false

        await withTaskGroup(of: Finished<Vertex>.self) { group in
            var running = 0
            while true {
                // Start what is ready, up to the bound, in the given order; none after a failure.
                ready.sort { position[$0]! < position[$1]! }
                while !stopping, running < max(1, parallelism), !ready.isEmpty {
                    let v = ready.removeFirst()
                    started.insert(v); running += 1
                    group.addTask {
                        do { try await body(v); return Finished(vertex: v, error: nil) } catch { return Finished(vertex: v, error: error) }
                    }
                }
                guard let finished = await group.next() else { break }
                let (v, error) = (finished.vertex, finished.error)
                running -= 1
                if let error {
                    outcome.failed.append((v, error)); stopping = true
                } else {
                    outcome.completed.append(v)
                    for d in dependents[v] ?? [] {
                        waitingOn[d]!.remove(v)
                        if waitingOn[d]!.isEmpty { ready.append(d) }
                    }
                }
            }
        }
        outcome.notStarted = vertices.filter { !started.contains($0) }
        return outcome
    }
}
