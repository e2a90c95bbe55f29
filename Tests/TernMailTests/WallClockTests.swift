import Testing

@testable import TernMail

@Suite("WallClock")
struct WallClockTests {
    @Test("readings convert to milliseconds and microseconds without trapping")
    func conversions() {
        let reading = WallClock.Reading(seconds: 1_800_000_000, nanoseconds: 123_456_789)
        #expect(reading.milliseconds == 1_800_000_000_123)
        #expect(reading.microseconds == 1_800_000_000_123_456)
        #expect(WallClock.Reading(milliseconds: 1_800_000_000_123) == .init(seconds: 1_800_000_000, nanoseconds: 123_000_000))
        // Before 1970 a queue ID's count starts at 0; extremes wrap instead of trapping.
        #expect(WallClock.Reading(seconds: -5).microseconds == 0)
        _ = WallClock.Reading(seconds: .max, nanoseconds: 999_999_999).milliseconds
        _ = WallClock.Reading(seconds: .max).microseconds
        #expect(WallClock.Reading(seconds: 1) < WallClock.Reading(seconds: 1, nanoseconds: 1))
    }

    @Test("the system clock reads the present; a fixed one reads what it was given")
    func clocks() {
        #expect(WallClock.system.seconds > 1_700_000_000)
        #expect(WallClock.fixed(seconds: 42).now() == .init(seconds: 42))
        #expect(WallClock.fixed(seconds: 42).milliseconds == 42_000)
    }
}
