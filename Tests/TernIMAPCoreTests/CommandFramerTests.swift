import NIOCore
import Testing

@testable import TernIMAPCore

@Suite("IMAP command framer")
struct CommandFramerTests {
    /// Feeds `input` in pieces of `chunk` octets (the whole at once for nil) and collects every
    /// frame but `.needMoreData`.
    static func frames(
        _ input: String, chunk: Int? = nil, configuration: IMAPCommandFramer.Configuration = .init()
    ) -> [IMAPCommandFramer.Frame] {
        var framer = IMAPCommandFramer(configuration: configuration)
        var buffer = ByteBuffer()
        var frames: [IMAPCommandFramer.Frame] = []
        let octets = Array(input.utf8)
        var offset = 0
        repeat {
            let end = min(octets.count, offset + (chunk ?? octets.count))
            buffer.writeBytes(octets[offset..<end])
            offset = end
            while true {
                let frame = framer.next(&buffer)
                if frame == .needMoreData { break }
                frames.append(frame)
                if case .fatal = frame { return frames }
            }
        } while offset < octets.count
        return frames
    }

    static func command(_ lines: [String], _ literals: [String] = [], bare: Bool = false) -> IMAPCommandFramer.Frame {
        .command(
            IMAPCommandOctets(
                lines: lines.map { ByteBuffer(string: $0) }, literals: literals.map { ByteBuffer(string: $0) },
                hasBareLineEnding: bare))
    }

    @Test("lines end at CRLF; literals join lines into one command, split anywhere", arguments: [nil, 1, 2, 3, 7])
    func literals(chunk: Int?) {
        let input = "a1 NOOP\r\na2 LOGIN {5}\r\nalice {6+}\r\nsecret\r\na3 APPEND INBOX ~{3}\r\n\0\r\n\r\n"
        #expect(
            Self.frames(input, chunk: chunk) == [
                Self.command(["a1 NOOP"]),
                .continuationRequested,
                Self.command(["a2 LOGIN {5}", " {6+}", ""], ["alice", "secret"]),
                .continuationRequested,
                Self.command(["a3 APPEND INBOX ~{3}", ""], ["\0\r\n"]),
            ])
    }

    @Test("an empty literal, and braces that do not end the line, announce nothing extra")
    func edges() {
        #expect(Self.frames("a {0}\r\n\r\n") == [.continuationRequested, Self.command(["a {0}", ""], [""])])
        #expect(Self.frames("a SEARCH SUBJECT \"{5}\"\r\n") == [Self.command(["a SEARCH SUBJECT \"{5}\""])])
        #expect(Self.frames("a X {}\r\nb X {+}\r\nc X {1a}\r\n").count == 3, "no digits, no literal")
    }

    @Test("a bare CR or LF stays inside the line and is reported")
    func bareLineEndings() {
        #expect(Self.frames("a NOOP\nb NOOP\r\n") == [Self.command(["a NOOP\nb NOOP"], bare: true)])
        #expect(Self.frames("a NOOP\rb NOOP\r\nc NOOP\r\n") == [Self.command(["a NOOP\rb NOOP"], bare: true), Self.command(["c NOOP"])])
    }

    @Test(
        "a synchronizing literal over the limit is refused with the tag, allocating nothing; the next command is read",
        arguments: ["{4294967296}", "{99999999999999999999}", "{1025}", "~{2000}"])
    func synchronizingTooLarge(announcement: String) {
        let configuration = IMAPCommandFramer.Configuration(maximumLiteralSize: 1024)
        let frames = Self.frames("t7 APPEND INBOX \(announcement)\r\nt8 NOOP\r\n", configuration: configuration)
        guard case .literalRefused(let tag, _) = frames.first else {
            Issue.record("not refused: \(frames)")
            return
        }
        #expect(tag == "t7")
        #expect(frames.dropFirst().elementsEqual([Self.command(["t8 NOOP"])]))
    }

    @Test("a non-synchronizing literal over its limit ends the connection: its octets would read as commands")
    func nonSynchronizingTooLarge() {
        #expect(Self.frames("a LOGIN {4097+}\r\n") == [.fatal(.literalTooLarge)])
        #expect(Self.frames("a LOGIN {99999999999999999999+}\r\nb NOOP\r\n") == [.fatal(.literalTooLarge)])
        let plus = IMAPCommandFramer.Configuration(maximumLiteralSize: 10_000, maximumNonSynchronizingLiteralSize: 10_000)
        #expect(Self.frames("a LOGIN {4097+}\r\n" + String(repeating: "x", count: 4097) + "\r\n", configuration: plus).count == 1)
    }

    @Test("a line without CRLF within the limit ends the connection, however it arrives", arguments: [nil, 1000])
    func lineTooLong(chunk: Int?) {
        let configuration = IMAPCommandFramer.Configuration(maximumLineLength: 100)
        let input = "a NOOP " + String(repeating: "x", count: 200) + "\r\n"
        #expect(Self.frames(input, chunk: chunk, configuration: configuration) == [.fatal(.lineTooLong)])
        #expect(Self.frames("a " + String(repeating: "x", count: 96) + "\r\n", configuration: configuration).count == 1)
    }

    @Test("many small literals cannot add up past the command limit")
    func commandTooLarge() {
        let configuration = IMAPCommandFramer.Configuration(maximumLineLength: 100, maximumLiteralSize: 100, maximumCommandSize: 1000)
        let input = String(repeating: "a {50+}\r\n" + String(repeating: "x", count: 50), count: 30) + "\r\n"
        #expect(Self.frames(input, configuration: configuration).last == .fatal(.literalTooLarge))
    }

    @Test("a fatal frame reads nothing more")
    func closed() {
        var framer = IMAPCommandFramer(configuration: .init(maximumLineLength: 10))
        var buffer = ByteBuffer(string: String(repeating: "x", count: 20))
        #expect(framer.next(&buffer) == .fatal(.lineTooLong))
        buffer.writeString("a NOOP\r\n")
        #expect(framer.next(&buffer) == .needMoreData)
        #expect(buffer.readableBytes == 0)
    }

    @Test("tags: astring characters but +, as the refusal names them")
    func tags() {
        #expect(IMAPCommandFramer.tag(of: ByteBuffer(string: "A001 APPEND")) == "A001")
        #expect(IMAPCommandFramer.tag(of: ByteBuffer(string: "a+b APPEND")) == nil)
        #expect(IMAPCommandFramer.tag(of: ByteBuffer(string: "(x APPEND")) == nil)
        #expect(IMAPCommandFramer.tag(of: ByteBuffer(string: " APPEND")) == nil)
    }
}
