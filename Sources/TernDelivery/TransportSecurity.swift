import TernSMTPCore

/// How Tern's SMTP client protects the connection to a next hop the administrator named: a relay
/// host (`[[route]]`) or the catcher's release server. MX hosts found in DNS always get the
/// outbound default (opportunistic STARTTLS, RFC 7435).
///
/// A hop that must speak TLS is also authenticated: its certificate is checked (by default
/// against the system trust store and the configured name, as Postfix's `secure` level), and a
/// failed check defers the message instead of falling back to cleartext; credentials go only
/// over such a session.
public enum TransportSecurity: String, Sendable, Hashable, CaseIterable {
    /// STARTTLS when offered (RFC 3207, RFC 7435); the certificate is not checked.
    case opportunistic
    /// STARTTLS or nothing: defer rather than send in cleartext.
    case required
    /// TLS from the first octet (RFC 8314, port 465).
    case implicit
    /// Cleartext only (a local test server).
    case none

    /// Whether the peer must prove its name with its certificate.
    public var authenticatesPeer: Bool {
        self == .required || self == .implicit
    }

    /// Sets the client session's TLS for this level; `opportunistic` takes
    /// `opportunisticPolicy` (the outbound default, which an administrator may raise).
    func configure(
        _ session: inout ClientSessionStateMachine.Configuration,
        opportunisticPolicy: ClientSessionStateMachine.TLSPolicy = .opportunistic
    ) {
        switch self {
        case .opportunistic: session.tlsPolicy = opportunisticPolicy
        case .required: session.tlsPolicy = .required
        case .implicit:
            session.tlsPolicy = .required
            session.implicitTLS = true
        case .none: session.tlsPolicy = .none
        }
    }
}
