import Foundation
import Synchronization

/// A token bucket: `burst` requests may go at once, then `qps` per second. Callers reserve a slot in arrival
/// order and sleep outside the lock, so waiting never blocks other callers from reserving. A lock, not an actor:
/// every request reserves, and a hop onto an actor and back cost more than the arithmetic (#17).
final class RateLimiter: Sendable {
    let qps: Double
    let burst: Double
    private struct Bucket { var tokens: Double; var last: ContinuousClock.Instant }
    private let bucket: Mutex<Bucket>

    init(qps: Double, burst: Int) {
        self.qps = max(qps, 0.001)
        self.burst = Double(max(burst, 1))
        self.bucket = Mutex(Bucket(tokens: Double(max(burst, 1)), last: ContinuousClock.now))
    }

    /// Reserves one request slot and returns how long the caller must wait before sending.
    func reserve() -> Duration {
        let tokens = bucket.withLock { b in
            let now = ContinuousClock.now
            let elapsed = now - b.last
            b.last = now
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            b.tokens = min(burst, b.tokens + seconds * qps) - 1
            return b.tokens
        }
        if tokens >= 0 { return .zero }
        return .milliseconds(Int((-tokens / qps * 1000).rounded(.up)))
    }

    /// Waits for a slot.
    func acquire() async throws {
        let wait = reserve()
        if wait > .zero { try await Task.sleep(for: wait) }
    }
}
