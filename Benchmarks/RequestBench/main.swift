import Foundation
import KubeClient
import KubeModel

// What one Kubernetes request costs Meshform's client in CPU: KubeClient (AsyncHTTPClient, HTTP/2 over TLS) against
// a KubeSim in its own process, so the figure is the client's alone (this process's getrusage), for GET, server-side
// apply and LIST on one connection: one request at a time (each wakes the client's threads on its own), and 50 at
// once (one wake-up serves several), as apply and plan send them. Beside it, the real
// `kubectl apply --server-side` and `kubectl get` on the same objects (their CPU from getrusage of the children,
// process start included: what a user's script pays). Apply's CPU per object cannot fall below requests per object
// times this (issue 17: apply from nothing makes about 2.3 requests per object).
//
//   swift build -c release --product kubesim && swift run -c release RequestBench [requests per batch, default 2000] [latency ms, default 5]

let n = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 2000 : 2000
let latencyMs = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 5 : 5
let configMapKind = GroupVersionKind(group: "", version: "v1", kind: "ConfigMap")
let binDir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
let kubesimPath = binDir.appendingPathComponent("kubesim").path
guard FileManager.default.isExecutableFile(atPath: kubesimPath) else {
    FileHandle.standardError.write(Data("RequestBench needs \(kubesimPath): swift build -c release --product kubesim\n".utf8))
    exit(1)
}

let dir = FileManager.default.temporaryDirectory.appendingPathComponent("requestbench-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
let kubeconfig = dir.appendingPathComponent("bench.kubeconfig").path

// KubeSim in its own process: its CPU is not this process's. Its first line says it listens (after the kubeconfig).
let server = Process()
server.executableURL = URL(fileURLWithPath: kubesimPath)
server.arguments = ["--name", "bench", "--kubeconfig", kubeconfig, "--controller-delay-ms", "10", "--latency-ms", String(latencyMs)]
let out = Pipe()
server.standardOutput = out
server.standardError = FileHandle.nullDevice
try server.run()
var banner = Data()
while !banner.contains(UInt8(ascii: "\n")) {
    let chunk = out.fileHandleForReading.availableData
    if chunk.isEmpty { FileHandle.standardError.write(Data("kubesim exited before listening\n".utf8)); exit(1) }
    banner.append(chunk)
}

/// This process's CPU so far (user + system), or its waited-for children's.
func cpuSeconds(children: Bool = false) -> Double {
    var u = rusage()
    getrusage(children ? RUSAGE_CHILDREN.rawValue : RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

/// Runs `work(i)` for i in 0..<count, `parallelism` at a time; returns this process's CPU per call, in ms.
func cpuPerCall(_ count: Int, parallelism: Int = 50, _ work: @escaping @Sendable (Int) async throws -> Void) async throws -> Double {
    let before = cpuSeconds()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for lane in 0..<parallelism {
            group.addTask { for i in stride(from: lane, to: count, by: parallelism) { try await work(i) } }
        }
        try await group.waitForAll()
    }
    return (cpuSeconds() - before) * 1000 / Double(count)
}

func configMap(_ i: Int, namespace: String) -> JSON {
    let data = Dictionary(uniqueKeysWithValues: (0..<8).map { ("key\($0)", JSON.string(String(repeating: "v\(i)-", count: 16))) })
    return ["apiVersion": "v1", "kind": "ConfigMap",
            "metadata": ["name": .string("obj-\(i)"), "namespace": .string(namespace), "labels": ["app": "bench"]],
            "data": .object(data)]
}

func kubectl(_ args: [String]) async throws -> (cpu: Double, status: Int32, output: String) {
    var env = ProcessInfo.processInfo.environment
    env["HOME"] = dir.path   // its discovery cache: filled by the first call, warm afterwards
    let before = cpuSeconds(children: true)
    let r = try await ChildProcess.run("/usr/bin/env", ["kubectl", "--kubeconfig", kubeconfig] + args, environment: env)
    return (cpuSeconds(children: true) - before, r.status, r.stdoutText)
}
let kubectlVersion = (try? JSON(data: Data(try await kubectl(["version", "--client", "-o", "json"]).output.utf8)))?[path: ["clientVersion", "gitVersion"]]?.string ?? "(version unknown)"

let client = KubeClient(connection: try ClusterConnection(kubeconfig: try Kubeconfig.load(explicitPath: kubeconfig), context: nil),
                        options: ClientOptions(qps: 1e9, burst: 1_000_000))
_ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "bench"]], fieldManager: "bench")
_ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "empty"]], fieldManager: "bench")
let objects = (0..<n).map { configMap($0, namespace: "bench") }
// Warm-up: the connection, TLS, discovery, and every object created (the timed applies are unchanged objects).
_ = try await cpuPerCall(n) { i in _ = try await client.apply(objects[i], fieldManager: "bench") }

print("CPU per request, KubeClient (HTTP/2 over TLS, one connection) against kubesim in its own process, \(latencyMs) ms latency,")
print("ConfigMaps of about 1 KB; \(n) requests per figure at parallelism 50, \(n / 5) at parallelism 1:")
print("parallelism  server-side apply  GET       LIST (empty namespace)")
for parallelism in [1, 50] {
    let count = parallelism == 1 ? n / 5 : n
    let apply = try await cpuPerCall(count, parallelism: parallelism) { i in _ = try await client.apply(objects[i], fieldManager: "bench") }
    let get = try await cpuPerCall(count, parallelism: parallelism) { i in _ = try await client.get(configMapKind, namespace: "bench", name: "obj-\(i)") }
    let list = try await cpuPerCall(count, parallelism: parallelism) { _ in _ = try await client.list(configMapKind, namespace: "empty") }
    print(String(format: "%11d  %8.3f ms        %.3f ms  %.3f ms", parallelism, apply, get, list))
}

let file = dir.appendingPathComponent("objects.yaml")
try objects.map(YAMLDocuments.serialize).joined(separator: "---\n").write(to: file, atomically: true, encoding: .utf8)
_ = try await kubectl(["get", "namespaces"])   // kubectl's discovery cache, as a user's is warm
let kApply = try await kubectl(["apply", "--server-side", "--field-manager", "bench", "-f", file.path])
let kGet = try await kubectl(["get", "-f", file.path, "-o", "name"])
print("kubectl \(kubectlVersion), one process for all \(n) objects (its start included), CPU per object:")
print(String(format: "  apply --server-side -f      %.3f ms%@", kApply.cpu * 1000 / Double(n), kApply.status == 0 ? "" : " (failed)"))
print(String(format: "  get -f                      %.3f ms%@", kGet.cpu * 1000 / Double(n), kGet.status == 0 ? "" : " (failed)"))

try await client.shutdown()
server.terminate()
try? FileManager.default.removeItem(at: dir)
exit(kApply.status == 0 && kGet.status == 0 ? 0 : 1)
