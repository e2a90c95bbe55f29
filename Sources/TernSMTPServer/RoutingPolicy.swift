public import TernNet
public import TernQueue
public import TernSMTPCore
import TernMail

/// The MTA's recipient check (RFC 5321 §3.6, §7.1): local addresses must exist, anything else
/// is relaying and needs a trusted client. Tern is never an open relay.
///
/// - A local domain's address that resolves to nothing: `550 5.1.1` now, never a bounce later
///   (no backscatter).
/// - A remote address: accepted only from a relay network (or, with the MSA work, an
///   authenticated session); otherwise `554 5.7.1 Relay access denied`.
/// - The classic relay tricks land on one of those two: `user%other@local` and
///   `"user@other"@local` are local parts of a local domain (unknown unless configured);
///   a source route `@local:user@other` is dropped (§3.6.1) and `other` is judged;
///   `user@other@local` does not parse.
public struct RoutingPolicy: SMTPPolicy {
    public let routing: MailRouting
    public let relayNetworks: [IPNetwork]

    public init(routing: MailRouting, relayNetworks: [IPNetwork]) {
        self.routing = routing
        self.relayNetworks = relayNetworks
    }

    public func checkSender(_ path: ReversePath, _ parameters: MailParameters, session: SessionFacts) -> PolicyCheck {
        .decided(.accept)
    }

    public func checkRecipient(_ path: ForwardPath, _ parameters: RecipientParameters, session: SessionFacts)
        -> PolicyCheck
    {
        switch routing.resolve(path.mailbox) {
        case .deliver:
            return .decided(.accept)
        case .unknownUser:
            return .decided(.reject(.unknownUser))
        case .remote:
            guard mayRelay(session) else { return .decided(.reject(.relayDenied)) }
            return .decided(.accept)
        }
    }

    func mayRelay(_ session: SessionFacts) -> Bool {
        relayNetworks.contains { $0.contains(session.clientAddress) }
    }
}

extension SMTPReply {
    static let unknownUser = SMTPReply(550, EnhancedStatusCode(5, 1, 1), "Error: no such user here")
    static let relayDenied = SMTPReply(554, EnhancedStatusCode(5, 7, 1), "Error: relay access denied")
}
