import TernDirectory
import TernMIME
import TernMail
import TernStore

/// Who may get a delivery status notification about a queued message, what it names, and how
/// much of the message it returns: the defences against backscatter and against reading a
/// server's aliases through DSNs.
///
/// Security notes:
/// - A sender address is whatever the client wrote. Mail from a client that neither
///   authenticated nor connected from a relay network ("untrusted") may carry a forged sender,
///   and every report to it is mail sent to a stranger (backscatter). Such mail earns a report
///   only when its sender is plausible (`refusal`), and a failure report returns only the
///   header section, never the content the stranger chose.
/// - A report never reveals what an address expanded to (RFC 3461 §6.2.4: the expansion is
///   the receiving system's business): a delivery made through an alias, forward or catch-all
///   is reported as its envelope recipient, with a generic reply; its final mailboxes, their
///   UIDs and the hosts they were relayed to stay unnamed.
///
/// Plausibility, for untrusted mail (docs/configuration.md, "Delivery status notifications"):
/// the sender's domain is a domain name, not an address literal, and not one of this
/// server's own domains (one of our users sends through submission, authenticated). SPF and
/// DMARC alignment join the check when mail authentication lands.
struct NotificationPolicy {
    let routing: MailRouting

    /// Why `sender` may not get a report about a message accepted as `trusted` or not; nil
    /// when it may.
    func refusal(sender: MailAddress, trusted: Bool) -> String? {
        guard !trusted else { return nil }
        let domain = sender.domain
        if domain.hasPrefix("[") { return "the sender is an address literal and the client was not trusted" }
        if !domain.contains(".") { return "the sender's domain is not a domain name and the client was not trusted" }
        if routing.isLocal(domain: domain) {
            return "the sender claims a local domain and the client neither authenticated nor is a relay network"
        }
        return nil
    }

    /// How much of the message a report may return: what the sender asked for when the
    /// client was trusted; the header section otherwise.
    func returned(_ asked: DSNReturn?, trusted: Bool) -> DSNReturn? {
        trusted ? asked : .headers
    }

    /// The recipient a report names for `delivery`, and the reply it quotes. A delivery that
    /// went to the address the client gave keeps its own (a local success quotes a generic
    /// reply, without the mailbox's UID). One reached through an expansion (alias, forward,
    /// catch-all) is named by its envelope recipient in every success report, and in every
    /// report to an untrusted sender, with a generic reply: no report lists the members or
    /// mailboxes behind an address, or where they were relayed. A trusted sender (one of
    /// ours) learns which forward failed and why, as Postfix's "expanded from" bounces say.
    static func reported(_ delivery: QueuedDelivery, action: DeliveryStatusNotification.Action, trusted: Bool)
        -> (recipient: String, reply: SMTPReply, remoteMTA: String?)
    {
        let remoteMTA = delivery.history?.last?.relay.flatMap(remoteHost)
        let reply = delivery.lastReply ?? .deliveryFailed
        let expanded = delivery.recipient != delivery.original
        switch action {
        case .delivered:
            return (delivery.original, .delivered, nil)
        case .relayed:
            return expanded ? (delivery.original, .delivered, nil) : (delivery.recipient, reply, remoteMTA)
        case .failed, .delayed:
            guard expanded, !trusted else { return (delivery.recipient, reply, remoteMTA) }
            let generic: SMTPReply = action == .failed ? .forwardedDeliveryFailed : .forwardedDeliveryDelayed
            return (delivery.original, generic, nil)
        }
    }

    /// The host name of a remote relay (`mx.example.org[192.0.2.1]:25` → `mx.example.org`), for
    /// `Remote-MTA`; nil for local delivery.
    static func remoteHost(_ relay: String) -> String? {
        guard let bracket = relay.firstIndex(of: "[") else { return nil }
        return String(relay[..<bracket])
    }
}
