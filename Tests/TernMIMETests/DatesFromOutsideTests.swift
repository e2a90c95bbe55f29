import TernMIME
import TernMail
import Testing

@Suite("Dates from outside")
struct HostileDateTests {
    @Test(
        "years and zones no mail has are no date",
        arguments: [
            "Mon, 1 Jan 999999999999 00:00:00 +0000", "Mon, 1 Jan 99999 00:00:00 +0000",
            "Mon, 1 Jan 10000 00:00:00 +0000", "Mon, 1 Jan 1899 00:00:00 +0000", "Mon, 1 Jan 0049 00:00:00 +0000",
            "1 Jan 2026 00:00:00 +99999999", "1 Jan 2026 00:00:00 +0060", "1 Jan 2026 99999999999:00:00 +0000",
            "1 Jan 2026 00:99999999999999999999:00 +0000", "99999999999999999999 Jan 2026 00:00:00 +0000",
            "+1 Jan 2026 00:00:00 +0000", "1 Jan +2026 00:00:00 +0000", "1 Jan 2026 +1:00:00 +0000",
            "31 Dec 9999 23:59:59 -0100",
        ])
    func refused(text: String) {
        #expect(MessageDate.parse(text) == nil)
    }

    @Test("the edges of the calendar parse")
    func edges() {
        #expect(MessageDate.parse("1 Jan 1900 00:00:00 +0000") == CalendarBounds.earliestSecond)
        #expect(MessageDate.parse("31 Dec 9999 23:59:59 +0000") == CalendarBounds.latestSecond)
        #expect(MessageDate.parse("1 Jan 2026 00:00:00 +9959") != nil)  // hh may be up to 99 (RFC 5322 §3.3)
    }

    @Test("formatting any Int64 clamps into the calendar")
    func formatAnything() {
        #expect(MessageDate.format(secondsSince1970: .max) == "Fri, 31 Dec 9999 23:59:59 +0000")
        #expect(MessageDate.format(secondsSince1970: .min) == "Mon, 1 Jan 1900 00:00:00 +0000")
        #expect(CalendarBounds.civilDate(daysSince1970: .max) == (9999, 12, 31))
        #expect(CalendarBounds.civilDate(daysSince1970: .min) == (1900, 1, 1))
        #expect(CalendarBounds.daysSince1970(year: .max, month: 1, day: 1) == nil)
        #expect(CalendarBounds.daysSince1970(year: 2026, month: 13, day: 1) == nil)
    }

    @Test("a message with a far year has no date")
    func messageDate() {
        let raw = Array("Date: Mon, 1 Jan 999999999999 00:00:00 +0000\r\nSubject: x\r\n\r\nbody\r\n".utf8)
        #expect(MessageContent(raw: raw).date == nil)
    }

    @Test("milliseconds of any second never trap")
    func milliseconds() {
        #expect(CalendarBounds.milliseconds(seconds: .max) == CalendarBounds.latestSecond * 1000)
        #expect(CalendarBounds.milliseconds(seconds: .min) == CalendarBounds.earliestSecond * 1000)
        #expect(CalendarBounds.clamp(milliseconds: .max) == CalendarBounds.latestSecond * 1000 + 999)
    }
}
