/// One entity of a message's MIME tree (RFC 2045, RFC 2046): its header fields, what it is,
/// where its body lies in the raw message, and its children.
///
/// Parts are numbered like IMAP body sections (RFC 3501 §6.4.5), so the same number names the
/// same part in the web UI, the API and IMAP: the children of a multipart are `1`, `2`, ...;
/// those of a nested multipart `2.1`, `2.2`; a message/rfc822 part `3` holds its message's
/// parts as `3.1`, ... The top of a message that is not multipart is part `1`.
public struct MIMEPart: Hashable, Sendable {
    /// The IMAP section number; "" for the top of a multipart message (and of a message/rfc822
    /// part's multipart message, which has its own `id` via its container).
    public var id: String
    public var header: [HeaderField]
    public var contentType: MediaType
    public var transferEncoding: TransferEncoding
    public var disposition: MediaType?
    /// Without the angle brackets.
    public var contentID: String?
    /// Where the header section lies in the raw message.
    public var headerRange: Range<Int>
    /// Where the (still transfer-encoded) body lies in the raw message.
    public var bodyRange: Range<Int>
    /// The parts of a multipart, or the one top part of an embedded message.
    public var children: [MIMEPart]

    public init(
        id: String, header: [HeaderField], contentType: MediaType, transferEncoding: TransferEncoding,
        disposition: MediaType?, contentID: String?, headerRange: Range<Int>, bodyRange: Range<Int>,
        children: [MIMEPart] = []
    ) {
        self.id = id
        self.header = header
        self.contentType = contentType
        self.transferEncoding = transferEncoding
        self.disposition = disposition
        self.contentID = contentID
        self.headerRange = headerRange
        self.bodyRange = bodyRange
        self.children = children
    }

    /// The first value of a header field (any case), unfolded.
    public func field(_ name: String) -> String? {
        header.first { $0.isNamed(name) }?.value
    }

    /// The file name (`filename` of Content-Disposition, else `name` of Content-Type), decoded.
    public var filename: String? {
        let name = disposition?.parameter("filename") ?? contentType.parameter("name")
        return name.map { Self.safeFilename($0) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// RFC 2183 §2.3: only the last path component, without control characters.
    static func safeFilename(_ name: String) -> String {
        let last = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        return String(String.UnicodeScalarView(last.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }))
    }

    /// An attachment: a leaf that says so (Content-Disposition: attachment), or one with a
    /// file name that is not shown inline (an inline part with a Content-ID is), or content
    /// that is neither text nor part of the message's own structure.
    public var isAttachment: Bool {
        guard children.isEmpty, !contentType.isMultipart, !contentType.isEmbeddedMessage else {
            return contentType.isEmbeddedMessage && disposition?.type == "attachment"
        }
        if disposition?.type == "attachment" { return true }
        // Inline with a Content-ID is an image of the HTML's layout (`cid:`), file name or not,
        // as enmime (Mailpit) sorts it.
        if disposition?.type == "inline" { return filename != nil && contentType.type != "text" && contentID == nil }
        return filename != nil || (contentType.type != "text" && contentID == nil)
    }

    /// An inline part referenced from HTML (`cid:`): an image in the message's own layout.
    public var isInline: Bool {
        children.isEmpty && contentID != nil && !isAttachment
    }

    /// Every part of the tree, depth first, this one first.
    public var allParts: [MIMEPart] {
        [self] + children.flatMap(\.allParts)
    }

    /// The part with this section number.
    public func part(_ id: String) -> MIMEPart? {
        if self.id == id { return self }
        for child in children {
            if let found = child.part(id) { return found }
        }
        return nil
    }
}

/// Builds the MIME tree of a raw message. Lenient as a reader must be: a missing boundary, a
/// truncated part or a broken header never fails it; what cannot be understood stays an opaque
/// leaf. Bounded: at most `maximumDepth` levels of nesting and `maximumParts` parts, so no
/// message makes it loop or exhaust the stack.
public enum MIMEParser {
    public static let maximumDepth = 30
    public static let maximumParts = 2000

    public static func parse(_ raw: [UInt8]) -> MIMEPart {
        var budget = maximumParts
        return entity(raw, raw.startIndex..<raw.endIndex, id: "", depth: 0, defaultType: .defaultText, budget: &budget)
    }

