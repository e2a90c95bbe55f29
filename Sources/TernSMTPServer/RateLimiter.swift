import NIOConcurrencyHelpers
public import TernMail

/// Counts events per key (a user, a client address) over a sliding window, in buckets a
/// sixtieth of the window wide, and says when a key has used up its allowance.
///
/// Buckets are numbered on the wall clock, so the counts can be saved and restored across a
/// restart (`counts()`, `restore(_:)`): a restart must not hand a sender a fresh allowance.
/// Memory is bounded: at most `maximumKeys` keys are kept.
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

    /// The counts of one key: (bucket number, events in it), oldest first.
    public typealias Buckets = [(bucket: Int64, count: Int)]

    /// What `counts()` saves: the bucket width they were counted in, and the buckets per key.
    public struct Counts: Sendable {
        public var bucketMilliseconds: Int64
        public var keys: [String: Buckets]

        public init(bucketMilliseconds: Int64, keys: [String: Buckets]) {
            self.bucketMilliseconds = bucketMilliseconds
            self.keys = keys
        }
    }

    public let limit: Limit
    static let buckets: Int64 = 60
    static let maximumKeys = 100_000
    private let clock: WallClock
    private let bucketMilliseconds: Int64
    private let table = NIOLockedValueBox([String: Buckets]())

    public init(limit: Limit, clock: WallClock = .system) {
        self.limit = limit
        self.clock = clock
        let (seconds, attoseconds) = limit.window.components
        let windowMilliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        bucketMilliseconds = max(1, windowMilliseconds / Self.buckets)
    }

    /// Adds one event for each of `keys` if every one of them has room; when any has not,
    /// nothing is added and the answer is false (a refusal costs no allowance).
    public func take(for keys: [String]) -> Bool {
        guard limit.count > 0 else { return true }
        let bucket = clock.milliseconds / bucketMilliseconds
        return table.withLockedValue { table in
            var updated: [(String, Buckets)] = []
            for key in keys {
                var buckets = table[key] ?? []
                buckets.removeAll { $0.bucket <= bucket - Self.buckets }
                guard buckets.reduce(0, { $0 + $1.count }) < limit.count else { return false }
                if let last = buckets.last, last.bucket == bucket {
                    buckets[buckets.count - 1].count += 1
                } else {
                    buckets.append((bucket, 1))
                }
                updated.append((key, buckets))
            }
            if table.count >= Self.maximumKeys { table.removeAll() }
            for (key, buckets) in updated { table[key] = buckets }
            return true
        }
    }

    /// The counts still inside the window, for saving.
    public func counts() -> Counts {
        let oldest = clock.milliseconds / bucketMilliseconds - Self.buckets
        let keys = table.withLockedValue { table in
            table.compactMapValues { buckets -> Buckets? in
                let live = buckets.filter { $0.bucket > oldest }
                return live.isEmpty ? nil : live
            }
        }
        return Counts(bucketMilliseconds: bucketMilliseconds, keys: keys)
    }

    /// Takes back saved counts. Counts made with another bucket width (the window changed)
    /// are dropped: they cannot be placed in this one's buckets.
    public func restore(_ counts: Counts) {
        guard counts.bucketMilliseconds == bucketMilliseconds else { return }
        table.withLockedValue { table in
            for (key, buckets) in counts.keys.prefix(Self.maximumKeys) where table[key] == nil {
                table[key] = buckets
            }
        }
    }
}
