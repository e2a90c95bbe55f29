public import NIOCore
public import TernDirectory
public import TernSMTPServer
public import TernIMAPServer
public import TernPOP3Server
import TernSMTPCore
public import TernStore

/// Everything `tern` can be configured with. Documented key by key in docs/configuration.md;
/// defaults are the embedded, single-machine ones.
public struct TernConfiguration: Sendable {
    /// What a `[[listener]]` serves: SMTP (mx, submission, submissions), IMAP (imap, imaps) or
    /// POP3 (pop3, pop3s).
    public enum ListenerRole: String, Sendable, Hashable, CaseIterable {
        case mx
        case submission
        case submissions
        case imap
        case imaps
        case pop3
        case pop3s

        public var smtp: SMTPEndpoint.Role? { SMTPEndpoint.Role(rawValue: rawValue) }
        public var imap: IMAPEndpoint.Role? { IMAPEndpoint.Role(rawValue: rawValue) }
        public var pop3: POP3Endpoint.Role? { POP3Endpoint.Role(rawValue: rawValue) }
    }

    public struct ListenerConfiguration: Sendable, Hashable {
        public var address: String
        public var port: Int
        public var role: ListenerRole
        /// Submission and IMAP roles only, loopback addresses only, for development: logins
        /// (and mail) accepted without TLS (`cleartext_auth`). Never on a public address.
        public var cleartextAuthentication: Bool

        public init(address: String, port: Int, role: ListenerRole, cleartextAuthentication: Bool = false) {
            self.address = address
            self.port = port
            self.role = role
            self.cleartextAuthentication = cleartextAuthentication
        }
    }

    public struct TLSFiles: Sendable, Hashable {
        public var certificate: String
        public var privateKey: String

        public init(certificate: String, privateKey: String) {
            self.certificate = certificate
            self.privateKey = privateKey
        }
    }

    /// `[limits]`: RFC 5321 §4.5.3 sizes and timeouts, and the abuse brakes.
    ///
    /// The session's and the endpoint's defaults are theirs (`ServerSessionStateMachine.Configuration`,
    /// `SMTPEndpoint.Configuration`), written once there and read here.
    public struct Limits: Sendable, Hashable {
        private static let session = ServerSessionStateMachine.Configuration(hostname: "")
        private static let endpoint = SMTPEndpoint.Configuration(session: session)

        public var messageSize = session.maximumMessageSize
        public var recipients = session.maximumRecipients
        public var commandLineLength = session.commandLineLimit
        public var textLineLength = session.textLineLimit
        /// Received headers a message may carry before it is refused as a loop (554 5.4.6).
        public var maximumHops = session.maximumHops
        public var errors = session.maximumErrors
        public var softErrors = endpoint.softErrorLimit
        public var errorDelay = endpoint.errorDelay
        public var commandsWithoutMail = session.maximumCommandsWithoutTransaction
        public var connections = 1000
        public var connectionsPerIP = 50
        /// Sessions one user may have logged in at once over IMAP (every IMAP listener counts).
        public var connectionsPerUser = 20
        public var greetingDelay = endpoint.greetingDelay
        public var commandTimeout = endpoint.commandTimeout
        public var dataTimeout = endpoint.dataTimeout
        public var shutdownGrace = TimeAmount.seconds(30)

        public init() {}
    }

    /// `[mail]`, `[[mailbox]]`, `[[user]]`, `[[alias]]`: the directory's part of the
    /// configuration (TernDirectory's `DirectoryConfiguration`).
    public typealias Mail = DirectoryConfiguration

    /// `[queue]`: retries of deferred deliveries (RFC 5321 §4.5.4.1).
    public struct Queue: Sendable, Hashable {
        /// Before the first retry; the delay then doubles. Default 5 minutes.
        public var retryDelay = TimeAmount.minutes(5)
        /// The largest gap between retries. Default 4 hours.
        public var retryMaximumDelay = TimeAmount.hours(4)
        /// How long a message may wait before it fails. Default 5 days.
        public var maximumLifetime = TimeAmount.hours(5 * 24)
        /// Delivery jobs in flight at once. Default 100 (Postfix's default_process_limit: a
        /// job here is a task, not a process).
        public var concurrency = 100
        /// Delivery jobs in flight at once to one destination (a remote domain or a local
        /// mailbox). Default 20.
        public var destinationConcurrency = 20
        /// When a still-deferred message earns its sender one delay DSN; zero sends none.
        /// Default 4 hours.
        public var delayWarning = TimeAmount.hours(4)

        public init() {}
    }

    /// `[outbound]` and `[[route]]`: how mail leaves for other domains.
    public struct Outbound: Sendable, Hashable {
        /// A `[[route]]`: mail for `domain` (or every domain, `*`) goes to a relay host
        /// instead of the domain's MX.
        public struct Route: Sendable, Hashable {
            public var domain: String
            public var host: String
            public var port: Int
            /// `opportunistic`, `required`, `implicit` or `none`.
            public var security: String
            /// AUTH with the relay host (only over TLS).
            public var username: String?
            public var password: String?
            /// With `required` or `implicit`: check the relay's certificate (its chain and
            /// `host` as its name). Default true; false gives the password to anyone on the path.
            public var tlsVerify: Bool
            /// A PEM bundle of the CAs trusted instead of the system store.
            public var tlsCAFile: String?

