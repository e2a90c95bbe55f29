public import NIOCore
public import TernMail

extension ClientSessionStateMachine {
    /// What the driver must do next, in order.
    public enum Action: Hashable, Sendable {
        /// Write these octets. The driver flushes when it has executed the batch.
        case write(ByteBuffer)
        /// Start the TLS handshake now, then call `tlsEstablished()` or `tlsFailed()`.
        /// Octets the server sent in cleartext after its 220 are already discarded
        /// (CVE-2011-0411, response injection); nothing read before the handshake completes
        /// is used.
        case startTLS
        /// Read the next chunk of the current message's body and pass it to `bodyChunk(_:)`,
        /// or call `bodyEnd()` when the body is complete. Exactly one request is open at a
        /// time, and every request must be answered — even after a failure, which the machine
        /// reports only once the request is answered, so no chunk can reach the wrong message.
        case requestBodyChunk
        /// The message given to `send(_:)` is finished: one result per recipient. The
        /// connection may take another message (`send(_:)`) or be ended (`finish()`).
        case reportDelivery(DeliveryReport)
        /// The session cannot go on: why, for the log and for the choice of the next attempt
        /// (another MX host, a cleartext retry). Any message on it was reported just before.
        case reportSessionFailure(SessionFailure)
        /// Close the connection (after writing what came before).
        case close
    }

    /// The command a reply answered: for logs and DSNs ("in reply to RCPT TO command").
    public enum Stage: Hashable, Sendable, CustomStringConvertible {
        case connection, greeting, hello, startTLS, authentication, mail, recipient, data, endOfData, bdat, reset

        public var description: String {
            switch self {
            case .connection: "connection"
            case .greeting: "initial greeting"
            case .hello: "EHLO/HELO command"
            case .startTLS: "STARTTLS command"
            case .authentication: "AUTH command"
            case .mail: "MAIL FROM command"
            case .recipient: "RCPT TO command"
            case .data: "DATA command"
            case .endOfData: "end of DATA command"
            case .bdat: "BDAT command"
            case .reset: "RSET command"
            }
        }
    }

    /// What became of one recipient on this attempt (RFC 5321 §4.2.1, §4.5.4.1).
    public enum RecipientOutcome: Hashable, Sendable {
        /// The server took responsibility for the message (2yz after the end of data).
        case delivered(SMTPReply)
        /// A temporary failure (4yz, or a connection problem): try again later.
        case deferred(SMTPReply)
        /// A permanent failure (5yz): return the message to the sender (one DSN).
        case failed(SMTPReply)

        public var reply: SMTPReply {
            switch self {
            case .delivered(let reply), .deferred(let reply), .failed(let reply): reply
            }
        }

        /// 2yz delivers, 4yz defers, 5yz fails (3yz never reaches here).
        init(_ reply: SMTPReply) {
            switch reply.code.rawValue / 100 {
            case 2: self = .delivered(reply)
            case 5: self = .failed(reply)
            default: self = .deferred(reply)
            }
        }
    }

    /// One recipient's result.
    public struct RecipientResult: Hashable, Sendable {
        public var recipient: EnvelopeRecipient
        public var outcome: RecipientOutcome
        /// The command whose reply decided it.
        public var stage: Stage
        /// Tern made the reply up (a check before sending, a lost connection, a timeout):
        /// the server never said it. DSNs must not quote it as the remote server's words.
        public var isLocal: Bool

        public init(recipient: EnvelopeRecipient, outcome: RecipientOutcome, stage: Stage, isLocal: Bool) {
            self.recipient = recipient
            self.outcome = outcome
            self.stage = stage
            self.isLocal = isLocal
        }
    }

    /// The result of one `send(_:)`.
    public struct DeliveryReport: Hashable, Sendable {
        /// One result per envelope recipient, in envelope order.
        public var recipients: [RecipientResult]
        /// The message went (or would have gone) over TLS.
        public var tls: Bool
        /// The server offered DSN, so NOTIFY, ORCPT, RET and ENVID were passed on. When false
        /// and a recipient asked for NOTIFY=SUCCESS, the queue owes the sender a "relayed"
        /// DSN (RFC 3461 §5.2.2).
        public var remoteSupportsDSN: Bool
        /// An 8-bit body went to a server that does not offer 8BITMIME
        /// (`EightBitFallback.sendAsIs`).
        public var sentEightBitWithout8BITMIME: Bool
        /// Line endings repaired to CRLF while sending with DATA (`DotStuffer`).
        public var repairedLineEndings: Int

        public init(
            recipients: [RecipientResult], tls: Bool = false, remoteSupportsDSN: Bool = false,
            sentEightBitWithout8BITMIME: Bool = false, repairedLineEndings: Int = 0
        ) {
            self.recipients = recipients
            self.tls = tls
            self.remoteSupportsDSN = remoteSupportsDSN
            self.sentEightBitWithout8BITMIME = sentEightBitWithout8BITMIME
            self.repairedLineEndings = repairedLineEndings
        }
    }

    /// Why a session ended before its time.
    public struct SessionFailure: Hashable, Sendable {
        public enum Reason: Hashable, Sendable {
            /// The greeting was not 2yz (a 554 means "no SMTP service here", §3.1; Postfix's
            /// smtp_skip_5xx_greeting treats it as a reason to try the next MX).
            case greetingRefused
            /// EHLO (and HELO after it) were refused.
            case helloRefused
            /// `TLSPolicy.required`, and STARTTLS was not offered or was refused.
            case tlsUnavailable
            /// The TLS handshake failed.
            case tlsHandshakeFailed
            /// Credentials are configured, and AUTH cannot be used: no TLS (and the
            /// configuration requires it), or no mechanism Tern knows.
            case authenticationUnavailable
            /// The server refused the credentials or the exchange.
            case authenticationFailed
            /// The server greeted with this host's own name: delivering would loop.
            case loopsBackToThisHost
            /// The server said 421: it is closing the connection (§3.8).
            case serviceClosing
            /// The octets from the server are not SMTP replies.
            case malformedReply(ReplyParser.Failure)
            /// A reply came that no command asked for, or of a class that makes no sense for
            /// its command (a 250 to DATA, a reply in the middle of the DATA content).
            case unexpectedReply
            /// No progress within the timeout of this phase.
            case timedOut(Timeout.Phase)
            /// The connection closed or broke.
            case connectionLost
        }

        public var reason: Reason
        /// The reply every message on the session got: the server's (greeting, EHLO, 421),
        /// or one Tern made up (`isLocal`); always 4yz, except for a mail loop (5.4.6).
        public var reply: SMTPReply
        public var isLocal: Bool
        /// Opportunistic STARTTLS failed in the handshake: a new connection without STARTTLS
        /// may succeed, if the driver's policy allows cleartext.
        public var mayRetryWithoutTLS: Bool

        public init(reason: Reason, reply: SMTPReply, isLocal: Bool, mayRetryWithoutTLS: Bool = false) {
            self.reason = reason
            self.reply = reply
            self.isLocal = isLocal
            self.mayRetryWithoutTLS = mayRetryWithoutTLS
        }
    }
}
