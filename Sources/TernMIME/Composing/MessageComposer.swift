import TernMail

/// A new message written from its parts (RFC 5322, MIME: RFC 2045, 2046, 2047, 2183, 2231):
/// what the catcher's send API makes of Mailpit's JSON.
///
/// - Header fields: display names and values outside US-ASCII become RFC 2047 encoded words
///   (UTF-8, base64, at most 75 characters each); an ASCII name that is not all atext is
///   quoted. Long lines are folded before 78 characters where there is white space.
/// - Bodies: US-ASCII text whose lines fit in 998 octets goes as 7bit; anything else as base64
///   in lines of 76. Line ends become CRLF.
/// - Structure: text and HTML make a multipart/alternative; attachments with a Content-ID are
///   inline parts of a multipart/related around the body; others make a multipart/mixed.
///   Attachment names outside US-ASCII use RFC 2231's `filename*=UTF-8''...`.
public struct MessageComposer: Sendable {
    public struct Mailbox: Sendable, Hashable {
        public var name: String
        public var address: String

        public init(name: String = "", address: String) {
            self.name = name
            self.address = address
        }
    }

    public struct Attachment: Sendable {
        public var filename: String
        public var contentType: String
        /// Set: an inline part (`Content-ID: <...>`, `Content-Disposition: inline`).
        public var contentID: String?
        public var content: [UInt8]

        public init(filename: String, contentType: String, contentID: String? = nil, content: [UInt8]) {
            self.filename = filename
            self.contentType = contentType
            self.contentID = contentID
            self.content = content
        }
    }

    public enum Problem: Error, Equatable, CustomStringConvertible {
        /// A header field name that is not RFC 5322 ftext, or one of the MIME structure's.
        case fieldName(String)
        /// A value with a line break, which would start another field.
        case fieldValue(String)
        /// A Content-Type that is not `type/subtype`, or a Content-ID that is not a msg-id's
        /// inside.
        case attachment(String)

        public var description: String {
            switch self {
            case .fieldName(let name): "'\(name)' cannot be set as a header field here"
            case .fieldValue(let name): "the value of \(name) has a line break"
            case .attachment(let problem): problem
            }
        }
    }

    public var from: Mailbox
    public var to: [Mailbox] = []
    public var cc: [Mailbox] = []
    public var bcc: [Mailbox] = []
    public var replyTo: [Mailbox] = []
    public var subject = ""
    public var text: String?
    public var html: String?
    public var attachments: [Attachment] = []
    /// Further fields, in order; `Date` and `Message-ID` replace the composer's own.
    public var fields: [(name: String, value: String)] = []

    public init(from: Mailbox) {
        self.from = from
    }

    /// Fields the MIME structure decides: a caller may not set them.
    static func isStructural(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return lowered == "mime-version" || lowered.hasPrefix("content-")
    }

    /// The message, with `messageID` (without brackets) and `date`, and boundaries made from
    /// `boundaryToken` (random hex, say). A field of `fields` named like one the composer
    /// writes (From, To, Subject, Date, Message-ID, ...) takes its place, as Mailpit's send
    /// API lets it; the rest follow in order.
    public func render(messageID: String, date: Int64, boundaryToken: String) throws(Problem) -> [UInt8] {
        var own: [(name: String, value: String)] = [("From", Self.addressList([from]))]
        if !to.isEmpty { own.append(("To", Self.addressList(to))) }
        if !cc.isEmpty { own.append(("Cc", Self.addressList(cc))) }
        if !bcc.isEmpty { own.append(("Bcc", Self.addressList(bcc))) }
        if !replyTo.isEmpty { own.append(("Reply-To", Self.addressList(replyTo))) }
        own.append(("Subject", Self.unstructured(subject)))
        own.append(("Date", MessageDate.format(secondsSince1970: date)))
        own.append(("Message-ID", "<\(messageID)>"))
        for (name, value) in fields {
            guard !name.isEmpty, name.utf8.allSatisfy({ (33...126).contains($0) && $0 != UInt8(ascii: ":") }),
                !Self.isStructural(name)
            else { throw .fieldName(name) }
            // On scalars: "\r\n" is one Character, equal to neither.
            guard !value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" }) else { throw .fieldValue(name) }
            let written = Self.unstructured(value)
            if let index = own.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) {
                own[index].value = written
            } else {
                own.append((name, written))
            }
        }
        var header = own.map { Self.field($0.name, $0.value) }
        header.append("MIME-Version: 1.0")

