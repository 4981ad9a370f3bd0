import Testing
import Foundation
import Synchronization
@testable import MeshformKit

@Suite struct GraphWalkTests {
    /// What the walk's concurrent bodies did: the order they started in and the most that ran at once.
    final class Recorder: Sendable {
        private let state = Mutex((order: [String](), running: 0, maxRunning: 0))
        var order: [String] { state.withLock { $0.order } }
        var maxRunning: Int { state.withLock { $0.maxRunning } }
        func start(_ v: String) { state.withLock { $0.order.append(v); $0.running += 1; $0.maxRunning = max($0.maxRunning, $0.running) } }
        func end() { state.withLock { $0.running -= 1 } }
    }

    @Test func everyVertexRunsAfterItsDependencies() async {
        let deps: [String: Set<String>] = ["ns": [], "sa": ["ns"], "istiod": ["sa", "crd"], "crd": [], "webhook": ["istiod"]]
        let r = Recorder()
        let outcome = await GraphWalk.run(vertices: ["ns", "sa", "istiod", "crd", "webhook"], dependencies: deps, parallelism: 4) { v in
            r.start(v); try await Task.sleep(for: .milliseconds(5)); r.end()
        }
        #expect(outcome.succeeded)
        let pos = Dictionary(uniqueKeysWithValues: r.order.enumerated().map { ($1, $0) })
        for (v, ds) in deps { for d in ds { #expect(pos[d]! < pos[v]!, "\(d) before \(v)") } }
        #expect(outcome.completed.count == 5)
    }

    @Test func parallelismIsBounded() async {
        let r = Recorder()
        let vertices = (0..<20).map { "v\($0)" }
        // Each body holds its slot until three run at once (or, if the walk never allows three, for 10 s): with the
        // bound kept, exactly three ever run together, whatever the machine's load.
        _ = await GraphWalk.run(vertices: vertices, dependencies: [:], parallelism: 3) { v in
            r.start(v)
            let deadline = ContinuousClock.now + .seconds(10)
            while r.maxRunning < 3 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
            r.end()
        }
        #expect(r.maxRunning == 3)
    }

    struct Boom: Error {}

    @Test func afterAFailureNothingNewStartsAndDependentsAreReported() async {
        let deps: [String: Set<String>] = ["b": ["a"], "c": ["b"], "d": []]
        let outcome = await GraphWalk.run(vertices: ["a", "b", "c", "d"], dependencies: deps, parallelism: 1) { v in
            if v == "b" { throw Boom() }
        }
        #expect(outcome.completed == ["a"])
        #expect(outcome.failed.map(\.vertex) == ["b"])
        #expect(Set(outcome.notStarted) == ["c", "d"])
    }
}
