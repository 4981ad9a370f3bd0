import Foundation
import Testing
import KubeModel
import PostgresTestSupport
@testable import StateStore

/// The process's PostgreSQL server, with `PGPASSWORD` set as a user would set it; nil when PostgreSQL is missing.
func postgres() throws -> PostgresTestServer { try PostgresTestServer.start() }

/// The state model on a real PostgreSQL 15 server: one schema per test.
@Suite struct PostgresStateTests {
    @Test func theModelRoundTripsWithTheSameMigrations() throws {
        let pg = try postgres(), url = pg.url()
        let store = try StateStore.open(path: url)
        #expect(try store.schemaMigrations() == [Schema.v1, Schema.v2, Schema.v3, Schema.v4, Schema.v5])
        #expect(try store.serial() == 0)
        let run = try store.beginRun(kind: .apply, who: "alice", configHash: "h1")
        let web = managed(deployment("web")), api = managed(deployment("api"), deps: [web.address])
        try store.upsert([web, api], run: run)
        try store.journal(run, step: JournalStep(address: try ResourceAddress(parsing: web.address), action: .create, phase: .started, after: web.applied, dependencies: []))
        try store.recordCluster(ClusterRecord(name: "remote1", context: "ctx", kubeconfig: nil))
        try store.recordDriftCheck(findings: [DriftFinding(address: web.address, cluster: "remote1", kind: .modified, fields: ["spec.replicas"])], at: Date())
        #expect(try store.serial() == 1)
        #expect(try store.unfinishedRun()?.0.id == run)
        try store.finishRun(run, outcome: .succeeded, message: nil)

        let ro = try StateStore.openReadOnly(path: url)
        #expect(ro.lineage == store.lineage)
        let snap = try ro.snapshot()
        #expect(snap.serial == 1 && snap.objects.map(\.address) == [api.address, web.address].sorted())
        #expect(snap.objects.first { $0.address == api.address }?.dependencies == [web.address])
        #expect(snap.objects.first { $0.address == web.address }?.applied == web.applied)
        #expect(snap.lastApplyConfigHash == "h1" && snap.unfinishedRun == nil && snap.clusters.map(\.name) == ["remote1"])
        #expect(try ro.openDrift().map(\.fields) == [["spec.replicas"]])
        #expect(try ro.runs(limit: 5).map(\.serialAfter) == [1])
        #expect(try ro.integrityProblems() == [])
        #expect(throws: StateError.readOnly(path: ro.path)) { try ro.upsert(web, run: nil) }
        #expect(!ro.path.contains(pg.password))
    }

