import Foundation

/// A real PostgreSQL server for the tests and the benchmark: `initdb` + `pg_ctl` in a temporary directory, listening
/// on a free loopback port, password (SCRAM) authentication on TCP. One per test process (`shared`); each test
/// takes a schema of its own (`url()`), which the state store creates, so no test sees another's state.
///
/// PostgreSQL refuses to run as root; as root (these machines and CI), the server runs as `nobody` through
/// `runuser`, its directory owned by that user. Binaries: `PATH`, else Debian's `/usr/lib/postgresql/*/bin`
/// (`apt-get install postgresql`, which `.ci/run` does). The server is stopped when the process exits.
public final class PostgresTestServer: @unchecked Sendable {
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
    public init(fsync: Bool) throws {
        guard let bin = Self.binDirectory else {
            throw PostgresTestError(message: "PostgreSQL is not installed (no initdb on PATH or under /usr/lib/postgresql); apt-get install -y postgresql")
        }
        self.bin = bin
        dir = NSTemporaryDirectory() + "meshform-pg-" + UUID().uuidString.prefix(8)
        password = "pw-" + UUID().uuidString
        port = try Self.freePort()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try password.write(toFile: dir + "/pwfile", atomically: true, encoding: .utf8)
        if getuid() == 0 { try Self.run("/bin/chown", ["-R", "nobody", dir]) }
        try runAsServerUser("initdb", ["-D", dir + "/data", "-U", "postgres", "--auth=scram-sha-256", "--pwfile=" + dir + "/pwfile",
                                       "--no-sync", "-E", "UTF8", "--locale=C"])
        try runAsServerUser("pg_ctl", ["-D", dir + "/data", "-l", dir + "/server.log", "-w", "-t", "30", "-o",
                                       "-p \(port) -k \(dir) -c listen_addresses=127.0.0.1 -c fsync=\(fsync ? "on" : "off") -c max_connections=200",
                                       "start"])
        let stop = { [dir, bin] in
            _ = try? Self.run(getuid() == 0 ? "/sbin/runuser" : "\(bin)/pg_ctl",
                              (getuid() == 0 ? ["-u", "nobody", "--", "\(bin)/pg_ctl"] : []) + ["-D", dir + "/data", "-m", "immediate", "stop"])
            try? FileManager.default.removeItem(atPath: dir)
        }
        Self.atExit.append(stop)
        if Self.atExit.count == 1 { atexit { for f in PostgresTestServer.atExit { f() } } }
    }

    nonisolated(unsafe) private static var atExit: [() -> Void] = []

    /// A state URL for a schema of its own (default: a fresh one).
    public func url(schema: String = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "_")) -> String {
        "postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable&schema=\(schema)"
    }

    /// The environment a client needs (the password as libpq reads it).
    public var environment: [String: String] { ["PGPASSWORD": password] }

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
    static func run(_ exe: String, _ args: [String]) throws -> String {
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
        let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
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

public struct PostgresTestError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
