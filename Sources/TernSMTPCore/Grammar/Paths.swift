public import TernMail

/// `Reverse-path = Path / "<>"` (RFC 5321 §4.1.2): the MAIL FROM address, or the null
/// sender used by bounces and auto-replies, to which no notification may ever be sent.
public enum ReversePath: Hashable, Sendable, CustomStringConvertible {
    case null
    case mailbox(MailAddress)

    public var mailbox: MailAddress? {
        if case .mailbox(let address) = self { return address }
        return nil
    }

    /// The address between the angle brackets: empty for the null path.
    public var description: String {
        switch self {
        case .null: ""
        case .mailbox(let address): address.description
        }
    }
}

/// `Forward-path = Path` (RFC 5321 §4.1.2): one RCPT TO address.
///
/// A source route (`<@relay1,@relay2:user@domain>`, §C) is parsed and dropped, as §3.6.1
/// tells servers to do; `hadSourceRoute` keeps the fact for relay checks and logs.
public struct ForwardPath: Hashable, Sendable, CustomStringConvertible {
    public var mailbox: MailAddress
    public var hadSourceRoute: Bool

    public init(mailbox: MailAddress, hadSourceRoute: Bool = false) {
        self.mailbox = mailbox
        self.hadSourceRoute = hadSourceRoute
    }

    /// `<Postmaster>` without a domain (§4.1.1.3) parses to this local part and an empty
    /// domain; the server substitutes its own host name.
    public var isUnqualifiedPostmaster: Bool { mailbox.domain.isEmpty }

    public var description: String { mailbox.description }
}