    /// One entity (a message or a body part) in `range`.
    private static func entity(
        _ raw: [UInt8], _ range: Range<Int>, id: String, depth: Int, defaultType: MediaType, budget: inout Int
    ) -> MIMEPart {
        budget -= 1
        let (headerRange, bodyStart) = headerSection(raw, range)
        let header = HeaderField.parse(raw[headerRange])
        let contentTypeValue = header.first { $0.isNamed("Content-Type") }?.value
        let contentType = contentTypeValue.flatMap(MediaType.init(contentType:)) ?? defaultType
        var part = MIMEPart(
            id: id, header: header, contentType: contentType,
            transferEncoding: TransferEncoding(headerValue: header.first { $0.isNamed("Content-Transfer-Encoding") }?.value),
            disposition: header.first { $0.isNamed("Content-Disposition") }.flatMap { MediaType(disposition: $0.value) },
            contentID: header.first { $0.isNamed("Content-ID") }.map { Self.unbracketed($0.value) },
            headerRange: headerRange, bodyRange: bodyStart..<range.upperBound)
        guard depth < maximumDepth, budget > 0 else { return part }

        if contentType.isMultipart, let boundary = contentType.parameter("boundary"), !boundary.isEmpty,
            boundary.utf8.count <= 200
        {
            let childDefault: MediaType = contentType.subtype == "digest" ? .defaultDigestPart : .defaultText
            for (index, bodyRange) in bodyParts(raw, part.bodyRange, boundary: Array(boundary.utf8)).enumerated() {
                guard budget > 0 else { break }
                let childID = id.isEmpty ? "\(index + 1)" : "\(id).\(index + 1)"
                part.children.append(
                    entity(raw, bodyRange, id: childID, depth: depth + 1, defaultType: childDefault, budget: &budget))
            }
        } else if contentType.isEmbeddedMessage, part.transferEncoding.isIdentity {
            // RFC 2046 §5.2.1: the body is a whole message (not encoded, so it parses in place).
            var inner = entity(raw, part.bodyRange, id: "", depth: depth + 1, defaultType: .defaultText, budget: &budget)
            Self.renumber(&inner, under: id.isEmpty ? "1" : id)
            part.children = [inner]
        }
        if id.isEmpty, !part.contentType.isMultipart {
            part.id = "1"  // a single-part message's body is section 1 (RFC 3501 §6.4.5)
        }
        return part
    }

    /// The header section of the entity in `range`, and where its body begins: after the first
    /// empty line (CRLF CRLF or LF LF), or at the end when there is none.
    static func headerSection(_ raw: [UInt8], _ range: Range<Int>) -> (Range<Int>, Int) {
        var index = range.lowerBound
        var lineStart = index
        while index < range.upperBound {
            if raw[index] == 0x0A {
                let line = lineStart..<index
                let isEmpty = line.isEmpty || (line.count == 1 && raw[line.lowerBound] == 0x0D)
                if isEmpty { return (range.lowerBound..<lineStart, index + 1) }
                lineStart = index + 1
            }
            index += 1
        }
        // No empty line: an entity that starts with one has an empty header; otherwise all header.
        return (range.lowerBound..<range.upperBound, range.upperBound)
    }

    /// The body parts of a multipart body (RFC 2046 §5.1.1): the ranges between delimiter
    /// lines `--boundary`, ending at the close delimiter `--boundary--` (or the end of the body
    /// when the close delimiter is missing). The line break before a delimiter belongs to it.
    static func bodyParts(_ raw: [UInt8], _ range: Range<Int>, boundary: [UInt8]) -> [Range<Int>] {
        var parts: [Range<Int>] = []
        var partStart: Int?
        var lineStart = range.lowerBound
        while lineStart < range.upperBound {
            var lineEnd = lineStart
            while lineEnd < range.upperBound, raw[lineEnd] != 0x0A { lineEnd += 1 }
            let next = min(lineEnd + 1, range.upperBound)
            if let kind = delimiter(raw, lineStart..<lineEnd, boundary: boundary) {
                if let start = partStart {
                    // The CRLF (or LF) that ends the previous line is part of this delimiter.
                    var end = lineStart
                    if end > start, raw[end - 1] == 0x0A { end -= 1 }
                    if end > start, raw[end - 1] == 0x0D { end -= 1 }
                    parts.append(start..<max(start, end))
                }
                if kind == .close { return parts }
                partStart = next
            }
            lineStart = next
        }
        if let start = partStart, start <= range.upperBound { parts.append(start..<range.upperBound) }
        return parts
    }

    private enum Delimiter { case open, close }

    /// `"--" boundary [ "--" ] *LWSP` on one line (the CR, if any, is trailing white space).
    private static func delimiter(_ raw: [UInt8], _ line: Range<Int>, boundary: [UInt8]) -> Delimiter? {
        guard line.count >= boundary.count + 2, raw[line.lowerBound] == 0x2D, raw[line.lowerBound + 1] == 0x2D else {
            return nil
        }
        let boundaryStart = line.lowerBound + 2
        guard raw[boundaryStart..<boundaryStart + boundary.count].elementsEqual(boundary) else { return nil }
        var rest = boundaryStart + boundary.count
        var kind = Delimiter.open
        if rest + 2 <= line.upperBound, raw[rest] == 0x2D, raw[rest + 1] == 0x2D {
            kind = .close
            rest += 2
        }
        while rest < line.upperBound {
            guard raw[rest] == 0x20 || raw[rest] == 0x09 || raw[rest] == 0x0D else { return nil }
            rest += 1
        }
        return kind
    }

    /// Gives an embedded message's parts section numbers under its container's (`3` → `3.1`).
    private static func renumber(_ part: inout MIMEPart, under prefix: String) {
        part.id = part.id.isEmpty ? prefix : "\(prefix).\(part.id)"
        for index in part.children.indices { renumber(&part.children[index], under: prefix) }
    }

    /// A Message-ID or Content-ID without its angle brackets and surrounding white space.
    public static func unbracketed(_ value: String) -> String {
        var text = Substring(value.trimmingWhitespace())
        if text.hasPrefix("<") { text = text.dropFirst() }
        if text.hasSuffix(">") { text = text.dropLast() }
        return String(text)
    }
}

extension TransferEncoding {
    /// 7bit, 8bit, binary: the octets are the content.
    public var isIdentity: Bool {
        switch self {
        case .sevenBit, .eightBit, .binary: true
        default: false
        }
    }
}
