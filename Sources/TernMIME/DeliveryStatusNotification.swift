public import TernMail

/// A delivery status notification (RFC 3464, in an RFC 6522 multipart/report), sent with the
/// null reverse path to the original sender: when deliveries fail for good, when they are
/// still being retried after the delay-warning time, or when they succeeded and the sender
/// asked for that with NOTIFY=SUCCESS (RFC 3461 §4.1).
///
/// The report has three parts: a human-readable explanation, the `message/delivery-status`
/// with one block per recipient, and the returned message. A failure report returns it whole
/// (`message/rfc822`) when the sender asked for `RET=FULL` or did not say and it is small
/// enough (Postfix's bounce_size_limit); otherwise, and in every other report, only its
/// header section (`text/rfc822-headers`).
public struct DeliveryStatusNotification: Sendable {
    /// What happened to the recipients of one report (RFC 3464 §2.3.3 `Action`).
    public enum Action: String, Sendable, Hashable {
        case failed
        case delayed
        case delivered
        /// Handed to a server that does not offer DSN (RFC 3461 §6.2.2): it was delivered as
        /// far as Tern can see, and nobody will report more.
        case relayed
    }

    /// One recipient.
    public struct Recipient: Sendable, Hashable {
        /// The final recipient (after alias expansion).
        public var recipient: String
        /// ORCPT as the client gave it (`rfc822;xtext`), if it did.
        public var originalRecipient: OriginalRecipient?
        /// The reply that made it final (or the last one, for a delay), e.g. `550 5.1.1 no such user`.
        public var reply: SMTPReply
        /// The host that gave the reply, for `Remote-MTA`.
        public var remoteMTA: String?

        public init(
            recipient: String, originalRecipient: OriginalRecipient? = nil, reply: SMTPReply, remoteMTA: String? = nil
        ) {
            self.recipient = recipient
            self.originalRecipient = originalRecipient
            self.reply = reply
            self.remoteMTA = remoteMTA
        }

        /// The RFC 3463 code of the reply, or the generic one of its class (RFC 3463 §3.1).
        var status: String {
            reply.enhancedCodeOrGeneric.description
        }
    }

    /// The largest original message returned whole; bigger ones return their headers.
    public static let returnedMessageLimit = 50_000

    public var reportingMTA: String
    public var queueID: String
    public var envelopeID: String?
    public var arrivalDate: Int64
    public var recipients: [Recipient]
    public var dsnReturn: DSNReturn?
    public var action: Action
    /// For delay reports: when Tern gives up (RFC 3464 §2.3.9 `Will-Retry-Until`).
    public var willRetryUntil: Int64?

    public init(
        reportingMTA: String, queueID: String, envelopeID: String?, arrivalDate: Int64, recipients: [Recipient],
        dsnReturn: DSNReturn?, action: Action = .failed, willRetryUntil: Int64? = nil
    ) {
        self.action = action
        self.willRetryUntil = willRetryUntil
        self.reportingMTA = reportingMTA
        self.queueID = queueID
        self.envelopeID = envelopeID
        self.arrivalDate = arrivalDate
        self.recipients = recipients
        self.dsnReturn = dsnReturn
    }