    @Test func aStepsObjectAndJournalEntryAreOneTransaction() throws {
        let pg = try postgres()
        for location in [pg.url(), TempState().path] {
            let store = try StateStore.open(path: location)
            let run = try store.beginRun(kind: .apply, who: "alice", configHash: nil)
            let web = managed(deployment("web"))
            try store.journal(run, step: JournalStep(address: try ResourceAddress(parsing: web.address), action: .create, phase: .done, after: web.applied),
                              recording: .upsert(web))
            #expect(try store.serial() == 1 && store.object(address: web.address) != nil)
            // A step whose journal entry cannot be written records nothing either: the run ID is not in `runs`.
            #expect {
                try store.journal(RunID(rawValue: "no-such-run"), step: JournalStep(address: try ResourceAddress(parsing: web.address), action: .delete, phase: .done),
                                  recording: .remove(web.address))
            } throws: { if case StateError.io(_, let detail) = $0 { detail.lowercased().contains("foreign key") } else { false } }
            #expect(try store.serial() == 1 && store.object(address: web.address) != nil)
            try store.journal(run, step: JournalStep(address: try ResourceAddress(parsing: web.address), action: .delete, phase: .done), recording: .remove(web.address))
            #expect(try store.serial() == 2 && store.object(address: web.address) == nil && store.journal(of: run).count == 2)
        }
    }

    @Test func badLocationsAreRefusedBeforeAnythingIsTouched() throws {
        let e = #expect(throws: StateError.self) { try StateStore.open(path: "postgres://alice:hunter2@db.example.com/mesh") }
        #expect({ if case .badLocation? = e { true } else { false } }(), "\(String(describing: e))")
        #expect(e?.description.contains("PGPASSWORD") == true && e?.description.contains("hunter2") == false)
        #expect { try StateStore.open(path: "postgres://alice@db.example.com/mesh?password=hunter2") }
            throws: { if case StateError.badLocation = $0 { true } else { false } }
        let mode = #expect(throws: StateError.self) { try StateStore.open(path: "postgres://alice@db.example.com/mesh?sslmode=prefer") }
        #expect({ if case .badLocation? = mode { true } else { false } }(), "\(String(describing: mode))")
        #expect(mode?.description.contains("verify-full") == true)
        #expect { try StateStore.open(path: "postgres://alice@db.example.com/mesh?schema=Bad-Name") }
            throws: { if case StateError.badLocation = $0 { true } else { false } }
        let loc = try PostgresLocation(url: "postgres://alice@db.example.com/mesh", environment: ["HOME": "/nonexistent"])
        #expect(loc.sslMode == .verifyFull && loc.port == 5432 && loc.schema == "meshform" && loc.password == nil)
        #expect(StateLocation.forMesh("postgres://a@h/db?sslmode=disable", mesh: "Prod-East") == "postgres://a@h/db?sslmode=disable&schema=prod_east")
        #expect(StateLocation.forMesh("state/x.db", mesh: "x") == "state/x.db")
    }

    @Test func thePasswordComesFromPgpassAsLibpqReadsIt() throws {
        let t = TempState()
        let file = t.file("pgpass")
        try "# comment\nother:5432:*:alice:nope\ndb.example.com:*:mesh:alice:s3cr\\:et\n*:*:*:*:fallback\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        let env = ["PGPASSFILE": file, "HOME": t.dir]
        #expect(try PostgresLocation(url: "postgres://alice@db.example.com:6432/mesh", environment: env).password == "s3cr:et")
        #expect(try PostgresLocation(url: "postgres://bob@other/x", environment: env).password == "fallback")
        #expect(try PostgresLocation(url: "postgres://alice@other/x", environment: env.merging(["PGPASSWORD": "env"]) { $1 }).password == "env")
        chmod(file, 0o644)   // libpq ignores a password file others may read
        #expect(try PostgresLocation(url: "postgres://alice@db.example.com/mesh", environment: env).password == nil)
    }

    @Test func aWrongPasswordOrNoServerIsAClearErrorAndCreatesNothing() throws {
        let pg = try postgres(), url = pg.url()
        let wrong = try PostgresLocation(url: url, environment: ["PGPASSWORD": "wrong"])
        let e = #expect(throws: StateError.self) { _ = try PostgresBackend.open(wrong, create: true, readOnly: false) }
        #expect({ if case .io? = e { true } else { false } }(), "\(String(describing: e))")
        #expect(e?.description.contains("password authentication failed") == true && e?.description.contains("wrong") == false)
        #expect(try StateStore.exists(at: url) == false)
        let none = try PostgresLocation(url: url, environment: ["HOME": "/nonexistent"])
        let e2 = #expect(throws: StateError.self) { _ = try PostgresBackend.open(none, create: true, readOnly: false) }
        #expect({ if case .io? = e2 { true } else { false } }(), "\(String(describing: e2))")
        #expect(e2?.description.contains("PGPASSWORD") == true)
        let closed = url.replacingOccurrences(of: ":\(pg.port)/", with: ":\(try PostgresTestServer.freePort())/")
        let e3 = #expect(throws: StateError.self) { try StateStore.open(path: closed) }
        #expect({ if case .io? = e3 { true } else { false } }(), "\(String(describing: e3))")
        #expect(e3?.description.contains("127.0.0.1") == true)
        // TLS is verified by default: a server without TLS is refused, not used in clear.
        let e4 = #expect(throws: StateError.self) { try StateStore.open(path: url.replacingOccurrences(of: "sslmode=disable", with: "sslmode=verify-full")) }
        #expect({ if case .io? = e4 { true } else { false } }(), "\(String(describing: e4))")
        #expect(e4?.description.contains("TLS") == true)
    }

    @Test func foreignAndNewerSchemasAreRefused() throws {
        let pg = try postgres()
        #expect(throws: StateError.notFound(path: try PostgresLocation(url: pg.url(schema: "absent")).display)) {
            try StateStore.open(path: pg.url(schema: "absent"), create: false)
        }
        let foreign = pg.url()
        _ = try StateStore.open(path: foreign).write { tx in try tx.execute("DROP TABLE meta", []) }
        let e = #expect(throws: StateError.self) { try StateStore.open(path: foreign) }
        guard case .foreign = e else { Issue.record("expected .foreign, got \(String(describing: e))"); return }
        let newer = pg.url()
        _ = try StateStore.open(path: newer).write { tx in try tx.execute("INSERT INTO meshform_migrations VALUES ('v9-future', 9)", []) }
        let e2 = #expect(throws: StateError.self) { try StateStore.openReadOnly(path: newer) }
        guard case .newerSchema(_, let unknown) = e2 else { Issue.record("expected .newerSchema, got \(String(describing: e2))"); return }
        #expect(unknown == ["v9-future"])
    }

    @Test func theLockHoldsAcrossSessionsNamesItsHolderAndDiesWithItsSession() async throws {
        let pg = try postgres(), url = pg.url()
        let a = try StateStore.open(path: url), b = try StateStore.open(path: url)
        let run = try a.beginRun(kind: .apply, who: "alice", configHash: nil)
        let lock = try await a.acquireLock(who: "alice", operation: "apply", timeout: .zero, run: run)
        let e = await #expect(throws: StateError.self) { try await b.acquireLock(who: "bob", operation: "apply", timeout: .zero) }
        guard case .locked(_, let holder) = e else { Issue.record("expected .locked, got \(String(describing: e))"); return }
        #expect(holder.id == lock.id && holder.holder == "alice" && holder.run == run && holder.host == ProcessInfo.processInfo.hostName)
        #expect(try b.snapshot().lock?.id == lock.id)
        // Readers never wait for the holder.
        #expect(try StateStore.openReadOnly(path: url).snapshot().serial == 0)
        try a.renewLock(lock)
        try a.releaseLock(lock)
        #expect(try b.currentLock() == nil)
        let l2 = try await b.acquireLock(who: "bob", operation: "apply", timeout: .zero)
        // The holder's session ends without releasing (a killed process): the server frees the lock. It does so when
        // its backend process has seen the session end, a moment after the client closed: the taker waits for that.
        (b.backend as! PostgresBackend).close()
        let l3 = try await a.acquireLock(who: "alice", operation: "apply", timeout: .seconds(30))
        let now = try a.currentLock()
        #expect(l3.id != l2.id && now?.holder == "alice")
    }

    @Test func unlockEndsTheHoldersSessionAndItLearnsIt() async throws {
        let pg = try postgres(), url = pg.url()
        let holder = try StateStore.open(path: url), admin = try StateStore.open(path: url)
        let lock = try await holder.acquireLock(who: "alice", operation: "apply", timeout: .zero)
        #expect { try admin.forceUnlock(id: "not-the-lock") } throws: { if case StateError.noSuchLock(_, "not-the-lock", _) = $0 { true } else { false } }
        try admin.forceUnlock(id: lock.id)
        // Its session was ended with the lock (pg_terminate_backend): the holder's next renewal finds the connection lost.
        #expect { try holder.renewLock(lock) } throws: { if case StateError.io(_, let detail) = $0 { detail.contains("was lost") } else { false } }
        // The server frees the ended session's advisory lock once its backend process has gone, a moment after
        // pg_terminate_backend returns: the taker waits for that, as any second applier would.
        let mine = try await admin.acquireLock(who: "bob", operation: "apply", timeout: .seconds(30))
        #expect(try admin.currentLock()?.id == mine.id)
    }

    @Test func migrateMovesStateBothWaysKeepingLineageAndSerial() async throws {
        let pg = try postgres(), t = TempState()
        let sqlite = try StateStore.open(path: t.path)
        let run = try sqlite.beginRun(kind: .apply, who: "alice", configHash: "h")
        let secret: JSON = ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "tok", "namespace": "sample"], "stringData": ["token": "canary-123"]]
        try sqlite.upsert([managed(deployment("web")), managed(secret)], run: run)
        try await sqlite.journal(run, step: JournalStep(address: try ResourceAddress(parsing: "remote1/apps/Deployment/sample/a"), action: .create, phase: .done, dependencies: ["b"]))
        try sqlite.finishRun(run, outcome: .succeeded, message: nil)
        try sqlite.recordDriftCheck(findings: [DriftFinding(address: "a", cluster: "remote1", kind: .deleted)], at: Date())
        let before = try sqlite.snapshot()

        let url = pg.url()
        let copied = try await sqlite.migrate(to: StateStore.open(path: url), who: "alice")
        #expect(copied.objects == 2 && copied.runs == 1)
        let onPG = try StateStore.open(path: url)
        #expect(onPG.lineage == sqlite.lineage && onPG.secretHash("probe") == sqlite.secretHash("probe"))
        let snap = try onPG.snapshot()
        #expect(snap.serial == before.serial && snap.objects == before.objects && snap.lastApplyConfigHash == "h")
        #expect(try onPG.journal(of: run) == sqlite.journal(of: run) && onPG.driftHistory() == sqlite.driftHistory())
        // Generated ids continue above the copied ones.
        let r2 = try onPG.beginRun(kind: .apply, who: "bob", configHash: nil)
        try await onPG.journal(r2, step: JournalStep(address: try ResourceAddress(parsing: "remote1/apps/Deployment/sample/c"), action: .create, phase: .started))
        #expect(try onPG.runs(limit: 5).first?.id == r2)

        // And back, to a new file.
        let back = t.file("back.db")
        _ = try await onPG.migrate(to: StateStore.open(path: back), who: "alice")
        let file = try StateStore.open(path: back)
        let (fileSerial, fileObjects) = (try file.serial(), try file.objects())
        #expect(file.lineage == sqlite.lineage && fileSerial == before.serial && fileObjects == before.objects)
        #expect(try file.integrityProblems() == [])

        // A target of another lineage is refused and left as it was.
        let other = try StateStore.open(path: pg.url())
        try other.upsert(managed(deployment("theirs")), run: nil)
        let e = await #expect(throws: StateError.self) { _ = try await sqlite.migrate(to: other, who: "alice") }
        #expect({ if case .lineageMismatch? = e { true } else { false } }(), "\(String(describing: e))")
        #expect(e?.description.contains("another state") == true)
        #expect(try other.objects().map(\.name) == ["theirs"] && other.serial() == 1)
    }
}

