import TernMIME
import TernStore
import Testing

@testable import TernHTTP

@Suite("Search language")
struct SearchQueryTests {
    @Test("terms, fields, phrases, flags, dates and negation")
    func parse() {
        let filter = SearchQuery.parse(
            "invoice from:billing to:\"Bob Smith\" -subject:spam !has:attachment is:unread tag:Urgent inbox:app-one "
                + "before:2026-03-02 after:1700000000 https://example.test/x")
        #expect(
            filter.conditions == [
                .contains(.text, "invoice"), .contains(.from, "billing"), .contains(.to, "Bob Smith"),
                .not(.contains(.subject, "spam")), .not(.hasAttachment(true)), .isRead(false), .contains(.tag, "Urgent"),
                .contains(.inbox, "app-one"), .receivedBefore(1_772_409_600_000), .receivedSince(1_700_000_000_000),
                .contains(.text, "https://example.test/x"),
            ])
        #expect(SearchQuery.parse("").conditions.isEmpty)
        #expect(SearchQuery.parse("is:whatever before:yesterday from:").conditions.isEmpty)
        #expect(SearchQuery.parse("-").conditions == [.contains(.text, "-")])
    }

    @Test("RFC 3339 times with zones")
    func times() {
        #expect(SearchQuery.milliseconds("2026-03-02T10:15:00+01:00") == 1_772_442_900_000)
        #expect(SearchQuery.milliseconds("2026-03-02T09:15:00Z") == 1_772_442_900_000)
        #expect(SearchQuery.milliseconds("2026-13-02") == nil)
        #expect(SearchQuery.milliseconds("2026-03-02T09:15Z") == 1_772_442_900_000)
        #expect(SearchQuery.milliseconds("2026-03-02T09:15:00.250Z") == 1_772_442_900_000)
    }

    @Test(
        "dates from a query string that no calendar holds are no date, never a trap",
        arguments: [
            "9999999999999999", "99999999999999999999999", "253402300800", "-1", "+5", "inf", "1e300",
            "99999-01-01", "0000-01-01", "1899-12-31", "+2026-01-01", "2026-01-01T99999999999:00",
            "2026-01-01T10:00+99999999:00", "2026-01-01T10:00+99:00", "2026-01-01T10:00-00:99", "2026-01-01T10:00:00Zjunk",
            "2026-01-01X10:00", "2026-01-01T1:00", "9999-12-31T23:59:59-01:00", "2026-1-01",
        ])
    func hostileDates(text: String) {
        #expect(SearchQuery.milliseconds(text) == nil)
    }

    @Test("before: and after: with hostile numbers are ignored terms")
    func hostileQueries() {
        for query in ["before:9999999999999999", "after:9999999999999999", "before:2026-01-01T00:00+99999999:00", "since:99999-1-1"] {
            #expect(SearchQuery.parse(query).conditions.isEmpty, "\(query)")
        }
    }

    @Test("wait's timeout: seconds, clamped before any conversion; not a number is refused")
    func waitTimeout() {
        #expect(CatcherHTTP.waitTimeout(String?.none) == .seconds(30))
        #expect(CatcherHTTP.waitTimeout("2.5") == .milliseconds(2500))
        #expect(CatcherHTTP.waitTimeout("1e300") == CatcherHTTP.maximumWait)
        #expect(CatcherHTTP.waitTimeout("999999999999999999999999") == CatcherHTTP.maximumWait)
        #expect(CatcherHTTP.waitTimeout("-5") == .zero)
        #expect(CatcherHTTP.waitTimeout("-1e300") == .zero)
        for bad in ["inf", "-inf", "nan", "infinity", "", "ten", "1e400"] {
            #expect(CatcherHTTP.waitTimeout(bad) == nil, "\(bad)")
        }
    }

    @Test("a waiter's filter judges one message as the index would")
    func matcher() {
        let message = IndexedMessage(
            id: "A", inbox: "app", path: "new/x", receivedAt: 1000, size: 1, read: false, subject: "Your Code",
            from: IndexedAddress(name: "Shop", address: "no-reply@shop.example"), to: [IndexedAddress(name: "", address: "u@x.test")],
            cc: [], bcc: [], replyTo: [], messageID: "m@x", date: nil, snippet: "", attachments: 0, tags: ["Signup"],
            searchText: "your code is 1234")
        for query in ["subject:code", "from:shop", "to:u@x", "tag:signup", "inbox:app", "is:unread", "1234", "-has:attachment"] {
            #expect(MessageMatcher.matches(message, SearchQuery.parse(query)), "\(query)")
        }
        for query in ["subject:nope", "inbox:other", "is:read", "has:attachment", "before:1970-01-01", "-code"] {
            #expect(!MessageMatcher.matches(message, SearchQuery.parse(query)), "\(query)")
        }
    }
}

@Suite("Message extracts")
struct MessageExtractsTests {
    static func content(_ text: String) -> MessageContent {
        MessageContent(raw: Array(text.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\r\n").utf8))
    }

    @Test("links from HTML (with their text) and from plain text, without duplicates")
    func links() {
        let html = MessageExtracts.htmlLinks(
            "<p><a class=x href=\"https://a.test/?a=1&amp;b=2\">Click <b>here</b></a> <A HREF='mailto:m@a.test'>mail</A> "
                + "<a href='/rel'>relative: no scheme, dropped</a> <abbr>x</abbr></p>")
        #expect(
            html == [
                .init(href: "https://a.test/?a=1&b=2", text: "Click here"), .init(href: "mailto:m@a.test", text: "mail"),
            ])
        #expect(
            MessageExtracts.urls(in: "See https://b.test/path, or (http://c.test/x). Not ftp://d.test")
                == ["https://b.test/path", "http://c.test/x"])
    }

    @Test("one-time codes near the words that announce them", arguments: [
        ("Your verification code is 123456.", ["123456"]),
        ("Use OTP: 987 654 to sign in", ["987654"]),
        ("Your code: 42", [String]()),
        ("Order 555123 shipped", [String]()),
        ("PIN 0042 and code 7777", ["7777", "0042"]),
    ])
    func codes(text: String, expected: [String]) {
        #expect(MessageExtracts.codes(in: text) == expected)
    }

    @Test("RFC 3339 timestamps in UTC with milliseconds")
    func timestamps() {
        #expect(Timestamp.rfc3339(milliseconds: 1_772_442_900_123) == "2026-03-02T09:15:00.123Z")
        #expect(Timestamp.rfc3339(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.rfc3339(milliseconds: .max) == "9999-12-31T23:59:59.999Z")
        #expect(Timestamp.rfc3339(milliseconds: .min) == "1900-01-01T00:00:00.000Z")
    }

    @Test("List-Unsubscribe links (RFC 2369) and the one-click header (RFC 8058)")
    func unsubscribe() {
        let content = Self.content(
            "List-Unsubscribe: <mailto:u@list.test?subject=unsub>,\n <https://list.test/u/1>\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\n\nbody")
        let parsed = APIListUnsubscribe(content: content)
        #expect(parsed.links == ["mailto:u@list.test?subject=unsub", "https://list.test/u/1"])
        #expect(parsed.headerPost == "List-Unsubscribe=One-Click" && parsed.errors.isEmpty)
    }
}
