extension ClientSessionStateMachine {
    /// How one outbound connection behaves. Defaults follow RFC 5321 §4.5.3.2 and common MTA
    /// practice (Postfix's smtp_* parameters).
    public struct Configuration: Sendable, Hashable {
        /// The name sent with EHLO/HELO: this host's fully qualified domain name (§4.1.1.1).
        /// It comes from the operator's configuration and is sent as it is.
        public var hostname: String
        /// When to use STARTTLS. Default `.opportunistic`.
        public var tlsPolicy: TLSPolicy
        /// Whether the connection is TLS from the first byte (RFC 8314 implicit TLS, port 465
        /// smarthosts): no STARTTLS then, and `tlsPolicy` is met. Default false.
        public var implicitTLS: Bool
        /// What to do with an 8-bit body when the server does not offer 8BITMIME. Default
        /// `.sendAsIs`.
        public var eightBitFallback: EightBitFallback
        /// Send the body with BDAT when the server offers CHUNKING (RFC 3030), even when it
        /// is not binary. Default true. A BINARYMIME body always needs BDAT.
        public var prefersChunking: Bool
        /// Send MAIL and every RCPT in one batch when the server offers PIPELINING (RFC 2920).
        /// Default true.
        public var usesPipelining: Bool
        /// The bounds on each server reply (hostile-inputs 36).
        public var replyLimits: ReplyParser.Limits
        /// How long each wait may last.
        public var timeouts: Timeouts
        /// Log in with AUTH (RFC 4954, PLAIN or LOGIN) after EHLO: for relay hosts that want
        /// it. Default nil (no AUTH).
        public var credentials: Credentials?
        /// Send credentials only over TLS. Default true; turning it off exposes the password
        /// to anyone on the path.
        public var authenticationRequiresTLS: Bool

        public init(
            hostname: String,
            tlsPolicy: TLSPolicy = .opportunistic,
            implicitTLS: Bool = false,
            eightBitFallback: EightBitFallback = .sendAsIs,
            prefersChunking: Bool = true,
            usesPipelining: Bool = true,
            replyLimits: ReplyParser.Limits = .init(),
            timeouts: Timeouts = .init(),
            credentials: Credentials? = nil,
            authenticationRequiresTLS: Bool = true
        ) {
            self.credentials = credentials
            self.authenticationRequiresTLS = authenticationRequiresTLS
            self.hostname = hostname
            self.tlsPolicy = tlsPolicy
            self.implicitTLS = implicitTLS
            self.eightBitFallback = eightBitFallback
            self.prefersChunking = prefersChunking
            self.usesPipelining = usesPipelining
            self.replyLimits = replyLimits
            self.timeouts = timeouts
        }
    }

    /// A user name and password for AUTH with a relay host.
    public struct Credentials: Sendable, Hashable, CustomStringConvertible {
        public var username: String
        public var password: String

        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }

