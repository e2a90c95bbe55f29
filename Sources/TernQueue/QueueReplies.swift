public import TernMail

// MARK: - Replies the queue makes up
//
// When the queue decides a delivery's fate itself (expiry, an address that vanished from the
// configuration, an agent's bug) or reports on it in a DSN, it records the decision as a reply,
// so the records, the logs and the DSNs handle one shape. Codes follow RFC 5321 §4.2.2 and
// RFC 3463.

extension SMTPReply {
    /// RFC 3463 X.4.7, delivery time expired; the last error says why.
    public static func deliveryTimeExpired(lastError: SMTPReply) -> SMTPReply {
        SMTPReply(554, EnhancedStatusCode(5, 4, 7), "delivery time expired (last error: \(lastError.storedLine))")
    }

    /// A recipient accepted at RCPT time whose address the configuration no longer has.
    public static let noSuchUserHere = SMTPReply(550, EnhancedStatusCode(5, 1, 1), "no such user here")

    /// An agent returned a wrong number of results: the whole job is tried again.
    public static let internalDeliveryError = SMTPReply(451, EnhancedStatusCode(4, 3, 0), "internal delivery error")

    // What DSNs quote where the delivery's own reply is not theirs to show (`NotificationPolicy`).
    static let deliveryFailed = SMTPReply(550, EnhancedStatusCode(5, 0, 0), "delivery failed")
    static let delivered = SMTPReply(250, EnhancedStatusCode(2, 0, 0), "delivered")
    static let forwardedDeliveryFailed = SMTPReply(
        550, EnhancedStatusCode(5, 0, 0), "delivery to an address it forwards to failed")
    static let forwardedDeliveryDelayed = SMTPReply(
        451, EnhancedStatusCode(4, 0, 0), "delivery to an address it forwards to is delayed")
}
