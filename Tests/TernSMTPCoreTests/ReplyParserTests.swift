import TernTestSupport
import NIOCore
import TernMail
import Testing

@testable import TernSMTPCore

@Suite("ReplyParser")
struct ReplyParserTests {
    /// Parses everything in `text`: the replies, and the final outcome (needMoreData or failure).
    private static func parseAll(_ chunks: [[UInt8]], limits: ReplyParser.Limits = .init()) -> (
        replies: [SMTPReply], end: ReplyParser.Outcome
    ) {
        var parser = ReplyParser(limits: limits)
        var input = ByteBuffer()
        var replies: [SMTPReply] = []
        var end = ReplyParser.Outcome.needMoreData
        for chunk in chunks {
            input.writeBytes(chunk)
            parsing: while true {
                switch parser.parse(&input) {
                case .reply(let reply): replies.append(reply)
                case .needMoreData:
                    end = .needMoreData
                    break parsing
                case .failure(let failure):
                    end = .failure(failure)
                    break parsing
                }
            }
            if case .failure = end { break }
        }
        return (replies, end)
    }

    private static func parseAll(_ text: String) -> (replies: [SMTPReply], end: ReplyParser.Outcome) {
        parseAll([Array(text.utf8)])
    }

    // MARK: Success fixtures

    static let successes: [(String, SMTPReply)] = [
        ("220 mx.test ESMTP\r\n", SMTPReply(220, nil, "mx.test ESMTP")),
        ("250 2.1.0 Ok\r\n", SMTPReply(250, EnhancedStatusCode(2, 1, 0), "Ok")),
        ("250 2.0.0\r\n", SMTPReply(250, EnhancedStatusCode(2, 0, 0), "")),
        (
            "550 5.1.1 <x@y>: Recipient address rejected\r\n",
            SMTPReply(550, EnhancedStatusCode(5, 1, 1), "<x@y>: Recipient address rejected")
        ),
        ("451 4.7.1   spaced\r\n", SMTPReply(451, EnhancedStatusCode(4, 7, 1), "spaced")),
        ("554 5.123.456 big\r\n", SMTPReply(554, EnhancedStatusCode(5, 123, 456), "big")),
        // Tolerant of a missing text.
        ("250\r\n", SMTPReply(250, nil, "")),
        ("250 \r\n", SMTPReply(250, nil, "")),
        ("354 End data with <CR><LF>.<CR><LF>\r\n", SMTPReply(354, nil, "End data with <CR><LF>.<CR><LF>")),
        // A class that disagrees with the code, or a 3yz: no enhanced code, the text is kept.
        ("250 5.0.0 odd\r\n", SMTPReply(250, nil, "5.0.0 odd")),
        ("354 2.0.0 go\r\n", SMTPReply(354, nil, "2.0.0 go")),
        ("250 2.0.0x\r\n", SMTPReply(250, nil, "2.0.0x")),
        ("250 2.0.1234 four digits\r\n", SMTPReply(250, nil, "2.0.1234 four digits")),
        // Multi-line, with the code repeated on every line (RFC 2034 §4) or only the first.
        (
            "250-mx.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n",
            SMTPReply(250, nil, ["mx.test", "PIPELINING", "SIZE 1000"])
        ),
        (
            "550-5.7.1 one\r\n550-5.7.1 two\r\n550 5.7.1 three\r\n",
            SMTPReply(550, EnhancedStatusCode(5, 7, 1), ["one", "two", "three"])
        ),
        (
            "550-5.7.1 one\r\n550-two\r\n550 5.7.2 three\r\n",
            SMTPReply(550, EnhancedStatusCode(5, 7, 1), ["one", "two", "5.7.2 three"])
        ),
        ("250-\r\n250 last\r\n", SMTPReply(250, nil, ["", "last"])),
        // Text is for humans: control octets become "?", HT stays, UTF-8 passes.
        ("250 a\u{0}b\u{1B}c\td\r\n", SMTPReply(250, nil, "a?b?c\td")),
        ("250 größe ok\r\n", SMTPReply(250, nil, "größe ok")),
    ]