        /// The user name only: credentials must never reach a log.
        public var description: String { "\(username) (password hidden)" }
    }

    /// STARTTLS use (RFC 3207; RFC 7435 for opportunistic security).
    public enum TLSPolicy: Hashable, Sendable {
        /// Never send STARTTLS.
        case none
        /// Use STARTTLS when the server offers it. If the server refuses the command, the
        /// session goes on in cleartext. If the handshake fails the connection is lost, and the
        /// session failure says `mayRetryWithoutTLS`: the driver may try again in cleartext
        /// on a new connection (policy `.none`), as Postfix's `smtp_tls_security_level = may`.
        case opportunistic
        /// Deliver only over TLS: no STARTTLS offered, a refused STARTTLS or a failed
        /// handshake defer every message (`4.7.4` / `4.7.5`).
        case required
    }

    /// What happens to an 8-bit body (`BODY=8BITMIME`) when the server does not offer 8BITMIME
    /// (RFC 6152 §3 asks the client to convert it, return it, or — in practice — send it).
    public enum EightBitFallback: Hashable, Sendable {
        /// Send it without a BODY parameter and say so in the report
        /// (`DeliveryReport.sentEightBitWithout8BITMIME`).
        ///
        /// Why this is the default: converting to quoted-printable would break the DKIM
        /// signature made before sending, nearly every server of the last twenty years takes
        /// 8-bit octets whether it says so or not, and refusing would bounce mail that
        /// arrives fine. Postfix (for non-MIME mail) and Exim do the same.
        case sendAsIs
        /// Refuse the message for every recipient: `554 5.6.3` (conversion required but not
        /// supported, RFC 3463).
        case refuse
    }

    /// The timeouts of RFC 5321 §4.5.3.2, and ones it leaves open. The machine has no clock:
    /// it names the timeout in force (`ClientSessionStateMachine.timeout`) and the driver
    /// runs the timer.
    public struct Timeouts: Sendable, Hashable {
        /// §4.5.3.2.1, initial 220 message: 5 minutes.
        public var greeting: Duration
        /// The EHLO or HELO reply: 5 minutes, as Postfix's smtp_helo_timeout.
        public var hello: Duration
        /// The STARTTLS reply and the handshake after it: 5 minutes (smtp_starttls_timeout).
        public var startTLS: Duration
        /// §4.5.3.2.2, MAIL: 5 minutes.
        public var mail: Duration
        /// §4.5.3.2.3, RCPT: 5 minutes.
        public var recipient: Duration
        /// §4.5.3.2.4, DATA initiation (the 354): 2 minutes.
        public var dataInitiation: Duration
        /// §4.5.3.2.5, data block: 3 minutes for each chunk of the body to be written (and
        /// for the reply to each BDAT chunk but the last).
        public var dataBlock: Duration
        /// §4.5.3.2.6, DATA termination (the reply to the final dot or to BDAT LAST):
        /// 10 minutes.
        public var dataTermination: Duration
        /// The RSET reply before the next message on the connection: 5 minutes.
        public var reset: Duration
        /// The QUIT reply: 5 minutes (smtp_quit_timeout).
        public var quit: Duration

        public init(
            greeting: Duration = .seconds(300),
            hello: Duration = .seconds(300),
            startTLS: Duration = .seconds(300),
            mail: Duration = .seconds(300),
            recipient: Duration = .seconds(300),
            dataInitiation: Duration = .seconds(120),
            dataBlock: Duration = .seconds(180),
            dataTermination: Duration = .seconds(600),
            reset: Duration = .seconds(300),
            quit: Duration = .seconds(300)
        ) {
            self.greeting = greeting
            self.hello = hello
            self.startTLS = startTLS
            self.mail = mail
            self.recipient = recipient
            self.dataInitiation = dataInitiation
            self.dataBlock = dataBlock
            self.dataTermination = dataTermination
            self.reset = reset
            self.quit = quit
        }

        func duration(of phase: Timeout.Phase) -> Duration {
            switch phase {
            case .greeting: greeting
            case .hello: hello
            case .startTLS, .tlsHandshake: startTLS
            // Each AUTH step is a short command exchange, like EHLO.
            case .authentication: hello
            case .mail: mail
            case .recipient: recipient
            case .dataInitiation: dataInitiation
            case .dataBlock: dataBlock
            case .dataTermination: dataTermination
            case .reset: reset
            case .quit: quit
            }
        }
    }

    /// The timeout in force: the wait it guards and how long it may last.
    ///
    /// Values compare equal only for the same wait: every step of progress (a complete reply,
    /// a body chunk written) makes a new value. The driver re-arms its timer whenever
    /// `ClientSessionStateMachine.timeout` differs from the value it armed, and calls
    /// `timedOut()` when the timer fires. Partial replies are not progress: a server that
    /// trickles one octet a minute still times out.
    public struct Timeout: Hashable, Sendable {
        public enum Phase: Hashable, Sendable {
            case greeting, hello, startTLS, tlsHandshake, authentication, mail, recipient
            case dataInitiation, dataBlock, dataTermination, reset, quit
        }

        public var phase: Phase
        public var duration: Duration
        /// Distinguishes successive waits in the same phase.
        let step: UInt64
    }
}
