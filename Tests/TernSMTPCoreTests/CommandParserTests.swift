import NIOCore
import TernTestSupport
import TernMail
import Testing

@testable import TernSMTPCore

@Suite("CommandParser")
struct CommandParserTests {
    private func parse(_ line: String) -> CommandParseResult {
        CommandParser.parse(ByteBuffer(string: line))
    }

    private func code(_ line: String) -> String? {
        guard case .rejected(let reply) = parse(line) else { return nil }
        return "\(reply.code) \(reply.enhancedCode.map { "\($0)" } ?? "")"
    }

    // MARK: Success fixtures

    static let commands: [(String, SMTPCommand)] = [
        ("EHLO client.example", .ehlo("client.example")),
        ("ehlo client.example", .ehlo("client.example")),
        ("EHLO [192.0.2.1]", .ehlo("[192.0.2.1]")),
        ("EHLO [IPv6:2001:db8::1]", .ehlo("[IPv6:2001:db8::1]")),
        ("HELO host_name-1", .helo("host_name-1")),
        ("MAIL FROM:<>", .mail(.null, MailParameters())),
        ("MAIL FROM:<a@b.example>", .mail(.mailbox(.init(localPart: "a", domain: "b.example")), MailParameters())),
        ("mail from: <a@b.example>", .mail(.mailbox(.init(localPart: "a", domain: "b.example")), MailParameters())),
        ("MAIL FROM:<\"john doe\"@b.example>", .mail(.mailbox(.init(localPart: "\"john doe\"", domain: "b.example")), MailParameters())),
        ("MAIL FROM:<\"a\\\"b\"@b.example>", .mail(.mailbox(.init(localPart: "\"a\\\"b\"", domain: "b.example")), MailParameters())),
        ("MAIL FROM:<x@[192.0.2.1]>", .mail(.mailbox(.init(localPart: "x", domain: "[192.0.2.1]")), MailParameters())),
        ("MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME", .mail(.mailbox(.init(localPart: "a", domain: "b.example")), MailParameters(size: 1000, body: .eightBitMIME))),
        ("MAIL FROM:<a@b.example> size=007", .mail(.mailbox(.init(localPart: "a", domain: "b.example")), MailParameters(size: 7))),
        ("MAIL FROM:<a@b.example> BODY=BINARYMIME", .mail(.mailbox(.init(localPart: "a", domain: "b.example")), MailParameters(body: .binaryMIME))),
        ("MAIL FROM:<a@b.example> RET=HDRS ENVID=QQ314159", .mail(.mailbox(.init(localPart: "a", domain: "b.example")), MailParameters(dsnReturn: .headers, envelopeID: "QQ314159"))),
        ("MAIL FROM:<a@b.example> ENVID=a+2Bb", .mail(.mailbox(.init(localPart: "a", domain: "b.example")), MailParameters(envelopeID: "a+2Bb"))),
        ("MAIL FROM:<用户@例子.测试> SMTPUTF8", .mail(.mailbox(.init(localPart: "用户", domain: "例子.测试")), MailParameters(smtpUTF8: true))),
        ("RCPT TO:<b@c.example>", .rcpt(ForwardPath(mailbox: .init(localPart: "b", domain: "c.example")), RecipientParameters())),
        ("RCPT TO:<@relay.example,@r2.example:b@c.example>", .rcpt(ForwardPath(mailbox: .init(localPart: "b", domain: "c.example"), hadSourceRoute: true), RecipientParameters())),
        ("RCPT TO:<Postmaster>", .rcpt(ForwardPath(mailbox: .init(localPart: "Postmaster", domain: "")), RecipientParameters())),
        ("RCPT TO:<b@c.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40c.example", .rcpt(ForwardPath(mailbox: .init(localPart: "b", domain: "c.example")), RecipientParameters(notify: DSNNotify(success: true, failure: true), originalRecipient: OriginalRecipient(addressType: "rfc822", encodedAddress: "b+40c.example")))),
        ("RCPT TO:<b@c.example> NOTIFY=NEVER", .rcpt(ForwardPath(mailbox: .init(localPart: "b", domain: "c.example")), RecipientParameters(notify: DSNNotify(never: true)))),
        ("DATA", .data),
        ("DATA  ", .data),
        ("BDAT 0 LAST", .bdat(size: 0, last: true)),
        ("BDAT 100", .bdat(size: 100, last: false)),
        ("bdat 00012 last", .bdat(size: 12, last: true)),
        ("RSET", .rset),
        ("NOOP", .noop),
        ("NOOP anything at all", .noop),
        ("QUIT", .quit),
        ("VRFY postmaster", .vrfy("postmaster")),
        ("EXPN list", .expn("list")),
        ("HELP", .help(nil)),
        ("HELP MAIL", .help("MAIL")),
        ("STARTTLS", .startTLS),
        ("starttls", .startTLS),
    ]

    @Test("parses valid commands", arguments: commands)
    func success(line: String, expected: SMTPCommand) {
        #expect(parse(line) == .command(expected))
    }

    // MARK: Failure fixtures