            public init(
                domain: String, host: String, port: Int, security: String, username: String? = nil,
                password: String? = nil, tlsVerify: Bool = true, tlsCAFile: String? = nil
            ) {
                self.domain = domain
                self.host = host
                self.port = port
                self.security = security
                self.username = username
                self.password = password
                self.tlsVerify = tlsVerify
                self.tlsCAFile = tlsCAFile
            }
        }

        /// The port of remote MX hosts. Default 25.
        public var port = 25
        /// STARTTLS with MX hosts: `opportunistic` (default), `required` or `none`.
        public var tls = "opportunistic"
        /// After a failed opportunistic TLS handshake, retry in cleartext. Default true.
        public var cleartextFallback = true
        public var connectTimeout = TimeAmount.seconds(30)
        /// How long an idle outbound session waits for the next message. Default 2 s.
        public var connectionIdleTime = TimeAmount.seconds(2)
        public var routes: [Route] = []

        public init() {}
    }

    /// `[rate_limits]`: how much an authenticated user, and the address they connect from, may
    /// send per window on the submission listeners.
    public struct RateLimits: Sendable, Hashable {
        /// Messages (MAIL commands accepted) per window; 0 turns the limit off. Default 500.
        public var messages = 500
        /// Recipients (RCPT commands accepted) per window; 0 turns it off. Default 2000.
        public var recipients = 2000
        public var window = TimeAmount.hours(1)

        public init() {}
    }

    /// `[dns]`: the resolver. With no servers, those of /etc/resolv.conf.
    public struct DNS: Sendable, Hashable {
        /// `address` or `address:port` (`[v6]:port`).
        public var servers: [String] = []
        public var timeout = TimeAmount.seconds(5)
        public var attempts = 2

        public init() {}
    }

    /// `[dkim]`: signing what local domains send, checking what arrives (RFC 6376). Keys live in
    /// `<data_dir>/dkim/<domain>/` (`tern dkim generate`).
    public struct DKIM: Sendable, Hashable {
        /// Sign submitted mail from a domain that has keys.
        public var sign = true
        /// Check the signatures of mail arriving on the mx role and add Authentication-Results.
        public var verify = true
        /// Signatures checked per message.
        public var maximumSignatures = 10
        /// `x=`: signatures expire this long after they are made; zero for no `x=`.
        public var expiry = TimeAmount.zero

        public init() {}
    }

    /// `[spf]`: checking the client against the sender's SPF record (RFC 7208) on the mx role.
    public struct SPF: Sendable, Hashable {
        /// Check, and say so in Authentication-Results.
        public var verify = true

        public init() {}
    }

    /// `[dmarc]`: the From: domain's policy (RFC 7489) on the mx role.
    public struct DMARC: Sendable, Hashable {
        /// Check, and say so in Authentication-Results.
        public var verify = true
        /// Refuse mail the policy says to reject (550 5.7.1 at the end of DATA).
        public var reject = true
        /// File mail the policy says to quarantine (and, with `reject` off, to reject) into the
        /// recipient's Junk folder; false delivers it to INBOX, marked in Authentication-Results.
        public var quarantineToJunk = true
        /// The Public Suffix List, for organizational domains; nil for Debian's copy, or, when
        /// that is missing, every TLD as the only public suffixes.
        public var publicSuffixList: String?

        public init() {}
    }

    /// `[storage]`: how stored mail is made durable (`StoreSync`).
    public struct Storage: Sendable, Hashable {
        /// `filesystem` (the default on Linux): one `syncfs` per batch of messages; `file`: each
        /// file synced on its own, for a filesystem shared with heavy writers.
        public var sync = StoreSync.Mode.default

        public init() {}
    }

    /// Where the catcher's web UI and API listen (dev mode).
    public struct HTTPListener: Sendable, Hashable {
        public var address: String
        public var port: Int

        public init(address: String = "127.0.0.1", port: Int = 8025) {
            self.address = address
            self.port = port
        }
    }

    /// `[http]`: serve mode's operations listener: `/metrics`, `/healthz`, `/readyz`, and with
    /// `admin_token` the admin API. Off unless configured.
    public struct OperationsHTTP: Sendable, Hashable {
        public var address: String
        public var port: Int
        /// The bearer token of the admin API; nil serves no admin API.
        public var adminToken: String?

        public init(address: String = "127.0.0.1", port: Int = 8080, adminToken: String? = nil) {
            self.address = address
            self.port = port
            self.adminToken = adminToken
        }
    }

