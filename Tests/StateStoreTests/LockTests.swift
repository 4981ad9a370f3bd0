import Foundation
import KubeClient
import TestSupport
import Testing
import GRDB
import KubeModel
@testable import StateStore

@Suite struct LockTests {
    @Test func secondApplyFailsAtOnceNamingTheHolder() async throws {
        let t = TempState()
        let a = try StateStore.open(path: t.path), b = try StateStore.open(path: t.path)
        let run = try a.beginRun(kind: .apply, who: "alice", configHash: nil)
        let lock = try await a.acquireLock(who: "alice", operation: "apply", timeout: .zero, run: run)
        let clock = VirtualClock()
        let e = await #expect(throws: StateError.self) { try await b.acquireLock(who: "bob", operation: "apply", timeout: .zero, clock: clock) }
        #expect(clock.sleeps.isEmpty, "no wait with a zero timeout")
        guard case .locked(let path, let holder) = e else { Issue.record("expected .locked, got \(String(describing: e))"); return }
        #expect(path == t.path)
        #expect(holder.holder == "alice" && holder.operation == "apply" && holder.id == lock.id && holder.run == run)
        #expect(holder.pid == Int(ProcessInfo.processInfo.processIdentifier) && holder.host == ProcessInfo.processInfo.hostName)
        let message = e!.description
        #expect(message.contains("alice") && message.contains("meshform state unlock \(lock.id)"))
        try a.releaseLock(lock)
        let l2 = try await b.acquireLock(who: "bob", operation: "apply", timeout: .zero)
        try b.releaseLock(l2)
    }

    @Test func waitsUpToTheTimeoutForTheLock() async throws {
        let t = TempState()
        let a = try StateStore.open(path: t.path), b = try StateStore.open(path: t.path)
        let lock = try await a.acquireLock(who: "alice", operation: "apply", timeout: .zero)
        // Times out: waits the whole timeout (trying again every 100 ms), then names the holder. The wait is timed by a
        // virtual clock, so it takes no real time and is the same under any load.
        let clock = VirtualClock()
        await #expect { try await b.acquireLock(who: "bob", operation: "apply", timeout: .milliseconds(300), clock: clock) }
            throws: { if case StateError.locked(_, let holder) = $0 { holder.id == lock.id } else { false } }
        #expect(clock.sleeps == [.milliseconds(100), .milliseconds(100), .milliseconds(100)])
        // Released while it waits: its next try gets it.
        let releasing = VirtualClock { _ in try? a.releaseLock(lock) }
        let l2 = try await b.acquireLock(who: "bob", operation: "apply", timeout: .seconds(5), clock: releasing)
        #expect(l2.holder == "bob")
        #expect(releasing.sleeps == [.milliseconds(100)])
    }

