import Foundation

/// When and how long to wait before trying a request again.
///
/// Retried: 429 (honouring `Retry-After`), 5xx, and connections that failed or dropped. Never retried: any other
/// 4xx, whose answer would not change, and TLS verification failures. Bounded both by `maxAttempts` and by
/// `maxElapsed`: a retry whose delay would cross `maxElapsed` is not made.
public struct RetryPolicy: Sendable, Hashable {
    /// Total tries, including the first.
    public var maxAttempts: Int
    /// Time budget across all tries, from the first send.
    public var maxElapsed: Duration
    /// The backoff ceiling grows as `baseDelay * 2^(retry-1)`, up to `maxDelay`.
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 6, maxElapsed: Duration = .seconds(60),
                baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(5)) {
        self.maxAttempts = maxAttempts; self.maxElapsed = maxElapsed; self.baseDelay = baseDelay; self.maxDelay = maxDelay
    }

    /// One try only.
    public static let never = RetryPolicy(maxAttempts: 1)

    /// Whether an HTTP status is worth another try.
    public static func isRetryable(status: Int) -> Bool { status == 429 || (500...599).contains(status) && status != 501 }

    /// The exponential ceiling for the `retry`-th retry (1-based), before jitter.
    public func ceiling(retry: Int) -> Duration {
        let exponent = min(max(retry - 1, 0), 30)
        let grown = baseDelay * (1 << exponent)
        return min(grown, maxDelay)
    }

    /// The delay before the `retry`-th retry: "full jitter" (a uniform draw in `0...ceiling`, which spreads
    /// many clients apart), but never less than the server's `Retry-After`.
    /// `unit` is the random draw in `0...1`, injectable so the math is testable.
    public func delay(retry: Int, retryAfter: Duration? = nil, unit: Double = Double.random(in: 0...1)) -> Duration {
        let jittered = ceiling(retry: retry) * max(0, min(1, unit))
        if let retryAfter { return max(retryAfter, jittered) }
        return jittered
    }

    /// Parses a `Retry-After` header: delta-seconds or an HTTP date.
    public static func parseRetryAfter(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value) { return .seconds(max(0, seconds)) }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = f.date(from: value) else { return nil }
        return .milliseconds(max(0, Int(date.timeIntervalSince(now) * 1000)))
    }
}

/// Tunables of one client. The defaults are deliberately generous: kubectl's low default QPS is one of its
/// best-known complaints, and the API server has its own priority-and-fairness protection.
public struct ClientOptions: Sendable {
    /// Sustained requests per second across the whole client (token bucket refill rate).
    public var qps: Double
    /// Requests that may go at once before the QPS limit applies (bucket size).
    public var burst: Int
    public var retry: RetryPolicy
    /// Deadline for one request/response exchange.
    public var requestTimeout: Duration
    public var connectTimeout: Duration
    /// Upper bound on open HTTP/1.1 connections to the cluster (the connection pool's size).
    public var maxConnections: Int
    /// Page size for `list`.
    public var pageSize: Int
    /// How soon `wait` and `delete(waitUntilGone:)` look again the first time (then twice as long each time, up to 2 s).
    public var pollInterval: Duration
    /// Sent as `User-Agent`.
    public var userAgent: String
    /// Receives each code-299 `Warning` header of every answer (`ServerWarnings`): context name and text.
    /// Default: printed once on standard error, as kubectl does.
    public var warningHandler: @Sendable (_ context: String, _ text: String) -> Void = ServerWarnings.printingOnce()

    public init(qps: Double = 200, burst: Int = 400, retry: RetryPolicy = .init(), requestTimeout: Duration = .seconds(60),
                connectTimeout: Duration = .seconds(10), maxConnections: Int = 64, pageSize: Int = 500,
                pollInterval: Duration = .milliseconds(10), userAgent: String = "meshform-kubeclient") {
        self.qps = qps; self.burst = burst; self.retry = retry; self.requestTimeout = requestTimeout
        self.connectTimeout = connectTimeout; self.maxConnections = maxConnections; self.pageSize = pageSize
        self.pollInterval = pollInterval; self.userAgent = userAgent
    }
}
