import TernMail

// MARK: - Replies the delivery agents make up
//
// When an agent decides a delivery's fate without a remote server's word (DNS said no, no
// server answered, the mailbox's disk is full), it records the decision as a reply, so the
// queue, the logs and the DSNs handle one shape. Codes follow RFC 5321 §4.2.2 and RFC 3463:
// whatever may heal by itself (a full disk, an unreachable host, a DNS timeout) is a 4yz and
// the queue tries again; what cannot is a 5yz and the sender is told.

extension SMTPReply {
    // Local delivery.
    static func deliveredToMaildir(uid: UInt32?) -> SMTPReply {
        SMTPReply(250, EnhancedStatusCode(2, 0, 0), uid.map { "delivered to maildir (uid \($0))" } ?? "delivered to maildir")
    }

    static let mailboxStorageFull = SMTPReply(452, EnhancedStatusCode(4, 3, 1), "insufficient system storage")

    static func localDeliveryFailed(_ error: any Error) -> SMTPReply {
        SMTPReply(451, EnhancedStatusCode(4, 3, 0), "local delivery failed: \(oneLine(error))")
    }

    // Reading the queued message.
    static func cannotReadQueuedMessage(_ error: any Error) -> SMTPReply {
        SMTPReply(451, EnhancedStatusCode(4, 3, 0), "cannot read the queued message: \(oneLine(error))")
    }

    // Reaching a server: every failure is temporary.
    static func noServerReached(domain: String) -> SMTPReply {
        SMTPReply(451, EnhancedStatusCode(4, 4, 1), "no server for \(domain) could be reached")
    }

    static func cannotConnect(to relay: String, _ error: any Error) -> SMTPReply {
        SMTPReply(451, EnhancedStatusCode(4, 4, 1), "cannot connect to \(relay): \(oneLine(error))")
    }

    static func tlsHandshakeFailed(with server: String, reason: String) -> SMTPReply {
        SMTPReply(451, EnhancedStatusCode(4, 7, 5), "TLS handshake with \(server) failed: \(reason)")
    }

    // Routing (RFC 5321 §5.1): a domain that cannot take mail fails, a lookup that may
    // succeed later defers.
    static func invalidAddressLiteral(_ domain: String) -> SMTPReply {
        SMTPReply(550, EnhancedStatusCode(5, 1, 2), "invalid address literal \(domain)")
    }

    static func invalidRecipientDomain(_ domain: String) -> SMTPReply {
        SMTPReply(550, EnhancedStatusCode(5, 1, 2), "invalid recipient domain \(domain)")
    }

    /// RFC 7505 §4.1: 556 5.1.10 for a domain that publishes a null MX.
    static func nullMX(_ domain: String) -> SMTPReply {
        SMTPReply(556, EnhancedStatusCode(5, 1, 10), "recipient domain \(domain) does not accept mail (null MX, RFC 7505)")
    }

    static func domainDoesNotExist(_ domain: String) -> SMTPReply {
        SMTPReply(550, EnhancedStatusCode(5, 1, 2), "recipient domain \(domain) does not exist (NXDOMAIN)")
    }

    static func noAddressForMailServers(_ domain: String) -> SMTPReply {
        SMTPReply(550, EnhancedStatusCode(5, 4, 4), "no address for the mail servers of \(domain)")
    }

    /// A configuration mistake: the mail is kept until it is fixed.
    static func relayHostHasNoAddress(_ host: String) -> SMTPReply {
        SMTPReply(451, EnhancedStatusCode(4, 4, 4), "relay host \(host) has no address")
    }

    static func cannotResolveRelayHost(_ host: String, _ error: any Error) -> SMTPReply {
        SMTPReply(451, EnhancedStatusCode(4, 4, 3), "cannot resolve relay host \(host): \(oneLine(error))")
    }

    static func dnsLookupFailed(question: String, name: String, _ error: any Error, permanent: Bool) -> SMTPReply {
        permanent
            ? SMTPReply(550, EnhancedStatusCode(5, 4, 4), "DNS \(question) lookup of \(name) failed: \(oneLine(error))")
            : SMTPReply(451, EnhancedStatusCode(4, 4, 3), "DNS \(question) lookup of \(name) failed: \(oneLine(error))")
    }

    /// An error's description on one line, for a reply's text.
    static func oneLine(_ error: any Error) -> String {
        String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
