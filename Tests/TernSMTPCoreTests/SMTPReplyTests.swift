import NIOCore
import TernMail
import Testing

@testable import TernSMTPCore

@Suite("SMTPReply")
struct SMTPReplyTests {
    @Test("multi-line replies carry the code and enhanced code on every line (RFC 5321 §4.2, RFC 2034 §4)")
    func multiLine() {
        let reply = SMTPReply(250, EnhancedStatusCode(2, 0, 0), ["first", "second"])
        #expect(reply.description == "250-2.0.0 first\r\n250 2.0.0 second\r\n")
    }

    @Test("text is US-ASCII: control characters and octets above 0x7E become '?' (§4.2 textstring)")
    func asciiOnly() {
        let reply = SMTPReply(550, EnhancedStatusCode(5, 1, 1), "<käthe@x.test>\r\n250 ok\u{7F}")
        #expect(reply.description == "550 5.1.1 <k??the@x.test>??250 ok?\r\n")
    }
}
