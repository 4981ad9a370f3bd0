import Foundation
import KubeModel

/// A credential obtained from an exec plugin (`client.authentication.k8s.io/v1` or `v1beta1`).
public struct ExecCredential: Sendable {
    public var token: String?
    public var clientCertificateData: Data?
    public var clientKeyData: Data?
    /// When the credential stops being valid; nil means "until the server refuses it".
    public var expiration: Date?

    func isFresh(at now: Date) -> Bool {
        guard let expiration else { return true }
        return now.addingTimeInterval(10) < expiration   // renew a little early, as client-go does
    }
}

/// Runs a kubeconfig exec credential plugin the way kubectl does: the command (looked up in `PATH` unless it
/// names a path) with its args, the current environment plus the configured `env`, and
/// `KUBERNETES_EXEC_INFO` describing a non-interactive request. The plugin must print an `ExecCredential`.
///
/// Guaranteed: the plugin's standard output (which holds the secret) never appears in an error; errors name the
/// context, the kubeconfig file and the command, and repeat the `installHint` when the command is missing.
public struct ExecCredentialPlugin: Sendable {
    public var config: Kubeconfig.ExecConfig
    public var contextName: String
    public var kubeconfigFile: String?
    /// Server and CA passed to the plugin when `provideClusterInfo` is set.
    public var clusterInfo: JSON?
    public var environment: [String: String]
    /// A plugin still running after this long is stopped (e.g. one waiting for a browser login that never comes).
    public var timeout: Duration

    public init(config: Kubeconfig.ExecConfig, contextName: String, kubeconfigFile: String?, clusterInfo: JSON? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment, timeout: Duration = .seconds(120)) {
        self.config = config; self.contextName = contextName; self.kubeconfigFile = kubeconfigFile
        self.clusterInfo = clusterInfo; self.environment = environment; self.timeout = timeout
    }

    private func failure(_ message: String) -> KubeError {
        .execPlugin(context: contextName, file: kubeconfigFile, command: config.command, message: message)
    }