/// TLS to the database as libpq's sslmodes promise (https://www.postgresql.org/docs/15/libpq-ssl.html): a server with
/// `ssl=on` and a certificate for `localhost` from a test CA.
@Suite struct PostgresTLSTests {
    static let certificates = Result { try TestCertificates(in: NSTemporaryDirectory() + "meshform-pg-tls-" + UUID().uuidString.prefix(8)) }

    func url(_ server: PostgresTestServer, host: String, mode: String, root: String?) -> String {
        "postgres://postgres@\(host):\(server.port)/postgres?sslmode=\(mode)\(root.map { "&sslrootcert=\($0)" } ?? "")&schema=tls"
    }

    @Test func verifyFullAcceptsTheRightServerAndRefusesAWrongCAOrHostClearly() throws {
        let certs = try Self.certificates.get()
        let server = try PostgresTestServer(fsync: false, tls: (certs.serverCertificate, certs.serverKey))
        defer { server.stop() }
        // Its own password; HOME elsewhere, so no ~/.postgresql/root.crt of this machine's is used.
        let env = ["PGPASSWORD": server.password, "HOME": NSTemporaryDirectory()]
        func open(_ url: String) throws -> StateStore {
            guard case .postgres(let pg) = try StateLocation(url, environment: env) else { throw StateError.notFound(path: url) }
            return try StateStore(backend: PostgresBackend.open(pg, create: true, readOnly: false))
        }

        // The right CA and the name the certificate holds: connected, over TLS (the server says so).
        let good = try open(url(server, host: "localhost", mode: "verify-full", root: certs.ca))
        try good.upsert(managed(deployment("web")), run: nil)
        #expect(try good.read { try $0.value("SELECT CASE WHEN ssl THEN 1 ELSE 0 END AS tls FROM pg_stat_ssl WHERE pid = pg_backend_pid()")?.int } == 1)

        // Another CA: refused, saying the certificate is not trusted and which roots were used.
        let wrongCA = #expect(throws: StateError.self) { try open(url(server, host: "localhost", mode: "verify-full", root: certs.otherCA)) }
        #expect({ if case .io? = wrongCA { true } else { false } }(), "\(String(describing: wrongCA))")
        #expect(wrongCA?.description.contains("certificate") == true && wrongCA?.description.contains(certs.otherCA) == true, "\(String(describing: wrongCA))")

        // The right CA, but an address the certificate does not name (it lists DNS:localhost only): refused, naming it.
        let wrongHost = #expect(throws: StateError.self) { try open(url(server, host: "127.0.0.1", mode: "verify-full", root: certs.ca)) }
        #expect({ if case .io? = wrongHost { true } else { false } }(), "\(String(describing: wrongHost))")
        #expect(wrongHost?.description.contains("does not name 127.0.0.1") == true, "\(String(describing: wrongHost))")
        // verify-ca checks the chain only, as libpq's does: the same address is accepted.
        #expect(try open(url(server, host: "127.0.0.1", mode: "verify-ca", root: certs.ca)).serial() == 1)
        // And verify-ca still refuses a chain it cannot trust.
        #expect { try open(url(server, host: "127.0.0.1", mode: "verify-ca", root: certs.otherCA)) }
            throws: { if case StateError.io(_, let detail) = $0 { detail.contains("certificate") } else { false } }

        // sslmode=disable still works on loopback: plaintext, as asked.
        let plain = try open(url(server, host: "127.0.0.1", mode: "disable", root: nil))
        #expect(try plain.serial() == 1)
        #expect(try plain.read { try $0.value("SELECT CASE WHEN ssl THEN 1 ELSE 0 END AS tls FROM pg_stat_ssl WHERE pid = pg_backend_pid()")?.int } == 0)
    }

    /// A server without TLS and sslmode=verify-full: refused, never silently plaintext.
    @Test func aServerWithoutTLSIsRefusedUnlessTLSIsDisabled() throws {
        let pg = try postgres()
        let url = pg.url().replacingOccurrences(of: "sslmode=disable", with: "sslmode=verify-full")
        let e = #expect(throws: StateError.self) { try StateStore.open(path: url) }
        #expect({ if case .io? = e { true } else { false } }(), "\(String(describing: e))")
        #expect(e?.description.contains("does not offer TLS") == true, "\(String(describing: e))")
    }
}
