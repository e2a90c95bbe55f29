/// A macro-string of SPF (RFC 7208 §7.1), checked when the record is read and expanded when a
/// term is evaluated.
///
///     macro-string = *( macro-expand / macro-literal )
///     macro-expand = ( "%{" macro-letter transformers *delimiter "}" ) / "%%" / "%_" / "%-"
///     macro-letter = "s" / "l" / "o" / "d" / "i" / "p" / "h" / "c" / "r" / "t" / "v"
///     transformers = *DIGIT [ "r" ]
///     delimiter    = "." / "-" / "+" / "," / "/" / "_" / "="
public struct SPFMacroString: Sendable, Hashable, CustomStringConvertible {
    enum Part: Sendable, Hashable {
        case literal(String)
        /// `letter` lower case; `escaped` for an upper-case letter (§7.3: URL-escaped).
        case macro(letter: Character, escaped: Bool, keep: Int?, reversed: Bool, delimiters: Set<Character>)
    }

    let parts: [Part]
    public let description: String

    /// The longest expansion Tern makes: a domain is cut to 253 octets anyway (§7.3), and an
    /// explanation is one line of a reply.
    public static let expansionLimit = 8 * 1024

    /// The letters only `exp=` text may use (§7.2).
    private static let explanationLetters: Set<Character> = ["c", "r", "t"]
    private static let letters: Set<Character> = ["s", "l", "o", "d", "i", "p", "h", "v"]
    private static let delimiterCharacters: Set<Character> = [".", "-", "+", ",", "/", "_", "="]

    /// A macro-string; `explanation` allows the letters c, r and t.
    public init(_ text: String, explanation: Bool) throws(SPFRecord.Malformed) {
        description = text
        var parts: [Part] = []
        var literal = ""
        var characters = text[...]
        func malformed() -> SPFRecord.Malformed { SPFRecord.Malformed(description: "bad macro in \(text)") }
        while let character = characters.popFirst() {
            guard character == "%" else {
                // macro-literal = %x21-24 / %x26-7E; an explanation's text may have spaces too.
                guard let ascii = character.asciiValue, (0x21...0x7E).contains(ascii) || (explanation && ascii == 0x20) else {
                    throw malformed()
                }
                literal.append(character)
                continue
            }
            switch characters.popFirst() {
            case "%": literal.append("%")
            case "_": literal.append(" ")
            case "-": literal.append("%20")
            case "{":
                guard let close = characters.firstIndex(of: "}") else { throw malformed() }
                var body = characters[..<close]
                characters = characters[characters.index(after: close)...]
                guard let written = body.popFirst(), let letter = written.lowercased().first,
                    Self.letters.contains(letter) || (explanation && Self.explanationLetters.contains(letter))
                else { throw malformed() }
                let escaped = written.isUppercase
                let digits = body.prefix { $0.isASCII && $0.isNumber }
                body = body.dropFirst(digits.count)
                var keep: Int?
                if !digits.isEmpty {
                    // Bounded: more parts than any name has is all of them; zero is refused (§7.1).
                    guard digits.count <= 3, let count = Int(digits), count > 0 else { throw malformed() }
                    keep = count
                }
                var reversed = false
                if body.first == "r" || body.first == "R" {
                    reversed = true
                    body = body.dropFirst()
                }
                guard body.allSatisfy(Self.delimiterCharacters.contains) else { throw malformed() }
                if !literal.isEmpty { parts.append(.literal(literal)) }
                literal = ""
                parts.append(
                    .macro(
                        letter: letter, escaped: escaped, keep: keep, reversed: reversed,
                        delimiters: body.isEmpty ? ["."] : Set(body)))
            default:
                throw malformed()
            }
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        self.parts = parts
    }

    /// A domain-spec (§7.1: `macro-string domain-end`): a macro-string that ends in a macro or
    /// in a top label with a letter.
    init(domainSpec text: String) throws(SPFRecord.Malformed) {
        try self.init(text, explanation: false)
        guard !text.isEmpty else { throw SPFRecord.Malformed(description: "an empty domain") }
        if case .macro = parts.last { return }
        var trimmed = Substring(text)
        if trimmed.last == "." { trimmed = trimmed.dropLast() }
        guard let dot = trimmed.lastIndex(of: ".") else { throw SPFRecord.Malformed(description: "\(text) is not a domain") }
        let top = trimmed[trimmed.index(after: dot)...]
        guard !top.isEmpty, top.first != "-", top.last != "-",
            top.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }), top.contains(where: \.isLetter)
        else {
            throw SPFRecord.Malformed(description: "\(text) does not end in a top-level label")
        }
    }

    /// The expansion, or nil when it passes `expansionLimit`.
    public func expand(_ values: (Character) -> String) -> String? {
        var out = ""
        for part in parts {
            switch part {
            case .literal(let text):
                out += text
            case .macro(let letter, let escaped, let keep, let reversed, let delimiters):
                var pieces = values(letter).split(omittingEmptySubsequences: false) { delimiters.contains($0) }
                if reversed { pieces.reverse() }
                if let keep, keep < pieces.count { pieces = Array(pieces.suffix(keep)) }
                let joined = pieces.joined(separator: ".")
                out += escaped ? Self.urlEscaped(joined) : joined
            }
            if out.utf8.count > Self.expansionLimit { return nil }
        }
        return out
    }

    /// §7.3: upper-case macros are URL-escaped (RFC 3986 unreserved characters stay).
    private static func urlEscaped(_ text: String) -> String {
        var out = ""
        for octet in text.utf8 {
            let unreserved =
                (0x30...0x39).contains(octet) || (0x41...0x5A).contains(octet) || (0x61...0x7A).contains(octet)
                || octet == UInt8(ascii: "-") || octet == UInt8(ascii: ".") || octet == UInt8(ascii: "_") || octet == UInt8(ascii: "~")
            if unreserved {
                out.unicodeScalars.append(Unicode.Scalar(octet))
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(octet >> 4)], hex[Int(octet & 0x0F)]], as: UTF8.self)
            }
        }
        return out
    }

    /// §7.3: a name longer than 253 octets loses labels on its left until it fits.
    public static func truncatedDomain(_ name: String) -> String {
        var name = Substring(name)
        if name.last == "." { name = name.dropLast() }
        while name.utf8.count > 253, let dot = name.firstIndex(of: ".") {
            name = name[name.index(after: dot)...]
        }
        return String(name)
    }
}
