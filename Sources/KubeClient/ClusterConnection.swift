import Foundation
import KubeModel

/// How requests to a cluster prove who they are. The values are held here, never printed.
public enum Credentials: Sendable {
    case none
    /// A bearer token written in the kubeconfig.
    case token(String)
    /// A bearer token re-read from a file (projected service-account tokens rotate), at most once a minute.
    case tokenFile(String)
    /// A client certificate and key (PEM), presented during the TLS handshake.
    case clientCertificate(certificatePEM: Data, keyPEM: Data)
    case basic(username: String, password: String)
    /// An exec credential plugin, run on demand and cached until its credential expires.
    case exec(ExecCredentialPlugin)

    /// The kind of credential, for descriptions and logs.
    public var kindDescription: String {
        switch self {
        case .none: return "no credentials"
        case .token: return "token"
        case .tokenFile(let path): return "token file \(path)"
        case .clientCertificate: return "client certificate"
        case .basic: return "basic auth"
        case .exec(let p): return "exec plugin \(p.config.command)"
        }
    }
}

/// One kubeconfig context resolved into everything needed to talk to its cluster: the server URL, how to verify
/// it (CA, `insecure-skip-tls-verify`, `tls-server-name`) and how to authenticate.
///
/// Guaranteed: `description` (and `debugDescription`, used by `print` and string interpolation) names the
/// context, server and kind of credential, never a token, key or password.
public struct ClusterConnection: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public var contextName: String
    public var clusterName: String
    public var userName: String
    public var server: String
    /// PEM bytes of the CA bundle to trust instead of the system roots; nil uses the system roots.
    public var caData: Data?
    public var insecureSkipTLSVerify: Bool
    public var tlsServerName: String?
    /// The context's default namespace (`default` when unset).
    public var namespace: String
    public var credentials: Credentials
    /// The kubeconfig file that defined the context.
    public var file: String?

    /// Resolves `context` (or the current context) from `kubeconfig`, reading CA, certificate and key files.
    public init(kubeconfig: Kubeconfig, context: String?,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let fileList = kubeconfig.files.isEmpty ? nil : kubeconfig.files.joined(separator: ":")
        guard let name = context ?? kubeconfig.currentContext else {
            throw KubeError.kubeconfig(file: fileList, context: nil,
                                       message: "no context given and no current-context set (contexts: \(kubeconfig.contextNames))")
        }
        guard let ctx = kubeconfig.contexts[name] else {
            throw KubeError.kubeconfig(file: fileList, context: name,
                                       message: "context \"\(name)\" not found (available: \(kubeconfig.contextNames.joined(separator: ", ")))")
        }
        guard let cluster = kubeconfig.clusters[ctx.cluster] else {
            throw KubeError.kubeconfig(file: ctx.file, context: name, message: "cluster \"\(ctx.cluster)\" not found")
        }
        guard !cluster.server.isEmpty else {
            throw KubeError.kubeconfig(file: cluster.file, context: name, message: "cluster \"\(cluster.name)\" has no server")
        }
        func read(_ path: String, _ what: String, _ file: String?) throws -> Data {
            do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw KubeError.kubeconfig(file: file, context: name, message: "cannot read \(what) \(path): \(error.localizedDescription)")
            }
        }
        contextName = name
        clusterName = cluster.name
        userName = ctx.user
        server = cluster.server.hasSuffix("/") ? String(cluster.server.dropLast()) : cluster.server
        namespace = ctx.namespace ?? "default"
        file = ctx.file
        insecureSkipTLSVerify = cluster.insecureSkipTLSVerify
        tlsServerName = cluster.tlsServerName
        if let d = cluster.certificateAuthorityData { caData = d }
        else if let p = cluster.certificateAuthority { caData = try read(p, "certificate-authority", cluster.file) }
        else { caData = nil }
        if let conflict = Self.tlsConflict(cluster: cluster.name, insecure: insecureSkipTLSVerify, hasCA: caData != nil) {
            throw KubeError.kubeconfig(file: cluster.file, context: name, message: conflict)
        }

        // A context may name a user that is absent: kubectl then sends no credentials.
        guard let user = kubeconfig.users[ctx.user] else { credentials = .none; return }
        if let exec = user.exec {
            var info: JSON = ["server": .string(server), "insecure-skip-tls-verify": .bool(insecureSkipTLSVerify)]
            if let ca = caData { info["certificate-authority-data"] = .string(ca.base64EncodedString()) }
            if let sni = tlsServerName { info["tls-server-name"] = .string(sni) }
            credentials = .exec(ExecCredentialPlugin(config: exec, contextName: name, kubeconfigFile: user.file,
                                                     clusterInfo: info, environment: environment))
        } else if user.clientCertificate != nil || user.clientCertificateData != nil {
            let cert = try user.clientCertificateData ?? read(user.clientCertificate!, "client-certificate", user.file)
            guard let key = try user.clientKeyData ?? user.clientKey.map({ try read($0, "client-key", user.file) }) else {
                throw KubeError.kubeconfig(file: user.file, context: name, message: "user \"\(user.name)\" has a client certificate but no client key")
            }
            credentials = .clientCertificate(certificatePEM: cert, keyPEM: key)
        } else if let token = user.token, !token.isEmpty {
            credentials = .token(token)
        } else if let tokenFile = user.tokenFile {
            _ = try read(tokenFile, "tokenFile", user.file)   // fail early, naming the file
            credentials = .tokenFile(tokenFile)
        } else if let u = user.username, let p = user.password {
            credentials = .basic(username: u, password: p)
        } else {
            credentials = .none
        }
    }

    /// A connection built directly (tests, tools that already know the server).
    public init(contextName: String, server: String, caData: Data?, credentials: Credentials,
                insecureSkipTLSVerify: Bool = false, tlsServerName: String? = nil, namespace: String = "default") {
        self.contextName = contextName; self.clusterName = contextName; self.userName = contextName
        self.server = server; self.caData = caData; self.credentials = credentials
        self.insecureSkipTLSVerify = insecureSkipTLSVerify; self.tlsServerName = tlsServerName
        self.namespace = namespace; self.file = nil
    }

    /// kubectl refuses a CA together with `insecure-skip-tls-verify: true` rather than silently dropping either:
    /// client-go's `tlsConfigFor` (k8s.io/client-go/transport/transport.go) fails with exactly this text.
    public var tlsConflict: String? { Self.tlsConflict(cluster: clusterName, insecure: insecureSkipTLSVerify, hasCA: caData != nil) }

    static func tlsConflict(cluster: String, insecure: Bool, hasCA: Bool) -> String? {
        guard insecure, hasCA else { return nil }
        return "cluster \"\(cluster)\": specifying a root certificates file with the insecure flag is not allowed "
            + "(remove certificate-authority/certificate-authority-data, or insecure-skip-tls-verify)"
    }

    public var description: String {
        "ClusterConnection(context: \(contextName), server: \(server), auth: \(credentials.kindDescription)"
            + "\(insecureSkipTLSVerify ? ", TLS verification OFF" : caData != nil ? ", custom CA" : ""))"
    }
    public var debugDescription: String { description }
}

extension Credentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { kindDescription }
    public var debugDescription: String { kindDescription }
    /// `dump` and mirrors see the kind only, never the secret.
    public var customMirror: Mirror { Mirror(self, children: ["kind": kindDescription]) }
}

extension ClusterConnection: CustomReflectable {
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
