import Synchronization

/// A clock whose time moves only when someone sleeps on it: a sleep returns at once, with `now` moved to its
/// deadline, and is recorded. A wait timed by it (a lock's timeout, a retry's backoff) takes no real time and is
/// the same on every run, so a test can assert how long the code waited, and act at the moment it would sleep
/// (`onSleep`), instead of sleeping itself and hoping the timing works out.
public final class VirtualClock: Clock, Sendable {
    public struct Instant: InstantProtocol {
        public var offset: Duration
        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }

    private let state = Mutex((now: Instant(offset: .zero), sleeps: [Duration]()))
    private let onSleep: @Sendable (Int) -> Void

    /// `onSleep` is called before each sleep returns, with how many sleeps there were before it (0 for the first).
    public init(onSleep: @escaping @Sendable (Int) -> Void = { _ in }) { self.onSleep = onSleep }

    public var now: Instant { state.withLock { $0.now } }
    public var minimumResolution: Duration { .zero }
    /// Every sleep so far, in order.
    public var sleeps: [Duration] { state.withLock { $0.sleeps } }
    /// The time slept in all.
    public var slept: Duration { state.withLock { $0.now.offset } }

    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        try Task.checkCancellation()
        let count = state.withLock { s in
            let count = s.sleeps.count
            s.sleeps.append(max(.zero, s.now.duration(to: deadline)))
            if s.now < deadline { s.now = deadline }
            return count
        }
        onSleep(count)
    }
}
