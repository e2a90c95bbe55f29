import TernSystem

/// The time of day, in UTC since 1970: what Received headers, queue IDs, the queue's schedule,
/// rate-limit windows, UIDVALIDITY and the catcher's dates are made of.
///
/// Code that reads the time takes a `WallClock` (`.system` by default), never the system clock
/// itself, so a test can fix or move it. Intervals and timeouts are not wall-clock time: they use
/// the event loop's monotonic `NIODeadline`.
public struct WallClock: Sendable {
    /// One reading of the clock.
    public struct Reading: Sendable, Hashable, Comparable {
        public var seconds: Int64
        /// 0 ..< 1_000_000_000.
        public var nanoseconds: Int64

        public init(seconds: Int64, nanoseconds: Int64 = 0) {
            self.seconds = seconds
            self.nanoseconds = nanoseconds
        }

        public init(milliseconds: Int64) {
            self.init(seconds: milliseconds / 1000, nanoseconds: milliseconds % 1000 * 1_000_000)
        }

        public var milliseconds: Int64 { seconds &* 1000 &+ nanoseconds / 1_000_000 }

        /// Microseconds since 1970, as a queue ID counts them (0 before 1970).
        public var microseconds: UInt64 {
            UInt64(clamping: seconds) &* 1_000_000 &+ UInt64(clamping: nanoseconds / 1000)
        }

        public static func < (lhs: Reading, rhs: Reading) -> Bool {
            (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
        }
    }

    private let read: @Sendable () -> Reading

    public init(read: @escaping @Sendable () -> Reading) {
        self.read = read
    }

    public func now() -> Reading { read() }

    /// Whole seconds since 1970.
    public var seconds: Int64 { read().seconds }

    /// Milliseconds since 1970.
    public var milliseconds: Int64 { read().milliseconds }

    /// The system's real-time clock (`CLOCK_REALTIME`).
    public static let system = WallClock {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Reading(seconds: Int64(spec.tv_sec), nanoseconds: Int64(spec.tv_nsec))
    }

    /// A clock that always reads `seconds`.
    public static func fixed(seconds: Int64) -> WallClock {
        WallClock { Reading(seconds: seconds) }
    }
}
