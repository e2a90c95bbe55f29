import Testing

@testable import TernMIME

/// The MIME reader: trees, encodings, charsets, encoded words, parameters, dates, on fixtures
/// shaped like what real mailers send, and on random and truncated input.
@Suite("MIME parser")
struct MIMEParserTests {
    static func crlf(_ text: String) -> [UInt8] {
        Array(text.replacingNewlines().utf8)
    }

    static let alternativeWithAttachment = crlf(
        """
        From: "Smith, Alice" <alice@example.test>
        To: Bob <bob@example.test>, carol@example.test
        Cc: =?UTF-8?Q?Dani=C3=ABl?= <daniel@example.test>
        Subject: =?UTF-8?B?SGVsbG8g8J+Ruw==?= and =?ISO-8859-1?Q?caf=E9?=
        Date: Mon, 2 Mar 2026 10:15:00 +0100
        Message-ID: <abc@example.test>
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="outer"

        This is the preamble.
        --outer
        Content-Type: multipart/alternative; boundary=inner

        --inner
        Content-Type: text/plain; charset=utf-8
        Content-Transfer-Encoding: quoted-printable

        Caf=C3=A9 au lait, soft=
         break.
        --inner
        Content-Type: text/html; charset="utf-8"

        <p>Caf\u{E9} <b>au</b> lait</p>
        --inner--
        --outer
        Content-Type: application/pdf; name="report.pdf"
        Content-Disposition: attachment; filename="report.pdf"
        Content-Transfer-Encoding: base64

        JVBERi0xLjQK
        --outer
        Content-Type: image/png
        Content-ID: <logo@example.test>
        Content-Disposition: inline
        Content-Transfer-Encoding: base64

        iVBORw0KGgo=
        --outer--
        The epilogue.
        """)

    @Test("a multipart/mixed with alternative text, an attachment and an inline image")
    func tree() throws {
        let message = MessageContent(raw: Self.alternativeWithAttachment)
        #expect(message.root.id == "" && message.root.contentType.essence == "multipart/mixed")
        #expect(message.root.allParts.map(\.id) == ["", "1", "1.1", "1.2", "2", "3"])
        #expect(message.subject == "Hello 👻 and café")
        #expect(message.mailboxes("From") == [.init(name: "Smith, Alice", address: "alice@example.test")])
        #expect(message.mailboxes("To").map(\.address) == ["bob@example.test", "carol@example.test"])
        #expect(message.mailboxes("Cc") == [.init(name: "Daniël", address: "daniel@example.test")])
        #expect(message.date == 1_772_442_900)  // 2026-03-02 09:15:00 UTC
        #expect(message.messageID == "abc@example.test")
        #expect(message.textBody == "Café au lait, soft break.")
        #expect(message.htmlBody == "<p>Caf\u{E9} <b>au</b> lait</p>")
        let attachments = message.attachments
        #expect(attachments.map(\.id) == ["2"])
        #expect(attachments.first?.filename == "report.pdf")
        #expect(message.decodedBody(try #require(attachments.first)) == Array("%PDF-1.4\n".utf8))
        #expect(message.inlineParts.map(\.contentID) == ["logo@example.test"])
        #expect(message.snippet() == "Café au lait, soft break.")
    }

    @Test("a nested message/rfc822 is one attachment, numbered under its part")
    func embedded() {
        let raw = Self.crlf(
            """
            Subject: fwd
            Content-Type: multipart/mixed; boundary=b

            --b
            Content-Type: text/plain

            see below
            --b
            Content-Type: message/rfc822

            Subject: inner
            Content-Type: multipart/alternative; boundary=c

            --c
            Content-Type: text/plain

            inner text
            --c--
            --b--
            """)
        let message = MessageContent(raw: raw)
        #expect(message.root.allParts.map(\.id) == ["", "1", "2", "2", "2.1"])
        #expect(message.textBody == "see below")
        #expect(message.attachments.map(\.id) == ["2"])
        let inner = MessageContent(raw: Array(raw[message.root.part("2")!.bodyRange]))
        #expect(inner.subject == "inner" && inner.textBody == "inner text")
    }

    @Test("a single-part message is section 1; no header at all is text/plain")
    func singlePart() {
        let message = MessageContent(raw: Self.crlf("Subject: x\n\nbody\n"))
        #expect(message.root.id == "1" && message.textBody == "body\r\n")
        let bare = MessageContent(raw: Array("\r\njust text".utf8))
        #expect(bare.root.header.isEmpty && bare.textBody == "just text")
        let headerOnly = MessageContent(raw: Array("Subject: only".utf8))
        #expect(headerOnly.subject == "only" && headerOnly.textBody == "")
    }

