import TernTestSupport
import NIOCore
import TernMail
import Testing

@testable import TernSMTPCore

@Suite("DotStuffer")
struct DotStufferTests {
    private static func stuff(_ chunks: [[UInt8]]) -> (output: [UInt8], stuffer: DotStuffer) {
        var stuffer = DotStuffer()
        var output = ByteBuffer()
        for chunk in chunks { stuffer.encode(ByteBuffer(bytes: chunk), into: &output) }
        stuffer.finish(into: &output)
        return (Array(output.readableBytesView), stuffer)
    }

    private static func stuff(_ text: String) -> String {
        String(decoding: stuff([Array(text.utf8)]).output, as: UTF8.self)
    }

    /// What the server's DotUnstuffer makes of the octets: the body, and what follows the end.
    private static func unstuff(_ bytes: [UInt8]) -> (body: [UInt8], ended: Bool, rest: Int, bare: Bool) {
        var unstuffer = DotUnstuffer(textLineLimit: 0)
        var input = ByteBuffer(bytes: bytes)
        var body: [UInt8] = []
        let outcome = unstuffer.decode(&input) { body += $0.readableBytesView }
        return (body, outcome == .endOfData, input.readableBytes, unstuffer.sawBareLineEnding)
    }

    static let fixtures: [(String, String)] = [
        ("", ".\r\n"),
        ("a\r\n", "a\r\n.\r\n"),
        ("a\r\n.b\r\n", "a\r\n..b\r\n.\r\n"),
        (".\r\n", "..\r\n.\r\n"),
        ("..\r\n", "...\r\n.\r\n"),
        ("a.b\r\n.\r\n.", "a.b\r\n..\r\n..\r\n.\r\n"),
        ("no final line end", "no final line end\r\n.\r\n"),
        ("\r\n\r\n", "\r\n\r\n.\r\n"),
        // Bare line endings are sent as CRLF (RFC 5321 §2.3.8).
        ("a\nb\n", "a\r\nb\r\n.\r\n"),
        ("a\rb\r\n", "a\r\nb\r\n.\r\n"),
        ("a\r\r\nb", "a\r\n\r\nb\r\n.\r\n"),
        ("end\r", "end\r\n.\r\n"),
        ("x\n.\n", "x\r\n..\r\n.\r\n"),
    ]

    @Test("stuffs dots, ends the last line, ends the data", arguments: fixtures)
    func fixture(body: String, expected: String) {
        #expect(Self.stuff(body) == expected)
    }

    @Test("counts repairs and the added final line end")
    func counters() {
        let bare = Self.stuff([Array("a\nb\rc\r\n\r".utf8)]).stuffer
        #expect(bare.repairedLineEndings == 3)
        #expect(!bare.addedFinalLineEnding)
        #expect(Self.stuff([Array("x".utf8)]).stuffer.addedFinalLineEnding)
        #expect(!Self.stuff([Array("x\r\n".utf8)]).stuffer.addedFinalLineEnding)
    }

    @Test(
        "every split of the body gives the same octets",
        arguments: fixtures.map(\.0) + ["a\r\n.\r\n..\r\n.x\r\n\r\n.", "\r\n.\r\n"])
    func everySplit(body: String) {
        let bytes = Array(body.utf8)
        let reference = Self.stuff([bytes]).output
        for first in 0...bytes.count {
            for second in first...bytes.count {
                let chunks = [Array(bytes[..<first]), Array(bytes[first..<second]), Array(bytes[second...])]
                #expect(Self.stuff(chunks).output == reference, "split at \(first), \(second)")
            }
        }
    }

