import Foundation
import Synchronization

/// A real PostgreSQL server for the tests and the benchmark: `initdb` + `pg_ctl` in a temporary directory, listening
/// on a free loopback port, password (SCRAM) authentication on TCP. One per test process (`shared`); each test
/// takes a schema of its own (`url()`), which the state store creates, so no test sees another's state.
///
/// PostgreSQL refuses to run as root; as root (these machines and CI), the server runs as `nobody` through
/// `runuser`, its directory owned by that user. Binaries: `PATH`, else Debian's `/usr/lib/postgresql/*/bin`
/// (`apt-get install postgresql`, which `.ci/run` does). The server is stopped when the process exits.
public final class PostgresTestServer: Sendable {
    public let port: Int
    public let password: String
    public let dir: String
    private let bin: String

    /// The process's server, or nil with the reason it could not start (shown by the tests that skip).
    public static let shared: Result<PostgresTestServer, PostgresTestError> = Result { try PostgresTestServer(fsync: false) }
        .mapError { $0 as? PostgresTestError ?? PostgresTestError(message: "\($0)") }

    /// The process's server, with `PGPASSWORD` set in this process's environment as a user would set it.
    public static func start() throws -> PostgresTestServer {
        let server = try shared.get()
        setenv("PGPASSWORD", server.password, 1)
        return server
    }

