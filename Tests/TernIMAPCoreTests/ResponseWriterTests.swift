import NIOCore
import Testing

@testable import TernIMAPCore

@Suite("IMAP response writer")
struct ResponseWriterTests {
    static func written(_ write: (inout ByteBuffer) -> Void) -> String {
        var buffer = ByteBuffer()
        write(&buffer)
        return String(decoding: buffer.readableBytesView, as: UTF8.self)
    }

    @Test("strings: quoted with escapes when they can be, literals otherwise")
    func strings() {
        #expect(Self.written { ResponseWriter.writeString(Array("a \"b\" \\c".utf8), utf8: false, to: &$0) } == "\"a \\\"b\\\" \\\\c\"")
        #expect(Self.written { ResponseWriter.writeString(Array("two\r\nlines".utf8), utf8: true, to: &$0) } == "{10}\r\ntwo\r\nlines")
        #expect(Self.written { ResponseWriter.writeString(Array("café".utf8), utf8: false, to: &$0) } == "{5}\r\ncafé")
        #expect(Self.written { ResponseWriter.writeString(Array("café".utf8), utf8: true, to: &$0) } == "\"café\"")
        #expect(Self.written { ResponseWriter.writeString([0x61, 0x00], utf8: true, to: &$0) } == "~{2}\r\na\0")
        #expect(Self.written { ResponseWriter.writeString([UInt8](), utf8: true, to: &$0) } == "\"\"")
        #expect(Self.written { ResponseWriter.writeString([UInt8](repeating: 0x61, count: 2000), utf8: true, to: &$0) }.hasPrefix("{2000}\r\n"))
    }

    @Test("nstring and astring")
    func nstringAndAString() {
        #expect(Self.written { ResponseWriter.writeNString(nil as [UInt8]?, utf8: true, to: &$0) } == "NIL")
        #expect(Self.written { ResponseWriter.writeAString(Array("INBOX".utf8), utf8: true, to: &$0) } == "INBOX")
        #expect(Self.written { ResponseWriter.writeAString(Array("My Folder".utf8), utf8: true, to: &$0) } == "\"My Folder\"")
        #expect(Self.written { ResponseWriter.writeAString([UInt8](), utf8: true, to: &$0) } == "\"\"")
    }

    @Test("status lines stay one line whatever the text; a bad tag becomes *")
    func status() {
        #expect(
            Self.written { ResponseWriter.writeStatus(tag: "a1", .ok, code: "READ-WRITE", text: "SELECT completed", to: &$0) }
                == "a1 OK [READ-WRITE] SELECT completed\r\n")
        #expect(Self.written { ResponseWriter.writeStatus(tag: "a2", .bad, text: "no\r\n* OK injected", to: &$0) } == "a2 BAD no  * OK injected\r\n")
        #expect(Self.written { ResponseWriter.writeStatus(tag: nil, .bye, text: "", to: &$0) } == "* BYE  \r\n")
        #expect(Self.written { ResponseWriter.writeStatus(tag: "a b", .bad, text: "x", to: &$0) } == "* BAD x\r\n")
        #expect(Self.written { ResponseWriter.writeStatus(tag: "t", .no, code: "a]b", text: "x", to: &$0) } == "t NO [a b] x\r\n")
        #expect(Self.written { ResponseWriter.writeContinuation("Ready", to: &$0) } == "+ Ready\r\n")
    }
}
