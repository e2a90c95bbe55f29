public import Logging
public import NIOCore
public import NIOSSL
public import TernNet
public import TernSMTPCore
import TernSASL
public import TernStore
public import TernMail

/// One SMTP listener's role and everything its sessions need. `initializeConnection` is the
/// channel initializer handed to `TernNet.Listener`.
public struct SMTPEndpoint: Sendable {
    /// The listener roles of RFC 5321 (relay, port 25), RFC 6409 (submission, 587) and
    /// RFC 8314 (submission over implicit TLS, 465).
    public enum Role: String, Sendable, CaseIterable {
        case mx
        case submission
        case submissions
    }

    public struct Configuration: Sendable {
        public var session: ServerSessionStateMachine.Configuration
        /// Wait this long before the greeting; a client that talks first is refused
        /// (RFC 5321 §4.3.1; Postfix postscreen's pregreet test). Zero sends it at once.
        public var greetingDelay: TimeAmount
        /// RFC 5321 §4.5.3.2.7: at least 5 minutes waiting for the next command.
        public var commandTimeout: TimeAmount
        /// RFC 5321 §4.5.3.2.5-6: at least 3 minutes between data blocks, 10 for the end.
        public var dataTimeout: TimeAmount
        /// Error replies after which every further error reply is delayed by `errorDelay`.
        public var softErrorLimit: Int
        public var errorDelay: TimeAmount
        /// On the submission roles, add a missing Message-ID and Date (RFC 6409 §8.2, §8.3)
        /// and check From: and Sender: against what the user may send as (§8.1). Off in dev
        /// mode: the catcher shows messages exactly as the application sent them.
        public var fixesSubmittedMessages = false
        /// Submission roles for development on loopback: AUTH and mail without TLS.
        public var allowsCleartextAuthentication = false
        /// On the mx role, close an unauthenticated session that pipelines commands after
        /// EHLO or HELO (Postfix's `smtpd_forbid_unauth_pipelining`). Off in dev mode, where
        /// the clients are the developer's own programs.
        public var forbidsUnauthenticatedPipelining = false

        public init(
            session: ServerSessionStateMachine.Configuration,
            greetingDelay: TimeAmount = .zero,
            commandTimeout: TimeAmount = .minutes(5),
            dataTimeout: TimeAmount = .minutes(10),
            softErrorLimit: Int = 10,
            errorDelay: TimeAmount = .seconds(1)
        ) {
            self.softErrorLimit = softErrorLimit
            self.errorDelay = errorDelay
            self.session = session
            self.greetingDelay = greetingDelay
            self.commandTimeout = commandTimeout
            self.dataTimeout = dataTimeout
        }
    }

    public let role: Role
    public let configuration: Configuration
    public let store: any MessageStore
    public let policy: any SMTPPolicy
    public let tls: NIOSSLContext?
    public let limiter: ConnectionLimiter
    public let logger: Logger
    /// For queue IDs and Received headers.
    public let clock: WallClock
    /// DKIM checks on the mx role, DKIM signing on the submission roles; nil for neither.
    public let authentication: MessageAuthentication?
    let metrics: SMTPMetrics
    /// What this listener accepted and refused, added to the server's tally.
    let tally: SMTPTally?

    public init(
        role: Role, configuration: Configuration, store: any MessageStore, policy: any SMTPPolicy,
        tls: NIOSSLContext?, limiter: ConnectionLimiter, logger: Logger, clock: WallClock = .system,
        authentication: MessageAuthentication? = nil, tally: SMTPTally? = nil
    ) {
        self.role = role
        self.tally = tally
        var configuration = configuration
        configuration.session.implicitTLS = role == .submissions
        configuration.session.startTLSAvailable = tls != nil && role != .submissions
        configuration.session.forbidsPipeliningAfterGreeting =
            role == .mx && configuration.forbidsUnauthenticatedPipelining
        if role != .mx {
            // RFC 6409 §4.3 and RFC 8314 §3: submission is for users who log in, over TLS.
            configuration.session.requiresAuthentication = true
            configuration.session.requiresTLS = !configuration.allowsCleartextAuthentication
            configuration.session.authenticationRequiresTLS = !configuration.allowsCleartextAuthentication
            if configuration.session.authenticationMechanisms.isEmpty {
                configuration.session.authenticationMechanisms = [.plain, .login, .scramSHA256]
            }
        }
        self.configuration = configuration
        self.store = store
        self.policy = policy
        self.tls = tls
        self.limiter = limiter
        self.logger = logger
        self.clock = clock
        self.authentication = authentication
        self.metrics = SMTPMetrics(listener: role.rawValue)
    }

    /// How the start-up line describes the listener's TLS.
    public var tlsMode: String {
        if role == .submissions { return "implicit" }
        return tls == nil ? "none" : "starttls"
    }

    /// Sets up one accepted connection: TLS first on an implicit-TLS port, then the session.
    public func initializeConnection(_ channel: any Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            if role == .submissions, let tls {
                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
            }
            let connection = ServerConnection(
                driver: SMTPSession(endpoint: self),
                configuration: ServerConnection.Configuration(
                    greetingDelay: configuration.greetingDelay, tls: tls, implicitTLS: role == .submissions,
                    limiter: limiter),
                logger: logger)
            try channel.pipeline.syncOperations.addHandler(connection)
        }
    }
}