    static let failures: [(String, String)] = [
        ("", "500 5.5.2"),
        ("FOO", "500 5.5.2"),
        ("MAILFROM:<a@b>", "500 5.5.2"),
        ("EHLO", "501 5.5.4"),
        ("EHLO a b", "501 5.5.4"),
        ("EHLO a\u{01}b", "501 5.5.4"),
        ("EHLO a(b)", "501 5.5.4"),
        ("MAIL <a@b>", "501 5.5.4"),
        ("MAIL FROM:a@b.example", "501 5.1.7"),
        ("MAIL FROM:<a@b.example", "501 5.1.7"),
        ("MAIL FROM:<a@>", "501 5.1.7"),
        ("MAIL FROM:<@b.example>", "501 5.1.7"),
        ("MAIL FROM:<a..b@c.example>", "501 5.1.7"),
        ("MAIL FROM:<a@b..example>", "501 5.1.7"),
        ("MAIL FROM:<a@-b.example>", "501 5.1.7"),
        ("MAIL FROM:<a@b.example.>", "501 5.1.7"),
        ("MAIL FROM:<a b@c.example>", "501 5.1.7"),
        ("MAIL FROM:<a@b@c.example>", "501 5.1.7"),
        ("MAIL FROM:<\"unterminated@c.example>", "501 5.1.7"),
        ("MAIL FROM:<a@[300.1.1.1]>", "501 5.1.7"),
        ("MAIL FROM:<a@[IPv6:1::2::3]>", "501 5.1.7"),
        ("MAIL FROM:<$(reboot)@c.example>", "501 5.1.7"),
        ("MAIL FROM:<" + String(repeating: "a", count: 65) + "@b.example>", "501 5.1.7"),
        ("MAIL FROM:<a@b.example> SIZE=+5", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> SIZE=-1", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> SIZE=0x10", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> SIZE=99999999999999999999999", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> SIZE=", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> SIZE", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> BODY=9BIT", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> SMTPUTF8=yes", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> RET=X", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> ENVID=a+0D+0Ab", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> ENVID=a+00", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> ENVID=a+0a", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> ENVID=" + String(repeating: "x", count: 101), "501 5.5.4"),
        ("MAIL FROM:<a@b.example> SIZE=1 SIZE=2", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> XFOO=1", "555 5.5.4"),
        ("MAIL FROM:<a@b.example> AUTH=<>", "555 5.5.4"),
        ("RCPT TO:<>", "501 5.1.3"),
        ("RCPT TO:<a%b@c.example", "501 5.1.3"),
        ("RCPT TO:<b@c.example> NOTIFY=NEVER,SUCCESS", "501 5.5.4"),
        ("RCPT TO:<b@c.example> NOTIFY=SUCCESS,SUCCESS", "501 5.5.4"),
        ("RCPT TO:<b@c.example> NOTIFY=", "501 5.5.4"),
        ("RCPT TO:<b@c.example> ORCPT=rfc822", "501 5.5.4"),
        ("RCPT TO:<b@c.example> ORCPT=rfc822;a+0Db", "501 5.5.4"),
        ("RCPT TO:<b@c.example> FOO=BAR", "555 5.5.4"),
        ("DATA x", "501 5.5.4"),
        ("QUIT now", "501 5.5.4"),
        ("STARTTLS now", "501 5.5.4"),
        ("BDAT", "501 5.5.4"),
        ("BDAT -1", "501 5.5.4"),
        ("BDAT +1", "501 5.5.4"),
        ("BDAT 0x10", "501 5.5.4"),
        ("BDAT 1 FIRST", "501 5.5.4"),
        ("BDAT 9999999999999999999", "501 5.5.4"),
    ]

    @Test("refuses invalid commands with the RFC's reply", arguments: failures)
    func failure(line: String, expected: String) {
        #expect(code(line) == expected)
    }

    @Test("accepts % and quoted @ as ordinary local-part characters; relay control is a later stage")
    func routingTricksParseAsLocalParts() {
        #expect(parse("RCPT TO:<user%other.example@local.example>") == .command(.rcpt(ForwardPath(mailbox: .init(localPart: "user%other.example", domain: "local.example")), RecipientParameters())))
        #expect(parse("RCPT TO:<\"user@other.example\"@local.example>") == .command(.rcpt(ForwardPath(mailbox: .init(localPart: "\"user@other.example\"", domain: "local.example")), RecipientParameters())))
    }

    @Test("invalid UTF-8 in an address is a syntax error")
    func invalidUTF8() {
        var buffer = ByteBuffer(string: "MAIL FROM:<a")
        buffer.writeBytes([0xC3, 0x28])
        buffer.writeString("@b.example> SMTPUTF8")
        guard case .rejected(let reply) = CommandParser.parse(buffer) else {
            Issue.record("accepted invalid UTF-8")
            return
        }
        #expect(reply.code.rawValue == 501)
    }

    @Test("IPv6 literal forms", arguments: [
        ("::1", true), ("2001:db8::1", true), ("1:2:3:4:5:6:7:8", true), ("::ffff:192.0.2.1", true),
        ("1:2:3:4:5:6:7", false), ("1::2::3", false), ("12345::1", false), ("g::1", false), (":::", false),
    ])
    func ipv6(text: String, valid: Bool) {
        #expect(PathParser.isIPv6(text) == valid)
    }

    @Test("xtext validation and decoding")
    func xtext() {
        #expect(XText.isValid("abc+2Bdef"))
        #expect(!XText.isValid("abc+2bdef"))
        #expect(!XText.isValid("abc+2"))
        #expect(!XText.isValid("a=b"))
        #expect(!XText.isValid("a+0Ab"))
        #expect(XText.decode("a+2Bb") == Array("a+b".utf8))
    }

    @Test("random lines never crash the parser")
    func randomLines() {
        var generator = SeededGenerator(seed: 42)
        let alphabet = Array("MAILFROM:RCPTTO<>@.\"\\ =+,;:[]0123456789abcSIZEBODYNOTIFYORCPTBDATLAST\u{0}\u{7f}".utf8) + [0xC3, 0xA9, 0xFF]
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...80, using: &generator)
            var prefix = ["MAIL FROM:", "RCPT TO:", "BDAT ", "EHLO ", ""].randomElement(using: &generator)!
            for _ in 0..<length { prefix.unicodeScalars.append(UnicodeScalar(alphabet.randomElement(using: &generator)!)) }
            _ = parse(prefix)
        }
    }
}

