import TernMail
import Testing

@testable import TernIMAPCore

@Suite("IMAP date-time")
struct DateTimeTests {
    @Test("APPEND's date-time: zones applied, the day may be space-padded")
    func parses() {
        #expect(IMAPDateTime.parse(Array("17-Jul-1996 02:44:25 -0700".utf8)) == 837_596_665)
        #expect(IMAPDateTime.parse(Array(" 1-Jan-1970 00:00:00 +0000".utf8)) == 0)
        #expect(IMAPDateTime.parse(Array("01-jan-1970 01:00:00 +0100".utf8)) == 0)
    }

    @Test("anything else is no date", arguments: [
        "1-Jan-1970 00:00:00 +0000", "31-Feb-2026 00:00:00 +0000", "01-Jan-1899 00:00:00 +0000",
        "01-Jan-2026 24:00:00 +0000", "01-Jan-2026 00:00:00 +2400", "01-Jan-2026 00:00:00 0000",
        "01-Foo-2026 00:00:00 +0000", "01-Jan-2026T00:00:00 +0000", "",
    ])
    func refuses(_ text: String) {
        #expect(IMAPDateTime.parse(Array(text.utf8)) == nil)
    }

    @Test("INTERNALDATE's text, clamped into the calendar, reads back")
    func formats() {
        #expect(IMAPDateTime.format(837_596_665) == "17-Jul-1996 09:44:25 +0000")
        #expect(IMAPDateTime.format(0) == " 1-Jan-1970 00:00:00 +0000")
        #expect(IMAPDateTime.format(.min) == " 1-Jan-1900 00:00:00 +0000")
        #expect(IMAPDateTime.format(.max) == "31-Dec-9999 23:59:59 +0000")
        #expect(IMAPDateTime.parse(Array(IMAPDateTime.format(1_796_595_563).utf8)) == 1_796_595_563)
    }
}
