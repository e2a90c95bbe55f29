/// A mailbox as it appears in an SMTP path (RFC 5321 §4.1.2): `Local-part "@" Domain`, or
/// `Local-part "@" address-literal`.
///
/// Both parts are kept in their wire form: a quoted local part keeps its quotes and
/// backslashes, so `description` gives back exactly what the client wrote, and equal wire
/// forms compare equal. With SMTPUTF8 (RFC 6531) either part may hold UTF-8.
public struct MailAddress: Hashable, Sendable, CustomStringConvertible {
    public var localPart: String
    /// A domain name, or an address literal with its brackets (`[192.0.2.1]`, `[IPv6:...]`).
    public var domain: String

    public init(localPart: String, domain: String) {
        self.localPart = localPart
        self.domain = domain
    }

    public var description: String { "\(localPart)@\(domain)" }

    /// An address as Tern writes it (`description`): split at the last `@`. Nil without one.
    /// For addresses Tern stored itself (spool records, configuration); what a client sends
    /// goes through the RFC 5321 path parser instead.
    public init?(stored text: String) {
        guard let at = text.lastIndex(of: "@") else { return nil }
        self.init(localPart: String(text[..<at]), domain: String(text[text.index(after: at)...]))
    }

    /// A stored address, as `init?(stored:)` reads it; text without `@` (never written by Tern)
    /// becomes a local part with an empty domain, which no client sends to.
    public init(storedOrBare text: String) {
        self = MailAddress(stored: text) ?? MailAddress(localPart: text, domain: "")
    }

    /// True when any octet is outside US-ASCII (RFC 6531 calls for SMTPUTF8 then).
    public var isInternationalized: Bool {
        localPart.utf8.contains { $0 >= 0x80 } || domain.utf8.contains { $0 >= 0x80 }
    }

    /// True for `[...]` address literals (RFC 5321 §4.1.3).
    public var hasAddressLiteral: Bool { domain.hasPrefix("[") }
}
