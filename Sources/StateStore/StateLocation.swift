import Foundation

/// Where a mesh's state lives, from `--state` or `MESHFORM_STATE`: a file path (SQLite), or
/// `postgres://USER@HOST:PORT/DB?sslmode=MODE&schema=NAME` (also `postgresql://`).
public enum StateLocation: Sendable, Equatable {
    case file(String)
    case postgres(PostgresLocation)

    public init(_ value: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        if value.hasPrefix("postgres://") || value.hasPrefix("postgresql://") {
            self = .postgres(try PostgresLocation(url: value, environment: environment))
        } else {
            self = .file(value)
        }
    }

    /// True for a value naming a PostgreSQL database.
    public static func isURL(_ value: String) -> Bool { value.hasPrefix("postgres://") || value.hasPrefix("postgresql://") }

    /// `value` with `schema=mesh` added when it is a PostgreSQL URL without a schema: one schema per mesh.
    public static func forMesh(_ value: String, mesh: String) -> String {
        guard isURL(value), var c = URLComponents(string: value) else { return value }
        if c.queryItems?.contains(where: { $0.name == "schema" }) == true { return value }
        c.queryItems = (c.queryItems ?? []) + [URLQueryItem(name: "schema", value: PostgresLocation.schemaName(for: mesh))]
        return c.string ?? value
    }
}

/// A PostgreSQL state location. Its fields mirror libpq's connection parameters
/// (https://www.postgresql.org/docs/15/libpq-connect.html), and the password is found as libpq finds it:
/// `PGPASSWORD`, else the password file (`PGPASSFILE`, default `~/.pgpass`). A password in the URL is refused:
/// command lines and environment values are visible to other users (`ps`) and end up in shell history and CI logs.
public struct PostgresLocation: Sendable, Equatable {
    /// libpq's `sslmode`, the ones that do what they say. `prefer` and `allow` are refused: they fall back to
    /// plaintext silently, which is exactly what a state holding the mesh's identity must not do.
    public enum SSLMode: String, Sendable, CaseIterable {
        /// No TLS (a loopback or a socket you trust).
        case disable
        /// TLS, server certificate not checked (libpq's `require` with no root certificate).
        case require
        /// TLS, certificate checked against the trusted roots, host name not.
        case verifyCA = "verify-ca"
        /// TLS, certificate and host name checked: the default here (libpq's default is `prefer`).
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    /// The schema holding this mesh's state (one per mesh).
    public var schema: String
    public var sslMode: SSLMode
    /// PEM file of trusted roots (`sslrootcert`, else `PGSSLROOTCERT`, else `~/.postgresql/root.crt` if present);
    /// nil: the system's trust store.
    public var rootCertificate: String?
    /// Found as libpq finds it; never printed (not part of `description` nor of any error).
    var password: String?

    /// The default schema when neither the URL nor the mesh names one.
    public static let defaultSchema = "meshform"

    /// What messages show: the URL with no password (there never is one).
    public var display: String {
        "postgres://\(user)@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)&schema=\(schema)"
    }

    /// A mesh name as a schema name: lower case letters, digits and `_`, at most 63 bytes (PostgreSQL's limit).
    public static func schemaName(for mesh: String) -> String {
        let s = String(mesh.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" }.prefix(63))
        return s.isEmpty ? defaultSchema : s
    }

    public init(url: String, environment env: [String: String] = ProcessInfo.processInfo.environment) throws {
        let bad = { (why: String) in StateError.badLocation(location: Self.redacted(url), detail: why) }
        guard let c = URLComponents(string: url), let host = c.host, !host.isEmpty else {
            throw bad("not a URL of the form postgres://USER@HOST:PORT/DB?sslmode=verify-full")
        }
        let query = Dictionary((c.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, b in b })
        if c.password != nil || query["password"] != nil {
            throw bad("a password in the URL is refused (it would show in process lists, shell history and logs); set PGPASSWORD or put it in ~/.pgpass (mode 0600) as HOST:PORT:DB:USER:PASSWORD")
        }
        let known: Set<String> = ["sslmode", "schema", "sslrootcert"]
        if let unknown = query.keys.filter({ !known.contains($0) }).sorted().first {
            throw bad("unknown parameter '\(unknown)' (known: sslmode, sslrootcert, schema)")
        }
        self.host = host
        self.port = c.port ?? Int(env["PGPORT"] ?? "") ?? 5432
        self.user = c.user.flatMap { $0.isEmpty ? nil : $0 } ?? env["PGUSER"] ?? StateStore.currentUser(environment: env)
        let db = String(c.path.drop(while: { $0 == "/" }))
        self.database = db.isEmpty ? (env["PGDATABASE"] ?? user) : db
        self.schema = query["schema"] ?? Self.defaultSchema
        guard !schema.isEmpty, schema.utf8.count <= 63, schema.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }),
              !schema.hasPrefix("pg_") else {
            throw bad("schema '\(schema)' must be 1-63 lower-case letters, digits or '_', not starting with pg_")
        }
        let mode = query["sslmode"] ?? env["PGSSLMODE"] ?? SSLMode.verifyFull.rawValue
        guard let m = SSLMode(rawValue: mode) else {
            throw bad("sslmode '\(mode)' is not supported; use disable, require, verify-ca or verify-full (the default)")
        }
        self.sslMode = m
        let home = env["HOME"] ?? NSHomeDirectory()
        let defaultRoot = home + "/.postgresql/root.crt"
        self.rootCertificate = query["sslrootcert"] ?? env["PGSSLROOTCERT"]
            ?? (FileManager.default.fileExists(atPath: defaultRoot) ? defaultRoot : nil)
        self.password = env["PGPASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
            ?? Self.passwordFromFile(env["PGPASSFILE"] ?? home + "/.pgpass", host: host, port: port, database: database, user: user)
    }

    /// The first matching line of a libpq password file (`hostname:port:database:username:password`, `*` matches
    /// anything, `\:` and `\\` escape; https://www.postgresql.org/docs/15/libpq-pgpass.html). As libpq does, a file
    /// that group or others may read is ignored.
    static func passwordFromFile(_ path: String, host: String, port: Int, database: String, user: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & 0o077 == 0, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            var fields = [String](), cur = "", escaped = false
            for ch in line {
                if escaped { cur.append(ch); escaped = false } else if ch == "\\" { escaped = true }
                else if ch == ":" && fields.count < 4 { fields.append(cur); cur = "" } else { cur.append(ch) }
            }
            fields.append(cur)
            guard fields.count == 5 else { continue }
            let want = [host, String(port), database, user]
            if zip(fields.prefix(4), want).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }

    /// A URL for a message, its password (if someone put one in) replaced.
    static func redacted(_ url: String) -> String {
        guard var c = URLComponents(string: url) else { return "postgres://(unparsable URL)" }
        if c.password != nil { c.password = "REDACTED" }
        if let q = c.queryItems { c.queryItems = q.map { $0.name == "password" ? URLQueryItem(name: "password", value: "REDACTED") : $0 } }
        return c.string ?? "postgres://(unparsable URL)"
    }
}
