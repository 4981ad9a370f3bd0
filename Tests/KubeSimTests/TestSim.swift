import Foundation
import KubeClient
import KubeModel
@testable import KubeSim

/// An in-process KubeSim for one test, a private temp directory (kubeconfig, CA file), and two real
/// clients: `curl` for raw HTTP (every status code and header visible) and `kubectl`.
struct TestSim {
    let sim: KubeSim
    let dir: String

    static func start(_ name: String = "test", dataDir: String? = nil, delay: Duration = .milliseconds(20)) async throws -> TestSim {
        try await start(options: KubeSimOptions(name: name, dataDir: dataDir, controllerDelay: delay))
    }

    /// A TestSim started with the given options.
    static func start(options: KubeSimOptions) async throws -> TestSim {
        let sim = try await KubeSim.start(options)
        let dir = NSTemporaryDirectory() + "kubesim-test-\(UUID().uuidString)"
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try sim.writeKubeconfig(to: dir + "/kubeconfig")
            try Data(sim.caPEM.utf8).write(to: URL(fileURLWithPath: dir + "/ca.crt"))
        } catch {
            try? await sim.stop()
            throw error
        }
        return TestSim(sim: sim, dir: dir)
    }

    func stop() async throws {
        try await sim.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Runs `body` with a new sim and stops it afterwards, whether `body` returns or throws: cleanup the test awaits,
    /// not a task left running after it.
    static func with<T>(_ name: String = "test", dataDir: String? = nil, delay: Duration = .milliseconds(20),
                        _ body: (TestSim) async throws -> T) async throws -> T {
        try await with(options: KubeSimOptions(name: name, dataDir: dataDir, controllerDelay: delay), body)
    }

    static func with<T>(options: KubeSimOptions, _ body: (TestSim) async throws -> T) async throws -> T {
        let t = try await start(options: options)
        let result: T
        do { result = try await body(t) } catch { try? await t.stop(); throw error }
        try await t.stop()
        return result
    }

    struct HTTPAnswer {
        var code: Int
        var body: JSON
        var headers: [String: String]
        var curlExit: Int32
    }

    /// One request with curl, trusting only the sim's CA. `token: nil` sends no Authorization header; `accept` sets the Accept
    /// header (curl sends `*/*` without it).
    func http(_ method: String, _ path: String, body: JSON? = nil, contentType: String = "application/json",
              token: String? = "", rawBody: String? = nil, accept: String? = nil) async throws -> HTTPAnswer {
        let id = UUID().uuidString
        let bodyFile = dir + "/body-" + id, headerFile = dir + "/headers-" + id
        defer { try? FileManager.default.removeItem(atPath: bodyFile); try? FileManager.default.removeItem(atPath: headerFile) }
        var args = ["-sS", "--max-time", "20", "--cacert", dir + "/ca.crt", "-X", method, "-D", headerFile, "-o", bodyFile, "-w", "%{http_code}"]
        let t = token == "" ? sim.token : token
        if let t { args += ["-H", "Authorization: Bearer \(t)"] }
        if let accept { args += ["-H", "Accept: \(accept)"] }
        var input: Data?
        if let body { input = body.encoded() } else if let rawBody { input = Data(rawBody.utf8) }
        if input != nil { args += ["-H", "Content-Type: \(contentType)", "--data-binary", "@-"] }
        args.append(sim.url + path)
        let (out, _, status) = try await run("/usr/bin/curl", args, stdin: input)
        let text = (try? String(contentsOfFile: bodyFile, encoding: .utf8)) ?? ""
        var headers: [String: String] = [:]
        for line in ((try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? "").split(separator: "\r\n") {
            if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return HTTPAnswer(code: Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0,
                          body: (try? JSON(data: Data(text.utf8))) ?? .string(text), headers: headers, curlExit: status)
    }

    /// Runs kubectl with this sim's kubeconfig; returns (stdout, stderr, exit status).
    func kubectl(_ args: String...) async throws -> (out: String, err: String, status: Int32) {
        try await kubectl(args)
    }

    func kubectl(_ args: [String]) async throws -> (out: String, err: String, status: Int32) {
        try await run(Self.kubectlPath!, ["--kubeconfig", dir + "/kubeconfig"] + args, stdin: nil)
    }

    static let kubectlPath: String? = ["/usr/bin/kubectl", "/usr/local/bin/kubectl", "/bin/kubectl"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// Runs a program through KubeClient's `ChildProcess` (no thread blocks while it runs, so the in-process server
    /// keeps serving); returns (stdout, stderr, exit status).
    func run(_ exe: String, _ args: [String], stdin: Data?) async throws -> (String, String, Int32) {
        try await Self.run(exe, args, stdin: stdin)
    }

    static func run(_ exe: String, _ args: [String], stdin: Data? = nil) async throws -> (String, String, Int32) {
        let r = try await ChildProcess.run(exe, args, input: stdin.map { Array($0) })
        return (r.stdoutText, r.stderrText, r.status)
    }

    /// Polls until `check` holds (controllers act after a delay), for at most `seconds`.
    func eventually(_ seconds: Double = 5, _ check: () async throws -> Bool) async throws -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if try await check() { return true }
            try await Task.sleep(for: .milliseconds(25))
        }
        return try await check()
    }
}

/// The package root, from this file's path, and the shared fixtures beside it.
enum Fixtures {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let istio = packageRoot.appendingPathComponent("../shared/fixtures/istio").standardized.path
    static var present: Bool { FileManager.default.fileExists(atPath: istio + "/istioctl-output/all-on.yaml") }
}
