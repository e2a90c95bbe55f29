import NIOCore
import Testing

@testable import TernIMAPCore

@Suite("IMAP ENVELOPE and BODYSTRUCTURE")
struct MessageStructureTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func written(_ write: (inout ByteBuffer) -> Void) -> String {
        var buffer = ByteBuffer()
        write(&buffer)
        return String(decoding: buffer.readableBytesView, as: UTF8.self)
    }

    @Test("an envelope: nstrings, address lists, NIL for none, groups")
    func envelope() {
        let alice = IMAPAddress.mailbox(name: Self.bytes("Alice Smith"), route: nil, localPart: Self.bytes("alice"), host: Self.bytes("example.test"))
        let envelope = IMAPEnvelope(
            date: Self.bytes("Sun, 6 Dec 2026 10:00:00 +0000"), subject: Self.bytes("=?utf-8?q?caf=C3=A9?="), from: [alice],
            sender: [alice], replyTo: [alice],
            to: [.groupStart(name: Self.bytes("team")), .mailbox(name: nil, route: nil, localPart: Self.bytes("bob"), host: Self.bytes("b.test")), .groupEnd],
            messageID: Self.bytes("<1@example.test>"))
        #expect(
            Self.written { envelope.write(to: &$0, utf8: false) }
                == "(\"Sun, 6 Dec 2026 10:00:00 +0000\" \"=?utf-8?q?caf=C3=A9?=\" ((\"Alice Smith\" NIL \"alice\" \"example.test\")) "
                + "((\"Alice Smith\" NIL \"alice\" \"example.test\")) ((\"Alice Smith\" NIL \"alice\" \"example.test\")) "
                + "((NIL NIL \"team\" NIL)(NIL NIL \"bob\" \"b.test\")(NIL NIL NIL NIL)) NIL NIL NIL \"<1@example.test>\")")
        #expect(Self.written { IMAPEnvelope().write(to: &$0, utf8: true) } == "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)")
    }

    @Test("a subject with CR LF or 8-bit octets for a rev1 client goes as a literal")
    func literalSubject() {
        let envelope = IMAPEnvelope(subject: Self.bytes("caf\u{E9}"))
        #expect(Self.written { envelope.write(to: &$0, utf8: false) }.hasPrefix("(NIL {5}\r\ncaf\u{E9} NIL"))
        #expect(Self.written { envelope.write(to: &$0, utf8: true) }.hasPrefix("(NIL \"caf\u{E9}\" NIL"))
    }

    @Test("BODY and BODYSTRUCTURE of a text part: lines, then extension data only for BODYSTRUCTURE")
    func text() {
        let part = IMAPBodyStructure.single(
            .init(
                type: Self.bytes("TEXT"), subtype: Self.bytes("PLAIN"), parameters: [IMAPParameter("CHARSET", "US-ASCII")], size: 3028,
                lines: 92))
        #expect(Self.written { part.write(to: &$0, extensible: false, utf8: true) } == "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92)")
        #expect(
            Self.written { part.write(to: &$0, extensible: true, utf8: true) }
                == "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92 NIL NIL NIL NIL)")
    }

    @Test("a multipart with an attachment and an embedded message")
    func multipart() {
        let attachment = IMAPBodyStructure.single(
            .init(
                type: Self.bytes("application"), subtype: Self.bytes("pdf"), parameters: [IMAPParameter("name", "a b.pdf")],
                encoding: Self.bytes("base64"), size: 4096,
                extensions: .init(disposition: .init(type: Self.bytes("attachment"), parameters: [IMAPParameter("filename", "a b.pdf")]), languages: [Self.bytes("en"), Self.bytes("fr")])))
        let inner = IMAPBodyStructure.single(.init(type: Self.bytes("text"), subtype: Self.bytes("plain"), size: 10, lines: 1))
        let forwarded = IMAPBodyStructure.single(
            .init(
                type: Self.bytes("message"), subtype: Self.bytes("rfc822"), size: 300,
                embedded: .init(envelope: IMAPEnvelope(subject: Self.bytes("fwd")), body: inner, lines: 12)))
        let message = IMAPBodyStructure.multipart(
            [attachment, forwarded], subtype: Self.bytes("mixed"), parameters: [IMAPParameter("boundary", "xyz")], extensions: .init())
        #expect(
            Self.written { message.write(to: &$0, extensible: false, utf8: true) }
                == "((\"application\" \"pdf\" (\"name\" \"a b.pdf\") NIL NIL \"base64\" 4096)"
                + "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 300 (NIL \"fwd\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" NIL NIL NIL \"7BIT\" 10 1) 12)"
                + " \"mixed\")")
        #expect(
            Self.written { message.write(to: &$0, extensible: true, utf8: true) }
                == "((\"application\" \"pdf\" (\"name\" \"a b.pdf\") NIL NIL \"base64\" 4096 NIL (\"attachment\" (\"filename\" \"a b.pdf\")) (\"en\" \"fr\") NIL)"
                + "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 300 (NIL \"fwd\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" NIL NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL) 12 NIL NIL NIL NIL)"
                + " \"mixed\" (\"boundary\" \"xyz\") NIL NIL NIL)")
    }
}
