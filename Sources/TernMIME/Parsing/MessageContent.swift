/// A raw message and its MIME tree, with what a reader wants from it: the decoded header
/// fields, the text and HTML bodies, the attachments. Everything is computed from `raw`; nothing
/// fails on a malformed message.
public struct MessageContent: Sendable {
    public let raw: [UInt8]
    public let root: MIMEPart

    public init(raw: [UInt8]) {
        self.raw = raw
        self.root = MIMEParser.parse(raw)
    }

    // MARK: Header

    /// The first value of a top-level header field, unfolded, undecoded.
    public func field(_ name: String) -> String? { root.field(name) }

    /// Subject with RFC 2047 encoded words decoded; "" when absent.
    public var subject: String { field("Subject").map(EncodedWords.decode) ?? "" }

    /// The mailboxes of an address field (From, To, Cc, Bcc, Reply-To, Sender), every
    /// occurrence of the field together.
    public func mailboxes(_ name: String) -> [AddressList.Mailbox] {
        root.header.filter { $0.isNamed(name) }.flatMap { AddressList.mailboxes(in: $0.value) }
    }

    /// The Date field in seconds since 1970, when it parses.
    public var date: Int64? { field("Date").flatMap(MessageDate.parse) }

    /// The Message-ID without angle brackets.
    public var messageID: String? { field("Message-ID").map(MIMEParser.unbracketed) }

    // MARK: Bodies

    /// A part's content with its transfer encoding undone.
    public func decodedBody(_ part: MIMEPart) -> [UInt8] {
        part.transferEncoding.decode(raw[part.bodyRange])
    }

    /// A text part's content as text, in its charset.
    public func text(_ part: MIMEPart) -> String {
        Charset.decode(decodedBody(part), charset: part.contentType.parameter("charset"))
    }

    /// The message's own plain-text body: the first text/plain part that is not an attachment,
    /// outside forwarded messages.
    public var textPart: MIMEPart? { ownParts.first { $0.contentType.essence == "text/plain" && !$0.isAttachment } }

    /// The message's own HTML body.
    public var htmlPart: MIMEPart? { ownParts.first { $0.contentType.essence == "text/html" && !$0.isAttachment } }

    public var textBody: String? { textPart.map(text) }
    public var htmlBody: String? { htmlPart.map(text) }

    /// Attachments, a forwarded message (message/rfc822) counting as one.
    public var attachments: [MIMEPart] {
        ownParts.filter { $0.isAttachment || ($0.contentType.isEmbeddedMessage && $0.id != root.id) }
    }

    /// Parts shown inside the HTML body (images referenced by `cid:`).
    public var inlineParts: [MIMEPart] { ownParts.filter(\.isInline) }

    /// The parts of this message, not descending into embedded messages.
    var ownParts: [MIMEPart] {
        var result: [MIMEPart] = []
        func walk(_ part: MIMEPart) {
            result.append(part)
            guard !part.contentType.isEmbeddedMessage else { return }
            part.children.forEach(walk)
        }
        walk(root)
        return result
    }

    /// A short preview of the text (the HTML's text when there is no plain part), white space
    /// collapsed.
    public func snippet(maximumLength: Int = 200) -> String {
        Self.snippet(of: textBody ?? htmlBody.map(HTMLText.plainText) ?? "", maximumLength: maximumLength)
    }

    /// The first whole words of `text` that fit in `maximumLength` characters, white space
    /// collapsed. Reads only as far as it needs: a long body costs no more than a short one.
    public static func snippet(of text: String, maximumLength: Int = 200) -> String {
        var result = ""
        var length = 0  // of result, in characters
        var wordStart: String.Index?
        var index = text.startIndex
        while index <= text.endIndex {
            let atEnd = index == text.endIndex
            if atEnd || text[index].isWhitespace {
                if let start = wordStart {
                    let word = text[start..<index]
                    let separator = length == 0 ? 0 : 1
                    guard length + separator + word.count <= maximumLength else { break }
                    if separator == 1 { result.append(" ") }
                    result += word
                    length += separator + word.count
                    wordStart = nil
                }
                if atEnd { break }
            } else if wordStart == nil {
                wordStart = index
            }
            index = text.index(after: index)
        }
        return result
    }
}

/// The visible text of HTML, roughly: tags, comments, scripts and styles removed, common
/// entities decoded. For previews and search, not for display.
///
/// Linear in the length of the HTML (hostile-inputs 47): a search for a closing `</style>`,
/// `</script>` or `-->` that found none is not repeated, so 40,000 unclosed `<style>` cost one
/// scan to the end, not 40,000.
public enum HTMLText {
    public static func plainText(_ html: String) -> String {
        var output = ""
        var index = html.startIndex
        var unclosed: Set<String> = []  // closings known to be absent from here to the end
        while index < html.endIndex {
            let character = html[index]
            if character == "<" {
                let rest = html[index...]
                let lowered = rest.prefix(10).lowercased()
                var closing: String?
                if lowered.hasPrefix("<!--") {
                    closing = "-->"
                } else if lowered.hasPrefix("<script") {
                    closing = "</script>"
                } else if lowered.hasPrefix("<style") {
                    closing = "</style>"
                }
                if let closing, !unclosed.contains(closing) {
                    if let end = endOfASCII(closing, in: rest) {
                        index = end
                        continue
                    }
                    unclosed.insert(closing)
                }
                if let end = rest.firstIndex(of: ">") {
                    output.append(" ")
                    index = html.index(after: end)
                } else {
                    index = html.endIndex
                }
                continue
            }
            if character == "&", let semicolon = html[index...].prefix(10).firstIndex(of: ";") {
                let entity = String(html[html.index(after: index)..<semicolon])
                if let decoded = decodeEntity(entity) {
                    output.append(decoded)
                    index = html.index(after: semicolon)
                    continue
                }
            }
            output.append(character)
            index = html.index(after: index)
        }
        return output
    }

    /// Where the first occurrence of `needle` (ASCII, any case) in `text` ends.
    static func endOfASCII(_ needle: String, in text: Substring) -> String.Index? {
        let pattern = Array(needle.lowercased().utf8)
        let octets = text.utf8
        var start = octets.startIndex
        while start != octets.endIndex {
            var candidate = start
            var matched = 0
            while matched < pattern.count, candidate != octets.endIndex {
                let octet = octets[candidate]
                let lowered = (0x41...0x5A).contains(octet) ? octet | 0x20 : octet
                guard lowered == pattern[matched] else { break }
                matched += 1
                candidate = octets.index(after: candidate)
            }
            if matched == pattern.count { return candidate }
            start = octets.index(after: start)
        }
        return nil
    }

    static func decodeEntity(_ entity: String) -> Character? {
        switch entity.lowercased() {
        case "amp": return "&"
        case "lt": return "<"
        case "gt": return ">"
        case "quot": return "\""
        case "apos", "#39": return "'"
        case "nbsp": return " "
        default:
            var number = Substring(entity)
            guard number.hasPrefix("#") else { return nil }
            number = number.dropFirst()
            let value = number.hasPrefix("x") || number.hasPrefix("X") ? UInt32(number.dropFirst(), radix: 16) : UInt32(number)
            return value.flatMap(Unicode.Scalar.init).map(Character.init)
        }
    }
}
