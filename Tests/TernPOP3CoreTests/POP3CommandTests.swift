import Testing

@testable import TernPOP3Core

@Suite("POP3 command parsing")
struct POP3CommandTests {
    static func parse(_ line: String) throws(POP3Command.Error) -> POP3Command {
        try POP3Command.parse(Array(line.utf8))
    }

    @Test("every command of RFC 1939, RFC 2449, RFC 2595 and RFC 5034, keywords in any case")
    func commands() throws {
        #expect(try Self.parse("USER alice@example.test") == .user("alice@example.test"))
        #expect(try Self.parse("pass secret with spaces") == .pass("secret with spaces"))
        #expect(try Self.parse("STAT") == .stat)
        #expect(try Self.parse("list") == .list(nil))
        #expect(try Self.parse("LIST 2") == .list(2))
        #expect(try Self.parse("RETR 1") == .retr(1))
        #expect(try Self.parse("DELE 3") == .dele(3))
        #expect(try Self.parse("NOOP") == .noop)
        #expect(try Self.parse("RSET") == .rset)
        #expect(try Self.parse("QUIT") == .quit)
        #expect(try Self.parse("TOP 1 0") == .top(1, lines: 0))
        #expect(try Self.parse("TOP 1 10") == .top(1, lines: 10))
        #expect(try Self.parse("UIDL") == .uidl(nil))
        #expect(try Self.parse("uidl 7") == .uidl(7))
        #expect(try Self.parse("CAPA") == .capa)
        #expect(try Self.parse("STLS") == .stls)
        #expect(try Self.parse("AUTH") == .auth(mechanism: nil, initialResponse: nil))
        #expect(try Self.parse("AUTH plain") == .auth(mechanism: "PLAIN", initialResponse: nil))
        #expect(try Self.parse("AUTH PLAIN AGFsaWNlAHM=") == .auth(mechanism: "PLAIN", initialResponse: Array("AGFsaWNlAHM=".utf8)))
        #expect(try Self.parse("APOP alice 0123456789abcdef") == .apop)
    }

    @Test("hostile numbers are errors, never traps: huge, zero, negative, not digits")
    func numbers() throws {
        #expect(throws: POP3Command.Error.noSuchMessage) { try Self.parse("RETR 99999999999999999999") }
        #expect(throws: POP3Command.Error.noSuchMessage) { try Self.parse("LIST 0") }
        #expect(throws: POP3Command.Error.invalidArguments("TOP")) { try Self.parse("TOP 1 -1") }
        #expect(throws: POP3Command.Error.invalidArguments("RETR")) { try Self.parse("RETR -1") }
        #expect(throws: POP3Command.Error.invalidArguments("RETR")) { try Self.parse("RETR +1") }
        #expect(throws: POP3Command.Error.invalidArguments("RETR")) { try Self.parse("RETR") }
        #expect(throws: POP3Command.Error.invalidArguments("DELE")) { try Self.parse("DELE 1 2") }
        #expect(throws: POP3Command.Error.invalidArguments("LIST")) { try Self.parse("LIST a") }
        #expect(throws: POP3Command.Error.invalidArguments("STAT")) { try Self.parse("STAT 1") }
        // More lines than any message has: the whole body.
        #expect(try Self.parse("TOP 2 99999999999999999999") == .top(2, lines: POP3Command.largestNumber))
    }

    @Test("unknown keywords, control characters and NUL are refused")
    func refused() {
        #expect(throws: POP3Command.Error.unknownCommand) { try Self.parse("HELO") }
        #expect(throws: POP3Command.Error.unknownCommand) { try Self.parse("") }
        #expect(throws: POP3Command.Error.unknownCommand) { try Self.parse("RETRIEVE 1") }
        #expect(throws: POP3Command.Error.invalidCharacter) { try POP3Command.parse([0x55, 0x53, 0x45, 0x52, 0x20, 0x61, 0x00, 0x62]) }
        #expect(throws: POP3Command.Error.invalidCharacter) { try Self.parse("PASS a\tb") }
        #expect(throws: POP3Command.Error.invalidArguments("USER")) { try Self.parse("USER") }
        #expect(throws: POP3Command.Error.invalidArguments("USER")) { try Self.parse("USER a b") }
    }
}

@Suite("POP3 TOP filter")
struct POP3TopFilterTests {
    static func top(_ message: String, lines: Int, chunk: Int) -> String {
        var filter = POP3TopFilter(bodyLines: lines)
        var sent: [UInt8] = []
        let octets = Array(message.utf8)
        var start = 0
        while start < octets.count, !filter.isDone {
            let piece = octets[start..<min(start + chunk, octets.count)]
            sent += piece.prefix(filter.accept(piece))
            start += chunk
        }
        return String(decoding: sent, as: UTF8.self)
    }

    @Test("the header, the blank line and n body lines, in any split")
    func lines() {
        let message = "Subject: a\r\nFrom: b\r\n\r\none\r\ntwo\r\nthree\r\n"
        for chunk in 1...message.utf8.count {
            #expect(Self.top(message, lines: 0, chunk: chunk) == "Subject: a\r\nFrom: b\r\n\r\n")
            #expect(Self.top(message, lines: 2, chunk: chunk) == "Subject: a\r\nFrom: b\r\n\r\none\r\ntwo\r\n")
            #expect(Self.top(message, lines: 10, chunk: chunk) == message)
        }
        // No blank line: all header. Bare LF line ends count too.
        #expect(Self.top("Subject: a\r\n", lines: 0, chunk: 4) == "Subject: a\r\n")
        #expect(Self.top("A: b\n\nx\ny\n", lines: 1, chunk: 3) == "A: b\n\nx\n")
    }
}
