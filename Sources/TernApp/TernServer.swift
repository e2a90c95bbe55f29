import TernSystem
import Foundation
public import Logging
import NIOCore
import NIOPosix
import NIOSSL
public import Prometheus
import Metrics
import ServiceLifecycle
import TernNet
import TernSMTPCore
import TernSMTPServer
import TernIMAPServer
import TernPOP3Server
import TernPOP3Core
import TernAccess
import TernIMAPCore
import TernSASL
import TernDelivery
import TernMail
import TernStore
import UnixSignals

/// The composition root: builds the stores, TLS, policies and listeners from a
/// `TernConfiguration`, runs them as one ServiceGroup, and stops them on SIGTERM or SIGINT.
public enum TernServer {
    /// What the server does with accepted mail.
    public enum Mode: Sendable {
        /// The developers' mail catcher: every recipient is accepted, every message lands in
        /// one catch-all Maildir.
        case dev
        /// The MTA: accepted mail is queued, delivered to local Maildirs or relayed to the
        /// recipient domain's MX.
        case serve
    }

    public struct StartupError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs until SIGTERM/SIGINT. Writes the start-up lines through `announce`.
    /// Sends every swift-metrics metric (the SMTP counters, ...) to a Prometheus registry, which
    /// the HTTP server shows at /metrics. Call once per process, before `run`.
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // A delivery takes from milliseconds (a local mailbox) to days (a retried remote one).
        factory.durationHistogramBuckets["tern_queue_delivery_delay_seconds"] = [
            .seconds(1), .seconds(5), .seconds(30), .seconds(60), .seconds(300), .seconds(900), .seconds(3600),
            .seconds(4 * 3600), .seconds(12 * 3600), .seconds(86_400), .seconds(3 * 86_400), .seconds(5 * 86_400),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }

