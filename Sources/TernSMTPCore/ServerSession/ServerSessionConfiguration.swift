public import TernMail
public import TernSASL

extension ServerSessionStateMachine {
    /// The limits and capabilities of one server session. Defaults follow RFC 5321 §4.5.3.1
    /// and common MTA practice (Postfix's smtpd_* parameters).
    public struct Configuration: Sendable, Hashable {
        /// The name in the greeting, the EHLO reply and the Received header.
        public var hostname: String
        /// SIZE (RFC 1870): the largest message accepted, in octets. Default 50 MiB.
        public var maximumMessageSize: Int
        /// Recipients per message (§4.5.3.1.8: at least 100). Default 1000.
        public var maximumRecipients: Int
        /// Command line length including CRLF (§4.5.3.1.4). Default 512; MAIL and RCPT get
        /// `Limits.commandLineExtension` more for their ESMTP parameters.
        public var commandLineLimit: Int
        /// Text line length in DATA including CRLF (§4.5.3.1.6). Default 1000; 0 disables.
        public var textLineLimit: Int
        /// Error replies per session before `421` and close. Default 20.
        public var maximumErrors: Int
        /// Commands outside a mail transaction before `421` and close. Default 100.
        public var maximumCommandsWithoutTransaction: Int
        /// Received fields a message may carry before it is refused as a loop (RFC 5321 §6.3;
        /// Postfix's hopcount_limit). Default 50.
        public var maximumHops: Int
        /// SASL mechanisms offered with AUTH (RFC 4954), in order; empty: no AUTH. Default none.
        public var authenticationMechanisms: [SASLCredentials.Mechanism] = []
        /// Offer and accept AUTH only under TLS (RFC 4954 §4, §14: a password in cleartext is
        /// a password given away). Default true.
        public var authenticationRequiresTLS = true
        /// MAIL only after AUTH: the submission roles (RFC 6409 §4.3). Default false.
        public var requiresAuthentication = false
        /// MAIL only under TLS: submission on 587 (RFC 8314 §3.3). Default false.
        public var requiresTLS = false
        /// Close an unauthenticated session that sends more commands after EHLO or HELO
        /// before their reply (RFC 2920 §3.1: EHLO ends a group; Postfix's
        /// `smtpd_forbid_unauth_pipelining`, which stops spam engines that write blind).
        /// Default false.
        public var forbidsPipeliningAfterGreeting = false
        /// Whether STARTTLS can be offered (a TLS context exists).
        public var startTLSAvailable: Bool
        /// Whether the connection is TLS from the first byte (RFC 8314 implicit TLS).
        public var implicitTLS: Bool

        public init(
            hostname: String,
            maximumMessageSize: Int = 50 * 1024 * 1024,
            maximumRecipients: Int = 1000,
            commandLineLimit: Int = Limits.commandLine,
            textLineLimit: Int = Limits.textLine,
            maximumErrors: Int = 20,
            maximumCommandsWithoutTransaction: Int = 100,
            maximumHops: Int = 50,
            startTLSAvailable: Bool = false,
            implicitTLS: Bool = false
        ) {
            self.hostname = hostname
            self.maximumMessageSize = maximumMessageSize
            self.maximumRecipients = maximumRecipients
            self.commandLineLimit = commandLineLimit
            self.textLineLimit = textLineLimit
            self.maximumErrors = maximumErrors
            self.maximumCommandsWithoutTransaction = maximumCommandsWithoutTransaction
            self.maximumHops = maximumHops
            self.startTLSAvailable = startTLSAvailable
            self.implicitTLS = implicitTLS
        }
    }
}
