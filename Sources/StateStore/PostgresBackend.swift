import Foundation
import Crypto
import Logging
import PostgresNIO
import Synchronization

/// Team state: one mesh's state in one schema of a PostgreSQL database, through vapor/postgres-nio.
///
/// - One connection per store, used by one transaction at a time. Reads run `REPEATABLE READ READ ONLY`: one
///   snapshot, never waiting for a writer (PostgreSQL's MVCC). Writers are serialized per mesh by a transaction
///   advisory lock, as SQLite serializes them, so read-modify-write steps (drift events) never interleave.
/// - The write lock is a *session* advisory lock (`pg_try_advisory_lock`, keyed by database and schema) plus the
///   same lease row as SQLite's, naming the holder. The server frees the advisory lock when the holder's session
///   ends (a killed process, a lost network), so the row of a holder whose lock is gone is stale and taken over at
///   once; no lease expiry is needed. This is Terraform's `pg` backend's choice
///   (https://developer.hashicorp.com/terraform/language/backend/pg), with the holder named.
///   Advisory locks: https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS;
///   how `pg_locks` shows a bigint key (classid high half, objid low half, objsubid 1):
///   https://www.postgresql.org/docs/15/view-pg-locks.html
/// - A lost connection fails the next read or write with `StateError.io`: the executor stops before its next
///   step, the journal holds what was done, and `meshform recover` finishes it from any machine.
final class PostgresBackend: StateBackend {
    let pg: PostgresLocation
    let isReadOnly: Bool
    var location: String { pg.display }
    private let connection: PostgresConnection
    /// The connection runs one transaction (or lock call) at a time; the value is whether this session holds the
    /// session advisory lock (taken once: PostgreSQL counts re-takes, and one release must free it).
    private let session = Mutex(false)

    /// The query in flight, failed when the connection closes: a query sent just as the server ends the session
    /// (`pg_terminate_backend`, a restart) is otherwise never answered.
    private let inflight = Inflight()

    private init(_ pg: PostgresLocation, connection: PostgresConnection, readOnly: Bool) {
        self.pg = pg; self.connection = connection; self.isReadOnly = readOnly
        connection.closeFuture.whenComplete { [inflight] _ in inflight.fail() }
    }

    static let logger: Logger = {
        var l = Logger(label: "meshform.state.postgres")
        l.logLevel = .critical   // errors reach the user as StateError; nothing else is worth printing
        return l
    }()

    // MARK: - Opening

    /// Connects, checks the schema (missing, foreign, newer) and migrates it forward, creating it if `create`.
    static func open(_ pg: PostgresLocation, create: Bool, readOnly: Bool) throws -> PostgresBackend {
        let b = PostgresBackend(pg, connection: try connect(pg), readOnly: readOnly)
        do {
            try b.prepare(create: create)
            return b
        } catch {
            b.close()
            throw error
        }
    }

    static func exists(_ pg: PostgresLocation) throws -> Bool {
        let b = PostgresBackend(pg, connection: try connect(pg), readOnly: true)
        defer { b.close() }
        return try b.read { tx in try !b.tables(tx).isEmpty }
    }

