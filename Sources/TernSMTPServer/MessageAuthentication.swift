public import TernDNSCore
public import TernMail
public import TernMailAuth

/// Mail authentication at the intake (issue 18): DKIM signatures checked and an
/// Authentication-Results field added to mail from outside (the mx role), a DKIM signature
/// added to mail a user submits from a domain with a key.
public struct MessageAuthentication: Sendable {
    /// A message refused for what its authentication found: the reply, and what to log.
    public struct Refusal: Error, Sendable {
        public var reply: SMTPReply
        public var reason: String
    }

    /// Authentication-Results' authserv-id (RFC 8601 §2.5): Tern's host name.
    public var authservID: String
    /// Where DKIM keys and SPF records are looked up; nil turns checking off.
    public var resolver: (any DNSResolving)?
    /// Check the DKIM signatures of mail arriving on mx.
    public var checksDKIM = true
    /// Check the SPF record of the MAIL FROM domain (or the HELO name) on mx.
    public var checksSPF = true
    /// DMARC (RFC 7489) on mx, with the Public Suffix List it needs; nil for none.
    public var dmarc: DMARCCheck?
    /// Refuse mail whose From: domain's DMARC policy says reject (550 5.7.1 at the end of DATA).
    public var enforcesDMARCReject = true
    /// File mail whose From: domain's DMARC policy says quarantine (or reject, when that is not
    /// enforced) into the recipients' Junk folders.
    public var quarantinesToJunk = true
    /// Signatures checked per message (each costs a DNS query and a body hash).
    public var signatureLimit: Int
    /// The signer for a From: domain (lower case), nil when the domain has no key.
    public var signer: @Sendable (String) -> DKIMSigner?

    /// The checks made on mx.
    public var checks: ReceiverChecks {
        ReceiverChecks(authservID: authservID, checksDKIM: checksDKIM, checksSPF: checksSPF, dmarc: dmarc)
    }

    public init(
        authservID: String, resolver: (any DNSResolving)?, signatureLimit: Int = DKIMVerification.defaultSignatureLimit,
        signer: @escaping @Sendable (String) -> DKIMSigner? = { _ in nil }
    ) {
        self.authservID = authservID
        self.resolver = resolver
        self.signatureLimit = signatureLimit
        self.signer = signer
    }
}