    @Test(
        "smuggling sequences in a body never end the data early (CVE-2023-51764)",
        arguments: [
            "a\r\n.\r\nMAIL FROM:<x@y>\r\n", "a\n.\nMAIL FROM:<x@y>\r\n", "a\r.\rMAIL", "a\r\n.\nMAIL", "a\n.\r\nMAIL",
            "a\r\n\u{0}.\r\nMAIL", ".\r\n", "\r\n.\r\n",
        ])
    func smuggling(body: String) {
        let result = Self.unstuff(Self.stuff([Array(body.utf8)]).output)
        #expect(result.ended)
        #expect(result.rest == 0)
        #expect(!result.bare)
        #expect(String(decoding: result.body, as: UTF8.self).contains("MAIL") == body.contains("MAIL"))
    }

    @Test("round trip: random bodies through DotStuffer and the server's DotUnstuffer come back whole")
    func roundTrip() {
        var generator = SeededGenerator(seed: 5321)
        let pieces = [".", "..", "x", "hello", " ", "\t", "é", "From ", ".\r\n", "\u{0}", "MAIL FROM:<a@b>"]
        for _ in 0..<2000 {
            var body: [UInt8] = []
            for _ in 0..<Int.random(in: 0...12, using: &generator) {
                // A line: random pieces (often a leading dot), or empty.
                for _ in 0..<Int.random(in: 0...4, using: &generator) {
                    body += Array(pieces.randomElement(using: &generator)!.utf8)
                }
                body += Array("\r\n".utf8)
            }
            if Bool.random(using: &generator) {
                body += Array(["x", ".", "..", "last line"].randomElement(using: &generator)!.utf8)  // no final CRLF
            }
            // Random chunking, as the driver reads the file.
            var chunks: [[UInt8]] = []
            var start = 0
            while start < body.count {
                let end = min(body.count, start + Int.random(in: 1...9, using: &generator))
                chunks.append(Array(body[start..<end]))
                start = end
            }
            let stuffed = Self.stuff(chunks)
            let result = Self.unstuff(stuffed.output)
            let expected = body.isEmpty || body.suffix(2) == [0x0D, 0x0A] ? body : body + [0x0D, 0x0A]
            #expect(result.ended)
            #expect(result.rest == 0)
            #expect(result.body == expected)
            #expect(stuffed.stuffer.addedFinalLineEnding == (expected != body))
        }
    }
}

@Suite("SMTPCommand encoding")
struct SMTPCommandEncodingTests {
    static let commands: [SMTPCommand] = [
        .ehlo("client.test"), .helo("client.test"), .ehlo("[192.0.2.1]"),
        .mail(.null, MailParameters()),
        .mail(.mailbox(MailAddress("a@b.test")), MailParameters(size: 1234, body: .eightBitMIME)),
        .mail(
            .mailbox(MailAddress("a@b.test")),
            MailParameters(body: .binaryMIME, dsnReturn: .headers, envelopeID: "QQ+2B1")),
        .mail(.mailbox(MailAddress("用户@例子.test")), MailParameters(smtpUTF8: true)),
        .mail(.mailbox(MailAddress("\"john doe\"@b.test")), MailParameters(size: 0)),
        .rcpt(ForwardPath(mailbox: MailAddress("c@d.test")), RecipientParameters()),
        .rcpt(
            ForwardPath(mailbox: MailAddress("c@d.test")),
            RecipientParameters(
                notify: DSNNotify(success: true, failure: true, delay: true),
                originalRecipient: OriginalRecipient(addressType: "rfc822", encodedAddress: "c+40d.test"))),
        .rcpt(ForwardPath(mailbox: MailAddress("c@d.test")), RecipientParameters(notify: DSNNotify(never: true))),
        .data, .bdat(size: 0, last: true), .bdat(size: 4096, last: false), .rset, .noop, .quit, .startTLS,
        .vrfy("postmaster"), .help(nil), .help("MAIL"),
    ]

    @Test("what the client writes, the server's parser reads back", arguments: commands)
    func roundTrip(command: SMTPCommand) {
        var buffer = ByteBuffer()
        command.write(to: &buffer)
        let text = String(buffer: buffer)
        #expect(text.hasSuffix("\r\n"))
        #expect(!text.dropLast(2).contains("\r") && !text.dropLast(2).contains("\n"))
        let line = buffer.getSlice(at: buffer.readerIndex, length: buffer.readableBytes - 2)!
        #expect(CommandParser.parse(line) == .command(command))
    }