    private static func connect(_ pg: PostgresLocation) throws -> PostgresConnection {
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch pg.sslMode {
            case .disable: tls = .disable
            case .require, .verifyCA, .verifyFull:
                var c = TLSConfiguration.makeClientConfiguration()
                c.certificateVerification = pg.sslMode == .require ? .none : pg.sslMode == .verifyCA ? .noHostnameVerification : .fullVerification
                if let root = pg.rootCertificate { c.trustRoots = .file(root) }
                tls = .require(try NIOSSLContext(configuration: c))
            }
        } catch {
            throw StateError.badLocation(location: pg.display, detail: "TLS set-up: \(String(reflecting: error))")
        }
        var config = PostgresConnection.Configuration(host: pg.host, port: pg.port, username: pg.user, password: pg.password,
                                                      database: pg.database, tls: tls)
        config.options.connectTimeout = .seconds(10)
        let connection: PostgresConnection
        do {
            connection = try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: config,
                                                        id: 1, logger: logger).wait()
        } catch {
            throw StateError.io(path: pg.display, detail: describe(error, pg))
        }
        do {
            _ = try connection.query(PostgresQuery(unsafeSQL: "SET search_path TO \"\(pg.schema)\""), logger: logger).wait()
        } catch {
            try? connection.close().wait()
            throw StateError.io(path: pg.display, detail: describe(error, pg))
        }
        return connection
    }

    /// A postgres-nio error in words, never with the password (PSQLError's own description hides everything).
    static func describe(_ error: any Error, _ pg: PostgresLocation) -> String {
        if error is ConnectionLost { return lost(pg) }
        if let tls = tlsRefusal(error, pg) { return tls }
        guard let e = error as? PSQLError else { return "cannot reach \(pg.host):\(pg.port): \(error)" }
        switch e.code {
        case .server:
            let message = e.serverInfo?[.message] ?? "server error"
            let state = e.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            // 57P01 admin_shutdown, 57P02 crash_shutdown (PostgreSQL's errcodes, appendix A): the server ends this
            // session (pg_terminate_backend, as `meshform state unlock` does, or a restart) and closes it: as lost as a
            // dropped socket, whichever of the two the client happens to see first.
            if let s = e.serverInfo?[.sqlState], s == "57P01" || s == "57P02" { return lost(pg, cause: message + state) }
            if e.serverInfo?[.sqlState] == "28P01" {
                return "\(message)\(state); check PGPASSWORD or the line for \(pg.host):\(pg.port):\(pg.database):\(pg.user) in ~/.pgpass"
            }
            return message + state
        case .authMechanismRequiresPassword:
            return "the server asks for a password and none was found: set PGPASSWORD, or add \(pg.host):\(pg.port):\(pg.database):\(pg.user):PASSWORD to ~/.pgpass (mode 0600)"
        case .sslUnsupported:
            return "the server does not offer TLS, and sslmode=\(pg.sslMode.rawValue) requires it (sslmode=disable only on a network you trust)"
        case .serverClosedConnection, .clientClosedConnection:
            return lost(pg)
        default:
            let under = e.underlying.map { ": \($0)" } ?? ""
            return "cannot use \(pg.host):\(pg.port) (\(e.code))\(under)"
        }
    }

    /// Why the server's certificate was refused, in libpq's terms, or nil when it was not a verification failure.
    /// NIOSSL checks the chain in the handshake (BoringSSL's CERTIFICATE_VERIFY_FAILED), then the host name, or for
    /// an IP address the certificate's IP addresses, as libpq's verify-full does (libpq-ssl.html, 34.19.1).
    static func tlsRefusal(_ error: any Error, _ pg: PostgresLocation) -> String? {
        let under = (error as? PSQLError)?.underlying ?? error
        let roots = pg.rootCertificate.map { "sslrootcert=\($0)" } ?? "the system's trust store"
        if let e = under as? NIOSSLExtraError, e == .failedToValidateHostname {
            return "the server's TLS certificate does not name \(pg.host) (sslmode=verify-full checks it); connect by a name "
                + "the certificate lists, or use sslmode=verify-ca to check the chain only"
        }
        if case .handshakeFailed(let e)? = under as? NIOSSLError, "\(e)".contains("CERTIFICATE_VERIFY_FAILED") {
            return "the server's TLS certificate is not signed by a CA in \(roots) (sslmode=\(pg.sslMode.rawValue)); "
                + "set sslrootcert to the CA that signed the server's certificate"
        }
        return nil
    }

    private static func lost(_ pg: PostgresLocation, cause: String? = nil) -> String {
        "the connection to \(pg.host):\(pg.port) was lost\(cause.map { " (\($0))" } ?? ""); a run stops here, and `meshform recover` finishes it from any machine"
    }

    private func tables(_ tx: any SQLTx) throws -> Set<String> {
        Set(try tx.texts("SELECT table_name::text AS t FROM information_schema.tables WHERE table_schema = ?", [pg.schema]))
    }

    /// Refuses a foreign or newer schema before writing anything, then creates and migrates as needed, all under a
    /// transaction advisory lock so two first runs never both create the schema.
    private func prepare(create: Bool) throws {
        try locked { _ in try transaction(readOnly: false) { tx in
            try tx.execute("SELECT pg_advisory_xact_lock(?)", [Self.key("migrate", pg)])
            let tables = try tables(tx)
            if tables.isEmpty {
                guard create else { throw StateError.notFound(path: pg.display) }
                try tx.execute("CREATE SCHEMA IF NOT EXISTS \"\(pg.schema)\"", [])
            } else {
                guard tables.contains("meta"), tables.contains(PostgresSchema.migrationsTable),
                      try tx.value("SELECT value FROM meta WHERE key = 'format'")?.text == Schema.format
                else { throw StateError.foreign(path: pg.display, detail: "schema \(pg.schema) holds tables \(tables.sorted().prefix(5).joined(separator: ", "))") }
            }
            try PostgresSchema.migrate(tx, location: pg.display)
        } }
    }

    // MARK: - Transactions

    func read<T>(_ body: (any SQLTx) throws -> T) throws -> T {
        try locked { _ in try transaction(readOnly: true, body) }
    }

    func write<T>(_ body: (any SQLTx) throws -> T) throws -> T {
        guard !isReadOnly else { throw StateError.readOnly(path: pg.display) }
        return try locked { _ in try writeTransaction(body) }
    }

    /// Runs `body` holding `session`. The result is carried out through a local: `Mutex.withLock` returns only what
    /// it can send, and a transaction's result (any `T`) comes from the caller's own closure.
    private func locked<T>(_ body: (inout Bool) throws -> T) throws -> T {
        var result: Result<T, any Error>?
        session.withLock { claimed in result = Result { try body(&claimed) } }
        return try result!.get()
    }

    /// A write transaction, serialized with every other writer of this mesh. The caller holds `session`.
    private func writeTransaction<T>(_ body: (any SQLTx) throws -> T) throws -> T {
        try transaction(readOnly: false) { tx in
            try tx.execute("SELECT pg_advisory_xact_lock(?)", [Self.key("write", pg)])
            return try body(tx)
        }
    }

    /// One transaction on the connection. The caller holds `session`.
    private func transaction<T>(readOnly: Bool, _ body: (any SQLTx) throws -> T) throws -> T {
        let tx = PGTx(connection: connection, pg: pg, inflight: inflight)
        _ = try tx.execute(readOnly ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN", [])
        do {
            let result = try body(tx)
            _ = try tx.execute("COMMIT", [])
            return result
        } catch {
            _ = try? tx.execute("ROLLBACK", [])
            throw error
        }
    }

    func schemaMigrations() throws -> [String] {
        try read { tx in try tx.texts("SELECT identifier FROM \(PostgresSchema.migrationsTable) ORDER BY position") }
    }

    func close() { try? connection.close().wait() }

    // MARK: - The lock

    /// A stable 64-bit advisory-lock key per database, schema and purpose.
    static func key(_ purpose: String, _ pg: PostgresLocation) -> Int64 {
        let d = SHA256.hash(data: Data("meshform-state:\(purpose):\(pg.database):\(pg.schema)".utf8))
        return d.prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) }
    }

    /// The backend pids holding this mesh's session advisory lock (at most one).
    private func holders(_ tx: any SQLTx) throws -> [Int64] {
        let k = Self.key("lock", pg)
        return try tx.rows("""
            SELECT pid::bigint AS pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND classid::bigint = ? AND objid::bigint = ?
            """, [Int64(UInt32(truncatingIfNeeded: k >> 32)), Int64(UInt32(truncatingIfNeeded: k))]).map { $0.int("pid") }
    }

    func tryLock(_ mine: StateLock) throws -> LockAttempt {
        guard !isReadOnly else { throw StateError.readOnly(path: pg.display) }
        return try locked { claimed in
            if !claimed {
                let got = try transaction(readOnly: false) { tx in
                    try tx.value("SELECT CASE WHEN pg_try_advisory_lock(?) THEN 1 ELSE 0 END AS got", [Self.key("lock", pg)])?.int == 1
                }
                if !got {
                    let row = try transaction(readOnly: true) { tx in try tx.row("SELECT * FROM lock WHERE singleton = 1").map(StateLock.init(row:)) }
                    return .heldBy(row ?? StateLock(id: "(being written)", holder: "another session", operation: "lock", pid: 0,
                                                    host: "?", run: nil, acquiredAt: Date(), expiresAt: Date()))
                }
                // Whatever row is there belongs to a session that is gone: the server freed its advisory lock.
                do {
                    try writeTransaction { tx in try tx.execute("DELETE FROM lock", []); try StateLock.insert(mine, tx) }
                } catch {
                    try? unlock()
                    throw error
                }
                claimed = true
                return .acquired(mine)
            }
            // This session holds the lock already: under another lease of this same store, unless its row is gone.
            return try writeTransaction { tx in
                if let cur = try tx.row("SELECT * FROM lock WHERE singleton = 1").map(StateLock.init(row:)) { return .heldBy(cur) }
                try StateLock.insert(mine, tx)
                return .acquired(mine)
            }
        }
    }

    func liveLock(_ tx: any SQLTx) throws -> StateLock? {
        guard let row = try tx.row("SELECT * FROM lock WHERE singleton = 1") else { return nil }
        return try holders(tx).isEmpty ? nil : StateLock(row: row)
    }

    func released(_ l: StateLock) throws {
        try locked { claimed in
            guard claimed else { return }
            claimed = false
            try unlock()
        }
    }

    /// Releases the session advisory lock. The caller holds `session`.
    private func unlock() throws {
        _ = try transaction(readOnly: false) { tx in try tx.execute("SELECT pg_advisory_unlock(?)", [Self.key("lock", pg)]) }
    }

    /// `state unlock`: the lease row is gone; end the session that still holds the advisory lock (needs the same role,
    /// or `pg_signal_backend`), so its holder's next state write fails and it stops.
    func broken(_ l: StateLock) throws {
        try locked { claimed in
            if claimed {
                claimed = false
                try unlock()
                return
            }
            try transaction(readOnly: false) { tx in
                for pid in try holders(tx) {
                    try tx.execute("SELECT pg_terminate_backend(?::int)", [pid])
                }
            }
        }
    }

    func storageProblems() throws -> [String] {
        try read { tx in
            let n = try tx.value("SELECT COUNT(*) AS n FROM lock WHERE singleton <> 1")?.int ?? 0
            return n > 0 ? ["lock table holds \(n) rows besides the lease"] : []
        }
    }

    func copiedRows(_ tx: any SQLTx) throws {
        for (table, column) in [("journal", "id"), ("drift_events", "id"), ("runs", "rowid")] {
            try tx.execute("SELECT setval(pg_get_serial_sequence('\(table)', '\(column)'), GREATEST((SELECT MAX(\(column)) FROM \(table)), 1))", [])
        }
    }
}

