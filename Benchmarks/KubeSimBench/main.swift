// kubesim-bench: small GETs and server-side applies per second against one in-process KubeSim over
// HTTPS on 127.0.0.1 (client and server share the machine, as in the engine's benchmarks).
//
//   swift run -c release kubesim-bench [--objects N] [--gets N] [--concurrency C] [--latency-ms L]
import AsyncHTTPClient
import Foundation
import KubeSim
import NIOCore
import NIOHTTP1
import NIOHTTP1
import NIOSSL

func option(_ name: String, _ fallback: Int) -> Int {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) { return v }
    return fallback
}

let objects = option("--objects", 2000)
let gets = option("--gets", 20000)
let concurrency = option("--concurrency", 16)
let latency = option("--latency-ms", 0)

let sim = try await KubeSim.start(KubeSimOptions(name: "bench", faults: FaultSettings(latencyMs: latency)))
var tls = TLSConfiguration.makeClientConfiguration()
tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(sim.caPEM.utf8), format: .pem)])
var config = HTTPClient.Configuration(tlsConfiguration: tls)
config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)

/// Sends one request; returns its status code.
func call(_ method: HTTPMethod, _ path: String, body: String? = nil, contentType: String = "application/json") async throws -> UInt {
    var req = HTTPClientRequest(url: sim.url + path)
    req.method = method
    req.headers.add(name: "Authorization", value: "Bearer \(sim.token)")
    req.headers.add(name: "Accept", value: "application/json")
    if let body { req.headers.add(name: "Content-Type", value: contentType); req.body = .bytes(ByteBuffer(string: body)) }
    let resp = try await client.execute(req, timeout: .seconds(30))
    _ = try await resp.body.collect(upTo: 1 << 24)
    return resp.status.code
}

/// Runs `count` requests with `concurrency` workers; returns (requests per second, failures, p50 ms, p99 ms).
func measure(_ count: Int, _ request: @escaping @Sendable (Int) async throws -> UInt, ok: Set<UInt>) async -> (Double, Int, Double, Double) {
    let start = ContinuousClock.now
    let results = await withTaskGroup(of: [(Bool, Double)].self) { group in
        for w in 0..<concurrency {
            group.addTask {
                var out: [(Bool, Double)] = []
                var i = w
                while i < count {
                    let t0 = ContinuousClock.now
                    let code = (try? await request(i)) ?? 0
                    let d = ContinuousClock.now - t0
                    out.append((ok.contains(code), Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000))
                    i += concurrency
                }
                return out
            }
        }
        var all: [(Bool, Double)] = []
        for await part in group { all += part }
        return all
    }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let lat = results.map(\.1).sorted()
    return (Double(count) / seconds, results.filter { !$0.0 }.count, lat[lat.count / 2], lat[min(lat.count - 1, lat.count * 99 / 100)])
}

func report(_ label: String, _ r: (Double, Int, Double, Double)) {
    print(label.padding(toLength: 32, withPad: " ", startingAt: 0)
          + String(format: "%9.0f req/s   p50 %6.2f ms   p99 %6.2f ms   failures %d", r.0, r.2, r.3, r.1))
}

print("kubesim-bench: \(objects) ConfigMaps, \(gets) GETs, concurrency \(concurrency), injected latency \(latency) ms, \(ProcessInfo.processInfo.activeProcessorCount) cores")
func cm(_ i: Int, _ v: String) -> String {
    #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-\#(i)","labels":{"app":"bench"}},"data":{"key":"\#(v)","other":"static"}}"#
}
_ = try await call(.GET, "/api/v1/namespaces/default/configmaps?limit=1")   // warm the connection pool
report("server-side apply (create)", await measure(objects, { i in
    try await call(.PATCH, "/api/v1/namespaces/default/configmaps/cm-\(i)?fieldManager=bench", body: cm(i, "a"), contentType: "application/apply-patch+yaml")
}, ok: [201]))
report("server-side apply (no change)", await measure(objects, { i in
    try await call(.PATCH, "/api/v1/namespaces/default/configmaps/cm-\(i)?fieldManager=bench", body: cm(i, "a"), contentType: "application/apply-patch+yaml")
}, ok: [200]))
report("server-side apply (update)", await measure(objects, { i in
    try await call(.PATCH, "/api/v1/namespaces/default/configmaps/cm-\(i)?fieldManager=bench", body: cm(i, "b"), contentType: "application/apply-patch+yaml")
}, ok: [200]))
report("GET one object", await measure(gets, { i in
    try await call(.GET, "/api/v1/namespaces/default/configmaps/cm-\((i &* 7919) % objects)")
}, ok: [200]))
report("LIST 100 by label (paged)", await measure(max(1, gets / 20), { _ in
    try await call(.GET, "/api/v1/namespaces/default/configmaps?labelSelector=app%3Dbench&limit=100")
}, ok: [200]))

try await client.shutdown().get()   // the EventLoopFuture form: in Swift 6 mode top-level code resolves to it
try await sim.stop()
