import Foundation
import KubeModel

/// The user's kubeconfig, read exactly as kubectl reads it.
///
/// - `explicitPath` (kubectl's `--kubeconfig`) wins and must exist.
/// - Otherwise `KUBECONFIG` is a `:`-separated list of files, merged: for clusters, users and contexts the
///   first file that defines a name wins; `current-context` comes from the first file that sets it.
///   Files in the list that do not exist are skipped (as kubectl does); files that exist but cannot be read
///   or parsed are errors naming the file.
/// - Otherwise `$HOME/.kube/config`; a missing default file gives an empty kubeconfig.
/// - Relative file references (`certificate-authority`, `client-certificate`, `client-key`, `tokenFile`,
///   an exec `command` containing a `/`) are resolved against the directory of the file that defined them.
public struct Kubeconfig: Sendable {
    public struct Cluster: Sendable, Hashable {
        public var name: String
        public var server: String
        public var certificateAuthority: String?
        public var certificateAuthorityData: Data?
        public var insecureSkipTLSVerify: Bool
        public var tlsServerName: String?
        /// The file that defined this entry.
        public var file: String?
    }

    public struct User: Sendable, Hashable {
        public var name: String
        public var token: String?
        public var tokenFile: String?
        public var clientCertificate: String?
        public var clientCertificateData: Data?
        public var clientKey: String?
        public var clientKeyData: Data?
        public var username: String?
        public var password: String?
        public var exec: ExecConfig?
        public var file: String?
    }

    public struct Context: Sendable, Hashable {
        public var name: String
        public var cluster: String
        public var user: String
        public var namespace: String?
        public var file: String?
    }

    /// An exec credential plugin entry (`users[].user.exec`).
    public struct ExecConfig: Sendable, Hashable {
        public var apiVersion: String
        public var command: String
        public var args: [String]
        public var env: [(name: String, value: String)]
        public var installHint: String?
        public var provideClusterInfo: Bool

        public static func == (a: ExecConfig, b: ExecConfig) -> Bool {
            a.apiVersion == b.apiVersion && a.command == b.command && a.args == b.args && a.installHint == b.installHint
                && a.provideClusterInfo == b.provideClusterInfo
                && a.env.map { [$0.name, $0.value] } == b.env.map { [$0.name, $0.value] }
        }
        public func hash(into h: inout Hasher) { h.combine(command); h.combine(args); h.combine(apiVersion) }
    }

    public var clusters: [String: Cluster] = [:]
    public var users: [String: User] = [:]
    public var contexts: [String: Context] = [:]
    public var currentContext: String?
    /// The files read, in merge order.
    public var files: [String] = []

    /// Context names, sorted.
    public var contextNames: [String] { contexts.keys.sorted() }

    public init() {}

    /// Loads the kubeconfig the way kubectl does (see the type's documentation). To load for many clusters, use one
    /// `KubeconfigLoader`, which parses each file once.
    public static func load(explicitPath: String? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Kubeconfig {
        var loader = KubeconfigLoader()
        return try loader.load(explicitPath: explicitPath, environment: environment)
    }

    /// The files kubectl reads, in merge order: the explicit path (which must exist), else `KUBECONFIG`'s existing
    /// files (duplicates dropped), else `$HOME/.kube/config` if it exists.
    static func files(explicitPath: String?, environment: [String: String]) throws -> [String] {
        if let explicitPath {
            guard FileManager.default.fileExists(atPath: explicitPath) else {
                throw KubeError.kubeconfig(file: explicitPath, context: nil, message: "file does not exist")
            }
            return [explicitPath]
        }
        if let list = environment["KUBECONFIG"], !list.isEmpty {
            var seen = Set<String>()
            let paths = list.split(separator: ":").map(String.init).filter { !$0.isEmpty && seen.insert($0).inserted }
            return paths.filter { FileManager.default.fileExists(atPath: $0) }
        }
        let path = (environment["HOME"] ?? NSHomeDirectory()) + "/.kube/config"
        return FileManager.default.fileExists(atPath: path) ? [path] : []
    }

    /// Reads one kubeconfig file's text; an unreadable file is an error naming it.
    public static func readFile(_ path: String) throws -> String {
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw KubeError.kubeconfig(file: path, context: nil, message: "cannot read file: \(error.localizedDescription)")
        }
    }

