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
        #expect(SearchQuery.parse("-").conditions == [.contains(.text, "-")])
    }

    @Test("a term that cannot be read as its prefix says is a word: it never widens a search")
    func unreadableTermsAreWords() {
        #expect(
            SearchQuery.parse("is:whatever before:yesterday from: has:nothing -after:soon").conditions == [
                .contains(.text, "is:whatever"), .contains(.text, "before:yesterday"), .contains(.text, "from:"),
                .contains(.text, "has:nothing"), .not(.contains(.text, "after:soon")),
            ])
    }

    @Test("terms split on Unicode white space outside quotes; white space and quotes alone are no term")
    func terms() {
        #expect(SearchQuery.terms("a\u{3000}b\u{85}c\nd\te") == ["a", "b", "c", "d", "e"])
        #expect(SearchQuery.terms("subject:\"two words\" x") == ["subject:two words", "x"])
        for blank in ["", " ", "\n\r\t", "\"\"", "\" \"", "\"\u{2028}\" \"", "\u{A0}\u{1680}\u{2000}\u{200A}\u{202F}\u{205F}"] {
            #expect(SearchQuery.terms(blank).isEmpty, "\(blank.unicodeScalars.map { $0.value })")
        }
        // What is not Unicode White_Space is a term: U+FEFF (ECMAScript's \s has it), U+200B, NUL.
        for term in ["\u{FEFF}", "\u{200B}", "\u{0}", "\" \u{301}"] {
            #expect(SearchQuery.terms(term).count == 1, "\(term.unicodeScalars.map { $0.value })")
        }
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

    @Test("before: and after: with hostile numbers are words, never dates")
    func hostileQueries() {
        for query in ["before:9999999999999999", "after:9999999999999999", "before:2026-01-01T00:00+99999999:00", "since:99999-1-1"] {
            #expect(SearchQuery.parse(query).conditions == [.contains(.text, query)], "\(query)")
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

    @Test("wait's timeout is a number as JSON writes one (docs/openapi.yaml: type number)")
    func waitTimeoutGrammar() {
        for number in ["0", "-0", "7", "-7.25", "0.5", "1e3", "1E+3", "2.5e-1", "10", "123456789012345678901234567890"] {
            #expect(CatcherHTTP.isJSONNumber(number), "\(number)")
        }
        for text in ["+5", ".5", "5.", "05", "-", "1e", "1e+", "0x10", "1_000", " 1", "1 ", "\u{FF11}", "1.5.2", "--1", "Infinity"] {
            #expect(!CatcherHTTP.isJSONNumber(text), "\(text)")
            #expect(CatcherHTTP.waitTimeout(text) == nil, "\(text)")
        }
        #expect(CatcherHTTP.waitTimeout("2.5e-1") == .milliseconds(250))
        #expect(CatcherHTTP.waitTimeout("-0") == .zero)
    }

    @Test("a waiter's filter judges one message as the index would")
    func matcher() {
        let message = IndexedMessage(
            id: "A", inbox: "app", key: "x", receivedAt: 1000, size: 1, read: false, subject: "Your Code",
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

@Suite("Query strings")
struct FormQueryTests {
    @Test("form-decoded as Go, Python and browsers write them: + is a space, %XX an octet")
    func decoding() {
        let form = FormQuery("query=subject%3Ahello+world&inbox=App%2BOne&limit=+5&empty=&bare&query=second&%71=named")
        #expect(form["query"] == "subject:hello world")  // the first one, as Go's Values.Get
        #expect(form["inbox"] == "App+One")
        #expect(form["limit"] == " 5")
        #expect(form["empty"] == "")
        #expect(form["bare"] == "")
        #expect(form["q"] == "named")
        #expect(form["missing"] == nil)
        #expect(FormQuery(nil)["query"] == nil)
    }

    @Test("a malformed % stays a %; octets that are not UTF-8 read as U+FFFD")
    func lenient() {
        #expect(FormQuery.decode(Array("100%".utf8)) == "100%")
        #expect(FormQuery.decode(Array("%zz%4".utf8)) == "%zz%4")
        #expect(FormQuery.decode(Array("%41%e2%82%ac%ff".utf8)) == "A€\u{FFFD}")
        #expect(FormQuery.decode(Array("%00".utf8)) == "\u{0}")
    }
}
