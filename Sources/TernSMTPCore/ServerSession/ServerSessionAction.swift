public import NIOCore
public import TernSASL
public import TernMail

extension ServerSessionStateMachine {
    /// What the driver must do next. Actions come in order; the driver executes them in that
    /// order (a reply before the `startTLS` that follows it, a reply before `close`).
    public enum Action: Hashable, Sendable {
        /// Write this reply. The driver flushes when the input batch is processed (RFC 2920
        /// §3.1: replies to a pipelined group may be sent together).
        case sendReply(SMTPReply)
        /// Decide whether this sender is acceptable, then call `policyDecided(_:)`. Input that
        /// arrives meanwhile is held, so pipelined commands keep their order.
        case checkSender(ReversePath, MailParameters)
        /// Decide whether this recipient is acceptable, then call `policyDecided(_:)`.
        case checkRecipient(ForwardPath, RecipientParameters)
        /// Open a new message for this envelope (the store's `begin`). Body chunks follow.
        case beginMessage(MessageStart)
        /// Append these octets (already dot-unstuffed) to the open message.
        case appendBody(ByteBuffer)
        /// The body is complete: make the message durable, then call `messageCommitted(_:)`
        /// or `messageCommitFailed(_:)`. Nothing is replied before that (250 means durable).
        case commitMessage
        /// Discard the open message: the transaction failed or was abandoned.
        case abortMessage
        /// Start the TLS handshake now, after writing the reply before this action. Nothing
        /// read in cleartext after the STARTTLS line is ever processed (CVE-2011-0411).
        case startTLS
        /// Check these credentials (the directory, a password hash), then call
        /// `authenticationDecided(_:)`. Input that arrives meanwhile is held.
        case authenticate(SASLCredentials)
        /// Hand this client response to the challenge–response mechanism the driver runs
        /// (SCRAM-SHA-256; `isFirst` starts a new exchange), then call
        /// `authenticationDecided(_:)`: `.challenge` to send and await the next response, or an
        /// outcome. Input that arrives meanwhile is held.
        case continueAuthentication(SASLCredentials.Mechanism, [UInt8], isFirst: Bool)
        /// Flush what was written and close the connection.
        case close
    }

    /// The answer to `authenticate` and `continueAuthentication`.
    public enum AuthenticationDecision: Hashable, Sendable {
        /// Send this challenge (334) and wait for the client's next response.
        case challenge([UInt8])
        /// The client's message breaks the mechanism's grammar: 501 5.5.2.
        case malformed
        /// The credentials are good: the session acts as this user from now on.
        case accepted(user: String)
        /// Wrong user name or password, a disabled account, a refused authzid: 535 5.7.8.
        case rejected
        /// The check could not be made (the directory is down): 454 4.7.0.
        case temporaryFailure
    }

    /// What the driver needs to open a message: the envelope and the facts for its Received
    /// header (RFC 5321 §4.4).
    public struct MessageStart: Hashable, Sendable {
        public var envelope: Envelope
        /// The EHLO/HELO argument, validated by the parser.
        public var clientName: String
        /// The `with` clause: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, UTF8SMTP, UTF8SMTPS,
        /// UTF8SMTPA, UTF8SMTPSA (RFC 3848, RFC 6531 §3.7.3).
        public var receivedProtocol: String
        /// The user the client authenticated as (SMTP AUTH), if it did.
        public var authenticatedUser: String?

        public init(envelope: Envelope, clientName: String, receivedProtocol: String, authenticatedUser: String? = nil) {
            self.envelope = envelope
            self.clientName = clientName
            self.receivedProtocol = receivedProtocol
            self.authenticatedUser = authenticatedUser
        }
    }

    /// The answer to `checkSender` or `checkRecipient` (or a message check of the driver's).
    public enum PolicyDecision: Hashable, Sendable {
        case accept
        /// Refused with this reply; a `421` also ends the session (RFC 5321 §3.8).
        case reject(SMTPReply)
        /// The connection closes without a reply, as a failing network would (the catcher's
        /// failure injection).
        case disconnect
    }
}
