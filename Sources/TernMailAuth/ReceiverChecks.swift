public import TernDNSCore

/// What SPF is asked about a message (RFC 7208 §2.2-2.4): the client's address, the MAIL FROM
/// (nil for the null sender, when HELO is checked instead) and the HELO name.
public struct SPFQuestion: Sendable {
    public var ip: IPAddress
    public var sender: (localPart: String, domain: String)?
    public var helo: String
    /// The receiver's host name, for the `%{r}` macro.
    public var receiver: String

    public init(ip: IPAddress, sender: (localPart: String, domain: String)?, helo: String, receiver: String) {
        self.ip = ip
        self.sender = sender
        self.helo = helo
        self.receiver = receiver
    }

    public func verdict(now: Int64, resolver: some DNSResolving) async -> SPFVerdict {
        await SPFCheck.verdict(ip: ip, sender: sender, helo: helo, receiver: receiver, now: now, resolver: resolver)
    }
}

/// The checks a receiving MX makes of a message, and the Authentication-Results (RFC 8601) they
/// come to: the DKIM signatures and the SPF record at once, then the From: domain's DMARC
/// policy over both. The intake runs them on mail arriving on mx; the dev catcher runs them on a
/// caught message when asked, to show what a receiver would make of it.
public struct ReceiverChecks: Sendable {
    /// Authentication-Results' authserv-id (§2.5).
    public var authservID: String
    public var checksDKIM = true
    public var checksSPF = true
    /// DMARC, with the Public Suffix List it needs; nil for none.
    public var dmarc: DMARCCheck?

    public init(authservID: String, checksDKIM: Bool = true, checksSPF: Bool = true, dmarc: DMARCCheck? = nil) {
        self.authservID = authservID
        self.checksDKIM = checksDKIM
        self.checksSPF = checksSPF
        self.dmarc = dmarc
    }

    /// `verification`: the signatures, with the whole body hashed (`finishBody`); `arc`: the
    /// ARC chain likewise (checked with DKIM: the same keys and hashes). `spf`: the
    /// question, nil when there is none to ask (no client address). `fromDomain`: the one
    /// domain of the From: field, nil when there is not exactly one (RFC 7489 §6.6.1: DMARC
    /// does not apply). `policy`: the DMARC policy when it was looked up already. `sample`: a
    /// number in 0..<100 for `pct=`.
    public func results(
        verification: DKIMVerification, arc: ARCVerification? = nil, spf: SPFQuestion?, fromDomain: String?,
        policy: DMARCPolicy? = nil, sample: Int, now: Int64, resolver: some DNSResolving
    ) async -> AuthenticationResults {
        let checksDKIM = self.checksDKIM
        async let dkim = checksDKIM ? verification.verify(now: now, resolver: resolver) : nil
        async let spfVerdict = checksSPF ? spf?.verdict(now: now, resolver: resolver) : nil
        async let chain = checksDKIM ? arc?.verify(now: now, resolver: resolver) : nil
        var results = AuthenticationResults(authservID: authservID, dkim: await dkim, spf: await spfVerdict)
        results.arc = await chain
        if let dmarc, let fromDomain {
            let found: DMARCPolicy
            if let policy {
                found = policy
            } else {
                found = await dmarc.policy(fromDomain: fromDomain, resolver: resolver)
            }
            results.dmarc = dmarc.verdict(policy: found, dkim: results.dkim ?? [], spf: results.spf, sample: sample)
        }
        return results
    }
}