    /// Parses one kubeconfig document; `file` is used to resolve relative paths and to name errors.
    public static func parse(_ text: String, file: String? = nil) throws -> Kubeconfig {
        let doc: JSON
        do { doc = try YAMLDocuments.parseOne(text) } catch {
            throw KubeError.kubeconfig(file: file, context: nil, message: "not valid YAML: \(error)")
        }
        var config = Kubeconfig()
        if let file { config.files = [file] }
        if doc.isNull { return config }
        guard doc.object != nil else {
            throw KubeError.kubeconfig(file: file, context: nil, message: "expected a mapping at the top level")
        }
        let base = file.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
        func resolve(_ p: String?) -> String? {
            guard let p, !p.isEmpty else { return nil }
            if p.hasPrefix("/") || base == nil { return p }
            if p.hasPrefix("~/") { return NSHomeDirectory() + String(p.dropFirst()) }
            return URL(fileURLWithPath: p, relativeTo: URL(fileURLWithPath: base! + "/")).standardizedFileURL.path
        }
        func data(_ v: JSON?, _ field: String, _ owner: String) throws -> Data? {
            guard let s = v?.string, !s.isEmpty else { return nil }
            guard let d = Data(base64Encoded: s.filter { !$0.isWhitespace }) else {
                throw KubeError.kubeconfig(file: file, context: nil, message: "\(owner): \(field) is not valid base64")
            }
            return d
        }
        for entry in doc["clusters"]?.array ?? [] {
            guard let name = entry["name"]?.string, let c = entry["cluster"] else { continue }
            if config.clusters[name] != nil { continue }
            config.clusters[name] = Cluster(
                name: name, server: c["server"]?.string ?? "",
                certificateAuthority: resolve(c["certificate-authority"]?.string),
                certificateAuthorityData: try data(c["certificate-authority-data"], "certificate-authority-data", "cluster \"\(name)\""),
                insecureSkipTLSVerify: c["insecure-skip-tls-verify"]?.bool ?? false,
                tlsServerName: c["tls-server-name"]?.string, file: file)
        }
        for entry in doc["users"]?.array ?? [] {
            guard let name = entry["name"]?.string else { continue }
            if config.users[name] != nil { continue }
            let u = entry["user"] ?? .object([:])
            var exec: ExecConfig?
            if let e = u["exec"], e.object != nil {
                var command = e["command"]?.string ?? ""
                if command.contains("/") { command = resolve(command) ?? command }
                exec = ExecConfig(
                    apiVersion: e["apiVersion"]?.string ?? "client.authentication.k8s.io/v1beta1",
                    command: command,
                    args: (e["args"]?.array ?? []).compactMap(\.string),
                    env: (e["env"]?.array ?? []).compactMap { v in
                        guard let n = v["name"]?.string else { return nil }
                        return (n, v["value"]?.string ?? "")
                    },
                    installHint: e["installHint"]?.string,
                    provideClusterInfo: e["provideClusterInfo"]?.bool ?? false)
            }
            config.users[name] = User(
                name: name, token: u["token"]?.string, tokenFile: resolve(u["tokenFile"]?.string),
                clientCertificate: resolve(u["client-certificate"]?.string),
                clientCertificateData: try data(u["client-certificate-data"], "client-certificate-data", "user \"\(name)\""),
                clientKey: resolve(u["client-key"]?.string),
                clientKeyData: try data(u["client-key-data"], "client-key-data", "user \"\(name)\""),
                username: u["username"]?.string, password: u["password"]?.string, exec: exec, file: file)
        }
        for entry in doc["contexts"]?.array ?? [] {
            guard let name = entry["name"]?.string, let c = entry["context"] else { continue }
            if config.contexts[name] != nil { continue }
            config.contexts[name] = Context(name: name, cluster: c["cluster"]?.string ?? "", user: c["user"]?.string ?? "",
                                            namespace: c["namespace"]?.string, file: file)
        }
        if let cc = doc["current-context"]?.string, !cc.isEmpty { config.currentContext = cc }
        return config
    }

