import TernMail

// MARK: - Replies the client makes up
//
// When Tern's client decides a recipient's fate itself — a check before sending, a broken
// connection — it records the decision as a reply, so the queue and the DSN builder handle one
// shape (`RecipientResult.isLocal` tells them the server never said it). Codes follow RFC 5321
// §4.2.2 and RFC 3463; every connection-level problem is a 4yz, so the queue retries
// (hostile-inputs 35, 36).

extension SMTPReply {
    // Connection level: always temporary.
    static func clientTimeout(_ phase: ClientSessionStateMachine.Timeout.Phase) -> SMTPReply {
        SMTPReply(451, EnhancedStatusCode(4, 4, 2), "Timed out while waiting for \(phase.waitDescription)")
    }

    static let connectionLost = SMTPReply(
        451, EnhancedStatusCode(4, 4, 2), "Lost connection with the remote server")

    static func remoteProtocolError(_ detail: String) -> SMTPReply {
        SMTPReply(451, EnhancedStatusCode(4, 5, 0), "Remote protocol error: \(detail)")
    }

    static let tlsHandshakeFailed = SMTPReply(
        451, EnhancedStatusCode(4, 7, 5), "TLS handshake with the remote server failed")
    static let tlsNotOffered = SMTPReply(
        451, EnhancedStatusCode(4, 7, 4), "TLS is required, but the remote server does not offer STARTTLS")

    static func tlsRefused(_ reply: SMTPReply) -> SMTPReply {
        SMTPReply(
            451, EnhancedStatusCode(4, 7, 4), "TLS is required, but the remote server refused STARTTLS (\(reply.code))")
    }

    /// RFC 3463 X.4.6, routing loop detected: permanent, like Postfix's bounce.
    static let loopsBack = SMTPReply(
        554, EnhancedStatusCode(5, 4, 6), "Mail loops back to this host: the remote server has its name")

    static let authenticationNeedsTLS = SMTPReply(
        451, EnhancedStatusCode(4, 7, 4), "Authentication with the relay needs TLS, which the session does not have")
    static let noAuthenticationMechanism = SMTPReply(
        451, EnhancedStatusCode(4, 7, 4), "The relay offers no authentication mechanism Tern supports (PLAIN, LOGIN)")

    static func authenticationRefused(_ reply: SMTPReply) -> SMTPReply {
        SMTPReply(
            451, EnhancedStatusCode(4, 7, 8),
            "The relay refused the credentials: \(reply.code) \(reply.lines.joined(separator: " "))")
    }

    /// `send(message:)` while another message is in progress: a driver error; the queue tries
    /// the message again later.
    static let sessionBusy = SMTPReply(
        451, EnhancedStatusCode(4, 3, 0), "Internal error: the session is busy with another message")
    static let sessionClosed = SMTPReply(451, EnhancedStatusCode(4, 4, 0), "The session is closed")

    // Message level: what the remote server cannot take, decided before sending (permanent).
    static func remoteSizeLimit(_ limit: Int) -> SMTPReply {
        SMTPReply(
            552, EnhancedStatusCode(5, 3, 4),
            "Message size exceeds the fixed maximum of the remote server (\(limit) octets, RFC 1870)")
    }

    static let remoteLacksSMTPUTF8 = SMTPReply(
        553, EnhancedStatusCode(5, 6, 7),
        "The message needs SMTPUTF8, which the remote server does not offer (RFC 6531 section 3.2)")
    static let remoteLacksBinaryMIME = SMTPReply(
        554, EnhancedStatusCode(5, 6, 3),
        "Binary content needs CHUNKING and BINARYMIME, which the remote server does not offer (RFC 3030)")
    static let remoteLacks8BITMIME = SMTPReply(
        554, EnhancedStatusCode(5, 6, 3), "8-bit content, and the remote server does not offer 8BITMIME (RFC 6152)")
    static let unsendableSender = SMTPReply(553, EnhancedStatusCode(5, 1, 7), "Invalid sender address")
    static let unsendableRecipient = SMTPReply(553, EnhancedStatusCode(5, 1, 3), "Invalid recipient address")
}

extension ClientSessionStateMachine.Timeout.Phase {
    var waitDescription: String {
        switch self {
        case .greeting: "the initial greeting"
        case .hello: "the reply to EHLO/HELO"
        case .startTLS: "the reply to STARTTLS"
        case .tlsHandshake: "the TLS handshake"
        case .authentication: "the reply to AUTH"
        case .mail: "the reply to MAIL FROM"
        case .recipient: "the reply to RCPT TO"
        case .dataInitiation: "the reply to DATA"
        case .dataBlock: "the message content to be sent"
        case .dataTermination: "the reply to the end of data"
        case .reset: "the reply to RSET"
        case .quit: "the reply to QUIT"
        }
    }
}
