import Foundation
import KubeModel
@testable import KubeSim

/// An in-process KubeSim for one test, a private temp directory (kubeconfig, CA file), and two real
/// clients: `curl` for raw HTTP (every status code and header visible) and `kubectl`.
struct TestSim {
    let sim: KubeSim
    let dir: String

    static func start(_ name: String = "test", dataDir: String? = nil, delay: Duration = .milliseconds(20)) async throws -> TestSim {
        let sim = try await KubeSim.start(KubeSimOptions(name: name, dataDir: dataDir, controllerDelay: delay))
        let dir = NSTemporaryDirectory() + "kubesim-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try sim.writeKubeconfig(to: dir + "/kubeconfig")
        try Data(sim.caPEM.utf8).write(to: URL(fileURLWithPath: dir + "/ca.crt"))
        return TestSim(sim: sim, dir: dir)
    }

    func stop() async throws {
        try await sim.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    struct HTTPAnswer {
        var code: Int
        var body: JSON
        var headers: [String: String]
        var curlExit: Int32
    }

    /// One request with curl, trusting only the sim's CA. `token: nil` sends no Authorization header.
    func http(_ method: String, _ path: String, body: JSON? = nil, contentType: String = "application/json",
              token: String? = "", rawBody: String? = nil) async throws -> HTTPAnswer {
        let id = UUID().uuidString
        let bodyFile = dir + "/body-" + id, headerFile = dir + "/headers-" + id
        defer { try? FileManager.default.removeItem(atPath: bodyFile); try? FileManager.default.removeItem(atPath: headerFile) }
        var args = ["-sS", "--max-time", "20", "--cacert", dir + "/ca.crt", "-X", method, "-D", headerFile, "-o", bodyFile, "-w", "%{http_code}"]
        let t = token == "" ? sim.token : token
        if let t { args += ["-H", "Authorization: Bearer \(t)"] }
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

    /// Runs a process on its own thread: blocking a Swift concurrency thread here would starve the
    /// in-process server (the pool has one thread per core).
    func run(_ exe: String, _ args: [String], stdin: Data?) async throws -> (String, String, Int32) {
        try await withCheckedThrowingContinuation { cont in
            Thread.detachNewThread {
                do { cont.resume(returning: try Self.runBlocking(exe, args, stdin: stdin)) } catch { cont.resume(throwing: error) }
            }
        }
    }

    static func runBlocking(_ exe: String, _ args: [String], stdin: Data?) throws -> (String, String, Int32) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out; p.standardError = err; p.standardInput = inp
        try p.run()
        if let stdin { inp.fileHandleForWriting.write(stdin) }
        try inp.fileHandleForWriting.close()
        var e = Data()
        let errReader = Thread { e = err.fileHandleForReading.readDataToEndOfFile() }
        errReader.start()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        while !errReader.isFinished { usleep(1000) }
        p.waitUntilExit()
        return (String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self), p.terminationStatus)
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