    /// Reads and merges files in order (kubectl's rules: first definition of a name wins).
    public static func merge(paths: [String]) throws -> Kubeconfig {
        var loader = KubeconfigLoader()
        return try loader.merge(paths: paths)
    }

    /// Merges `later` under `self`: names already present are kept, `current-context` is kept if set.
    public mutating func merge(_ later: Kubeconfig) {
        clusters.merge(later.clusters) { first, _ in first }
        users.merge(later.users) { first, _ in first }
        contexts.merge(later.contexts) { first, _ in first }
        if currentContext == nil { currentContext = later.currentContext }
        files += later.files
    }
}

/// Loads kubeconfigs for many clusters in one run, reading and parsing each file once (issue 17): every cluster
/// of a mesh loads its kubeconfig, and with `KUBECONFIG` listing one file per cluster, loading each from scratch
/// parsed N files N times (a quarter of plan's CPU at 100 clusters). Results are the same as `Kubeconfig.load`'s.
///
/// A value type for one run (a session resolving its clusters), not a process-wide cache: a file changed between
/// two runs is read again.
public struct KubeconfigLoader: Sendable {
    /// Reads a file's text (`Kubeconfig.readFile`; tests count the reads through their own).
    let readFile: @Sendable (String) throws -> String
    private var parsed: [String: Kubeconfig] = [:]
    /// Whole loads by what decides them: a fleet's clusters all load from the same `KUBECONFIG`, a list of a thousand
    /// files, which is then split and each file looked for once, not once per cluster.
    private var loaded: [LoadKey: Kubeconfig] = [:]
    struct LoadKey: Hashable { var explicitPath: String?; var kubeconfig: String?; var home: String? }

    public init(readFile: @escaping @Sendable (String) throws -> String = { try Kubeconfig.readFile($0) }) {
        self.readFile = readFile
    }

    /// `Kubeconfig.load`, with every file parsed at most once per loader.
    public mutating func load(explicitPath: String? = nil,
                              environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Kubeconfig {
        let key = LoadKey(explicitPath: explicitPath, kubeconfig: environment["KUBECONFIG"], home: environment["HOME"])
        if let done = loaded[key] { return done }
        let config = try merge(paths: try Kubeconfig.files(explicitPath: explicitPath, environment: environment))
        loaded[key] = config
        return config
    }

    /// `Kubeconfig.merge(paths:)`, from files already parsed where possible (a repeated load is `loaded`'s).
    public mutating func merge(paths: [String]) throws -> Kubeconfig {
        var result = Kubeconfig()
        for path in paths { result.merge(try file(path)) }
        return result
    }

    private mutating func file(_ path: String) throws -> Kubeconfig {
        if let done = parsed[path] { return done }
        let config = try Kubeconfig.parse(try readFile(path), file: path)
        parsed[path] = config
        return config
    }
}

extension Kubeconfig: CustomStringConvertible {
    /// Names and files only: never tokens, keys or passwords.
    public var description: String {
        "Kubeconfig(files: \(files), current-context: \(currentContext ?? "none"), contexts: \(contextNames))"
    }
}

extension Kubeconfig.User: CustomStringConvertible, CustomDebugStringConvertible {
    /// Says which kind of credential the user has, never its value.
    public var description: String {
        var kinds: [String] = []
        if token != nil { kinds.append("token") }
        if let tokenFile { kinds.append("tokenFile \(tokenFile)") }
        if clientCertificate != nil || clientCertificateData != nil { kinds.append("client certificate") }
        if username != nil { kinds.append("basic auth") }
        if let exec { kinds.append("exec \(exec.command)") }
        return "User(\(name): \(kinds.isEmpty ? "no credentials" : kinds.joined(separator: ", ")))"
    }
    public var debugDescription: String { description }
}