    @Test("exact wire form of MAIL and RCPT with every parameter")
    func wireForm() {
        var buffer = ByteBuffer()
        SMTPCommand.mail(
            .mailbox(MailAddress("a@b.test")),
            MailParameters(size: 10, body: .eightBitMIME, smtpUTF8: true, dsnReturn: .full, envelopeID: "id1")
        ).write(to: &buffer)
        SMTPCommand.rcpt(
            ForwardPath(mailbox: MailAddress("c@d.test")),
            RecipientParameters(
                notify: DSNNotify(failure: true, delay: true),
                originalRecipient: .init(addressType: "rfc822", encodedAddress: "c@d.test"))
        ).write(to: &buffer)
        SMTPCommand.rcpt(ForwardPath(mailbox: MailAddress("e@f.test")), RecipientParameters(notify: DSNNotify())).write(
            to: &buffer)
        #expect(
            String(buffer: buffer)
                == "MAIL FROM:<a@b.test> SIZE=10 BODY=8BITMIME SMTPUTF8 RET=FULL ENVID=id1\r\n"
                + "RCPT TO:<c@d.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;c@d.test\r\nRCPT TO:<e@f.test>\r\n")
    }
}

@Suite("ServerCapabilities")
struct ServerCapabilitiesTests {
    @Test("reads Tern's own EHLO reply")
    func ternServer() {
        var session = SessionHarness.greeted()
        session.send("EHLO c\r\n")
        var input = ByteBuffer(string: session.replies.last!)
        var parser = ReplyParser()
        guard case .reply(let reply) = parser.parse(&input) else {
            Issue.record("no reply")
            return
        }
        let capabilities = ServerCapabilities(ehloReply: reply)
        #expect(
            capabilities
                == ServerCapabilities(
                    pipelining: true, size: true, maximumMessageSize: 52_428_800, eightBitMIME: true, smtpUTF8: true,
                    chunking: true, binaryMIME: true, dsn: true, startTLS: true, enhancedStatusCodes: true))
    }

    @Test("keywords are case-insensitive; AUTH in both forms; the first line is the name")
    func keywords() {
        let reply = SMTPReply(
            250, nil,
            [
                "PIPELINING mx.test greets you", "pipelining", "Auth=LOGIN PLAIN",
                "AUTH PLAIN CRAM-MD5 XOAUTH2 bad!mech",
                "size", "X-UNKNOWN 1 2 3", "STARTTLS",
            ])
        let capabilities = ServerCapabilities(ehloReply: reply)
        #expect(capabilities.pipelining)
        #expect(capabilities.size)
        #expect(capabilities.maximumMessageSize == nil)
        #expect(capabilities.startTLS)
        #expect(capabilities.authenticationMechanisms == ["LOGIN", "PLAIN", "CRAM-MD5", "XOAUTH2"])
        #expect(!capabilities.chunking)
    }

    @Test(
        "a hostile SIZE states no limit",
        arguments: [
            ("SIZE 0", nil), ("SIZE 1000", 1000), ("SIZE -5", nil), ("SIZE +5", nil), ("SIZE 0x10", nil),
            ("SIZE 99999999999999999999", nil), ("SIZE 999999999999999999999999", nil), ("SIZE 0010", 10),
            ("SIZE", nil),
        ] as [(String, Int?)])
    func size(line: String, expected: Int?) {
        let capabilities = ServerCapabilities(ehloReply: SMTPReply(250, nil, ["mx.test", line]))
        #expect(capabilities.size)
        #expect(capabilities.maximumMessageSize == expected)
    }

    @Test("a HELO server offers nothing")
    func none() {
        #expect(!ServerCapabilities.none.extended)
        #expect(ServerCapabilities(ehloReply: SMTPReply(250, nil, "mx.test")) == ServerCapabilities())
    }
}
