import TernMIME

/// Message content: what anyone who can send Tern mail controls, read by the catcher's indexer
/// and web UI, by the submission sender check and by DSN generation.
enum MIMETargets {
    /// A whole message through `MessageContent`: the MIME tree (multipart boundaries, nesting,
    /// embedded messages), transfer decoding and charsets of every part, the summary fields
    /// (Subject with encoded words, Date, Message-ID, address lists), the text and HTML bodies
    /// and the snippet.
    static let message = FuzzTarget(
        name: "mime",
        summary: "MessageContent/MIMEParser: MIME tree, every part decoded, summary fields, bodies, snippet",
        maximumLength: 64 * 1024
    ) { bytes in
        let content = MessageContent(raw: bytes)
        _ = content.subject
        _ = content.date
        _ = content.messageID
        for name in ["From", "To", "Cc", "Reply-To"] {
            _ = content.mailboxes(name)
        }
        let parts = content.root.allParts
        for part in parts {
            _ = content.decodedBody(part)
            _ = content.text(part)
            _ = part.filename
            _ = part.isAttachment
            _ = part.isInline
        }
        if let last = parts.last {
            _ = content.root.part(last.id)
        }
        _ = content.attachments
        _ = content.inlineParts
        _ = content.textBody
        _ = content.snippet()
        if let html = content.htmlBody {
            _ = HTMLText.plainText(html)
        }
    }

    /// A header section as the SMTP path and the submission check read it: collected from the
    /// stream (`HeaderSectionCollector`, small limit), split into fields, From/Sender read
    /// (`Originators`), and every field value read as an address list both ways.
    ///
    /// Covers HeaderSection, AddressList, StrictAddressList and Originators.
    static let header = FuzzTarget(
        name: "header",
        summary: "HeaderSectionCollector, HeaderField.parse, Originators.read, AddressList, StrictAddressList, ReceivedHeader.client",
        maximumLength: 16 * 1024
    ) { bytes in
        var collector = HeaderSectionCollector(limit: 8 * 1024)
        for read in FuzzInput.reads(bytes[...], seed: UInt8(truncatingIfNeeded: bytes.count), maximumRead: 512) {
            if collector.consume(read) != .collecting { break }
        }
        _ = collector.finish()
        _ = Originators.read(headerSection: collector.bytes)
        _ = Originators.read(headerSection: bytes)
        for field in HeaderField.parse(bytes).prefix(64) {
            _ = field.isNamed("From")
            if let client = ReceivedHeader.client(ofFieldValue: field.value) {
                precondition(!client.name.isEmpty && !client.address.isEmpty, "a client without a name or address")
            }
            _ = AddressList.addresses(in: field.value)
            _ = AddressList.mailboxes(in: field.value)
            if let list = StrictAddressList(parsing: field.value) {
                _ = list.mailboxes.map(\.address)
            }
            _ = StrictAddressList(parsing: Array(field.value.utf8))
        }
    }

    /// The small field parsers, each given the whole input as a value: Content-Type and
    /// Content-Disposition (`MediaType`, RFC 2045/2231 parameters), encoded words (RFC 2047),
    /// Content-Transfer-Encoding and the base64 and quoted-printable decoders, and the charset
    /// decoders.
    ///
    /// Input: `charset selector`, then the value.
    static let fields = FuzzTarget(
        name: "mime-fields",
        summary: "MediaType, EncodedWords, TransferEncoding (base64, quoted-printable), Charset",
        maximumLength: 8 * 1024
    ) { bytes in
        var input = FuzzInput(bytes)
        let charsets = [
            nil, "utf-8", "us-ascii", "utf-16", "utf-16le", "utf-16be", "iso-8859-1", "iso-8859-2", "iso-8859-15",
            "windows-1250", "windows-1252", "windows-1258", "koi8-r", "koi8-u", "latin1", "UTF-8*en", "x-unknown",
        ]
        let charset = charsets[Int(input.byte()) % charsets.count]
        let octets = input.rest
        let text = String(decoding: octets, as: UTF8.self)
        if let type = MediaType(contentType: text) {
            _ = type.essence
            _ = type.parameter("charset")
            _ = type.parameter("boundary")
        }
        if let disposition = MediaType(disposition: text) {
            _ = disposition.parameter("filename")
        }
        _ = EncodedWords.decode(text)
        let encoding = TransferEncoding(headerValue: text)
        _ = encoding.name
        _ = encoding.decode(octets)
        _ = TransferEncoding.decodeBase64(octets)
        _ = TransferEncoding.decodeQuotedPrintable(octets)
        _ = Charset.decode(octets, charset: charset)
        _ = Charset.isKnown(text)
        _ = Charset.decode(octets, charset: text)
    }

    /// `MessageDate.parse`: a Date field's value (RFC 5322 §3.3 and the obsolete forms of §4.3),
    /// and the date it gives formatted again.
    static let date = FuzzTarget(
        name: "date",
        summary: "MessageDate.parse of a Date: value; parsed dates formatted and parsed again",
        maximumLength: 256
    ) { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        guard let seconds = MessageDate.parse(text) else { return }
        let formatted = MessageDate.format(secondsSince1970: seconds)
        fuzzCheck(MessageDate.parse(formatted) == seconds, "\(seconds) formatted as \(formatted) does not parse back")
    }
}
