import TernMail

/// A domain name (RFC 1035 §3.1): a sequence of labels ending in the root.
///
/// Names compare and hash without regard to ASCII case (RFC 1035 §2.3.3, RFC 4343) but keep the
/// case they were written in. The name is stored in its uncompressed wire form without the final
/// root octet, so its length is checked once, where it is built: each label is 1 to 63 octets and
/// the whole name, root octet included, at most 255 (RFC 1035 §2.3.4).
///
/// Names given as text by callers must be ASCII: IDNs are out of scope and arrive as A-labels
/// (`xn--…`, RFC 5890). Names from the wire may contain any octet in a label.
public struct DNSName: Hashable, Sendable, CustomStringConvertible {
    /// The labels in wire form: each a length octet (1…63) and that many octets; no root octet.
    internal var wire: [UInt8]

    /// The root name, `.`.
    public static let root = DNSName(uncheckedWire: [])

    internal init(uncheckedWire wire: [UInt8]) {
        self.wire = wire
    }

    /// Parses a name written as text, `mail.example.com` or `mail.example.com.` (the trailing dot
    /// of an absolute name is optional; every name is absolute, Tern has no search list). `.` is
    /// the root.
    ///
    /// Refuses (with `DNSError.invalidName`): non-ASCII text (convert IDNs to A-labels first),
    /// empty labels (`a..b`, a leading dot), labels over 63 octets, names over 255 octets on the
    /// wire, and octets that cannot appear in a host name or service label: controls, space,
    /// and the master-file specials `\` `"` `(` `)` `;` `@` `$`. Underscores are allowed
    /// (`_dmarc`, `_domainkey`, RFC 8552).
    public init(_ text: String) throws(DNSError) {
        let bytes = Array(text.utf8)
        if bytes.contains(where: { $0 >= 0x80 }) {
            throw DNSError(
                .invalidName,
                "\(Self.quoted(bytes)) contains non-ASCII characters; "
                    + "internationalized names must be given as A-labels (xn--…)"
            )
        }
        if bytes == [UInt8(ascii: ".")] {
            self = .root
            return
        }
        var body = bytes[...]
        if body.last == UInt8(ascii: ".") { body = body.dropLast() }
        guard !body.isEmpty else {
            throw DNSError(.invalidName, "the empty string is not a domain name")
        }
        var wire: [UInt8] = []
        wire.reserveCapacity(body.count + 1)
        for label in body.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard !label.isEmpty else {
                throw DNSError(.invalidName, "\(Self.quoted(bytes)) has an empty label")
            }
            guard label.count <= Self.maximumLabelLength else {
                throw DNSError(.invalidName, "\(Self.quoted(bytes)) has a label longer than 63 octets")
            }
            guard label.allSatisfy(Self.isAllowedInTextLabel) else {
                throw DNSError(.invalidName, "\(Self.quoted(bytes)) contains a character not allowed in a domain name")
            }
            wire.append(UInt8(label.count))
            wire.append(contentsOf: label)
        }
        guard wire.count + 1 <= Self.maximumWireLength else {
            throw DNSError(.invalidName, "\(Self.quoted(bytes)) is longer than 255 octets")
        }
        self.wire = wire
    }

    /// Builds a name from labels (each 1…63 octets of any value), refusing names over 255 octets.
    public init(labels: [[UInt8]]) throws(DNSError) {
        var wire: [UInt8] = []
        for label in labels {
            guard (1...Self.maximumLabelLength).contains(label.count) else {
                throw DNSError(.invalidName, "a label must be 1 to 63 octets long")
            }
            wire.append(UInt8(label.count))
            wire.append(contentsOf: label)
        }
        guard wire.count + 1 <= Self.maximumWireLength else {
            throw DNSError(.invalidName, "a name is at most 255 octets long")
        }
        self.wire = wire
    }

    /// RFC 1035 §2.3.4: labels are 63 octets or less.
    public static let maximumLabelLength = 63
    /// RFC 1035 §2.3.4: names are 255 octets or less on the wire (RFC 5321 §4.5.3.1.2 agrees).
    public static let maximumWireLength = Limits.domain

    /// The labels, most specific first; empty for the root.
    public var labels: [[UInt8]] {
        var result: [[UInt8]] = []
        var index = 0
        while index < wire.count {
            let length = Int(wire[index])
            result.append(Array(wire[(index + 1)..<(index + 1 + length)]))
            index += 1 + length
        }
        return result
    }

    public var isRoot: Bool { wire.isEmpty }

    /// The length of the uncompressed wire form, root octet included (at most 255).
    public var wireLength: Int { wire.count + 1 }

    /// The name one label up (`example.com` for `mail.example.com`); nil for the root.
    public var parent: DNSName? {
        guard let first = wire.first else { return nil }
        return DNSName(uncheckedWire: Array(wire[(Int(first) + 1)...]))
    }

    /// Whether this name equals `other` or lies below it (`a.example.com` is a subdomain of
    /// `example.com` and of the root).
    public func isSubdomain(of other: DNSName) -> Bool {
        guard wire.count >= other.wire.count else { return false }
        var candidate: DNSName? = self
        while let name = candidate, name.wire.count >= other.wire.count {
            if name == other { return true }
            candidate = name.parent
        }
        return false
    }

    /// The name as text without the trailing dot (`.` for the root). Octets other than visible
    /// ASCII, and `.` or `\` inside a label, are written as `\DDD` (RFC 1035 §5.1), so a name
    /// from the wire can never smuggle a control character, space or extra dot into a log line.
    public var description: String {
        guard !wire.isEmpty else { return "." }
        var text: [UInt8] = []
        text.reserveCapacity(wire.count)
        var index = 0
        while index < wire.count {
            if index > 0 { text.append(UInt8(ascii: ".")) }
            let length = Int(wire[index])
            for byte in wire[(index + 1)..<(index + 1 + length)] {
                if byte > 0x20, byte < 0x7F, byte != UInt8(ascii: "."), byte != UInt8(ascii: "\\") {
                    text.append(byte)
                } else {
                    text.append(UInt8(ascii: "\\"))
                    text.append(UInt8(ascii: "0") + byte / 100)
                    text.append(UInt8(ascii: "0") + (byte / 10) % 10)
                    text.append(UInt8(ascii: "0") + byte % 10)
                }
            }
            index += 1 + length
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The name in lower case: the canonical form for cache keys and comparisons.
    public var lowercased: DNSName {
        DNSName(uncheckedWire: wire.map(Self.asciiLowercased))
    }

    public static func == (lhs: DNSName, rhs: DNSName) -> Bool {
        guard lhs.wire.count == rhs.wire.count else { return false }
        // Length octets are at most 63 (0x3F), below "A" (0x41), so folding the whole wire form
        // folds only label octets.
        for index in lhs.wire.indices where asciiLowercased(lhs.wire[index]) != asciiLowercased(rhs.wire[index]) {
            return false
        }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(wire.count)
        for byte in wire { hasher.combine(Self.asciiLowercased(byte)) }
    }

    @inline(__always)
    static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) ? byte + 32 : byte
    }

    /// Visible ASCII except the master-file specials: what a caller may write in a label.
    static func isAllowedInTextLabel(_ byte: UInt8) -> Bool {
        guard byte > 0x20, byte < 0x7F else { return false }
        switch byte {
        case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: ";"),
            UInt8(ascii: "@"), UInt8(ascii: "$"):
            return false
        default:
            return true
        }
    }

    /// Caller text for an error message: printable ASCII kept, everything else as `?`, cut at 80.
    static func quoted(_ bytes: [UInt8]) -> String {
        let shown = bytes.prefix(80).map { $0 >= 0x20 && $0 < 0x7F ? $0 : UInt8(ascii: "?") }
        return "\"" + String(decoding: shown, as: UTF8.self) + (bytes.count > 80 ? "…\"" : "\"")
    }
}