        var counter = 0
        func boundary() -> String {
            counter += 1
            return "=_tern_\(boundaryToken)_\(counter)"
        }
        var body = Self.bodyPart(text: text, html: html, boundary: boundary)
        let inline = attachments.filter { $0.contentID != nil }
        let attached = attachments.filter { $0.contentID == nil }
        if !inline.isEmpty {
            var parts = [body]
            for attachment in inline { parts.append(try Self.attachmentPart(attachment)) }
            body = try Self.multipart("related", parts, boundary: boundary())
        }
        if !attached.isEmpty {
            var parts = [body]
            for attachment in attached { parts.append(try Self.attachmentPart(attachment)) }
            body = try Self.multipart("mixed", parts, boundary: boundary())
        }
        return Array((header + body.header).joined(separator: "\r\n").utf8) + Array("\r\n\r\n".utf8) + body.content
    }

    // MARK: Parts

    /// A MIME entity: its header lines (without the blank line) and its content.
    struct Part {
        var header: [String]
        var content: [UInt8]
    }

    static func bodyPart(text: String?, html: String?, boundary: () -> String) -> Part {
        switch (text, html) {
        case (let text?, let html?):
            (try? multipart("alternative", [textPart(text, subtype: "plain"), textPart(html, subtype: "html")], boundary: boundary()))
                ?? textPart(text, subtype: "plain")
        case (nil, let html?): textPart(html, subtype: "html")
        case (let text, nil): textPart(text ?? "", subtype: "plain")
        }
    }

    static func textPart(_ text: String, subtype: String) -> Part {
        let content = LineEnd.crlf(Array(text.utf8))
        let plain = content.allSatisfy { $0 < 0x80 && $0 != 0 } && longestLine(content) <= 998
        return Part(
            header: [
                "Content-Type: text/\(subtype); charset=\(plain ? "us-ascii" : "utf-8")",
                "Content-Transfer-Encoding: \(plain ? "7bit" : "base64")",
            ],
            content: plain ? content : base64Lines(LineEnd.crlf(Array(text.utf8))))
    }

    static func attachmentPart(_ attachment: Attachment) throws(Problem) -> Part {
        let type = attachment.contentType.isEmpty ? guessType(attachment.filename) : attachment.contentType.lowercased()
        let pieces = type.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count == 2, pieces.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(isTokenOctet) }) else {
            throw .attachment("'\(attachment.contentType)' is not a content type (type/subtype)")
        }
        var header = ["Content-Type: \(type)\(parameter("name", attachment.filename))"]
        header.append("Content-Transfer-Encoding: base64")
        if let id = attachment.contentID {
            guard !id.isEmpty, id.utf8.allSatisfy({ (33...126).contains($0) && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") })
            else { throw .attachment("'\(id)' is not a Content-ID") }
            header.append("Content-ID: <\(id)>")
            header.append("Content-Disposition: inline\(parameter("filename", attachment.filename))")
        } else {
            header.append("Content-Disposition: attachment\(parameter("filename", attachment.filename))")
        }
        return Part(header: header, content: base64Lines(attachment.content))
    }

    static func multipart(_ subtype: String, _ parts: [Part], boundary: String) throws(Problem) -> Part {
        var content: [UInt8] = Array("This is a multipart message in MIME format.\r\n".utf8)
        for part in parts {
            content += Array("\r\n--\(boundary)\r\n".utf8)
            content += Array(part.header.joined(separator: "\r\n").utf8) + Array("\r\n\r\n".utf8)
            content += part.content
        }
        content += Array("\r\n--\(boundary)--\r\n".utf8)
        return Part(header: ["Content-Type: multipart/\(subtype); boundary=\"\(boundary)\""], content: content)
    }

    /// `; name="value"` for US-ASCII without quotes or backslashes, else RFC 2231's
    /// `; name*=UTF-8''percent-encoded`; nothing for an empty value.
    static func parameter(_ name: String, _ value: String) -> String {
        guard !value.isEmpty else { return "" }
        if value.utf8.allSatisfy({ (32...126).contains($0) && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            return "; \(name)=\"\(value)\""
        }
        var encoded = ""
        for octet in value.utf8 {
            if isTokenOctet(octet), octet != UInt8(ascii: "%"), octet != UInt8(ascii: "'"), octet != UInt8(ascii: "*") {
                encoded.unicodeScalars.append(Unicode.Scalar(octet))
            } else {
                encoded += "%" + hex(octet)
            }
        }
        return "; \(name)*=UTF-8''\(encoded)"
    }

    /// A content type from a file name's extension, for an attachment given without one.
    static func guessType(_ filename: String) -> String {
        let known = [
            "txt": "text/plain", "html": "text/html", "htm": "text/html", "csv": "text/csv", "ics": "text/calendar",
            "json": "application/json", "pdf": "application/pdf", "zip": "application/zip", "xml": "application/xml",
            "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
            "svg": "image/svg+xml", "eml": "message/rfc822",
        ]
        guard let dot = filename.lastIndex(of: ".") else { return "application/octet-stream" }
        return known[filename[filename.index(after: dot)...].lowercased()] ?? "application/octet-stream"
    }

    // MARK: Header fields

    /// `Name: value`, folded at white space so no line passes 78 characters (RFC 5322 §2.1.1),
    /// right after the colon if the first word needs it (§3.2.2 allows white space there).
    /// Values come with no word longer than 77 characters (`unstructured`, `phrase`).
    static func field(_ name: String, _ value: String) -> String {
        var lines: [String] = []
        var line = "\(name):"
        for word in value.split(separator: " ", omittingEmptySubsequences: false) {
            if line.unicodeScalars.count + 1 + word.unicodeScalars.count > 78, !word.isEmpty {
                lines.append(line)
                line = " " + word
            } else {
                line += " " + word
            }
        }
        lines.append(line)
        return lines.joined(separator: "\r\n")
    }

    /// Whether a value has a word too long to fold (which encoded words can split).
    static func hasLongWord(_ text: String) -> Bool {
        text.split(separator: " ").contains { $0.unicodeScalars.count > 77 }
    }

    static func addressList(_ mailboxes: [Mailbox]) -> String {
        mailboxes.map { mailbox in
            guard !mailbox.name.isEmpty else { return "<\(mailbox.address)>" }
            return "\(phrase(mailbox.name)) <\(mailbox.address)>"
        }.joined(separator: ", ")
    }

    /// A display name: atoms as they are, other US-ASCII quoted, anything else encoded words.
    static func phrase(_ name: String) -> String {
        let octets = Array(name.utf8)
        if octets.allSatisfy({ (32...126).contains($0) }), !hasLongWord(name) {
            if octets.allSatisfy({ $0 == UInt8(ascii: " ") || MailCharacters.isAtext($0) }) { return name }
            var quoted = "\""
            for scalar in name.unicodeScalars {
                if scalar == "\"" || scalar == "\\" { quoted += "\\" }
                quoted.unicodeScalars.append(scalar)
            }
            return quoted + "\""
        }
        return encodedWords(name)
    }

    /// Unstructured text (Subject, a value of `fields`): as it is in US-ASCII, else encoded
    /// words.
    static func unstructured(_ text: String) -> String {
        let octets = Array(text.utf8)
        if octets.allSatisfy({ (32...126).contains($0) }), !text.contains("=?"), !hasLongWord(text) { return text }
        return encodedWords(text)
    }

    /// RFC 2047 §5 encoded words, UTF-8 and base64, each at most 75 characters, never
    /// splitting a character, separated by spaces (where a header folds).
    static func encodedWords(_ text: String) -> String {
        var words: [String] = []
        var chunk: [UInt8] = []
        // "=?UTF-8?B?" + base64 + "?=": 39 octets make 52 of base64, a 64-character word,
        // which fits after "Subject: " on the first line.
        // By scalar, never inside one (§5: a word holds whole characters of its charset); a
        // grapheme may span words, which decoders join.
        for scalar in text.unicodeScalars {
            let octets = Array(String(scalar).utf8)
            if chunk.count + octets.count > 39, !chunk.isEmpty {
                words.append("=?UTF-8?B?\(Base64.encode(chunk))?=")
                chunk = []
            }
            chunk += octets
        }
        if !chunk.isEmpty || words.isEmpty { words.append("=?UTF-8?B?\(Base64.encode(chunk))?=") }
        return words.joined(separator: " ")
    }

    // MARK: Octets

    static func base64Lines(_ octets: [UInt8]) -> [UInt8] {
        let encoded = Array(Base64.encode(octets).utf8)
        var lines: [UInt8] = []
        lines.reserveCapacity(encoded.count + encoded.count / 38 + 2)
        var index = 0
        while index < encoded.count {
            let end = min(index + 76, encoded.count)
            lines += encoded[index..<end]
            lines += [13, 10]
            index = end
        }
        return lines
    }

    static func longestLine(_ octets: [UInt8]) -> Int {
        var longest = 0
        var current = 0
        for octet in octets {
            if octet == 10 {
                longest = max(longest, current)
                current = 0
            } else if octet != 13 {
                current += 1
            }
        }
        return max(longest, current)
    }

    /// RFC 2045 §5.1 token characters.
    static func isTokenOctet(_ octet: UInt8) -> Bool {
        (33...126).contains(octet) && !"()<>@,;:\\\"/[]?=".utf8.contains(octet)
    }

    static func hex(_ octet: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".unicodeScalars)
        return String(digits[Int(octet >> 4)]) + String(digits[Int(octet & 0x0F)])
    }
}