    @Test func expiredLeaseIsTakenOverAndItsHolderLearnsIt() async throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        let old = try await store.acquireLock(who: "alice", operation: "apply", timeout: .zero, lease: .milliseconds(50))
        try await Task.sleep(for: .milliseconds(100))
        let new = try await store.acquireLock(who: "bob", operation: "apply", timeout: .zero)
        #expect(new.id != old.id)
        #expect(throws: StateError.lockLost(path: t.path, id: old.id)) { try store.renewLock(old) }
        #expect(throws: StateError.lockLost(path: t.path, id: old.id)) { try store.releaseLock(old) }
        #expect(try store.currentLock()?.holder == "bob")
    }

    @Test func renewKeepsTheLeaseAlive() async throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        let l = try await store.acquireLock(who: "alice", operation: "apply", timeout: .zero, lease: .milliseconds(150))
        let renewed = try store.renewLock(l, lease: .seconds(600))
        // The lease now ends 10 minutes from the renewal, in the store too, and the lock still holds.
        #expect(renewed.id == l.id && renewed.expiresAt.timeIntervalSince(l.expiresAt) > 590)
        #expect(try store.currentLock()?.expiresAt.timeIntervalSince(l.expiresAt) ?? 0 > 590)
        await #expect { try await store.acquireLock(who: "bob", operation: "apply", timeout: .zero) }
            throws: { if case StateError.locked(_, let holder) = $0 { holder.id == l.id } else { false } }
    }

    @Test func asyncWaitAndRenewerKeepTheLease() async throws {
        let t = TempState()
        let a = try StateStore.open(path: t.path), b = try StateStore.open(path: t.path)
        let lock = try await a.acquireLock(who: "alice", operation: "apply", timeout: .zero, lease: .seconds(1))
        let renewer = a.keepRenewing(lock, lease: .seconds(1), interval: .milliseconds(100))
        // Well past the original lease: the renewer kept it alive.
        await #expect { try await b.acquireLock(who: "bob", operation: "apply", timeout: .milliseconds(1800)) }
            throws: { if case StateError.locked(_, let holder) = $0 { holder.id == lock.id } else { false } }
        #expect(!renewer.lost)
        renewer.stop()
        try a.releaseLock(lock)
        let l2 = try await b.acquireLock(who: "bob", operation: "apply", timeout: .seconds(1))
        #expect(l2.holder == "bob")
    }

    @Test func lockOfADeadProcessOnThisHostIsStale() async throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        // A real process that has exited: its pid is free.
        let shell = try await ChildProcess.run("/bin/sh", ["-c", "echo $$"])   // the shell prints its own pid, then exits
        let pid = try #require(Int(shell.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)))
        var l = try await store.acquireLock(who: "crashed", operation: "apply", timeout: .zero)
        try await store.pool.write { try $0.execute(sql: "UPDATE lock SET pid = ?", arguments: [pid]) }
        l.pid = pid
        #expect(try store.currentLock() == nil)
        let mine = try await store.acquireLock(who: "bob", operation: "apply", timeout: .zero)
        #expect(mine.holder == "bob")
    }

    @Test func unlockBreaksOnlyTheNamedLock() async throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        let l = try await store.acquireLock(who: "alice", operation: "apply", timeout: .zero)
        let e = #expect(throws: StateError.self) { try store.forceUnlock(id: "not-it") }
        guard case .noSuchLock(_, "not-it", let cur) = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(cur?.id == l.id)
        try store.forceUnlock(id: l.id)
        #expect(try store.currentLock() == nil)
        #expect(throws: StateError.lockLost(path: t.path, id: l.id)) { try store.releaseLock(l) }
    }

    @Test(.timeLimit(.minutes(1))) func readersNeverWaitForTheLockOrAWriteTransaction() async throws {
        let t = TempState()
        let writer = try StateStore.open(path: t.path)
        try writer.upsert(managed(deployment("a")), run: nil)
        _ = try await writer.acquireLock(who: "alice", operation: "apply", timeout: .zero)
        let reader = try StateStore.openReadOnly(path: t.path)
        // Hold a write transaction open on the writer while the reader reads.
        // (On a thread of its own: it blocks until the reader has read. A reader that waited for it would never read:
        // the test would hang until its time limit, and fail.)
        let finish = DispatchSemaphore(value: 0)
        await withCheckedContinuation { (entered: CheckedContinuation<Void, Never>) in
            Thread {
                try? writer.pool.write { db in
                    try db.execute(sql: "UPDATE meta SET value = 99 WHERE key = 'serial'")
                    entered.resume(); finish.wait()
                }
            }.start()
        }
        let snap = try reader.snapshot()
        finish.signal()
        #expect(snap.serial == 1)          // the committed state, not the half-written one
        #expect(snap.lock?.holder == "alice" && snap.applyInProgress)
    }
}

/// Issue 12: a lock that holds, names its run and its holder, and whose loss the holder learns.
@Suite struct LeaseTests {
    @Test func holderIsNamedEvenWithoutUSER() {
        let name = StateStore.currentUser(environment: [:])
        #expect(!name.isEmpty && name != "unknown")
        #expect(StateStore.currentUser(environment: ["LOGNAME": "carol"]) == "carol")
        #expect(StateStore.currentUser(environment: ["USER": "alice", "LOGNAME": "carol"]) == "alice")
    }

    @Test func theLockNamesTheRunAndTheRenewalLearnsItWasTakenOver() async throws {
        let t = TempState()
        let a = try StateStore.open(path: t.path), b = try StateStore.open(path: t.path)
        let lock = try await a.acquireLock(who: "alice", operation: "apply", timeout: .zero, lease: .milliseconds(300))
        let run = try a.beginRun(kind: .apply, who: "alice", configHash: nil)
        try a.attachRun(run, to: lock)
        let held = try #require(try b.currentLock())
        #expect(held.run == run && held.holder == "alice" && held.host == ProcessInfo.processInfo.hostName)
        #expect(held.summary.contains(run.rawValue))
        // Someone breaks the lock: the holder's next renewal fails and says so.
        try b.forceUnlock(id: lock.id)
        let renewal = a.keepRenewing(lock, lease: .milliseconds(300), interval: .milliseconds(20))
        defer { renewal.stop() }
        var lost = false
        for _ in 0..<200 where !lost { try await Task.sleep(for: .milliseconds(10)); lost = renewal.lost }
        #expect(lost)
    }

    @Test func journalKeepsDependenciesAndKnownAddressesCoverAnUnfinishedRun() throws {
        let t = TempState()
        let store = try StateStore.open(path: t.path)
        try store.upsert(managed(deployment("a")), run: nil)
        let run = try store.beginRun(kind: .apply, who: "alice", configHash: nil)
        try store.journal(run, step: JournalStep(address: try ResourceAddress(parsing: "c/apps/Deployment/default/b"), action: .create, phase: .started,
                                                 dependencies: ["c/core/Namespace/_/default"]))
        let steps = try store.journal(of: run)
        #expect(steps.first?.dependencies == ["c/core/Namespace/_/default"])
        let known = try store.knownAddresses()
        #expect(known.runUnfinished)
        #expect(known.addresses.contains("c/apps/Deployment/default/b"))
        #expect(known.addresses.count == 2)
        try store.finishRun(run, outcome: .succeeded, message: nil)
        #expect(try store.knownAddresses().runUnfinished == false)
        #expect(try store.knownAddresses().addresses.count == 1)
    }
}