    public static func run(
        configuration: TernConfiguration, mode: Mode, logger: Logger, metrics: PrometheusCollectorRegistry? = nil,
        announce: @escaping @Sendable (String) -> Void
    ) async throws {
        guard !configuration.listeners.isEmpty else {
            throw StartupError(description: "listener: no [[listener]] configured")
        }
        // Large listings and messages pass through; the memory they took must not stay resident.
        tern_tune_allocator_for_server()
        // A descriptor per client and two per open mailbox: the usual soft limit is far too low.
        let openFiles = tern_raise_open_file_limit()
        if openFiles >= 0, openFiles < Int64(configuration.limits.connections) * 2 {
            logger.warning(
                "the open-file limit is low for the connections allowed; raise the hard limit (ulimit -Hn)",
                metadata: ["tern_open_files": "\(openFiles)", "tern_connections": "\(configuration.limits.connections)"])
        }
        // The configuration file's catcher.http was checked when it was read; --http was not.
        if mode == .dev, let http = configuration.http, !ConfigurationLoader.isLoopback(http.address) {
            guard ConfigurationLoader.mayListen(http.address, allowedHosts: configuration.catcher.allowedHosts) else {
                throw StartupError(description: "catcher.http (--http): \(ConfigurationLoader.catcherLoopbackOnly(http.address))")
            }
            logger.warning(
                "the catcher's web UI and API listen beyond loopback and have no login: whoever reaches them reads and deletes the mail",
                metadata: ["address": "\(http.address)", "allowed_hosts": "\(configuration.catcher.allowedHosts)"])
        }
        let dataDirectory = absolutePath(configuration.dataDirectory)
        do {
            try FileManager.default.createDirectory(
                atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StartupError(description: "data_dir: cannot create \(dataDirectory): \(error.localizedDescription)")
        }
        // Every store writes here; a directory that takes no file fails now, by name, rather
        // than as whichever store happens to open first.
        let probe = "\(dataDirectory)/.tern-write-test"
        let descriptor = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else {
            let reason = errno == EROFS ? "the file system is read-only" : String(cString: strerror(errno))
            throw StartupError(description: "data_dir: cannot write to \(dataDirectory): \(reason)")
        }
        close(descriptor)
        unlink(probe)

        let tls: NIOSSLContext
        do {
            if let files = configuration.tls {
                tls = try TLSContextFactory.context(certificatePath: files.certificate, privateKeyPath: files.privateKey)
            } else {
                let (context, source) = try TLSContextFactory.selfSigned(
                    directory: "\(dataDirectory)/tls", hostname: configuration.hostname)
                tls = context
                if case .selfSigned(let path, true) = source {
                    logger.notice("generated a self-signed TLS certificate", metadata: ["path": "\(path)"])
                }
            }
        } catch {
            throw StartupError(description: "\(error)")
        }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let pool = NIOThreadPool(numberOfThreads: 16)
        pool.start()
        do {
            try await run(
                configuration: configuration, mode: mode, dataDirectory: dataDirectory, tls: tls, group: group,
                pool: pool, logger: logger, metrics: metrics, announce: announce)
        } catch {
            try? await pool.shutdownGracefully()
            try? await group.shutdownGracefully()
            throw error
        }
        try? await pool.shutdownGracefully()
        try? await group.shutdownGracefully()
    }

    private static func run(
        configuration: TernConfiguration, mode: Mode, dataDirectory: String, tls: NIOSSLContext,
        group: MultiThreadedEventLoopGroup, pool: NIOThreadPool, logger: Logger, metrics: PrometheusCollectorRegistry?,
        announce: @escaping @Sendable (String) -> Void
    ) async throws {
        let environment = Environment(
            configuration: configuration, dataDirectory: dataDirectory, storeSync: StoreSync(mode: configuration.storage.sync, pool: pool),
            group: group, pool: pool, logger: logger, metrics: metrics, announce: announce)
        let assembly =
            switch mode {
            case .dev: try await devAssembly(environment)
            case .serve: try await serveAssembly(environment)
            }
        defer { assembly.cleanUp() }

        let limits = configuration.limits
        let limiter = ConnectionLimiter(limits: .init(total: limits.connections, perAddress: limits.connectionsPerIP))
        let userSessions = UserSessionLimiter(perUser: limits.connectionsPerUser)
        let maildropLocks = MaildropLocks()
        var session = ServerSessionStateMachine.Configuration(
            hostname: configuration.hostname,
            maximumMessageSize: limits.messageSize,
            maximumRecipients: limits.recipients,
            commandLineLimit: limits.commandLineLength,
            textLineLimit: limits.textLineLength,
            maximumErrors: limits.errors,
            maximumCommandsWithoutTransaction: limits.commandsWithoutMail,
            maximumHops: limits.maximumHops)
        assembly.configureSession(&session)
        var endpointConfiguration = SMTPEndpoint.Configuration(
            session: session, greetingDelay: limits.greetingDelay, commandTimeout: limits.commandTimeout,
            dataTimeout: limits.dataTimeout, softErrorLimit: limits.softErrors, errorDelay: limits.errorDelay)
        endpointConfiguration.fixesSubmittedMessages = assembly.guardsSubmission
        endpointConfiguration.forbidsUnauthenticatedPipelining = assembly.guardsSubmission

        // The group stops services in reverse order: listeners first, then what they feed.
        var services = assembly.services
        for listener in configuration.listeners {
            var endpointLogger = logger
            endpointLogger[metadataKey: "tern_listener"] = "\(listener.role.rawValue)"
            let initializer: @Sendable (any Channel) -> EventLoopFuture<Void>
            let tlsMode: String
            if let role = listener.role.imap {
                var imapConfiguration = IMAPEndpoint.Configuration(
                    softErrorLimit: limits.softErrors, errorDelay: limits.errorDelay)
                imapConfiguration.session.loginRequiresTLS = !listener.cleartextAuthentication
                imapConfiguration.session.authenticationMechanisms = [.plain, .scramSHA256]
                let endpoint = IMAPEndpoint(
                    role: role, configuration: imapConfiguration, access: assembly.mailAccess, tls: tls, limiter: limiter,
                    userSessions: userSessions, logger: endpointLogger)
                (initializer, tlsMode) = (endpoint.initializeConnection, endpoint.tlsMode)
            } else if let role = listener.role.pop3 {
                var pop3Configuration = POP3Endpoint.Configuration(softErrorLimit: limits.softErrors, errorDelay: limits.errorDelay)
                pop3Configuration.session.loginRequiresTLS = !listener.cleartextAuthentication
                pop3Configuration.session.authenticationMechanisms = [.plain, .scramSHA256]
                let endpoint = POP3Endpoint(
                    role: role, configuration: pop3Configuration, access: assembly.mailAccess, tls: tls, limiter: limiter,
                    userSessions: userSessions, maildropLocks: maildropLocks, logger: endpointLogger)
                (initializer, tlsMode) = (endpoint.initializeConnection, endpoint.tlsMode)
            } else {
                var listenerConfiguration = endpointConfiguration
                listenerConfiguration.allowsCleartextAuthentication = listener.cleartextAuthentication
                let endpoint = SMTPEndpoint(
                    role: listener.role.smtp ?? .mx, configuration: listenerConfiguration, store: assembly.store,
                    policy: assembly.policy, tls: tls, limiter: limiter, logger: endpointLogger,
                    authentication: assembly.authentication, tally: assembly.tally)
                (initializer, tlsMode) = (endpoint.initializeConnection, endpoint.tlsMode)
            }
            let bound = try await Listener.bind(
                name: listener.role.rawValue, host: listener.address, port: listener.port, group: group,
                shutdownGrace: limits.shutdownGrace, logger: endpointLogger, childInitializer: initializer)
            let address = bound.localAddress
            let host = address.ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? listener.address
            announce("tern: listening on \(host):\(address.port ?? listener.port) role=\(listener.role.rawValue) tls=\(tlsMode)")
            services.append(bound)
        }
        announce(assembly.storeAnnouncement)
        // "ready" comes from here, or (dev) once the web UI listens, so whoever waits for it
        // can use the API at once.
        services += try await assembly.startAfterListeners()

        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger))
        try await serviceGroup.run()
        await assembly.stop()
        logger.info("stopped")
    }

    /// What the composition needs from either mode.
    struct Environment: Sendable {
        var configuration: TernConfiguration
        var dataDirectory: String
        var storeSync: StoreSync
        var group: MultiThreadedEventLoopGroup
        var pool: NIOThreadPool
        var logger: Logger
        var metrics: PrometheusCollectorRegistry?
        var announce: @Sendable (String) -> Void

        /// The logger of one service (`tern_service=<name>`).
        func logger(service: String) -> Logger {
            var logger = self.logger
            logger[metadataKey: "tern_service"] = "\(service)"
            return logger
        }

        /// Recovers `store` and logs what it holds.
        func open(_ store: any MessageStore) throws {
            let report = try store.recover()
            logger.info(
                "store opened",
                metadata: [
                    "location": "\(store.location)", "messages": "\(report.messages)",
                    "removed_temporary_files": "\(report.removedTemporaryFiles)",
                    "sync": "\(storeSync.mode.rawValue)",
                ])
        }
    }

    /// What a mode contributes to the running server: the store its SMTP listeners write into,
    /// the policy they ask, and the services that run beside them (`devAssembly`,
    /// `serveAssembly`).
    struct Assembly {
        var store: any MessageStore
        var policy: any SMTPPolicy
        /// Who logs in over IMAP and POP3, and where their mailboxes are.
        var mailAccess: any MailAccess
        /// RFC 6409 fix-ups and the From: check on submission, and no unauthenticated
        /// pipelining on the mx role: a real MTA's duties, which the catcher leaves out.
        var guardsSubmission: Bool
        /// DKIM signing and checking at the SMTP intake.
        var authentication: MessageAuthentication?
        /// The mode's choices for every SMTP session.
        var configureSession: (inout ServerSessionStateMachine.Configuration) -> Void = { _ in }
        /// Services started before the listeners, so stopped after them.
        var services: [any Service] = []
        /// What the SMTP listeners accepted and refused, for a mode that reports it.
        var tally: SMTPTally?
        var storeAnnouncement: String
        /// Starts what must wait for the listeners, announces "ready", returns its services.
        var startAfterListeners: () async throws -> [any Service]
        /// Runs once the services have stopped.
        var stop: () async -> Void = {}
        /// Runs when the server is done, however it ended.
        var cleanUp: () -> Void = {}
    }

    /// `tls_verify` and `tls_ca_file` of a route or of the catcher's release.
    static func certificateVerification(verify: Bool, caFile: String?) -> ServerCertificateCheck {
        guard verify else { return .none }
        return caFile.map { .certificateAuthorities(file: $0) } ?? .systemTrustStore
    }

    static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        let cwd = FileManager.default.currentDirectoryPath
        var relative = path
        while relative.hasPrefix("./") { relative.removeFirst(2) }
        return relative.isEmpty || relative == "." ? cwd : "\(cwd)/\(relative)"
    }
}

extension TernConfiguration {
    /// This machine's host name (gethostname), or `localhost`.
    public static func systemHostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return ConfigurationLoader.isHostname(name) ? name : "localhost"
    }
}
