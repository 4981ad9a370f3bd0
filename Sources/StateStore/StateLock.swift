import Foundation
import Synchronization

/// The write lock: a lease on the state file, held by one writing run (apply, destroy, recover, plan -out).
///
/// A lease, not an OS lock: it is a row in the file, so it is visible to every process and host sharing
/// the file, names its holder, and expires on its own if the holder dies without releasing it. The holder
/// renews it (`renewLock`) while it works. A lock whose holder process is gone on this same host is stale
/// and is taken over at once. Readers (`plan` without `-out`, `drift`) never take it.
public struct StateLock: Codable, Sendable, Equatable {
    /// What `meshform state unlock ID` takes.
    public var id: String
    public var holder: String
    public var operation: String
    public var pid: Int
    public var host: String
    public var run: RunID?
    public var acquiredAt: Date
    public var expiresAt: Date

    /// "alice (apply, pid 4242 on build-7, since 2025-01-01T10:00:00Z, run 1b2c...)".
    public var summary: String {
        let since = ISO8601DateFormatter().string(from: acquiredAt)
        return "\(holder) (\(operation), pid \(pid) on \(host), since \(since)\(run.map { ", run \($0)" } ?? ""), lock \(id))"
    }

    init(row: SQLRow) {
        id = row.text("id"); holder = row.text("holder"); operation = row.text("operation"); pid = Int(row.int("pid"))
        host = row.text("host"); run = row.optText("run").map(RunID.init(rawValue:))
        acquiredAt = Millis.date(row.int("acquired_at")); expiresAt = Millis.date(row.int("expires_at"))
    }