    /// The executable the command names, or nil.
    func executablePath() -> String? {
        if config.command.contains("/") {
            return FileManager.default.isExecutableFile(atPath: config.command) ? config.command : nil
        }
        for dir in (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(config.command)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs the plugin once and parses its answer.
    public func run() async throws -> ExecCredential {
        let supported = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]
        guard supported.contains(config.apiVersion) else {
            throw failure("unsupported exec apiVersion \(config.apiVersion) (supported: \(supported.joined(separator: ", ")))")
        }
        guard !config.command.isEmpty else { throw failure("the exec entry has no command") }
        guard let path = executablePath() else {
            var message = "executable \"\(config.command)\" not found"
            if let hint = config.installHint, !hint.isEmpty { message += "\n\n" + hint }
            throw failure(message)
        }
        var spec: JSON = ["interactive": false]
        if config.provideClusterInfo, let clusterInfo { spec["cluster"] = clusterInfo }
        let info: JSON = ["apiVersion": .string(config.apiVersion), "kind": "ExecCredential", "spec": spec]
        var env = environment
        for (name, value) in config.env { env[name] = value }
        env["KUBERNETES_EXEC_INFO"] = info.jsonString

        let (status, out, err, timedOut) = try await Self.runProcess(path: path, args: config.args, environment: env, timeout: timeout)
        if timedOut { throw failure("did not finish within \(timeout); it was stopped") }
        guard status == 0 else {
            let tail = String(decoding: err.suffix(800), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw failure("exited with status \(status)\(tail.isEmpty ? "" : ": \(tail)")")
        }
        let answer: JSON
        do { answer = try JSON.parse(out) } catch {
            throw failure("did not print an ExecCredential as JSON (\(out.count) bytes of output)")
        }
        guard answer.kind == "ExecCredential" else { throw failure("printed kind \(answer.kind ?? "none"), expected ExecCredential") }
        guard answer.apiVersion == config.apiVersion else {
            throw failure("printed apiVersion \(answer.apiVersion ?? "none"), but the kubeconfig asked for \(config.apiVersion)")
        }
        let status_ = answer["status"] ?? .null
        var cred = ExecCredential()
        cred.token = status_["token"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        cred.clientCertificateData = status_["clientCertificateData"]?.string.map { Data($0.utf8) }
        cred.clientKeyData = status_["clientKeyData"]?.string.map { Data($0.utf8) }
        if let ts = status_["expirationTimestamp"]?.string {
            guard let date = Self.parseTimestamp(ts) else { throw failure("expirationTimestamp \"\(ts)\" is not RFC 3339") }
            cred.expiration = date
        }
        if cred.token == nil && (cred.clientCertificateData == nil || cred.clientKeyData == nil) {
            throw failure("the ExecCredential has neither status.token nor status.clientCertificateData with clientKeyData")
        }
        if (cred.clientCertificateData == nil) != (cred.clientKeyData == nil) {
            throw failure("the ExecCredential has only one of clientCertificateData and clientKeyData")
        }
        return cred
    }

    static func parseTimestamp(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: s)
    }

    /// Runs a process to completion without blocking a Swift concurrency thread; stdout and stderr are read
    /// concurrently so a chatty plugin cannot deadlock on a full pipe.
    static func runProcess(path: String, args: [String], environment: [String: String],
                           timeout: Duration) async throws -> (Int32, Data, Data, Bool) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                // "Text file busy" (ETXTBSY) is transient: a just-written plugin whose file descriptor another
                // process's fork briefly inherited. Try a few times, with a new Process each time, before giving up.
                var (process, stdoutPipe, stderrPipe) = (Process(), Pipe(), Pipe())
                for attempt in 0..<5 {
                    (process, stdoutPipe, stderrPipe) = (Process(), Pipe(), Pipe())
                    process.executableURL = URL(fileURLWithPath: path)
                    process.arguments = args
                    process.environment = environment
                    process.standardOutput = stdoutPipe; process.standardError = stderrPipe
                    process.standardInput = FileHandle.nullDevice
                    do { try process.run(); break } catch {
                        let busy = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError)?.code == Int(ETXTBSY)
                        guard busy, attempt < 4 else { continuation.resume(throwing: error); return }
                        Thread.sleep(forTimeInterval: 0.05 * Double(attempt + 1))
                    }
                }
                let (p, outPipe, errPipe) = (process, stdoutPipe, stderrPipe)
                let err = StderrBox()
                let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
                let pid = p.processIdentifier
                DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
                    err.lock.lock(); defer { err.lock.unlock() }
                    if !err.exited { err.timedOut = true; kill(pid, SIGKILL) }
                }
                let group = DispatchGroup()
                group.enter()
                DispatchQueue.global().async {
                    err.data = errPipe.fileHandleForReading.readDataToEndOfFile(); group.leave()
                }
                let out = outPipe.fileHandleForReading.readDataToEndOfFile()
                group.wait()   // the group orders the write to err.data before this read
                p.waitUntilExit()
                err.lock.lock(); err.exited = true; let timedOut = err.timedOut; err.lock.unlock()
                continuation.resume(returning: (p.terminationStatus, out, err.data, timedOut))
            }
        }
    }
}

/// Holds stderr read on another thread; the DispatchGroup wait orders the access.
private final class StderrBox: @unchecked Sendable {
    var data = Data()
    /// Guarded by `lock`: whether the process was killed for its timeout, and whether it has exited
    /// (after which its pid may be reused and must not be signalled).
    let lock = NSLock()
    var timedOut = false
    var exited = false
}

/// Caches one plugin's credential until its `expirationTimestamp`, and makes concurrent callers share a
/// single plugin run (fifty parallel requests start the plugin once).
actor ExecCredentialCache {
    private let plugin: ExecCredentialPlugin
    private var cached: ExecCredential?
    private var inFlight: Task<ExecCredential, Error>?
    /// How many times the plugin actually ran (for tests and diagnostics).
    private(set) var runs = 0

    init(plugin: ExecCredentialPlugin) { self.plugin = plugin }

    func credential() async throws -> ExecCredential {
        if let cached, cached.isFresh(at: Date()) { return cached }
        if let inFlight { return try await inFlight.value }
        let plugin = self.plugin
        let task = Task { try await plugin.run() }
        inFlight = task
        runs += 1
        defer { inFlight = nil }
        let cred = try await task.value
        cached = cred
        return cred
    }

    /// Forgets the credential (after the server answered 401), so the next call runs the plugin again.
    func invalidate() { cached = nil }
}
