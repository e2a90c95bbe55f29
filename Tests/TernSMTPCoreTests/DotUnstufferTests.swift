import NIOCore
import Testing

@testable import TernSMTPCore

@Suite("DotUnstuffer")
struct DotUnstufferTests {
    private func decode(_ chunks: [String], limit: Int = 1000) -> (body: String, outcome: DotUnstuffer.Outcome, rest: String, bare: Bool, long: Bool) {
        var unstuffer = DotUnstuffer(textLineLimit: limit)
        var input = ByteBuffer()
        var body = ByteBuffer()
        var outcome = DotUnstuffer.Outcome.needMoreData
        for chunk in chunks {
            input.writeString(chunk)
            outcome = unstuffer.decode(&input) { slice in
                var slice = slice
                body.writeBuffer(&slice)
            }
            if outcome == .endOfData { break }
        }
        return (String(buffer: body), outcome, String(buffer: input), unstuffer.sawBareLineEnding, unstuffer.sawLongLine)
    }

    @Test("end of data, unstuffing, and what follows stays unread")
    func basic() {
        let result = decode(["a\r\n..b\r\n.c\r\n.\r\nNOOP\r\n"])
        #expect(result.body == "a\r\n.b\r\nc\r\n")
        #expect(result.outcome == .endOfData)
        #expect(result.rest == "NOOP\r\n")
        #expect(!result.bare)
    }

    @Test("an empty message is just the dot line")
    func empty() {
        #expect(decode([".\r\n"]).body == "")
        #expect(decode([".\r\n"]).outcome == .endOfData)
    }

    @Test("the dot line split across reads")
    func splitDot() {
        let result = decode(["a\r\n", ".", "\r", "\n"])
        #expect(result.body == "a\r\n")
        #expect(result.outcome == .endOfData)
    }

    @Test("bare line endings are content and flagged", arguments: ["a\n.\nb\r\n.\r\n", "a\r.\rb\r\n.\r\n", "a\r\n.\nb\r\n.\r\n", "a\n.\r\nb\r\n.\r\n"])
    func bare(input: String) {
        let result = decode([input])
        #expect(result.outcome == .endOfData)
        #expect(result.bare)
        #expect(result.body.hasSuffix("b\r\n"))
    }

    @Test("line length counts the unstuffed line including CRLF")
    func lineLength() {
        #expect(!decode([String(repeating: "x", count: 998) + "\r\n.\r\n"]).long)
        #expect(decode([String(repeating: "x", count: 999) + "\r\n.\r\n"]).long)
        #expect(!decode(["." + String(repeating: "x", count: 998) + "\r\n.\r\n"]).long)
        #expect(decode([String(repeating: "x", count: 600), String(repeating: "x", count: 600), "\r\n.\r\n"]).long)
        #expect(!decode([String(repeating: "x", count: 5000) + "\r\n.\r\n"], limit: 0).long)
    }
}
