public import Logging
public import NIOCore
public import NIOSSL
public import TernAccess
public import TernIMAPCore
public import TernMail
public import TernNet
import TernSASL

/// One IMAP listener's role and everything its sessions need. `initializeConnection` is the
/// channel initializer handed to `TernNet.Listener`.
public struct IMAPEndpoint: Sendable {
    /// RFC 9051 §2.1 (143, STARTTLS) and RFC 8314 (993, implicit TLS).
    public enum Role: String, Sendable, CaseIterable {
        case imap
        case imaps
    }

    public struct Configuration: Sendable {
        public var session: IMAPServerSession.Configuration
        /// RFC 9051 §5.4: an authenticated client is logged out after at least 30 minutes of
        /// silence (IDLE clients re-issue IDLE every 29).
        public var autologout: TimeAmount
        /// Before login, a client gets less.
        public var loginTimeout: TimeAmount
        /// How often an IDLE session lists its mailbox to find other programs' changes (SMTP
        /// deliveries and other sessions in this process are reported at once).
        public var idlePollInterval: Duration
        /// Failed logins after which each further answer is delayed by `errorDelay`.
        public var softErrorLimit: Int
        public var errorDelay: TimeAmount

        public init(
            session: IMAPServerSession.Configuration = .init(), autologout: TimeAmount = .minutes(30),
            loginTimeout: TimeAmount = .minutes(3), idlePollInterval: Duration = .seconds(30),
            softErrorLimit: Int = 3, errorDelay: TimeAmount = .seconds(1)
        ) {
            self.session = session
            self.autologout = autologout
            self.loginTimeout = loginTimeout
            self.idlePollInterval = idlePollInterval
            self.softErrorLimit = softErrorLimit
            self.errorDelay = errorDelay
        }
    }

    /// What IMAP advertises once a client logged in (RFC 9051 §7.2.2 and the extensions Tern
    /// implements); APPENDLIMIT (RFC 7889) is the framer's literal limit.
    public static func capabilities(appendLimit: Int) -> [String] {
        [
            "IDLE", "NAMESPACE", "UNSELECT", "UIDPLUS", "MOVE", "ESEARCH", "SEARCHRES", "LIST-EXTENDED", "LIST-STATUS",
            "SPECIAL-USE", "STATUS=SIZE", "QUOTA", "QUOTA=RES-STORAGE", "CONDSTORE", "QRESYNC",
            "APPENDLIMIT=\(appendLimit)",
        ]
    }

    public let role: Role
    public let configuration: Configuration
    public let access: any MailAccess
    public let tls: NIOSSLContext?
    public let limiter: ConnectionLimiter
    /// Sessions per logged-in user, shared by every IMAP listener.
    public let userSessions: UserSessionLimiter
    public let logger: Logger
    public let clock: WallClock

    public init(
        role: Role, configuration: Configuration, access: any MailAccess, tls: NIOSSLContext?, limiter: ConnectionLimiter,
        userSessions: UserSessionLimiter, logger: Logger, clock: WallClock = .system
    ) {
        var configuration = configuration
        configuration.session.implicitTLS = role == .imaps
        configuration.session.startTLSAvailable = tls != nil && role == .imap
        configuration.session.compressionAvailable = true
        configuration.session.enableableExtensions = ["CONDSTORE", "QRESYNC"]
        if configuration.session.authenticatedCapabilities.isEmpty {
            configuration.session.authenticatedCapabilities = Self.capabilities(
                appendLimit: configuration.session.authenticatedLimits.maximumLiteralSize)
        }
        if !access.offersSCRAM {
            configuration.session.authenticationMechanisms.removeAll { $0 == .scramSHA256 }
        }
        self.role = role
        self.configuration = configuration
        self.access = access
        self.tls = tls
        self.limiter = limiter
        self.userSessions = userSessions
        self.logger = logger
        self.clock = clock
    }

    /// How the start-up line describes the listener's TLS.
    public var tlsMode: String {
        if role == .imaps { return "implicit" }
        return tls == nil ? "none" : "starttls"
    }

    /// Sets up one accepted connection: TLS first on an implicit-TLS port, then the session.
    public func initializeConnection(_ channel: any Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            if role == .imaps, let tls {
                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
            }
            let connection = ServerConnection(
                driver: IMAPSession(endpoint: self),
                configuration: ServerConnection.Configuration(
                    tls: tls, implicitTLS: role == .imaps, limiter: limiter),
                logger: logger)
            try channel.pipeline.syncOperations.addHandler(connection)
        }
    }
}
