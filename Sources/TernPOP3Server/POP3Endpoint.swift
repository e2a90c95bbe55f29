public import Logging
public import NIOCore
public import NIOSSL
public import TernAccess
public import TernPOP3Core
public import TernNet
import TernSASL

/// One POP3 listener's role and everything its sessions need. `initializeConnection` is the
/// channel initializer handed to `TernNet.Listener`.
public struct POP3Endpoint: Sendable {
    /// RFC 1939 (110, with STLS of RFC 2595) and RFC 8314 (995, implicit TLS).
    public enum Role: String, Sendable, CaseIterable {
        case pop3
        case pop3s
    }

    public struct Configuration: Sendable {
        public var session: POP3ServerSession.Configuration
        /// RFC 1939 §3: an inactivity autologout timer "MUST be of at least 10 minutes' duration".
        public var autologout: TimeAmount
        /// Failed logins after which each further answer is delayed by `errorDelay`.
        public var softErrorLimit: Int
        public var errorDelay: TimeAmount

        public init(
            session: POP3ServerSession.Configuration = .init(), autologout: TimeAmount = .minutes(10), softErrorLimit: Int = 3,
            errorDelay: TimeAmount = .seconds(1)
        ) {
            self.session = session
            self.autologout = autologout
            self.softErrorLimit = softErrorLimit
            self.errorDelay = errorDelay
        }
    }

    public let role: Role
    public let configuration: Configuration
    public let access: any MailAccess
    public let tls: NIOSSLContext?
    public let limiter: ConnectionLimiter
    /// Sessions per logged-in user, shared with the IMAP listeners.
    public let userSessions: UserSessionLimiter
    /// The maildrops POP3 sessions hold, shared by every POP3 listener.
    public let maildropLocks: MaildropLocks
    public let logger: Logger

    public init(
        role: Role, configuration: Configuration, access: any MailAccess, tls: NIOSSLContext?, limiter: ConnectionLimiter,
        userSessions: UserSessionLimiter, maildropLocks: MaildropLocks, logger: Logger
    ) {
        var configuration = configuration
        configuration.session.implicitTLS = role == .pop3s
        configuration.session.startTLSAvailable = tls != nil && role == .pop3
        if !access.offersSCRAM {
            configuration.session.authenticationMechanisms.removeAll { $0 == .scramSHA256 }
        }
        self.role = role
        self.configuration = configuration
        self.access = access
        self.tls = tls
        self.limiter = limiter
        self.userSessions = userSessions
        self.maildropLocks = maildropLocks
        self.logger = logger
    }

    /// How the start-up line describes the listener's TLS.
    public var tlsMode: String {
        if role == .pop3s { return "implicit" }
        return tls == nil ? "none" : "starttls"
    }

    /// Sets up one accepted connection: TLS first on an implicit-TLS port, then the session.
    public func initializeConnection(_ channel: any Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            if role == .pop3s, let tls {
                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
            }
            let connection = ServerConnection(
                driver: POP3Session(endpoint: self),
                configuration: ServerConnection.Configuration(tls: tls, implicitTLS: role == .pop3s, limiter: limiter),
                logger: logger)
            try channel.pipeline.syncOperations.addHandler(connection)
        }
    }
}