    /// Writes the lease row (the caller removed any previous one in the same transaction).
    static func insert(_ l: StateLock, _ tx: any SQLTx) throws {
        try tx.execute("""
            INSERT INTO lock (singleton, id, holder, operation, pid, host, run, acquired_at, expires_at)
            VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [l.id, l.holder, l.operation, l.pid, l.host, l.run?.rawValue, Millis.from(l.acquiredAt), Millis.from(l.expiresAt)])
    }

    init(id: String, holder: String, operation: String, pid: Int, host: String, run: RunID?, acquiredAt: Date, expiresAt: Date) {
        self.id = id; self.holder = holder; self.operation = operation; self.pid = pid; self.host = host
        self.run = run; self.acquiredAt = acquiredAt; self.expiresAt = expiresAt
    }

    /// Whether the lease still holds at `now`: not expired, and its process not known to be gone.
    func isLive(at now: Date) -> Bool {
        guard expiresAt > now else { return false }
        if host == ProcessInfo.processInfo.hostName, pid > 0, kill(pid_t(pid), 0) != 0, errno == ESRCH { return false }
        return true
    }
}

extension StateStore {
    /// Who runs this process, as runs and the lock record it: `USER`, else `LOGNAME`, else the account name of
    /// the process's uid (cron jobs and containers often set neither variable), else `uid N`. The host is
    /// recorded beside it.
    public static func currentUser(environment env: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let u = env["USER"], !u.isEmpty { return u }
        if let u = env["LOGNAME"], !u.isEmpty { return u }
        if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return "uid \(getuid())"
    }

    /// Takes the write lock, or waits up to `timeout` for it (`.zero`: one attempt). Waits with `Task.sleep` (no thread
    /// blocked) and stops waiting when the task is cancelled.
    ///
    /// Throws `StateError.locked` naming the holder (who, operation, pid, host, since, run, lock ID).
    /// An expired lease, or one whose process is gone on this host, is taken over.
    /// - Parameter lease: how long the lock holds without `renewLock` (or `keepRenewing`).
    /// - Parameter waiting: called once, with the holder, when the lock is held and the call starts to wait for it
    ///   (so a user sees why nothing happens, as Terraform's "Acquiring state lock" says).
    public func acquireLock(who: String, operation: String, timeout: Duration = .zero, lease: Duration = .seconds(120),
                            run: RunID? = nil, waiting: (@Sendable (StateLock) -> Void)? = nil) async throws -> StateLock {
        try await acquireLock(who: who, operation: operation, timeout: timeout, lease: lease, run: run, clock: ContinuousClock(),
                              waiting: waiting)
    }

    /// `acquireLock` with its wait timed by `clock` (tests give one of their own, so a wait takes no real time).
    public func acquireLock<C: Clock>(who: String, operation: String, timeout: Duration = .zero, lease: Duration = .seconds(120),
                                      run: RunID? = nil, clock: C,
                                      waiting: (@Sendable (StateLock) -> Void)? = nil) async throws -> StateLock where C.Duration == Duration {
        let deadline = clock.now.advanced(by: timeout)
        var told = false
        while true {
            switch try tryLock(who: who, operation: operation, lease: lease, run: run) {
            case .acquired(let mine): return mine
            case .heldBy(let holder):
                let left = clock.now.duration(to: deadline)
                if left <= .zero { throw StateError.locked(path: path, holder: holder) }
                if !told { waiting?(holder); told = true }
                try await clock.sleep(until: clock.now.advanced(by: min(.milliseconds(100), left)), tolerance: nil)
            }
        }
    }

    /// One attempt: the backend takes the lock if it is free (or its holder is gone), else names the holder.
    private func tryLock(who: String, operation: String, lease: Duration, run: RunID?) throws -> LockAttempt {
        let now = Date()
        let mine = StateLock(id: UUID().uuidString.lowercased(), holder: who, operation: operation,
                             pid: Int(ProcessInfo.processInfo.processIdentifier), host: ProcessInfo.processInfo.hostName,
                             run: run, acquiredAt: now, expiresAt: now.addingTimeInterval(lease.seconds))
        return try backend.tryLock(mine)
    }

    /// Renews `l` every `interval` (default: a third of the lease) with `renewLock`, on a thread of its own, until
    /// `stop()`. The holder of a long apply starts this after `acquireLock` and stops it before `releaseLock`; `lost`
    /// tells whether the lock was lost meanwhile (then renewing stops).
    public func keepRenewing(_ l: StateLock, lease: Duration = .seconds(120), interval: Duration? = nil) -> LockRenewal {
        let r = LockRenewal(lock: l)
        r.start(every: interval ?? lease / 3) { [self] in try renewLock(l, lease: lease) }
        return r
    }

    /// Extends the lease by `lease` from now. Throws `StateError.lockLost` if the lock is no longer this one.
    @discardableResult
    public func renewLock(_ l: StateLock, lease: Duration = .seconds(120)) throws -> StateLock {
        var renewed = l
        renewed.expiresAt = Date().addingTimeInterval(lease.seconds)
        try write { tx in
            if try tx.execute("UPDATE lock SET expires_at = ? WHERE singleton = 1 AND id = ?", [Millis.from(renewed.expiresAt), l.id]) == 0 {
                throw StateError.lockLost(path: path, id: l.id)
            }
        }
        return renewed
    }

    /// Records which run works under the lock (shown to anyone who finds the file locked).
    @discardableResult
    public func attachRun(_ run: RunID, to l: StateLock) throws -> StateLock {
        try write { tx in
            if try tx.execute("UPDATE lock SET run = ? WHERE singleton = 1 AND id = ?", [run.rawValue, l.id]) == 0 {
                throw StateError.lockLost(path: path, id: l.id)
            }
        }
        var l = l; l.run = run; return l
    }

    /// Releases the lock. Throws `StateError.lockLost` if it was not this lock any more (nothing is released then).
    public func releaseLock(_ l: StateLock) throws {
        try write { tx in
            if try tx.execute("DELETE FROM lock WHERE singleton = 1 AND id = ?", [l.id]) == 0 {
                throw StateError.lockLost(path: path, id: l.id)
            }
        }
        try backend.released(l)
    }

    /// Breaks the lock with this ID (`meshform state unlock ID`), whoever holds it. The ID must match, so a
    /// lock taken by someone else since the user looked is never broken by mistake.
    public func forceUnlock(id: String) throws {
        let broken = try write { tx in
            let cur = try tx.row("SELECT * FROM lock WHERE singleton = 1").map(StateLock.init(row:))
            guard let cur, cur.id == id else { throw StateError.noSuchLock(path: path, id: id, current: cur) }
            try tx.execute("DELETE FROM lock WHERE singleton = 1 AND id = ?", [id])
            return cur
        }
        try backend.broken(broken)
    }

    /// The current lock if it is live (unexpired, holder not known dead), else nil. Takes no lock.
    public func currentLock() throws -> StateLock? {
        try read { tx in try backend.liveLock(tx) }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// A running lease renewal (`StateStore.keepRenewing`).
///
/// It runs on a thread of its own, not in a task: the renewal has a deadline (the lease), and CPU-heavy work that
/// fills the cooperative pool (compiling fifty clusters, parsing megabytes of manifests) must never delay it past that.
public final class LockRenewal: Sendable {
    /// The lock being renewed.
    public let lock: StateLock
    private let stopSignal = DispatchSemaphore(value: 0)
    private let state = Mutex((lost: false, stopped: false))

    /// True once a renewal failed: the lock expired and was taken over, or was force-unlocked.
    public var lost: Bool { state.withLock { $0.lost } }

    init(lock: StateLock) { self.lock = lock }

    func start(every: Duration, renew: @escaping @Sendable () throws -> Void) {
        let t = Thread { [self] in
            while stopSignal.wait(timeout: .now() + every.seconds) == .timedOut {
                do { try renew() } catch { state.withLock { $0.lost = true }; return }
            }
        }
        t.name = "meshform-lock-renewal"
        t.start()
    }

    /// Stops renewing (idempotent). The lock itself stays until released or expired.
    public func stop() {
        if state.withLock({ s in defer { s.stopped = true }; return !s.stopped }) { stopSignal.signal() }
    }
}
