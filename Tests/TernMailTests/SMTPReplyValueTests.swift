import TernMail
import Testing

/// The reply value every layer shares: its one-line stored form and the enhanced codes in it.
@Suite("SMTPReply value")
struct SMTPReplyValueTests {
    @Test("the stored line names the code, the enhanced code (generic when none) and the text on one line")
    func storedLine() {
        #expect(SMTPReply(451, EnhancedStatusCode(4, 7, 1), ["greylisted,", "come back"]).storedLine == "451 4.7.1 greylisted, come back")
        #expect(SMTPReply(250, nil, "Ok").storedLine == "250 2.0.0 Ok")
        #expect(SMTPReply(550, EnhancedStatusCode(5, 1, 1), "no\r\nX-Injected: 1").storedLine == "550 5.1.1 no  X-Injected: 1")
    }

    @Test(
        "a stored line reads back as the reply that wrote it",
        arguments: [
            SMTPReply(451, EnhancedStatusCode(4, 4, 1), "cannot connect to mx.far.test[192.0.2.1]:25: refused"),
            SMTPReply(250, EnhancedStatusCode(2, 0, 0), "delivered to maildir (uid 7)"),
            SMTPReply(556, EnhancedStatusCode(5, 1, 10), "null MX"),
            SMTPReply(554, EnhancedStatusCode(5, 4, 7), "delivery time expired (last error: 451 4.4.1 x)"),
            SMTPReply(250, EnhancedStatusCode(2, 0, 0), ""),
            SMTPReply(451, EnhancedStatusCode(4, 0, 0), "5.1.1 a code of the wrong class is text"),
            SMTPReply(451, EnhancedStatusCode(4, 7, 1), "  text that starts with spaces"),
        ])
    func roundTrip(reply: SMTPReply) throws {
        let read = try #require(SMTPReply(storedLine: reply.storedLine))
        #expect(read.code == reply.code)
        #expect(read.enhancedCode == reply.enhancedCode)
        #expect(read.storedLine == reply.storedLine)
        #expect(read.text == reply.text)
    }

    @Test("spaces and combining marks at the start of the text survive being stored (found by the spool fuzzer)")
    func leadingSpaces() throws {
        // A line without an enhanced code whose text starts with a space: written back with the
        // generic code, it must read as the same text, not one with the space dropped.
        let read = try #require(SMTPReply(storedLine: "451  14..7later"))
        #expect(read.text == " 14..7later")
        #expect(read.storedLine == "451 4.0.0  14..7later")
        #expect(SMTPReply(storedLine: read.storedLine) == read)
        #expect(try #require(SMTPReply(storedLine: "451 4.7.1 later")).text == "later")
        // A combining mark right after a space: the word boundary is the space octet.
        let marked = try #require(SMTPReply(storedLine: "451 \u{334}"))
        #expect(marked.text == "\u{334}" && marked.enhancedCode == EnhancedStatusCode(4, 0, 0))
        #expect(SMTPReply(storedLine: marked.storedLine) == marked)
        #expect(try #require(SMTPReply(storedLine: "451 4.7.1 \u{334}x")).text == "\u{334}x")
    }

    @Test("a line without an enhanced code gets its class's generic one")
    func generic() throws {
        let read = try #require(SMTPReply(storedLine: "421 service not available"))
        #expect(read.enhancedCode == EnhancedStatusCode(4, 0, 0))
        #expect(read.text == "service not available")
        #expect(try #require(SMTPReply(storedLine: "451 5.1.1 x")).text == "5.1.1 x", "a code of another class is text")
        #expect(try #require(SMTPReply(storedLine: "250")).text == "")
    }

    @Test(
        "what no Tern wrote is refused, never trapped on",
        arguments: ["", "25", "2500 x", "199 x", "354 go ahead", "378 4.7.1 later", "600 x", "999 x", "-51 x", "abc", "45a x", "451x", "٤٥١ x"])
    func refused(line: String) {
        #expect(SMTPReply(storedLine: line) == nil)
    }

    @Test("enhanced codes: class 2, 4 or 5, then one to three digits twice (RFC 3463 §2)")
    func enhancedCodes() {
        #expect(EnhancedStatusCode(parsing: "5.1.10") == EnhancedStatusCode(5, 1, 10))
        #expect(EnhancedStatusCode(parsing: "4.999.999") == EnhancedStatusCode(4, 999, 999))
        for text in ["3.0.0", "5.1", "5.1.1.1", "5..1", "5.1.", "5.1000.1", "55.1.1", "5.a.1", "", "5.1.1 "] {
            #expect(EnhancedStatusCode(parsing: Substring(text)) == nil, "\(text)")
        }
    }

    @Test("NOTIFY keywords read back: NEVER alone, or any of SUCCESS, FAILURE, DELAY (RFC 3461 §4.1)")
    func notifyKeywords() {
        #expect(DSNNotify(keywords: ["NEVER"]) == DSNNotify(never: true))
        #expect(DSNNotify(keywords: ["SUCCESS", "DELAY"]) == DSNNotify(success: true, delay: true))
        #expect(DSNNotify(keywords: DSNNotify(failure: true, delay: true).keywords) == DSNNotify(failure: true, delay: true))
        for keywords in [[], ["NEVER", "SUCCESS"], ["SOMETIMES"], ["success"]] {
            #expect(DSNNotify(keywords: keywords) == nil, "\(keywords)")
        }
    }
}
