public import Logging
public import NIOCore
public import NIOPosix
import NIOSSL
public import TernMail
public import TernSMTPCore
public import TernStore

/// Sends single stored messages through one configured SMTP server: the catcher's "release"
/// (a developer sends a caught message on to a real mailbox). The server is fixed by the
/// configuration, never chosen by whoever asks, so the catcher cannot be made to connect
/// anywhere else.
///
/// With `starttls` and `tls` the server's certificate is checked (`verification`, by default
/// the system trust store and `host` as the name): a relay that fails the check gets neither
/// the credentials nor the message, and the release fails with the reason.
public struct RelayClient: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String

        public init(description: String) {
            self.description = description
        }
    }

    public let host: String
    public let port: Int
    public let security: TransportSecurity
    public let credentials: ClientSessionStateMachine.Credentials?
    public let hostname: String
    /// How the server's certificate is checked (ignored with `security = none`).
    public let verification: ServerCertificateCheck
    private let group: any EventLoopGroup
    private let pool: NIOThreadPool
    private let tls: NIOSSLContext
    private let logger: Logger

    public init(
        host: String, port: Int, security: TransportSecurity, credentials: ClientSessionStateMachine.Credentials?,
        hostname: String, verification: ServerCertificateCheck = .systemTrustStore, group: any EventLoopGroup,
        pool: NIOThreadPool, logger: Logger
    ) throws {
        self.host = host
        self.port = port
        self.security = security
        self.credentials = credentials
        self.hostname = hostname
        self.verification = verification
        self.group = group
        self.pool = pool
        self.logger = logger
        // The credentials go to this server: it must prove it is the one configured. A
        // developer's relay with a self-signed certificate is named by `tls_ca_file` (or, at
        // the password's risk, `tls_verify = false`).
        tls = try (security.authenticatesPeer ? verification : ServerCertificateCheck.none).makeClientContext()
    }

    /// Sends the message `source` holds from `sender` to `recipients`; returns each
    /// recipient's outcome, or throws when no session could be had.
    public func send(_ source: any MessageSource, sender: MailAddress?, recipients: [MailAddress]) async throws
        -> [ClientSessionStateMachine.RecipientResult]
    {
        let (host, port) = (self.host, self.port)
        let address = try await pool.runIfActive { try SocketAddress.makeAddressResolvingHost(host, port: port) }
        var session = ClientSessionStateMachine.Configuration(hostname: hostname, credentials: credentials)
        security.configure(&session, opportunisticPolicy: .opportunistic)
        let connection = try await SMTPClientConnection.connect(
            to: address, hostName: host, configuration: session, tls: tls, group: group, connectTimeout: .seconds(10),
            logger: logger)
        defer { connection.finish() }
        let envelope = Envelope(sender: sender, recipients: recipients.map { EnvelopeRecipient(address: $0) })
        let result = await connection.send(
            OutboundMessage(envelope: envelope, size: source.size, body: .eightBitMIME), body: source)
        if let localError = result.localError { throw Failure(description: localError.storedLine) }
        return result.report.recipients
    }
}
