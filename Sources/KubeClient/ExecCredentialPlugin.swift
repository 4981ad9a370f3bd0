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
        ChildProcess.locate(config.command, environment: environment)
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

        let r: ChildProcess.Result
        do { r = try await ChildProcess.run(path, config.args, environment: env, timeout: timeout) } catch is ChildProcess.TimedOut {
            throw failure("did not finish within \(timeout); it was stopped")
        } catch {
            throw failure("could not be run: \(error)")
        }
        guard r.status == 0 else {
            let tail = String(decoding: r.stderr.suffix(800), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw failure("exited with status \(r.status)\(tail.isEmpty ? "" : ": \(tail)")")
        }
        let answer: JSON
        do { answer = try JSON.parse(Data(r.stdout)) } catch {
            throw failure("did not print an ExecCredential as JSON (\(r.stdout.count) bytes of output)")
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
