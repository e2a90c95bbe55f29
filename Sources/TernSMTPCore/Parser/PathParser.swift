public import TernMail

/// Parsers for the path grammar of RFC 5321 §4.1.2 and §4.1.3, extended by RFC 6531 §3.3
/// (UTF-8 in local parts and domains). Whether UTF-8 is allowed in a given transaction is the
/// session's decision (it depends on the SMTPUTF8 parameter), so these parsers accept
/// well-formed UTF-8 and the session checks `MailAddress.isInternationalized`.
enum PathParser {
    /// `Reverse-path = Path / "<>"`
    static func reversePath(_ cursor: inout ByteCursor) -> ReversePath? {
        if cursor.peek() == UInt8(ascii: "<"), cursor.peek(offset: 1) == UInt8(ascii: ">") {
            cursor.index += 2
            return .null
        }
        return path(&cursor).map { .mailbox($0.mailbox) }
    }

    /// `Forward-path = Path`
    static func forwardPath(_ cursor: inout ByteCursor) -> ForwardPath? {
        path(&cursor)
    }

    /// `Path = "<" [ A-d-l ":" ] Mailbox ">"`
    /// `A-d-l = At-domain *( "," At-domain )`, `At-domain = "@" Domain`
    ///
    /// The source route is parsed and dropped (§3.6.1, Appendix C). The whole path is held to
    /// the §4.5.3.1.3 limit of 256 octets.
    static func path(_ cursor: inout ByteCursor) -> ForwardPath? {
        let start = cursor.index
        guard cursor.consume(UInt8(ascii: "<")) else { return nil }
        var hadSourceRoute = false
        if cursor.peek() == UInt8(ascii: "@") {
            hadSourceRoute = true
            repeat {
                guard cursor.consume(UInt8(ascii: "@")), domain(&cursor) != nil else { return nil }
            } while cursor.consume(UInt8(ascii: ","))
            guard cursor.consume(UInt8(ascii: ":")) else { return nil }
        }
        guard let address = mailbox(&cursor), cursor.consume(UInt8(ascii: ">")) else { return nil }
        guard cursor.index - start <= Limits.path else { return nil }
        return ForwardPath(mailbox: address, hadSourceRoute: hadSourceRoute)
    }

    /// `Mailbox = Local-part "@" ( Domain / address-literal )`
    static func mailbox(_ cursor: inout ByteCursor) -> MailAddress? {
        guard let local = localPart(&cursor), local.count <= Limits.localPart,
            cursor.consume(UInt8(ascii: "@"))
        else { return nil }
        let domainRange: Range<Int>
        if cursor.peek() == UInt8(ascii: "[") {
            guard let literal = addressLiteral(&cursor) else { return nil }
            domainRange = literal
        } else {
            guard let name = domain(&cursor) else { return nil }
            domainRange = name
        }
        guard let localString = cursor.validatedString(local),
            let domainString = cursor.validatedString(domainRange)
        else { return nil }
        return MailAddress(localPart: localString, domain: domainString)
    }

    /// `Local-part = Dot-string / Quoted-string`
    /// `Dot-string = Atom *("." Atom)`, `Atom = 1*atext` (atext extended by UTF8-non-ascii)
    /// `Quoted-string = DQUOTE *QcontentSMTP DQUOTE`
    /// `QcontentSMTP = qtextSMTP / quoted-pairSMTP`, `quoted-pairSMTP = %d92 %d32-126`
    /// `qtextSMTP = %d32-33 / %d35-91 / %d93-126` (extended by UTF8-non-ascii)
    static func localPart(_ cursor: inout ByteCursor) -> Range<Int>? {
        let start = cursor.index
        if cursor.consume(UInt8(ascii: "\"")) {
            while let byte = cursor.next() {
                switch byte {
                case UInt8(ascii: "\""):
                    return start..<cursor.index
                case UInt8(ascii: "\\"):
                    guard let escaped = cursor.next(), escaped >= 32, escaped <= 126 else { return nil }
                case 32...33, 35...91, 93...126, 0x80...0xFF:
                    continue
                default:
                    return nil
                }
            }
            return nil
        }
        repeat {
            let atom = cursor.consume(while: { ASCII.isAtext($0) || ASCII.isNonASCII($0) })
            guard !atom.isEmpty else { return nil }
        } while cursor.consume(UInt8(ascii: "."))
        return start..<cursor.index
    }