    /// `[catcher]`: how much mail dev mode keeps.
    public struct Catcher: Sendable, Hashable {
        /// The newest this many are kept; 0: no limit. Default 10,000.
        public var maximumMessages = 10_000
        /// Older messages are deleted; zero: no limit (the default).
        public var maximumAge = TimeAmount.zero
        /// How long an HTTP connection may take to send a whole request header, and stay idle
        /// between requests, before it is closed. Default 30 s.
        public var httpIdleTimeout = TimeAmount.seconds(30)
        /// `[catcher.release]`: the SMTP server caught messages may be sent on through.
        public var release: Release?
        /// Host names (lower case) the web UI and API may be reached by besides the loopback
        /// addresses and `localhost`: an /etc/hosts alias, a container's service name.
        public var allowedHosts: [String] = []
        /// `webhook`: where each caught message's summary is posted (`CatcherWebhook`).
        public var webhook: String?
        /// `[[catcher.chaos]]`: failures the SMTP listeners inject from the start.
        public var chaos: [ChaosRule] = []

        public struct Release: Sendable, Hashable {
            public var host: String
            public var port: Int
            /// `starttls` (default), `tls` or `none`.
            public var security: String
            public var username: String?
            public var password: String?
            /// Lower-case domains a release may reach; `*`: any.
            public var allowedDomains: [String]
            /// With `starttls` or `tls`: check the relay's certificate (its chain and `host` as
            /// its name). Default true; false gives the password to anyone on the path.
            public var tlsVerify: Bool
            /// A PEM bundle of the CAs trusted instead of the system store.
            public var tlsCAFile: String?

            public init(
                host: String, port: Int, security: String, username: String?, password: String?,
                allowedDomains: [String], tlsVerify: Bool = true, tlsCAFile: String? = nil
            ) {
                self.host = host
                self.port = port
                self.security = security
                self.username = username
                self.password = password
                self.allowedDomains = allowedDomains
                self.tlsVerify = tlsVerify
                self.tlsCAFile = tlsCAFile
            }
        }

        public init() {}
    }

    /// `[auth]`: the brute-force brake on failed logins.
    public struct Authentication: Sendable, Hashable {
        /// The delay of the first failure; each further one doubles it. Default 500 ms.
        public var failureDelay = TimeAmount.milliseconds(500)
        /// The longest delay. Default 16 s.
        public var maximumFailureDelay = TimeAmount.seconds(16)
        /// How long failures are remembered per client address and per user. Default 15 min.
        public var failureWindow = TimeAmount.minutes(15)

        public init() {}
    }

    /// The name in greetings and Received headers. Default: this machine's host name.
    public var hostname: String
    /// Where spool, mailboxes and the generated certificate live. Default `./tern-data`.
    public var dataDirectory: String
    public var listeners: [ListenerConfiguration]
    /// PEM files; nil means a self-signed certificate kept in `<data>/tls`.
    public var tls: TLSFiles?
    public var limits: Limits
    public var mail: Mail
    public var queue: Queue
    public var outbound: Outbound
    public var dns: DNS
    public var dkim = DKIM()
    public var spf = SPF()
    public var dmarc = DMARC()
    public var storage = Storage()
    public var rateLimits: RateLimits
    public var authentication: Authentication
    /// The catcher's web UI and API (dev mode); nil turns them off. Default 127.0.0.1:8025,
    /// the port Mailpit and MailHog use.
    public var http: HTTPListener? = HTTPListener()
    public var catcher = Catcher()
    /// Serve mode's `[http]` listener; nil (the default) is off.
    public var operationsHTTP: OperationsHTTP?
    /// swift-log level: trace, debug, info, notice, warning, error, critical.
    public var logLevel: String

    public init(
        hostname: String = TernConfiguration.systemHostname(),
        dataDirectory: String = "./tern-data",
        listeners: [ListenerConfiguration] = [],
        tls: TLSFiles? = nil,
        limits: Limits = Limits(),
        mail: Mail = Mail(),
        logLevel: String = "info"
    ) {
        self.mail = mail
        self.queue = Queue()
        self.outbound = Outbound()
        self.dns = DNS()
        self.rateLimits = RateLimits()
        self.authentication = Authentication()
        self.hostname = hostname
        self.dataDirectory = dataDirectory
        self.listeners = listeners
        self.tls = tls
        self.limits = limits
        self.logLevel = logLevel
    }

    /// Dev mode's listener: the port Mailpit and MailHog use, so apps set up for them work.
    public static func devListener(address: String = "127.0.0.1", port: Int = 1025) -> ListenerConfiguration {
        ListenerConfiguration(address: address, port: port, role: .mx)
    }

    /// Dev mode's IMAP listener: any login reads its catcher inbox, without TLS on loopback.
    public static func devIMAPListener(address: String = "127.0.0.1", port: Int = 1143) -> ListenerConfiguration {
        ListenerConfiguration(address: address, port: port, role: .imap, cleartextAuthentication: true)
    }

    /// `tern dev`'s POP3: loopback, any credentials, no TLS needed (the catcher's inboxes).
    public static func devPOP3Listener(address: String = "127.0.0.1", port: Int = 1110) -> ListenerConfiguration {
        ListenerConfiguration(address: address, port: port, role: .pop3, cleartextAuthentication: true)
    }
}
