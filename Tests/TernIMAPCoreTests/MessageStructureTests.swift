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

    /// A multipart/mixed with a PDF attachment (disposition, languages) and a forwarded message.
    static func forwardedWithAttachment() -> IMAPBodyStructure {
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
        return IMAPBodyStructure.multipart(
            [attachment, forwarded], subtype: Self.bytes("mixed"), parameters: [IMAPParameter("boundary", "xyz")], extensions: .init())
    }

    @Test("a multipart with an attachment and an embedded message")
    func multipart() {
        let message = Self.forwardedWithAttachment()
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

    @Test("cached facts: every field survives the record, and any damage decodes to nothing")
    func factsRecord() {
        let alice = IMAPAddress.mailbox(name: Self.bytes("Alice"), route: Self.bytes("@relay.test"), localPart: Self.bytes("alice"), host: Self.bytes("a.test"))
        let envelope = IMAPEnvelope(
            date: Self.bytes("Mon, 7 Dec 2026 04:00:00 +0000"), subject: [], from: [alice], sender: [alice], replyTo: [],
            to: [.groupStart(name: Self.bytes("team")), .mailbox(name: nil, route: nil, localPart: nil, host: nil), .groupEnd],
            cc: [], bcc: [alice], inReplyTo: nil, messageID: Self.bytes("<1@a.test>"))
        let facts = MessageFacts(headerLength: 1_234_567, envelope: envelope, bodyStructure: Self.forwardedWithAttachment())
        let record = facts.encoded()
        #expect(MessageFacts(decoding: record) == facts)
        let headerOnly = MessageFacts(headerLength: 0, envelope: IMAPEnvelope())
        #expect(MessageFacts(decoding: headerOnly.encoded()) == headerOnly)
        // Torn at any point, or with anything after it: not a record.
        for end in 0..<record.count { #expect(MessageFacts(decoding: Array(record[..<end])) == nil) }
        #expect(MessageFacts(decoding: record + [0]) == nil)
        // Another version, a count past the end, a number past Int.max, nesting past the limit.
        #expect(MessageFacts(decoding: [2] + record.dropFirst()) == nil)
        #expect(MessageFacts(decoding: [1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]) == nil)
        #expect(MessageFacts(decoding: [1] + [UInt8](repeating: 0xFF, count: 9) + [0x01]) == nil)
        var nested = IMAPBodyStructure.single(.init(type: Self.bytes("text"), subtype: Self.bytes("plain"), size: 1))
        for _ in 0..<200 { nested = .multipart([nested], subtype: Self.bytes("mixed"), parameters: [], extensions: .init()) }
        #expect(MessageFacts(decoding: MessageFacts(headerLength: 1, envelope: envelope, bodyStructure: nested).encoded()) == nil)
    }
}
