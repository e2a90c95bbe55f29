import NIOConcurrencyHelpers

/// Counts events per key (a user, a client address) over a sliding window, in one-minute-wide
/// buckets (a sixtieth of the window), and says when a key has used up its allowance.
///
/// In memory: a restart forgets the counts, which lets a sender through at most one extra
/// allowance. Memory is bounded: at most `maximumKeys` keys are kept.
public final class RateLimiter: Sendable {
    public struct Limit: Sendable, Hashable {
        /// Events allowed per window; 0 means no limit.
        public var count: Int
        public var window: Duration

        public init(count: Int, window: Duration) {
            self.count = count
            self.window = window
        }
    }

    private struct Buckets {
        /// (bucket number, events in it), oldest first.
        var entries: [(bucket: Int64, count: Int)] = []

        mutating func trim(before oldest: Int64) {
            entries.removeAll { $0.bucket < oldest }
        }

        var total: Int { entries.reduce(0) { $0 + $1.count } }
    }

    public let limit: Limit
    static let buckets: Int64 = 60
    static let maximumKeys = 100_000
    private let now: @Sendable () -> ContinuousClock.Instant
    private let origin = ContinuousClock.now
    private let table = NIOLockedValueBox([String: Buckets]())

    public init(limit: Limit, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.limit = limit
        self.now = now
    }

    /// Adds one event for each of `keys` if every one of them has room; when any has not,
    /// nothing is added and the answer is false (a refusal costs no allowance).
    public func take(for keys: [String]) -> Bool {
        guard limit.count > 0 else { return true }
        let width = limit.window / Int(Self.buckets)
        let bucket = Int64(origin.duration(to: now()) / width)
        return table.withLockedValue { table in
            var updated: [(String, Buckets)] = []
            for key in keys {
                var buckets = table[key] ?? Buckets()
                buckets.trim(before: bucket - Self.buckets + 1)
                guard buckets.total < limit.count else { return false }
                if let last = buckets.entries.last, last.bucket == bucket {
                    buckets.entries[buckets.entries.count - 1].count += 1
                } else {
                    buckets.entries.append((bucket, 1))
                }
                updated.append((key, buckets))
            }
            if table.count >= Self.maximumKeys { table.removeAll() }
            for (key, buckets) in updated { table[key] = buckets }
            return true
        }
    }
}