    @Test("parses replies", arguments: successes)
    func success(text: String, expected: SMTPReply) {
        let result = Self.parseAll(text)
        #expect(result.replies == [expected])
        #expect(result.end == .needMoreData)
    }

    @Test("octets that are not UTF-8 become U+FFFD")
    func invalidUTF8() {
        let result = Self.parseAll([Array("250 a".utf8) + [0xFF, 0xC3] + Array(" b\r\n".utf8)])
        #expect(result.replies.first?.lines == ["a\u{FFFD}\u{FFFD} b"])
    }

    // MARK: Incomplete fixtures

    static let incomplete: [(String, String)] = [
        ("", "250 Ok\r\n"), ("2", "50 Ok\r\n"), ("250", "\r\n"), ("250 Ok", "\r\n"), ("250 Ok\r", "\n"),
        ("250-first\r\n", "250 last\r\n"), ("250-first\r\n250-second\r\n25", "0 last\r\n"),
    ]

    @Test("incomplete input needs more data and keeps what it read", arguments: incomplete)
    func needMoreData(text: String, rest: String) {
        var parser = ReplyParser()
        var input = ByteBuffer(string: text)
        #expect(parser.parse(&input) == .needMoreData)
        input.writeString(rest)
        guard case .reply(let reply) = parser.parse(&input) else {
            Issue.record("no reply after completing \(text.debugDescription)")
            return
        }
        #expect(reply == Self.parseAll(text + rest).replies.first)
        #expect(input.readableBytes == 0)
    }

    // MARK: Failure fixtures

    static let failures: [(String, ReplyParser.Failure)] = [
        ("25\r\n", .invalidReplyCode),
        ("abc Ok\r\n", .invalidReplyCode),
        ("+50 Ok\r\n", .invalidReplyCode),
        (" 250 Ok\r\n", .invalidReplyCode),
        ("199 Ok\r\n", .invalidReplyCode),
        ("600 Ok\r\n", .invalidReplyCode),
        ("999 Ok\r\n", .invalidReplyCode),
        ("260 Ok\r\n", .invalidReplyCode),
        ("2x0 Ok\r\n", .invalidReplyCode),
        ("\r\n", .invalidReplyCode),
        ("250Ok\r\n", .invalidSeparator),
        ("250\tOk\r\n", .invalidSeparator),
        ("250-one\r\n251 two\r\n", .inconsistentReplyCodes),
        ("250-one\r\n550 two\r\n", .inconsistentReplyCodes),
        ("250 Ok\n", .bareLineEnding),
        ("250 O\rk\r\n", .bareLineEnding),
        ("250-a\n250 b\r\n", .bareLineEnding),
        ("\n", .bareLineEnding),
    ]

    @Test("refuses what is not a reply", arguments: failures)
    func failure(text: String, expected: ReplyParser.Failure) {
        #expect(Self.parseAll(text).end == .failure(expected))
    }

    @Test("a failure is final: the stream is out of sync")
    func stickyFailure() {
        var parser = ReplyParser()
        var input = ByteBuffer(string: "250 Ok\n")
        #expect(parser.parse(&input) == .failure(.bareLineEnding))
        var more = ByteBuffer(string: "250 Ok\r\n")
        #expect(parser.parse(&more) == .failure(.bareLineEnding))
        #expect(parser.failure == .bareLineEnding)
    }

    // MARK: Hostile next hops (hostile-inputs 36)

    @Test("an endless multi-line reply fails at the line limit")
    func endlessMultiLine() {
        let hundred = String(repeating: "250-x\r\n", count: 99) + "250 x\r\n"
        #expect(Self.parseAll(hundred).replies.first?.lines.count == 100)
        let endless = [UInt8](String(repeating: "250-x\r\n", count: 10_000).utf8)
        let result = Self.parseAll(
            stride(from: 0, to: endless.count, by: 4096).map { Array(endless[$0..<min($0 + 4096, endless.count)]) })
        #expect(result.end == .failure(.tooManyLines(limit: 100)))
        #expect(result.replies.isEmpty)
    }