    /// Where the PostgreSQL binaries are, or nil.
    public static var binDirectory: String? {
        for p in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(p)/initdb") {
            return String(p)
        }
        let debian = "/usr/lib/postgresql"
        for v in ((try? FileManager.default.contentsOfDirectory(atPath: debian)) ?? []).sorted().reversed()
        where FileManager.default.isExecutableFile(atPath: "\(debian)/\(v)/bin/initdb") {
            return "\(debian)/\(v)/bin"
        }
        return nil
    }

    /// Starts a server. `fsync: false` for tests (durability is not what they check); the benchmark keeps it on.
    /// `tls`: PEM files of a server certificate and its key to serve TLS with (`ssl=on`; plaintext is still accepted,
    /// as a default pg_hba.conf's `host` lines allow both).
    public init(fsync: Bool, tls: (certificate: String, key: String)? = nil) throws {
        guard let bin = Self.binDirectory else {
            throw PostgresTestError(message: "PostgreSQL is not installed (no initdb on PATH or under /usr/lib/postgresql); apt-get install -y postgresql")
        }
        self.bin = bin
        dir = NSTemporaryDirectory() + "meshform-pg-" + UUID().uuidString.prefix(8)
        password = "pw-" + UUID().uuidString
        port = try Self.freePort()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try password.write(toFile: dir + "/pwfile", atomically: true, encoding: .utf8)
        var sslOptions = ""
        if let tls {
            // PostgreSQL refuses a key file others may read (https://www.postgresql.org/docs/15/ssl-tcp.html).
            try FileManager.default.copyItem(atPath: tls.certificate, toPath: dir + "/server.crt")
            try FileManager.default.copyItem(atPath: tls.key, toPath: dir + "/server.key")
            chmod(dir + "/server.key", 0o600)
            sslOptions = " -c ssl=on -c ssl_cert_file=\(dir)/server.crt -c ssl_key_file=\(dir)/server.key"
        }
        if getuid() == 0 { try Self.run("/bin/chown", ["-R", "nobody", dir]) }
        try runAsServerUser("initdb", ["-D", dir + "/data", "-U", "postgres", "--auth=scram-sha-256", "--pwfile=" + dir + "/pwfile",
                                       "--no-sync", "-E", "UTF8", "--locale=C"])
        try runAsServerUser("pg_ctl", ["-D", dir + "/data", "-l", dir + "/server.log", "-w", "-t", "30", "-o",
                                       "-p \(port) -k \(dir) -c listen_addresses=127.0.0.1 -c fsync=\(fsync ? "on" : "off") -c max_connections=200" + sslOptions,
                                       "start"])
        let stop: @Sendable () -> Void = { [dir, bin] in
            _ = try? Self.run(getuid() == 0 ? "/sbin/runuser" : "\(bin)/pg_ctl",
                              (getuid() == 0 ? ["-u", "nobody", "--", "\(bin)/pg_ctl"] : []) + ["-D", dir + "/data", "-m", "immediate", "stop"])
            try? FileManager.default.removeItem(atPath: dir)
        }
        let first = Self.atExit.withLock { $0.append(stop); return $0.count == 1 }
        if first { atexit { for f in PostgresTestServer.atExit.withLock({ $0 }) { f() } } }
    }

    /// What stops this process's servers when it exits.
    private static let atExit = Mutex<[@Sendable () -> Void]>([])

    /// A state URL for a schema of its own (default: a fresh one).
    public func url(schema: String = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "_")) -> String {
        "postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable&schema=\(schema)"
    }

    /// The environment a client needs (the password as libpq reads it).
    public var environment: [String: String] { ["PGPASSWORD": password] }

    /// Runs SQL through the real `psql` as the superuser, returning its unaligned output (`-At`).
    @discardableResult
    public func psql(_ sql: String) throws -> String {
        // initdb may be a link on PATH (/usr/local/bin) to where psql is not; Debian puts psql itself in /usr/bin.
        let psql = ["\(bin)/psql", "/usr/bin/psql"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "psql"
        return try Self.run(psql, ["-w", "-X", "-At", "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", "postgres",
                                   "-v", "ON_ERROR_STOP=1", "-c", sql], environment: ["PGPASSWORD": password])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Stops the server now (the benchmark's own servers; `shared` stops at exit).
    public func stop() {
        _ = try? Self.run(getuid() == 0 ? "/sbin/runuser" : "\(bin)/pg_ctl",
                          (getuid() == 0 ? ["-u", "nobody", "--", "\(bin)/pg_ctl"] : []) + ["-D", dir + "/data", "-m", "fast", "stop"])
    }

    private func runAsServerUser(_ tool: String, _ args: [String]) throws {
        if getuid() == 0 {
            try Self.run("/sbin/runuser", ["-u", "nobody", "--", "\(bin)/\(tool)"] + args)
        } else {
            try Self.run("\(bin)/\(tool)", args)
        }
    }

    /// Runs a tool and waits for it, its output to a file. Not Foundation's `Process`: on Linux it learns that a child
    /// exited through a descriptor the child inherits, and the server `pg_ctl` starts inherits it too, so `pg_ctl`
    /// would never seem to finish. `posix_spawn` + `waitpid` instead.
    @discardableResult
    static func run(_ exe: String, _ args: [String], environment: [String: String] = [:]) throws -> String {
        let path = FileManager.default.isExecutableFile(atPath: exe) ? exe : "/usr" + exe
        let log = NSTemporaryDirectory() + "meshform-pg-tool-" + UUID().uuidString + ".log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        let rc = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard rc == 0 else { throw PostgresTestError(message: "cannot run \(path): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0, code = (status >> 8) & 0xff
        if !exited || code != 0 {
            throw PostgresTestError(message: "\(exe) \(args.joined(separator: " ")) failed (status \(status)): \(text.suffix(800))")
        }
        return text
    }

    /// A loopback port nobody listens on now.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw PostgresTestError(message: "no free loopback port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// A test certificate authority, a server certificate it signs for `localhost` only (no IP address), and a second,
/// unrelated authority: what a TLS-verified connection is checked against. Made with the real `openssl`.
public struct TestCertificates: Sendable {
    public let ca: String, otherCA: String, serverCertificate: String, serverKey: String

    public init(in dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let openssl = "/usr/bin/openssl"
        func authority(_ name: String) throws {
            try PostgresTestServer.run(openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                                 "-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).crt", "-days", "2",
                                                 "-subj", "/CN=meshform test \(name)", "-addext", "basicConstraints=critical,CA:TRUE",
                                                 "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        }
        try authority("ca")
        try authority("other-ca")
        try "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            .write(toFile: "\(dir)/server.ext", atomically: true, encoding: .utf8)
        try PostgresTestServer.run(openssl, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                             "-keyout", "\(dir)/server.key", "-out", "\(dir)/server.csr", "-subj", "/CN=localhost"])
        try PostgresTestServer.run(openssl, ["x509", "-req", "-in", "\(dir)/server.csr", "-CA", "\(dir)/ca.crt", "-CAkey", "\(dir)/ca.key",
                                             "-CAcreateserial", "-days", "2", "-extfile", "\(dir)/server.ext", "-out", "\(dir)/server.crt"])
        ca = "\(dir)/ca.crt"; otherCA = "\(dir)/other-ca.crt"
        serverCertificate = "\(dir)/server.crt"; serverKey = "\(dir)/server.key"
    }
}

public struct PostgresTestError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