    @Test("ISO-8859-1, Windows-1252 and KOI8-R bodies; undecodable bytes become U+FFFD")
    func charsets() {
        #expect(Charset.decode([0x63, 0x61, 0x66, 0xE9], charset: "ISO-8859-1") == "café")
        #expect(Charset.decode([0x80, 0x93, 0x94], charset: "windows-1252") == "€“”")
        #expect(Charset.decode([0xA4], charset: "iso-8859-15") == "€")
        #expect(Charset.decode([0xF0, 0xD2, 0xC9], charset: "koi8-r") == "При")
        #expect(Charset.decode([0xE9, 0x20, 0x41], charset: "utf-8") == "\u{FFFD} A")
        #expect(Charset.decode([0x41, 0xE9], charset: "x-unknown") == "A\u{FFFD}")
        #expect(Charset.decode([0xFF, 0xFE, 0x41, 0x00], charset: "utf-16") == "A")
        #expect(Charset.decode([0x81], charset: "windows-1252") == "\u{FFFD}")
        #expect(Charset.isKnown("LATIN1") && Charset.isKnown("cp1251") && !Charset.isKnown("x-unknown"))
        let latin = MessageContent(
            raw: [UInt8]("Content-Type: text/plain; charset=iso-8859-1\r\n\r\n".utf8) + [0x67, 0x72, 0xFC, 0xDF])
        #expect(latin.textBody == "grüß")
    }

    @Test("encoded words: B and Q, adjacent words joined, broken ones left alone", arguments: [
        ("=?utf-8?q?a_b?= =?utf-8?q?c?=", "a bc"),
        ("x =?utf-8?b?w6k=?= y", "x é y"),
        ("=?UTF-8*en?Q?hi?=", "hi"),
        ("=?utf-8?x?abc?=", "=?utf-8?x?abc?="),
        ("=?utf-8?q?no end", "=?utf-8?q?no end"),
        ("=??q?empty?=", "=??q?empty?="),
        ("plain", "plain"),
        ("=?iso-8859-1?q?=E9t=E9?=", "été"),
    ])
    func encodedWords(input: String, expected: String) {
        #expect(EncodedWords.decode(input) == expected)
    }