    @Test("a 1 MB reply line fails as soon as it passes the line limit, without buffering it")
    func hugeLine() {
        var parser = ReplyParser()
        var input = ByteBuffer(string: "250 ")
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 1000)
        var fed = 4
        var outcome = parser.parse(&input)
        while outcome == .needMoreData, fed < 1_048_576 {
            input.writeBytes(chunk)
            fed += chunk.count
            outcome = parser.parse(&input)
        }
        #expect(outcome == .failure(.lineTooLong(limit: 2048)))
        #expect(fed <= 2048 + chunk.count)
    }

    @Test("the line limit counts the CRLF")
    func lineLimitBoundary() {
        let limits = ReplyParser.Limits(maximumLineLength: 10, maximumLines: 3)
        #expect(Self.parseAll([Array("250 abcde\r\n".utf8)], limits: limits).end == .failure(.lineTooLong(limit: 10)))
        #expect(Self.parseAll([Array("250 abcd\r\n".utf8)], limits: limits).replies.count == 1)  // 10 octets
        #expect(Self.parseAll([Array("250 abcd\r".utf8), Array("\n".utf8)], limits: limits).replies.count == 1)
        #expect(
            Self.parseAll([Array("250 abcde\r".utf8), Array("\n".utf8)], limits: limits).end
                == .failure(.lineTooLong(limit: 10)))
        #expect(Self.parseAll("250-a\r\n250-b\r\n250-c\r\n250 d\r\n").replies.count == 1)
        #expect(
            Self.parseAll([Array("250-a\r\n250-b\r\n250-c\r\n250 d\r\n".utf8)], limits: limits).end
                == .failure(.tooManyLines(limit: 3)))
    }

    // MARK: Properties

    @Test("every split of a reply stream gives the same replies")
    func everySplit() {
        let stream = Array(
            ("220 mx.test ESMTP\r\n250-mx.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n250 2.1.0 Ok\r\n"
                + "550-5.1.1 no\r\n550 5.1.1 such user\r\n354 go\r\n250\r\n").utf8)
        let reference = Self.parseAll([stream]).replies
        #expect(reference.count == 6)
        for first in 0...stream.count {
            for second in stride(from: first, through: stream.count, by: 7) {
                let chunks = [Array(stream[..<first]), Array(stream[first..<second]), Array(stream[second...])]
                #expect(Self.parseAll(chunks).replies == reference, "split at \(first), \(second)")
            }
        }
        #expect(Self.parseAll(stream.map { [$0] }).replies == reference)
    }

    @Test(
        "what SMTPReply writes, the parser reads back",
        arguments: [
            SMTPReply.ok, .recipientOK, .help, .readyToStartTLS, .startData, .messageTooBig, .tooManyRecipients,
            .closing("mx.test"), .timeout("mx.test"), SMTPReply(250, nil, ["mx.test", "PIPELINING", "SIZE 10"]),
        ])
    func roundTrip(reply: SMTPReply) {
        #expect(Self.parseAll(reply.description).replies == [reply])
    }

    @Test("random octets never crash the parser, and its buffer stays bounded")
    func randomInput() {
        var generator = SeededGenerator(seed: 36)
        let pieces = ["250", "-", " ", "\r\n", "\r", "\n", "2.0.0", "5", "x", "550", "354", "\u{0}", "999", "25"]
        for _ in 0..<5000 {
            var parser = ReplyParser(limits: .init(maximumLineLength: 64, maximumLines: 5))
            var input = ByteBuffer()
            for _ in 0..<Int.random(in: 1...60, using: &generator) {
                if Bool.random(using: &generator) {
                    input.writeString(pieces.randomElement(using: &generator)!)
                } else {
                    input.writeBytes(
                        (0..<Int.random(in: 1...20, using: &generator)).map { _ in
                            UInt8.random(in: 0...255, using: &generator)
                        })
                }
                var outcome = parser.parse(&input)
                while case .reply(let reply) = outcome {
                    #expect((200...559).contains(reply.code.rawValue))
                    #expect(reply.lines.count <= 5)
                    outcome = parser.parse(&input)
                }
                if case .failure = outcome { break }
                #expect(input.readableBytes < 64 + 20)
            }
        }
    }
}
