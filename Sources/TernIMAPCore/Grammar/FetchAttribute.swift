/// What a FETCH asks for of each message (RFC 9051 §6.4.5, `fetch-att` of §9).
public enum FetchAttribute: Sendable, Hashable {
    case envelope
    case flags
    case internalDate
    /// `RFC822.SIZE`.
    case size
    case uid
    /// `BODY`: the body structure without extension data.
    case body
    case bodyStructure
    /// `BODY[section]<partial>` and `BODY.PEEK[...]` (peek: `\Seen` is not set).
    case section(Section, partial: Partial?, peek: Bool)
    /// IMAP4rev1's `RFC822` (`BODY[]`), `RFC822.HEADER` (`BODY.PEEK[HEADER]`) and `RFC822.TEXT`
    /// (`BODY[TEXT]`), kept apart because the response names them as they were asked.
    case rfc822(RFC822Part)
    /// `BINARY[part]<partial>` and `BINARY.PEEK` (RFC 3516): the part decoded from its transfer encoding.
    case binary(part: [UInt32], partial: Partial?, peek: Bool)
    /// `BINARY.SIZE[part]`.
    case binarySize(part: [UInt32])
    /// `MODSEQ` (RFC 7162 CONDSTORE).
    case modificationSequence

    public enum RFC822Part: Sendable, Hashable {
        case message
        case header
        case text

        /// The section it is, and whether reading it leaves `\Seen` alone.
        public var section: Section {
            switch self {
            case .message: Section()
            case .header: Section(text: .header)
            case .text: Section(text: .text)
            }
        }

        public var peek: Bool { self == .header }

        /// The item's name in the response.
        public var name: String {
            switch self {
            case .message: "RFC822"
            case .header: "RFC822.HEADER"
            case .text: "RFC822.TEXT"
            }
        }
    }

    /// `ALL`, `FAST` and `FULL` (§6.4.5): shorthands for lists of attributes.
    static let all: [FetchAttribute] = [.flags, .internalDate, .size, .envelope]
    static let fast: [FetchAttribute] = [.flags, .internalDate, .size]
    static let full: [FetchAttribute] = [.flags, .internalDate, .size, .envelope, .body]

    /// `section = "[" [section-spec] "]"`: a part path (`1.2`) and what of it.
    public struct Section: Sendable, Hashable {
        /// `section-part = nz-number *("." nz-number)`; empty for the whole message.
        public var part: [UInt32]
        public var text: Text?

        public init(part: [UInt32] = [], text: Text? = nil) {
            self.part = part
            self.text = text
        }

        /// `section-msgtext / "MIME"`.
        public enum Text: Sendable, Hashable {
            case header
            /// `HEADER.FIELDS (names)` and `HEADER.FIELDS.NOT (names)`: names as sent.
            case headerFields([[UInt8]], not: Bool)
            case text
            /// The MIME header of a part (only after a part number).
            case mime
        }
    }

    /// `partial = "<" number64 "." nz-number64 ">"`: `count` octets from `offset`.
    public struct Partial: Sendable, Hashable {
        public var offset: UInt64
        public var count: UInt64

        public init(offset: UInt64, count: UInt64) {
            self.offset = offset
            self.count = count
        }
    }
}

extension IMAPCommandParser {
    /// `("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")")`.
    static func fetchAttributes(_ cursor: inout CommandCursor) throws(IMAPSyntaxError) -> [FetchAttribute] {
        if cursor.peek() == UInt8(ascii: "(") {
            return try cursor.list(allowEmpty: false) { (item: inout CommandCursor) throws(IMAPSyntaxError) in
                try fetchAttribute(&item)
            }
        }
        let saved = cursor
        switch try fetchName(&cursor) {
        case "ALL": return FetchAttribute.all
        case "FAST": return FetchAttribute.fast
        case "FULL": return FetchAttribute.full
        default:
            cursor = saved
            return [try fetchAttribute(&cursor)]
        }
    }

    /// The name part of a fetch-att: letters, digits and dots, upper-cased (an atom would run on
    /// into `[` and `<`, which are ATOM-CHARs).
    private static func fetchName(_ cursor: inout CommandCursor) throws(IMAPSyntaxError) -> String {
        let octets = try cursor.octets("a FETCH item") { octet in
            IMAPCharacters.isDigit(octet) || octet == UInt8(ascii: ".")
                || (octet | 0x20 >= UInt8(ascii: "a") && octet | 0x20 <= UInt8(ascii: "z"))
        }
        return IMAPCharacters.uppercased(octets)
    }

