import Foundation
import KubeModel
import PostgresTestSupport
import StateStore
import Synchronization

// The cost of the state writes of one apply step on each backend, in the same run: `journal(started)`, then the
// object with its `done` entry in one transaction (`journal(_:step:recording:)`), as the executor writes them.
// SQLite: a file in a temporary directory (WAL, synchronous=NORMAL, as shipped). PostgreSQL: a server of its own on
// loopback, fsync on (the default). Then the same steps with concurrent readers taking full snapshots, as `drift`
// and `plan` do, to show what readers cost the writer and that none is blocked.
//
//   swift run -c release StateBench [steps] [readers]

let steps = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 300 : 300
let readers = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 8 : 8

func object(_ i: Int) -> ManagedObject {
    let body: JSON = ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": .string("app\(i)"), "namespace": "sample"],
                      "spec": ["replicas": 2, "template": ["spec": ["containers": [["name": "app", "image": "docker.io/istio/examples-helloworld-v1"]]]]]]
    return ManagedObject(address: "remote1/apps/Deployment/sample/app\(i)", cluster: "remote1", apiVersion: "apps/v1", kind: "Deployment",
                         namespace: "sample", name: "app\(i)", uid: UUID().uuidString, resourceVersion: "1", applied: body)
}

/// Seconds for `steps` apply steps; with `readers` threads snapshotting meanwhile, also how many snapshots they were
/// served and how many failed (a reader that cannot open or read counts as failed, never as served).
func measure(_ location: String, readers: Int) throws -> (perStep: Double, snapshots: Int, failed: Int, slowestSnapshot: Double) {
    let store = try StateStore.open(path: location)
    let run = try store.beginRun(kind: .apply, who: "bench", configHash: nil)
    let tally = Tally()
    let group = DispatchGroup()
    for _ in 0..<readers {
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            guard let r = try? StateStore.openReadOnly(path: location) else { tally.fail(); return }
            // A drift check reads the state, then spends its time listing clusters: one snapshot every 50 ms.
            while !tally.done {
                let t = Date()
                do {
                    _ = try r.snapshot()
                    tally.add(Date().timeIntervalSince(t))
                } catch {
                    tally.fail()
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }
    let start = Date()
    for i in 0..<steps {
        let o = object(i)
        try store.journal(run, step: JournalStep(address: try ResourceAddress(parsing: o.address), action: .create, phase: .started))
        try store.journal(run, step: JournalStep(address: try ResourceAddress(parsing: o.address), action: .create, phase: .done, after: o.applied), recording: .upsert(o))
    }
    let elapsed = Date().timeIntervalSince(start)
    tally.finish()
    group.wait()
    try store.finishRun(run, outcome: .succeeded, message: nil)
    return (elapsed / Double(steps), tally.snapshots, tally.failed, tally.slowest)
}

/// What the reader threads saw, shared with the writer's thread.
final class Tally: Sendable {
    private struct Counts { var stopped = false, count = 0, failed = 0, max = 0.0 }
    private let counts = Mutex(Counts())
    var done: Bool { counts.withLock { $0.stopped } }
    var snapshots: Int { counts.withLock { $0.count } }
    var slowest: Double { counts.withLock { $0.max } }
    var failed: Int { counts.withLock { $0.failed } }
    func fail() { counts.withLock { $0.failed += 1 } }
    func finish() { counts.withLock { $0.stopped = true } }
    func add(_ d: Double) { counts.withLock { $0.count += 1; $0.max = Swift.max($0.max, d) } }
}

func pad(_ s: String) -> String { s.padding(toLength: 11, withPad: " ", startingAt: 0) }

let dir = NSTemporaryDirectory() + "meshform-statebench-" + UUID().uuidString
defer { try? FileManager.default.removeItem(atPath: dir) }
let server = try PostgresTestServer(fsync: true)
defer { server.stop() }
setenv("PGPASSWORD", server.password, 1)

print("State writes per apply step (journal started + object with its done entry), \(steps) steps:")
for (name, loc) in [("SQLite", dir + "/a.db"), ("PostgreSQL", server.url())] {
    let r = try measure(loc, readers: 0)
    print("  " + pad(name) + String(format: "%7.2f ms/step", r.perStep * 1000))
}
print("The same with \(readers) concurrent readers taking full snapshots (drift/plan):")
for (name, loc) in [("SQLite", dir + "/b.db"), ("PostgreSQL", server.url())] {
    let r = try measure(loc, readers: readers)
    print("  " + pad(name) + String(format: "%7.2f ms/step; the readers were served %d snapshots (%d failed), the slowest %.1f ms",
                                      r.perStep * 1000, r.snapshots, r.failed, r.slowestSnapshot * 1000))
}