    /// The report as a complete message (CRLF line ends), addressed to `sender`.
    /// - Parameters:
    ///   - original: the original message, or as much of it as the caller read.
    ///   - now: seconds since 1970, for Date and Last-Attempt-Date.
    ///   - boundary: the MIME boundary (random in production; fixed in tests).
    public func render(to sender: String, original: [UInt8], now: Int64, boundary: String) -> [UInt8] {
        let date = MessageDate.format(secondsSince1970: now)
        var text = ""
        text += "From: Mail Delivery System <MAILER-DAEMON@\(reportingMTA)>\r\n"
        text += "To: <\(sender)>\r\n"
        switch action {
        case .failed: text += "Subject: Undelivered Mail Returned to Sender\r\n"
        case .delayed: text += "Subject: Delayed Mail (still being retried)\r\n"
        case .delivered, .relayed: text += "Subject: Successful Mail Delivery Report\r\n"
        }
        text += "Date: \(date)\r\n"
        text += "Message-ID: <\(queueID).\(boundary.suffix(8))@\(reportingMTA)>\r\n"
        // RFC 3834 §5: an automatic reply must say so, so that it is never answered in turn.
        text += "Auto-Submitted: auto-replied\r\n"
        text += "MIME-Version: 1.0\r\n"
        text += "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"\(boundary)\"\r\n"
        text += "\r\n"
        text += "This is a MIME-encapsulated message.\r\n\r\n"

        text += "--\(boundary)\r\n"
        text += "Content-Description: Notification\r\n"
        text += "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        text += "This is the mail system at host \(reportingMTA).\r\n\r\n"
        switch action {
        case .failed:
            text += "Your message could not be delivered to one or more recipients.\r\n"
            text += "It is attached below.\r\n\r\n"
        case .delayed:
            text += "Your message could not be delivered yet; the mail system keeps trying.\r\n"
            if let willRetryUntil {
                text += "It gives up after \(MessageDate.format(secondsSince1970: willRetryUntil)).\r\n"
            }
            text += "You do not need to send it again.\r\n\r\n"
        case .delivered:
            text += "Your message was delivered to the recipients below, as you asked.\r\n\r\n"
        case .relayed:
            text += "Your message was passed on to the recipients' mail servers below, as you asked.\r\n"
            text += "Those servers do not send delivery reports, so this is the last you will hear.\r\n\r\n"
        }
        for recipient in recipients {
            text += "<\(recipient.recipient)>: \(recipient.reply.storedLine)\r\n"
        }
        text += "\r\n"

        text += "--\(boundary)\r\n"
        text += "Content-Description: Delivery report\r\n"
        // RFC 6533 §6: a report naming a non-ASCII address is message/global-delivery-status,
        // whose fields may carry UTF-8, and such addresses have the type utf-8.
        let global = recipients.contains { $0.recipient.utf8.contains { $0 >= 0x80 } }
        text += "Content-Type: message/\(global ? "global-" : "")delivery-status\r\n\r\n"
        // RFC 3464 §2.2: per-message fields.
        text += "Reporting-MTA: dns; \(reportingMTA)\r\n"
        text += "X-Tern-Queue-ID: \(queueID)\r\n"
        if let envelopeID, let decoded = XTextDecoding.decode(envelopeID) { text += "Original-Envelope-Id: \(decoded)\r\n" }
        text += "Arrival-Date: \(MessageDate.format(secondsSince1970: arrivalDate))\r\n"
        // RFC 3464 §2.3: per-recipient fields, each block after an empty line.
        for recipient in recipients {
            text += "\r\n"
            let addressType = recipient.recipient.utf8.contains { $0 >= 0x80 } ? "utf-8" : "rfc822"
            text += "Final-Recipient: \(addressType); \(recipient.recipient)\r\n"
            if let original = recipient.originalRecipient, let decoded = XTextDecoding.decode(original.encodedAddress) {
                text += "Original-Recipient: \(original.addressType); \(decoded)\r\n"
            }
            text += "Action: \(action.rawValue)\r\n"
            text += "Status: \(action == .delivered || action == .relayed ? "2.0.0" : recipient.status)\r\n"
            if let remote = recipient.remoteMTA { text += "Remote-MTA: dns; \(remote)\r\n" }
            text += "Diagnostic-Code: smtp; \(Self.oneLine(recipient.reply.storedLine))\r\n"
            text += "Last-Attempt-Date: \(date)\r\n"
            if action == .delayed, let willRetryUntil {
                text += "Will-Retry-Until: \(MessageDate.format(secondsSince1970: willRetryUntil))\r\n"
            }
        }
        text += "\r\n"

        let headersOnly = action != .failed || dsnReturn == .headers || original.count > Self.returnedMessageLimit
        text += "--\(boundary)\r\n"
        text += "Content-Description: \(headersOnly ? "Undelivered message headers" : "Undelivered message")\r\n"
        text += "Content-Type: \(headersOnly ? "text/rfc822-headers" : "message/rfc822")\r\n\r\n"
        var bytes = Array(text.utf8)
        var returned = headersOnly ? Self.headerSection(of: original) : original
        if !returned.isEmpty, returned.suffix(2) != [13, 10] { returned += [13, 10] }
        bytes += returned
        bytes += Array("\r\n--\(boundary)--\r\n".utf8)
        return bytes
    }

    /// The header section: everything up to and including the first empty line.
    static func headerSection(of message: [UInt8]) -> [UInt8] {
        var index = 0
        while index + 3 < message.count {
            if message[index] == 13, message[index + 1] == 10, message[index + 2] == 13, message[index + 3] == 10 {
                return Array(message[..<(index + 2)])
            }
            index += 1
        }
        return Array(message.prefix(returnedMessageLimit))
    }

    /// Replies are one line in a DSN field: control characters become spaces.
    /// A field value on one line, in US-ASCII as RFC 3464 §2.1.2 requires: control characters
    /// become spaces, anything else outside ASCII `?`.
    static func oneLine(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0.value > 0x7F ? "?" : Character($0) })
    }
}

/// xtext (RFC 3461 §4) decoding for DSN fields; nil when the value is not xtext or decodes to
/// a control character (nothing may break a header line).
enum XTextDecoding {
    static func decode(_ text: String) -> String? {
        var output: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "+") {
                guard let high = iterator.next(), let low = iterator.next(), let value = hex(high, low), value >= 0x20,
                    value != 0x7F
                else { return nil }
                output.append(value)
            } else {
                guard byte >= 0x21 else { return nil }
                output.append(byte)
            }
        }
        return String(validating: output, as: UTF8.self)
    }

    private static func hex(_ high: UInt8, _ low: UInt8) -> UInt8? {
        func digit(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        guard let high = digit(high), let low = digit(low) else { return nil }
        return high << 4 | low
    }
}