    @Test("parameters: quoted, RFC 2231 continuations and charsets, encoded-word file names")
    func parameters() throws {
        let simple = try #require(MediaType(contentType: "Text/HTML ; Charset = \"UTF-8\" (comment); format=flowed"))
        #expect(simple.essence == "text/html" && simple.parameters == ["charset": "UTF-8", "format": "flowed"])
        let continued = try #require(
            MediaType(
                disposition: "attachment; filename*0*=UTF-8''na%C3%AFve%20; filename*1=\"report\"; filename*2=.pdf"))
        #expect(continued.type == "attachment" && continued.parameter("filename") == "naïve report.pdf")
        let encoded = try #require(MediaType(disposition: "attachment; filename=\"=?UTF-8?B?w6l0w6kucGRm?=\""))
        #expect(encoded.parameter("filename") == "été.pdf")
        let latin = try #require(MediaType(contentType: "text/plain; title*=iso-8859-1'fr'caf%E9"))
        #expect(latin.parameter("title") == "café")
        #expect(MediaType(contentType: "garbage") == nil)
        #expect(MIMEPart.safeFilename("../../etc/passwd") == "passwd")
        #expect(MIMEPart.safeFilename("C:\\temp\\a\u{0}b.txt") == "ab.txt")
    }

    @Test("snippet: whole words that fit, white space collapsed")
    func snippets() {
        #expect(MessageContent.snippet(of: "  Hello,\r\n\tworld  and   more ", maximumLength: 200) == "Hello, world and more")
        #expect(MessageContent.snippet(of: "Hello, world and more", maximumLength: 12) == "Hello, world")
        #expect(MessageContent.snippet(of: "Hello, world and more", maximumLength: 11) == "Hello,")
        #expect(MessageContent.snippet(of: "Antidisestablishmentarianism", maximumLength: 10) == "")
        #expect(MessageContent.snippet(of: "", maximumLength: 10) == "")
        #expect(MessageContent.snippet(of: "né café 🦤 fin", maximumLength: 9) == "né café 🦤")
        let long = String(repeating: "word ", count: 200_000)
        #expect(MessageContent.snippet(of: long, maximumLength: 250).count == 249)
    }

    @Test("quoted-printable and base64, leniently")
    func transferEncodings() {
        #expect(TransferEncoding.decodeQuotedPrintable(Array("a=3Db=3db \r\nc=\r\nd= e=ZZ=".utf8)) == Array("a=b=b\r\ncd= e=ZZ".utf8))
        // Rule 3: white space before a line break goes; inside a line and at the very end it stays.
        #expect(
            TransferEncoding.decodeQuotedPrintable(Array("a \t b\t \r\n  c  \n d \t".utf8))
                == Array("a \t b\r\n  c\n d \t".utf8))
        #expect(TransferEncoding.decodeQuotedPrintable(Array("x  =\r\n y".utf8)) == Array("x   y".utf8))
        #expect(TransferEncoding.decodeBase64(Array("aGVs\r\nbG8=\r\nignored".utf8)) == Array("hello".utf8))
        #expect(TransferEncoding.decodeBase64(Array("aGVsbG8".utf8)) == Array("hello".utf8))
        #expect(TransferEncoding(headerValue: " Base64 (why not)") == .base64)
        #expect(TransferEncoding(headerValue: nil) == .sevenBit)
        #expect(TransferEncoding(headerValue: "x-uuencode") == .unknown("x-uuencode"))
    }

    @Test("dates in current and obsolete forms", arguments: [
        ("Mon, 2 Mar 2026 10:15:00 +0100", Int64(1_772_442_900)),
        ("2 Mar 2026 09:15 GMT", Int64(1_772_442_900)),
        ("Mon, 02 Mar 26 04:15:00 EST (a comment)", Int64(1_772_442_900)),
        ("Thu, 1 Jan 1970 00:00:00 +0000", Int64(0)),
    ])
    func dates(text: String, expected: Int64) {
        #expect(MessageDate.parse(text) == expected)
    }

    @Test("not dates", arguments: ["", "yesterday", "32 Jan 2026 00:00:00 +0000", "1 Foo 2026 00:00 +0000", "1 Jan 2026 25:00"])
    func notDates(text: String) {
        #expect(MessageDate.parse(text) == nil)
    }

    @Test("a date formatted and parsed back is the same instant")
    func dateRoundTrip() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1000 {
            let seconds = Int64.random(in: 0...4_102_444_800, using: &generator)
            #expect(MessageDate.parse(MessageDate.format(secondsSince1970: seconds)) == seconds)
        }
    }

    @Test("a missing close delimiter and a boundary with trailing white space")
    func sloppyMultipart() {
        let raw = Self.crlf("Content-Type: multipart/mixed; boundary=z\n\n--z  \nContent-Type: text/plain\n\none\n--z\n\ntwo")
        let message = MessageContent(raw: raw)
        #expect(message.root.children.count == 2)
        #expect(message.text(message.root.children[0]) == "one")
        #expect(message.text(message.root.children[1]) == "two")
    }

    @Test("HTML to text for snippets: tags, scripts, comments and entities")
    func htmlText() {
        let html = "<style>p{}</style><p>Hello&nbsp;<b>world</b> &amp; &#233;&#x263A;</p><!-- x --><SCRIPT>alert(1)</script>!"
        #expect(HTMLText.plainText(html).split(whereSeparator: \.isWhitespace).joined(separator: " ") == "Hello world & é☺ !")
    }

    @Test("random and truncated messages never crash, loop or exceed the part limit")
    func fuzz() {
        var generator = SystemRandomNumberGenerator()
        let pieces = [
            "Content-Type: multipart/mixed; boundary=a\r\n", "Content-Type: message/rfc822\r\n", "\r\n", "--a\r\n",
            "--a--\r\n", "Content-Transfer-Encoding: base64\r\n", "Content-Transfer-Encoding: quoted-printable\r\n",
            "=?utf-8?b?w6k=?=", "Subject: =?x?q?=FF?=\r\n", "text=\r\n", "=C3", "\u{FF}", "Content-Type: text/plain; charset*0*=utf-8''%\r\n",
            "Content-Disposition: attachment; filename*=x\r\n", " folded\r\n", "\n",
        ]
        for _ in 0..<2000 {
            var raw: [UInt8] = []
            for _ in 0..<Int.random(in: 0...40, using: &generator) {
                raw += Array(pieces.randomElement(using: &generator)!.utf8)
            }
            let message = MessageContent(raw: raw)
            _ = (message.subject, message.textBody, message.htmlBody, message.attachments.count, message.snippet())
            #expect(message.root.allParts.count <= MIMEParser.maximumParts * 2)
            // Every prefix of it parses too.
            let cut = Int.random(in: 0...raw.count, using: &generator)
            _ = MessageContent(raw: Array(raw[..<cut])).textBody
        }
    }

    @Test("deep nesting stops at the depth limit")
    func deepNesting() {
        var raw = ""
        for level in 0..<200 { raw += "Content-Type: multipart/mixed; boundary=b\(level)\r\n\r\n--b\(level)\r\n" }
        let message = MessageContent(raw: Array(raw.utf8))
        #expect(message.root.allParts.count <= MIMEParser.maximumDepth + 1)
    }
}

extension String {
    /// Test fixtures are written with LF; mail has CRLF.
    fileprivate func replacingNewlines() -> String {
        split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\r\n")
    }
}