/// `SQLTx` over a postgres-nio connection: `?` placeholders become `$1, $2, ...` (the state's SQL holds no `?` in a
/// literal), values bind as `text`/`int8`, and rows decode to the state's two types.
struct PGTx: SQLTx {
    let connection: PostgresConnection
    let pg: PostgresLocation
    let inflight: Inflight

    func rows(_ sql: String, _ arguments: [(any SQLBindable)?]) throws -> [SQLRow] {
        try run(sql, arguments).rows.map { row in
            var values = [String: SQLValue]()
            for cell in row {
                guard cell.bytes != nil else { values[cell.columnName] = .null; continue }
                switch cell.dataType {
                case .int8, .int4, .int2: values[cell.columnName] = .int(try cell.decode(Int64.self))
                case .bool: values[cell.columnName] = .int(try cell.decode(Bool.self) ? 1 : 0)
                default: values[cell.columnName] = .text(try cell.decode(String.self))
                }
            }
            return SQLRow(values: values)
        }
    }

    func execute(_ sql: String, _ arguments: [(any SQLBindable)?]) throws -> Int {
        try run(sql, arguments).metadata.rows ?? 0
    }

    private func run(_ sql: String, _ arguments: [(any SQLBindable)?]) throws -> PostgresQueryResult {
        var text = "", n = 0
        for ch in sql { if ch == "?" { n += 1; text += "$\(n)" } else { text.append(ch) } }
        var binds = PostgresBindings(capacity: arguments.count)
        for a in arguments {
            switch a?.sqlValue ?? .null {
            case .null: binds.appendNull()
            case .int(let i): binds.append(i)
            case .text(let s): binds.append(s)
            }
        }
        do {
            if connection.isClosed { throw ConnectionLost() }
            let promise = connection.eventLoop.makePromise(of: PostgresQueryResult.self)
            inflight.set(promise)
            defer { inflight.set(nil) }
            connection.query(PostgresQuery(unsafeSQL: text, binds: binds), logger: PostgresBackend.logger).cascade(to: promise)
            return try promise.futureResult.wait()
        } catch let e as StateError {
            throw e
        } catch {
            throw StateError.io(path: pg.display, detail: PostgresBackend.describe(error, pg))
        }
    }
}

/// The one query in flight on a connection (queries are serialized by the backend's `session`).
final class Inflight: Sendable {
    private let promise = Mutex<EventLoopPromise<PostgresQueryResult>?>(nil)
    func set(_ p: EventLoopPromise<PostgresQueryResult>?) { promise.withLock { $0 = p } }
    func fail() { promise.withLock { $0?.fail(ConnectionLost()) } }
}

/// The connection closed under a query.
struct ConnectionLost: Error {}
