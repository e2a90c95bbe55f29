/// The addresses of an address-list header field such as From:, To: or Cc: (RFC 5322 §3.4):
/// mailboxes (`addr-spec`, or `display-name <addr-spec>`) and groups (`name: mailbox, ...;`),
/// separated by commas, with comments `(...)` and quoted strings anywhere.
///
/// It is lenient the way a reader must be: it returns the `addr-spec` of each mailbox it can
/// find (the content of `<...>`, or the bare token) and skips what it cannot make sense of. It
/// never fails, and a comment or quoted string can never hide a comma or an angle bracket.
///
/// It is for display (the catcher) only. A check on addresses (the submission sender check)
/// must not skip what it cannot read: it uses `StrictAddressList` and `Originators`, which
/// read CFWS inside addresses as RFC 5322 §4.4 does and fail instead of skipping.
public enum AddressList {
    /// A mailbox: its address, and the display name decoded (RFC 2047) and unquoted, or "".
    public struct Mailbox: Hashable, Sendable {
        public var name: String
        public var address: String

        public init(name: String, address: String) {
            self.name = name
            self.address = address
        }
    }

    /// The `addr-spec`s alone.
    public static func addresses(in value: String) -> [String] {
        mailboxes(in: value).map(\.address)
    }

    public static func mailboxes(in value: String) -> [Mailbox] {
        var addresses: [Mailbox] = []
        var plain: [Character] = []  // the current mailbox, comments removed
        var angle: [Character]?  // inside <...>
        var lastAngle: String?
        var nameEnd: Int?  // where `<` began, in `plain`
        var commentDepth = 0
        var inQuotes = false
        var escaped = false

        func endMailbox() {
            let name = displayName(Array(plain.prefix(nameEnd ?? 0)))
            if let lastAngle, hasUnquotedAt(plain) {
                // `<alice@x> mallory@y`: two addresses in one mailbox. Reported whole, so it
                // matches no one's address and a check on it fails closed.
                addresses.append(Mailbox(name: name, address: String(plain).trimmingWhitespace() + " <\(lastAngle)>"))
            } else if let address = clean(lastAngle ?? String(plain)) {
                addresses.append(Mailbox(name: lastAngle == nil ? "" : name, address: address))
            }
            plain = []
            lastAngle = nil
            nameEnd = nil
        }

        for character in value {
            if escaped {
                escaped = false
                if commentDepth == 0 {
                    if angle != nil { angle!.append(character) } else { plain.append(character) }
                }
                continue
            }
            if character == "\\", inQuotes || commentDepth > 0 {
                escaped = true
                if commentDepth == 0 {
                    if angle != nil { angle!.append(character) } else { plain.append(character) }
                }
                continue
            }
            if commentDepth > 0 {
                if character == "(" { commentDepth += 1 } else if character == ")" { commentDepth -= 1 }
                continue
            }
            if inQuotes {
                if character == "\"" { inQuotes = false }
                if angle != nil { angle!.append(character) } else { plain.append(character) }
                continue
            }
            switch character {
            case "(":
                commentDepth = 1
            case "\"":
                inQuotes = true
                if angle != nil { angle!.append(character) } else { plain.append(character) }
            case "<":
                angle = []
                if nameEnd == nil { nameEnd = plain.count }
            case ">":
                if let inside = angle { lastAngle = String(inside) }
                angle = nil
            case ",", ";":
                if angle == nil { endMailbox() } else { angle!.append(character) }
            case ":":
                if angle != nil {
                    // A route (`<@a,@b:user@c>`, obsolete) ends here: keep what follows.
                    angle = []
                } else {
                    // A group's display name: not an address.
                    plain = []
                    lastAngle = nil
                    nameEnd = nil
                }
            default:
                if angle != nil { angle!.append(character) } else { plain.append(character) }
            }
        }
        if let inside = angle { lastAngle = String(inside) }
        endMailbox()
        return addresses
    }

    /// A phrase without its quotes and escapes, encoded words decoded, white space collapsed.
    static func displayName(_ characters: [Character]) -> String {
        var text = ""
        var inQuotes = false
        var escaped = false
        for character in characters {
            if escaped {
                text.append(character)
                escaped = false
            } else if character == "\\", inQuotes {
                escaped = true
            } else if character == "\"" {
                inQuotes.toggle()
            } else {
                text.append(character)
            }
        }
        let decoded = EncodedWords.decode(text)
        return decoded.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }).joined(separator: " ")
    }

    static func hasUnquotedAt(_ characters: [Character]) -> Bool {
        var inQuotes = false
        for character in characters {
            if character == "\"" { inQuotes.toggle() }
            if !inQuotes, character == "@" { return true }
        }
        return false
    }

    /// An `addr-spec` without surrounding white space, or nil when it is not `local@domain`.
    /// A display name without brackets (`Alice alice@x`) is not a mailbox: nil.
    static func clean(_ text: String) -> String? {
        let trimmed = text.trimmingWhitespace()
        guard let at = trimmed.lastIndex(of: "@"), at != trimmed.startIndex, trimmed.index(after: at) != trimmed.endIndex
        else { return nil }
        // White space is allowed only inside a quoted local part.
        var inQuotes = false
        for character in trimmed {
            if character == "\"" { inQuotes.toggle() }
            if !inQuotes, character == " " || character == "\t" { return nil }
        }
        return trimmed
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = unicodeScalars[...]
        while let first = scalars.first, first == " " || first == "\t" || first == "\r" || first == "\n" {
            scalars = scalars.dropFirst()
        }
        while let last = scalars.last, last == " " || last == "\t" || last == "\r" || last == "\n" {
            scalars = scalars.dropLast()
        }
        return String(String.UnicodeScalarView(scalars))
    }
}
