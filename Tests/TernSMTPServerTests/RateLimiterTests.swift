import NIOConcurrencyHelpers
import Testing

@testable import TernSMTPServer

/// The sliding-window counter behind the submission rate limits, on a manual clock.
@Suite("RateLimiter")
struct RateLimiterTests {
    final class Clock: Sendable {
        let start = ContinuousClock.now
        let offset = NIOLockedValueBox(Duration.zero)
        var now: ContinuousClock.Instant { start + offset.withLockedValue { $0 } }
        func advance(_ duration: Duration) { offset.withLockedValue { $0 += duration } }
    }

    @Test("the allowance is used up, refused without being charged, and comes back as the window slides")
    func slides() {
        let clock = Clock()
        let limiter = RateLimiter(limit: .init(count: 3, window: .seconds(3600))) { clock.now }
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
}
