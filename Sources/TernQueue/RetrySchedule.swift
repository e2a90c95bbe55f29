/// When to try a deferred delivery again, and when to give up (RFC 5321 §4.5.4.1: retry
/// intervals of at least 30 minutes are recommended for remote hosts, give-up time at least
/// 4-5 days). Postfix-like: the delay doubles from `firstDelay` up to `maximumDelay`.
public struct RetrySchedule: Sendable, Hashable {
    /// Seconds before the first retry. Default 5 minutes.
    public var firstDelay: Int64
    /// The largest gap between tries. Default 4 hours.
    public var maximumDelay: Int64
    /// How long a message may stay in the queue. Default 5 days.
    public var maximumLifetime: Int64

    public init(firstDelay: Int64 = 300, maximumDelay: Int64 = 4 * 3600, maximumLifetime: Int64 = 5 * 86_400) {
        self.firstDelay = firstDelay
        self.maximumDelay = maximumDelay
        self.maximumLifetime = maximumLifetime
    }

    /// The delay after the `attempts`-th failed try (1-based): 5m, 10m, 20m, 40m, 80m, ... 4h.
    public func delay(afterAttempts attempts: Int) -> Int64 {
        var delay = firstDelay
        for _ in 1..<max(attempts, 1) {
            delay *= 2
            if delay >= maximumDelay { return maximumDelay }
        }
        return min(delay, maximumDelay)
    }

    /// True when a message that arrived at `arrival` has been queued too long at `now`.
    public func hasExpired(arrival: Int64, now: Int64) -> Bool {
        now - arrival >= maximumLifetime
    }
}
