import Foundation

/// A token bucket: `burst` requests may go at once, then `qps` per second. Callers reserve a slot in arrival
/// order and sleep outside the actor, so waiting never blocks other callers from reserving.
actor RateLimiter {
    let qps: Double
    let burst: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant
    private let clock = ContinuousClock()

    init(qps: Double, burst: Int) {
        self.qps = max(qps, 0.001)
        self.burst = Double(max(burst, 1))
        self.tokens = Double(max(burst, 1))
        self.last = clock.now
    }

    /// Reserves one request slot and returns how long the caller must wait before sending.
    func reserve() -> Duration {
        let now = clock.now
        let elapsed = now - last
        last = now
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(burst, tokens + seconds * qps)
        tokens -= 1
        if tokens >= 0 { return .zero }
        return .milliseconds(Int((-tokens / qps * 1000).rounded(.up)))
    }

    /// Waits for a slot.
    nonisolated func acquire() async throws {
        let wait = await reserve()
        if wait > .zero { try await Task.sleep(for: wait) }
    }
}
