import NIOConcurrencyHelpers
import TernMail
import Testing

@testable import TernSMTPServer

/// The sliding-window counter behind the submission rate limits, on a manual clock.
@Suite("RateLimiter")
struct RateLimiterTests {
    /// Milliseconds since 1970, moved by hand.
    final class Clock: Sendable {
        let milliseconds = NIOLockedValueBox(Int64(1_795_400_000_000))
        var now: Int64 { milliseconds.withLockedValue { $0 } }
        var wallClock: WallClock { WallClock { [self] in .init(milliseconds: now) } }
        func advance(_ duration: Duration) {
            milliseconds.withLockedValue { $0 += duration.components.seconds * 1000 }
        }
    }

    @Test("the allowance is used up, refused without being charged, and comes back as the window slides")
    func slides() {
        let clock = Clock()
        let limiter = RateLimiter(limit: .init(count: 3, window: .seconds(3600)), clock: clock.wallClock)
        #expect(limiter.take(for: ["user:a", "ip:1"]))
        clock.advance(.seconds(600))
        #expect(limiter.take(for: ["user:a", "ip:1"]))
        #expect(limiter.take(for: ["user:a", "ip:1"]))
        #expect(!limiter.take(for: ["user:a", "ip:1"]))
        // Another user from the same address is limited by the address...
        #expect(!limiter.take(for: ["user:b", "ip:1"]))
        // ...and was not charged for it: from elsewhere it has its whole allowance.
        #expect(limiter.take(for: ["user:b", "ip:2"]))
        #expect(limiter.take(for: ["user:b", "ip:2"]))
        #expect(limiter.take(for: ["user:b", "ip:2"]))
        // An hour after the first event, one slot is free again; ten minutes later, two more.
        clock.advance(.seconds(3000 + 61))
        #expect(limiter.take(for: ["user:a", "ip:1"]))
        #expect(!limiter.take(for: ["user:a", "ip:1"]))
        clock.advance(.seconds(600))
        #expect(limiter.take(for: ["user:a", "ip:1"]))
        #expect(limiter.take(for: ["user:a", "ip:1"]))
    }

    @Test("a count of 0 means no limit")
    func off() {
        let limiter = RateLimiter(limit: .init(count: 0, window: .seconds(1)))
        for _ in 0..<1000 { #expect(limiter.take(for: ["user:a"])) }
    }

    @Test("saved counts restored into a new limiter (a restart) still count; another window's do not")
    func survivesRestart() {
        let clock = Clock()
        let limit = RateLimiter.Limit(count: 2, window: .seconds(3600))
        let before = RateLimiter(limit: limit, clock: clock.wallClock)
        #expect(before.take(for: ["user:a"]))
        #expect(before.take(for: ["user:a"]))
        #expect(before.take(for: ["user:b"]))
        let saved = before.counts()
        #expect(saved.keys.count == 2)

        clock.advance(.seconds(300))
        let after = RateLimiter(limit: limit, clock: clock.wallClock)
        after.restore(saved)
        #expect(!after.take(for: ["user:a"]))
        #expect(after.take(for: ["user:b"]))
        #expect(!after.take(for: ["user:b"]))

        let otherWindow = RateLimiter(limit: .init(count: 2, window: .seconds(60)), clock: clock.wallClock)
        otherWindow.restore(saved)
        #expect(otherWindow.take(for: ["user:a"]))

        // Counts older than the window are not saved at all.
        clock.advance(.seconds(3600))
        #expect(after.counts().keys.isEmpty)
    }
}
