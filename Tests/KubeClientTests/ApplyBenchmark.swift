import Foundation
import Testing
@testable import KubeClient
import KubeModel
import KubeSim

/// Server-side applies per second against KubeSim, at 0 ms and 5 ms injected latency and parallelism 1, 10
/// and 50, next to the real `kubectl apply --server-side` on the same objects in the same run.
///
/// Opt-in (it takes a while): `KUBECLIENT_BENCH=1 swift test --filter ApplyBenchmark`. `KUBECLIENT_BENCH_N`
/// sets the number of objects per run (default 300), `KUBECLIENT_BENCH_REPEAT` the repeats (default 3): each
/// figure is the best of the repeats, because on a shared machine other load only ever slows a run down.
@Suite struct ApplyBenchmark {
    static let enabled = ProcessInfo.processInfo.environment["KUBECLIENT_BENCH"] == "1"

    /// The objects every run applies: ConfigMaps of realistic size (Istio mesh config is of this order).
    static func objects(_ n: Int, namespace: String) -> [JSON] {
        (0..<n).map { i in
            configMap("obj-\(i)", namespace: namespace,
                      data: Dictionary(uniqueKeysWithValues: (0..<8).map { ("key\($0)", String(repeating: "v\(i)-", count: 16)) }),
                      labels: ["app.kubernetes.io/managed-by": "bench", "index": "\(i)"])
        }
    }

    func rate(_ n: Int, _ elapsed: Duration) -> Double {
        Double(n) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    @Test(.enabled(if: ApplyBenchmark.enabled)) func applyThroughputAgainstKubectl() async throws {
        let n = Int(ProcessInfo.processInfo.environment["KUBECLIENT_BENCH_N"] ?? "") ?? 300
        let repeats = Int(ProcessInfo.processInfo.environment["KUBECLIENT_BENCH_REPEAT"] ?? "") ?? 3
        let cluster = try await SimCluster.start("bench")
        let kubeconfig = try cluster.kubeconfigFile()
        // KUBECLIENT_BENCH_CONNS caps the connection pool (default: ClientOptions' default).
        // The client-side rate limit (default 200 QPS, burst 400) is lifted so the figures measure the client;
        // KUBECLIENT_BENCH_QPS puts a limit back.
        var options = ClientOptions(qps: 1e9, burst: 1_000_000)
        if let qps = Double(ProcessInfo.processInfo.environment["KUBECLIENT_BENCH_QPS"] ?? "") { options.qps = qps; options.burst = Int(qps * 2) }
        if let conns = Int(ProcessInfo.processInfo.environment["KUBECLIENT_BENCH_CONNS"] ?? "") { options.maxConnections = conns }
        let client = try cluster.client(options: options)
        var lines = ["KubeClient server-side apply throughput vs kubectl \(kubectlVersion()), \(n) ConfigMaps per run, best of \(repeats), pool \(options.maxConnections) connections, \(options.qps >= 1e9 ? "no client rate limit" : "rate limit \(Int(options.qps)) QPS"), KubeSim on 127.0.0.1 over HTTPS",
                     "latency  parallelism  client          applies/s"]
        var ours1: [Int: Double] = [:], kubectlRate: [Int: Double] = [:]
        for latency in [0, 5] {
            cluster.sim.setFaults(FaultSettings(latencyMs: latency))
            for parallelism in [1, 10, 50] {
              var best = 0.0
              for rep in 0..<repeats {
                let ns = "bench-l\(latency)-p\(parallelism)-r\(rep)"
                _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(ns)]], fieldManager: "bench")
                let objs = Self.objects(n, namespace: ns)
                _ = try await client.resource(for: configMapKind)
                let start = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    var next = 0
                    for _ in 0..<parallelism {
                        let mine = stride(from: next, to: n, by: parallelism).map { objs[$0] }
                        next += 1
                        group.addTask { for o in mine { _ = try await client.apply(o, fieldManager: "bench") } }
                    }
                    try await group.waitForAll()
                }
                best = max(best, rate(n, ContinuousClock.now - start))
              }
              if parallelism == 1 { ours1[latency] = best }
              lines.append(String(format: "%4d ms  %11d  %-11@  %9.1f", latency, parallelism, "KubeClient" as NSString, best))
            }
            // kubectl, same objects in a fresh namespace, one invocation (it applies sequentially).
            var best = 0.0
            for rep in 0..<repeats {
            let ns = "bench-l\(latency)-kubectl-r\(rep)"
            _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(ns)]], fieldManager: "bench")
            let file = try cluster.dir.write("objs-\(latency).yaml",
                                             Self.objects(n, namespace: ns).map(YAMLDocuments.serialize).joined(separator: "---\n"))
            let start = ContinuousClock.now
            let status = try runKubectl(["--kubeconfig", kubeconfig, "apply", "--server-side", "--field-manager", "bench", "-f", file],
                                        home: cluster.dir.path)
            let elapsed = ContinuousClock.now - start
            #expect(status == 0)
            best = max(best, rate(n, elapsed))
            let applied = try await client.list(configMapKind, namespace: ns).count
            #expect(applied == n)
            }
            kubectlRate[latency] = best
            lines.append(String(format: "%4d ms  %11d  %-11@  %9.1f", latency, 1, "kubectl" as NSString, best))
        }
        for latency in [0, 5] {
            if let a = ours1[latency], let b = kubectlRate[latency] {
                lines.append(String(format: "ratio at %d ms, parallelism 1: KubeClient/kubectl = %.1fx", latency, a / b))
            }
        }
        print(lines.joined(separator: "\n"))
        try? lines.joined(separator: "\n").write(toFile: NSTemporaryDirectory() + "kubeclient-bench.txt", atomically: true, encoding: .utf8)
        try await client.shutdown(); try await cluster.stop()
    }

    func kubectlVersion() -> String {
        (try? Self.capture(["version", "--client", "-o", "json"]))
            .flatMap { try? JSON(data: $0) }?[path: ["clientVersion", "gitVersion"]]?.string ?? "(unknown version)"
    }

    static func capture(_ args: [String]) throws -> Data {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["kubectl"] + args
        let out = Pipe(); p.standardOutput = out; p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return data
    }

    /// Runs kubectl with its discovery cache in a fresh HOME, as a first run on a new machine would.
    func runKubectl(_ args: [String], home: String) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["kubectl"] + args
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        let err = Pipe(); p.standardError = err
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        if p.terminationStatus != 0 { print("kubectl failed: " + String(decoding: e.suffix(600), as: UTF8.self)) }
        return p.terminationStatus
    }
}
