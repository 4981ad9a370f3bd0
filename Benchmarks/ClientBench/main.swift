import Foundation
import KubeClient
import KubeModel
import KubeSim

// KubeClient's server-side applies per second against KubeSim over HTTPS on loopback, at 0 ms and 5 ms injected
// latency and parallelism 1, 10 and 50, next to the real `kubectl apply --server-side` on the same objects in the
// same run, and the ratio of the two at parallelism 1 (kubectl applies one object after another).
// Each figure is the best of the repeats: on a shared machine other load only ever slows a run down.
// (Moved out of the test suite, where it hid behind an environment variable: issue 14.)
//
//   swift run -c release ClientBench [objects per run, default 300] [repeats, default 3]

let n = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 300 : 300
let repeats = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 3 : 3
let configMapKind = GroupVersionKind(group: "", version: "v1", kind: "ConfigMap")

/// The objects every run applies: ConfigMaps of realistic size (Istio's mesh config is of this order).
func objects(_ n: Int, namespace: String) -> [JSON] {
    (0..<n).map { i in
        let data = Dictionary(uniqueKeysWithValues: (0..<8).map { ("key\($0)", JSON.string(String(repeating: "v\(i)-", count: 16))) })
        return ["apiVersion": "v1", "kind": "ConfigMap",
                "metadata": ["name": .string("obj-\(i)"), "namespace": .string(namespace),
                             "labels": ["app.kubernetes.io/managed-by": "bench", "index": .string("\(i)")]],
                "data": .object(data)]
    }
}

func namespace(_ name: String) -> JSON { ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]] }

func perSecond(_ n: Int, _ elapsed: Duration) -> Double {
    Double(n) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

/// Runs kubectl to completion through the project's one process runner (`ChildProcess`: no Swift concurrency thread
/// blocked, which would starve the in-process KubeSim it talks to). `home`: a fresh HOME, so its discovery cache starts
/// empty as on a new machine. Its output is stdout then stderr.
func kubectl(_ args: [String], home: String) async throws -> (status: Int32, output: Data) {
    var env = ProcessInfo.processInfo.environment
    env["HOME"] = home
    let r = try await ChildProcess.run("/usr/bin/env", ["kubectl"] + args, environment: env)
    return (r.status, Data(r.stdout + r.stderr))
}

let dir = FileManager.default.temporaryDirectory.appendingPathComponent("clientbench-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
let version = try await kubectl(["version", "--client", "-o", "json"], home: dir.path)
guard version.status == 0, let kubectlVersion = (try? JSON(data: version.output))?[path: ["clientVersion", "gitVersion"]]?.string else {
    FileHandle.standardError.write(Data("ClientBench needs kubectl on PATH (.ci/run installs it)\n".utf8))
    exit(1)
}

let sim = try await KubeSim.start(KubeSimOptions(name: "bench", port: 0, controllerDelay: .milliseconds(30)))
let kubeconfig = dir.appendingPathComponent("bench.kubeconfig").path
try sim.writeKubeconfig(to: kubeconfig)
// The client-side rate limit (default 200 QPS, burst 400) is lifted, so the figures measure the client.
let options = ClientOptions(qps: 1e9, burst: 1_000_000)
let client = KubeClient(connection: try ClusterConnection(kubeconfig: try Kubeconfig.load(explicitPath: kubeconfig), context: nil),
                        options: options)
_ = try await client.resource(for: configMapKind)

print("KubeClient server-side apply vs kubectl \(kubectlVersion) apply --server-side: \(n) ConfigMaps per run, best of \(repeats),")
print("pool \(options.maxConnections) connections, no client rate limit, KubeSim on 127.0.0.1 over HTTPS")
print("latency  parallelism  client       applies/s")
var failed = false
for latency in [0, 5] {
    sim.setFaults(FaultSettings(latencyMs: latency))
    var oursSequential = 0.0
    for parallelism in [1, 10, 50] {
        var best = 0.0
        for rep in 0..<repeats {
            let ns = "bench-l\(latency)-p\(parallelism)-r\(rep)"
            _ = try await client.apply(namespace(ns), fieldManager: "bench")
            let objs = objects(n, namespace: ns)
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<parallelism {
                    let mine = stride(from: lane, to: n, by: parallelism).map { objs[$0] }
                    group.addTask { for o in mine { _ = try await client.apply(o, fieldManager: "bench") } }
                }
                try await group.waitForAll()
            }
            best = max(best, perSecond(n, ContinuousClock.now - start))
        }
        if parallelism == 1 { oursSequential = best }
        print(String(format: "%4d ms  %11d  %-11@  %9.1f", latency, parallelism, "KubeClient" as NSString, best))
    }
    var best = 0.0
    for rep in 0..<repeats {
        let ns = "bench-l\(latency)-kubectl-r\(rep)"
        _ = try await client.apply(namespace(ns), fieldManager: "bench")
        let file = dir.appendingPathComponent("objs-\(latency)-\(rep).yaml")
        try objects(n, namespace: ns).map(YAMLDocuments.serialize).joined(separator: "---\n").write(to: file, atomically: true, encoding: .utf8)
        let home = dir.appendingPathComponent("home-\(latency)-\(rep)").path
        let start = ContinuousClock.now
        let r = try await kubectl(["--kubeconfig", kubeconfig, "apply", "--server-side", "--field-manager", "bench", "-f", file.path], home: home)
        let elapsed = ContinuousClock.now - start
        let applied = try await client.list(configMapKind, namespace: ns).count
        if r.status != 0 || applied != n {
            print("kubectl failed (exit \(r.status), \(applied) of \(n) applied): " + String(decoding: r.output.suffix(600), as: UTF8.self))
            failed = true
        }
        best = max(best, perSecond(n, elapsed))
    }
    print(String(format: "%4d ms  %11d  %-11@  %9.1f", latency, 1, "kubectl" as NSString, best))
    print(String(format: "ratio at %d ms, parallelism 1: KubeClient/kubectl = %.1fx", latency, oursSequential / best))
}
try await client.shutdown()
try await sim.stop()
try? FileManager.default.removeItem(at: dir)
exit(failed ? 1 : 0)