    /// `Domain = sub-domain *("." sub-domain)`
    /// `sub-domain = Let-dig [Ldh-str]`, `Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig`
    /// (sub-domain extended by U-labels, RFC 6531 §3.3). Each label is 1 to 63 octets and
    /// the name at most 255 (RFC 1035 §2.3.4).
    static func domain(_ cursor: inout ByteCursor) -> Range<Int>? {
        let start = cursor.index
        repeat {
            let label = cursor.consume(while: { ASCII.isLetDig($0) || $0 == UInt8(ascii: "-") || ASCII.isNonASCII($0) })
            guard !label.isEmpty, label.count <= 63,
                cursor.bytes[label.lowerBound] != UInt8(ascii: "-"),
                cursor.bytes[label.upperBound - 1] != UInt8(ascii: "-")
            else { return nil }
        } while cursor.consume(UInt8(ascii: "."))
        guard cursor.index - start <= Limits.domain else { return nil }
        return start..<cursor.index
    }

    /// `address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
    /// General-address-literal ) "]"` (§4.1.3), brackets included in the range.
    static func addressLiteral(_ cursor: inout ByteCursor) -> Range<Int>? {
        let start = cursor.index
        guard cursor.consume(UInt8(ascii: "[")) else { return nil }
        let content = cursor.consume(while: { ASCII.isVisible($0) && $0 != UInt8(ascii: "[") && $0 != UInt8(ascii: "]") && $0 != UInt8(ascii: "\\") })
        guard cursor.consume(UInt8(ascii: "]")), !content.isEmpty else { return nil }
        let text = cursor.string(content)
        if text.utf8.first.map(ASCII.isDigit) == true {
            guard isIPv4(text) else { return nil }
        } else if text.lowercased().hasPrefix("ipv6:") {
            guard isIPv6(String(text.dropFirst(5))) else { return nil }
        } else {
            // `General-address-literal = Standardized-tag ":" 1*dcontent`
            guard let colon = text.utf8.firstIndex(of: UInt8(ascii: ":")), colon != text.utf8.startIndex,
                text.utf8[..<colon].allSatisfy({ ASCII.isLetDig($0) || $0 == UInt8(ascii: "-") }),
                text.utf8.index(after: colon) != text.utf8.endIndex
            else { return nil }
        }
        return start..<cursor.index
    }

    /// `IPv4-address-literal = Snum 3("."  Snum)`, `Snum = 1*3DIGIT` (0-255).
    static func isIPv4(_ text: String) -> Bool {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        return parts.allSatisfy { part in
            guard (1...3).contains(part.count), part.allSatisfy(ASCII.isDigit) else { return false }
            return part.reduce(0) { $0 * 10 + Int($1 - 48) } <= 255
        }
    }

    /// `IPv6-addr = IPv6-full / IPv6-comp / IPv6v4-full / IPv6v4-comp` (§4.1.3): up to eight
    /// groups of 1-4 hex digits, at most one `::`, optionally ending in an IPv4 address.
    static func isIPv6(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var groups = bytes.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        guard groups.count >= 3 else { return false }
        var capacity = 8
        if let last = groups.last, last.contains(UInt8(ascii: ".")) {
            guard isIPv4(String(decoding: last, as: UTF8.self)) else { return false }
            groups.removeLast()
            capacity = 6
        }
        var compressions = 0
        for index in bytes.indices.dropLast() where bytes[index] == UInt8(ascii: ":") && bytes[index + 1] == UInt8(ascii: ":") {
            compressions += 1
        }
        guard compressions <= 1 else { return false }
        let nonEmpty = groups.filter { !$0.isEmpty }
        guard nonEmpty.allSatisfy({ (1...4).contains($0.count) && $0.allSatisfy(ASCII.isHexDigit) }) else {
            return false
        }
        if compressions == 1 { return nonEmpty.count < capacity }
        return nonEmpty.count == capacity && groups.count == capacity
    }
}

extension MailAddress {
    /// RFC 5321 §4.1.2 `Mailbox` (`Local-part "@" ( Domain / address-literal )`) as the whole of
    /// `text`, nil for anything else: an address given outside a command (`tern sendmail`'s
    /// arguments and header fields), checked as strictly as one in MAIL FROM or RCPT TO.
    public init?(mailbox text: String) {
        var octets = Array(text.utf8)
        guard !octets.isEmpty, octets.count <= 254 else { return nil }
        let parsed: MailAddress? = octets.withUnsafeMutableBytes { raw in
            var cursor = ByteCursor(UnsafeRawBufferPointer(raw))
            guard let address = PathParser.mailbox(&cursor), cursor.isAtEnd else { return nil }
            return address
        }
        guard let parsed else { return nil }
        self = parsed
    }
}
