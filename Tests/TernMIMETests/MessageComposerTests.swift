import Foundation
import Testing
import TernMail

@testable import TernMIME

/// Messages written from parts read back by Tern's own MIME parser: what goes in comes out.
@Suite("MessageComposer")
struct MessageComposerTests {
    static func compose(_ build: (inout MessageComposer) -> Void) throws -> [UInt8] {
        var composer = MessageComposer(from: .init(name: "Jürgen Müller", address: "j@example.test"))
        build(&composer)
        return try composer.render(messageID: "K1@tern.send", date: 1_800_000_000, boundaryToken: "abc")
    }

    @Test("text, HTML, an attachment and an inline image come back as they went in")
    func roundTrip() throws {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array(repeating: 7, count: 200)
        let raw = try Self.compose { message in
            message.to = [.init(name: "Bob", address: "bob@example.test"), .init(address: "carol@example.test")]
            message.cc = [.init(name: "Smith, John", address: "john@example.test")]
            message.bcc = [.init(address: "hidden@example.test")]
            message.subject = "🎉 Willkommen, a subject long enough to need more than one encoded word in its field"
            message.text = "Hello\nplain line two"
            message.html = "<p>Hi <img src=\"cid:logo\"></p>"
            message.attachments = [
                .init(filename: "résumé.pdf", contentType: "", content: Array("%PDF-1.4\n".utf8)),
                .init(filename: "logo.png", contentType: "image/png", contentID: "logo", content: png),
            ]
            message.fields = [("X-Tags", "invoice, urgent")]
        }
        let content = MessageContent(raw: raw)
        #expect(content.subject == "🎉 Willkommen, a subject long enough to need more than one encoded word in its field")
        #expect(content.mailboxes("From").map(\.name) == ["Jürgen Müller"])
        #expect(content.mailboxes("To").map(\.address) == ["bob@example.test", "carol@example.test"])
        #expect(content.mailboxes("Cc").map(\.name) == ["Smith, John"])
        #expect(content.mailboxes("Bcc").map(\.address) == ["hidden@example.test"])
        #expect(content.messageID == "K1@tern.send" && content.date == 1_800_000_000)
        #expect(content.textBody == "Hello\r\nplain line two\r\n")
        #expect(content.htmlBody?.hasPrefix("<p>Hi <img src=\"cid:logo\"></p>") == true)
        #expect(content.field("X-Tags") == "invoice, urgent")
        #expect(content.root.contentType.essence == "multipart/mixed")
        let attachment = try #require(content.attachments.first)
        #expect(attachment.filename == "résumé.pdf" && attachment.contentType.essence == "application/pdf")
        #expect(content.decodedBody(attachment) == Array("%PDF-1.4\n".utf8))
        let inline = try #require(content.inlineParts.first)
        #expect(inline.contentID == "logo" && content.decodedBody(inline) == png)
        // Every line within RFC 5322's 78 characters (the header) and 998 (anything).
        let lines = String(decoding: raw, as: UTF8.self).components(separatedBy: "\r\n")
        let header = lines.prefix { !$0.isEmpty }
        #expect(header.allSatisfy { $0.utf8.count <= 78 }, "\(header.filter { $0.utf8.count > 78 })")
        #expect(lines.allSatisfy { $0.utf8.count <= 998 })
    }

    @Test("plain ASCII text alone is one 7bit part; UTF-8 text is base64")
    func singlePart() throws {
        let ascii = MessageContent(raw: try Self.compose { $0.text = "just text" })
        #expect(ascii.root.contentType.essence == "text/plain" && ascii.field("Content-Transfer-Encoding") == "7bit")
        #expect(ascii.textBody == "just text\r\n")
        let utf8 = MessageContent(raw: try Self.compose { $0.text = "Grüße" })
        #expect(utf8.field("Content-Transfer-Encoding") == "base64" && utf8.textBody == "Grüße\r\n")
        let html = MessageContent(raw: try Self.compose { $0.html = "<b>only</b>" })
        #expect(html.root.contentType.essence == "text/html")
    }

    @Test("Date and Message-ID may be given; structural fields, bad names and line breaks may not")
    func fields() throws {
        let own = MessageContent(
            raw: try Self.compose {
                $0.subject = "replaced"
                $0.fields = [
                    ("Message-ID", "<mine@x>"), ("Date", "Mon, 1 Jan 2024 00:00:00 +0000"), ("subject", "given"),
                    ("List-Unsubscribe", "<https://example.test/u>"),
                ]
            })
        #expect(own.messageID == "mine@x" && own.date == 1_704_067_200 && own.subject == "given")
        #expect(own.field("List-Unsubscribe") == "<https://example.test/u>")
        #expect(own.root.header.filter { $0.name.lowercased() == "subject" }.count == 1)
        for (name, value) in [("Content-Type", "text/html"), ("MIME-Version", "2.0"), ("Bad Name", "x"), ("X-A:b", "x"), ("", "x"), ("X-Ünicode", "x")] {
            #expect(throws: MessageComposer.Problem.fieldName(name)) { try Self.compose { $0.fields = [(name, value)] } }
        }
        #expect(throws: MessageComposer.Problem.fieldValue("X-Evil")) {
            try Self.compose { $0.fields = [("X-Evil", "a\r\nBcc: victim@example.test")] }
        }
        #expect(throws: MessageComposer.Problem.self) {
            try Self.compose { $0.attachments = [.init(filename: "x", contentType: "no-slash", content: [])] }
        }
        #expect(throws: MessageComposer.Problem.self) {
            try Self.compose { $0.attachments = [.init(filename: "x", contentType: "image/png", contentID: "a>b", content: [])] }
        }
    }

    @Test("display names: atoms bare, specials quoted, quotes escaped")
    func phrases() {
        #expect(MessageComposer.phrase("Bob Smith") == "Bob Smith")
        #expect(MessageComposer.phrase("Smith, Bob") == "\"Smith, Bob\"")
        #expect(MessageComposer.phrase("a \"b\" \\c") == "\"a \\\"b\\\" \\\\c\"")
        #expect(MessageComposer.phrase("Zoë").hasPrefix("=?UTF-8?B?"))
        #expect(MessageComposer.parameter("name", "a b.txt") == "; name=\"a b.txt\"")
        #expect(MessageComposer.parameter("name", "é'*%.txt") == "; name*=UTF-8''%C3%A9%27%2A%25.txt")
    }
}