    static func fetchAttribute(_ cursor: inout CommandCursor) throws(IMAPSyntaxError) -> FetchAttribute {
        let name = try fetchName(&cursor)
        switch name {
        case "ENVELOPE": return .envelope
        case "FLAGS": return .flags
        case "INTERNALDATE": return .internalDate
        case "RFC822.SIZE": return .size
        case "UID": return .uid
        case "BODYSTRUCTURE": return .bodyStructure
        case "MODSEQ": return .modificationSequence
        case "RFC822": return .rfc822(.message)
        case "RFC822.HEADER": return .rfc822(.header)
        case "RFC822.TEXT": return .rfc822(.text)
        case "BODY", "BODY.PEEK":
            guard cursor.peek() == UInt8(ascii: "[") else {
                guard name == "BODY" else { throw IMAPSyntaxError("BODY.PEEK needs a section") }
                return .body
            }
            let section = try self.section(&cursor)
            return .section(section, partial: try partial(&cursor), peek: name == "BODY.PEEK")
        case "BINARY", "BINARY.PEEK", "BINARY.SIZE":
            // section-binary = "[" [section-part] "]"
            guard cursor.consume(UInt8(ascii: "[")) else { throw IMAPSyntaxError("BINARY needs a section") }
            let part = cursor.peek() == UInt8(ascii: "]") ? [] : try sectionPart(&cursor)
            guard cursor.consume(UInt8(ascii: "]")) else { throw IMAPSyntaxError("expected ]") }
            if name == "BINARY.SIZE" { return .binarySize(part: part) }
            return .binary(part: part, partial: try partial(&cursor), peek: name == "BINARY.PEEK")
        default:
            throw IMAPSyntaxError("unknown FETCH item")
        }
    }

    /// `section = "[" [section-spec] "]"`;
    /// `section-spec = section-msgtext / (section-part ["." section-text])`.
    private static func section(_ cursor: inout CommandCursor) throws(IMAPSyntaxError) -> FetchAttribute.Section {
        guard cursor.consume(UInt8(ascii: "[")) else { throw IMAPSyntaxError("expected [") }
        var section = FetchAttribute.Section()
        if cursor.consume(UInt8(ascii: "]")) { return section }
        if let octet = cursor.peek(), IMAPCharacters.isDigit(octet) {
            section.part = try sectionPart(&cursor)
            if cursor.consume(UInt8(ascii: ".")) { section.text = try sectionText(&cursor, afterPart: true) }
        } else {
            section.text = try sectionText(&cursor, afterPart: false)
        }
        guard cursor.consume(UInt8(ascii: "]")) else { throw IMAPSyntaxError("expected ]") }
        return section
    }

    /// `section-part = nz-number *("." nz-number)`, at most 100 levels (a bound, not the RFC's).
    private static func sectionPart(_ cursor: inout CommandCursor) throws(IMAPSyntaxError) -> [UInt32] {
        var part = [try cursor.nonZeroNumber()]
        while cursor.peek() == UInt8(ascii: "."), part.count < 100 {
            var lookahead = cursor
            _ = lookahead.consume(UInt8(ascii: "."))
            guard let octet = lookahead.peek(), IMAPCharacters.isDigit(octet) else { break }
            cursor = lookahead
            part.append(try cursor.nonZeroNumber())
        }
        return part
    }

    /// `section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"`, and
    /// `"MIME"` after a part.
    private static func sectionText(_ cursor: inout CommandCursor, afterPart: Bool) throws(IMAPSyntaxError)
        -> FetchAttribute.Section.Text
    {
        let name = try fetchName(&cursor)
        switch name {
        case "HEADER": return .header
        case "TEXT": return .text
        case "MIME" where afterPart: return .mime
        case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
            try cursor.space()
            // header-list = "(" header-fld-name *(SP header-fld-name) ")"; header-fld-name = astring
            let names = try cursor.list(allowEmpty: false) { (item: inout CommandCursor) throws(IMAPSyntaxError) in
                try item.astring()
            }
            return .headerFields(names, not: name == "HEADER.FIELDS.NOT")
        default:
            throw IMAPSyntaxError("unknown section")
        }
    }

    /// `partial = "<" number64 "." nz-number64 ">"`, when one follows.
    private static func partial(_ cursor: inout CommandCursor) throws(IMAPSyntaxError) -> FetchAttribute.Partial? {
        guard cursor.consume(UInt8(ascii: "<")) else { return nil }
        let offset = try cursor.number(maximum: UInt64(Int64.max))
        guard cursor.consume(UInt8(ascii: ".")) else { throw IMAPSyntaxError("expected . in a partial") }
        let count = try cursor.number(maximum: UInt64(Int64.max))
        guard count > 0, cursor.consume(UInt8(ascii: ">")) else { throw IMAPSyntaxError("malformed partial") }
        return FetchAttribute.Partial(offset: offset, count: count)
    }
}
