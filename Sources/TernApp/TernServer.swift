#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
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
import TernDirectory
import TernStoreSQLite
import TernHTTP
import TernDNS
import TernDNSCore
import TernDelivery
import TernMail
import TernQueue
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
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    public static func run(
        configuration: TernConfiguration, mode: Mode, logger: Logger, metrics: PrometheusCollectorRegistry? = nil,
        announce: @escaping @Sendable (String) -> Void
    ) async throws {
        guard !configuration.listeners.isEmpty else {
            throw StartupError(description: "listener: no [[listener]] configured")
        }
        // The configuration file's catcher.http was checked when it was read; --http was not.
        if mode == .dev, let http = configuration.http, !ConfigurationLoader.isLoopback(http.address) {
            throw StartupError(description: "catcher.http (--http): \(ConfigurationLoader.catcherLoopbackOnly(http.address))")
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

        // The directory (domains, accounts, aliases) serves routing and logins; the catcher
        // needs neither.
        var directory: LiveDirectory?
        if mode == .serve {
            var directoryLogger = logger
            directoryLogger[metadataKey: "tern_service"] = "directory"
            let databasePath = LiveDirectory.databasePath(dataDirectory: dataDirectory)
            do {
                directory = try await LiveDirectory(
                    store: try SQLiteDirectory(path: databasePath), mail: configuration.mail, logger: directoryLogger)
            } catch {
                throw StartupError(description: "data_dir: cannot open the directory \(databasePath): \(error)")
            }
        }
        let storeSync = StoreSync(mode: configuration.storage.sync, pool: pool)
        let store: any MessageStore
        var catcherStore: CatcherStore?
        var queue: QueueManager?
        var remote: RemoteDeliveryAgent?
        var mailboxStore: MaildirMailboxStore?
        var journal: MessageJournal?
        do {
            switch mode {
            case .dev:
                let catcher = try CatcherStore(
                    root: "\(dataDirectory)/mailboxes/catch-all", hostname: configuration.hostname, sync: storeSync)
                catcherStore = catcher
                store = catcher
            case .serve:
                guard let directory else { preconditionFailure("serve mode opens the directory first") }
                var queueLogger = logger
                queueLogger[metadataKey: "tern_service"] = "queue"
                // Opened in either sync mode: what an earlier run left in it must be replayed.
                let messageJournal = try MessageJournal(directory: "\(dataDirectory)/journal", pool: pool)
                journal = messageJournal
                let mailboxes = MaildirMailboxStore(
                    root: "\(dataDirectory)/mailboxes", hostname: configuration.hostname, sync: storeSync,
                    journal: messageJournal, logger: queueLogger)
                mailboxStore = mailboxes
                let local = LocalDeliveryAgent(mailboxes: mailboxes)
                var deliveryLogger = logger
                deliveryLogger[metadataKey: "tern_service"] = "smtp-client"
                let relay = try RemoteDeliveryAgent(
                    configuration: remoteDeliveryConfiguration(configuration),
                    resolver: try resolver(configuration.dns, group: group, logger: logger), group: group, pool: pool,
                    logger: deliveryLogger)
                remote = relay
                let manager = QueueManager(
                    spool: try Spool(root: "\(dataDirectory)/spool", sync: storeSync), routing: directory.routing,
                    agents: [.local: local, .remote: relay],
                    configuration: QueueManager.Configuration(
                        retry: RetrySchedule(
                            firstDelay: configuration.queue.retryDelay.wholeSeconds,
                            maximumDelay: configuration.queue.retryMaximumDelay.wholeSeconds,
                            maximumLifetime: configuration.queue.maximumLifetime.wholeSeconds),
                        concurrency: configuration.queue.concurrency,
                        destinationConcurrency: configuration.queue.destinationConcurrency,
                        hostname: configuration.hostname,
                        delayWarning: configuration.queue.delayWarning > .zero
                            ? configuration.queue.delayWarning.wholeSeconds : nil),
                    logger: queueLogger,
                    clock: .system)
                queue = manager
                store = manager
            }
            let report = try store.recover()
            logger.info(
                "store opened",
                metadata: [
                    "location": "\(store.location)", "messages": "\(report.messages)",
                    "removed_temporary_files": "\(report.removedTemporaryFiles)",
                    "sync": "\(storeSync.mode.rawValue)",
                ])
            if let mailboxStore {
                let replayed = try await mailboxStore.recoverJournal()
                if replayed > 0 {
                    logger.notice("put messages from the journal into their mailboxes", metadata: ["messages": "\(replayed)"])
                }
            }
        } catch {
            throw StartupError(description: "data_dir: cannot open the store in \(dataDirectory): \(error)")
        }

        let limits = configuration.limits
        let limiter = ConnectionLimiter(limits: .init(total: limits.connections, perAddress: limits.connectionsPerIP))
        let session = ServerSessionStateMachine.Configuration(
            hostname: configuration.hostname,
            maximumMessageSize: limits.messageSize,
            maximumRecipients: limits.recipients,
            commandLineLimit: limits.commandLineLength,
            textLineLimit: limits.textLineLength,
            maximumErrors: limits.errors,
            maximumCommandsWithoutTransaction: limits.commandsWithoutMail,
            maximumHops: limits.maximumHops)
        var sessionConfiguration = session
        if mode == .dev {
            // The catcher offers AUTH even without TLS and takes any credentials, so an app's
            // SMTP settings work unchanged; the user name is recorded with each message.
            sessionConfiguration.authenticationMechanisms = [.plain, .login]
            sessionConfiguration.authenticationRequiresTLS = false
        }
        var endpointConfiguration = SMTPEndpoint.Configuration(
            session: sessionConfiguration, greetingDelay: limits.greetingDelay, commandTimeout: limits.commandTimeout,
            dataTimeout: limits.dataTimeout, softErrorLimit: limits.softErrors, errorDelay: limits.errorDelay)
        endpointConfiguration.fixesSubmittedMessages = mode == .serve
        endpointConfiguration.forbidsUnauthenticatedPipelining = mode == .serve

        var loginThrottle = LoginThrottle.Settings()
        loginThrottle.baseDelay = .nanoseconds(configuration.authentication.failureDelay.nanoseconds)
        loginThrottle.maximumDelay = .nanoseconds(configuration.authentication.maximumFailureDelay.nanoseconds)
        loginThrottle.window = .nanoseconds(configuration.authentication.failureWindow.nanoseconds)
        let policy: any SMTPPolicy
        var routingPolicy: RoutingPolicy?
        // Password hashes on threads of their own, never on the storage pool.
        let verifier = PasswordVerifier()
        if let directory {
            let serving = RoutingPolicy(
                routing: directory.routing, relayNetworks: configuration.mail.relayNetworks.compactMap(IPNetwork.init),
                accounts: directory.accounts, verifier: verifier, throttle: LoginThrottle(settings: loginThrottle),
                messageLimit: .init(
                    count: configuration.rateLimits.messages,
                    window: .nanoseconds(configuration.rateLimits.window.nanoseconds)),
                recipientLimit: .init(
                    count: configuration.rateLimits.recipients,
                    window: .nanoseconds(configuration.rateLimits.window.nanoseconds)))
            routingPolicy = serving
            policy = serving
        } else {
            policy = AcceptAllPolicy(
                inboxes: catcherStore.map { store in
                    AcceptAllPolicy.Inboxes(
                        needsInbox: { store.needsInbox(login: $0) }, openInbox: { try await store.openInbox($0) })
                })
        }

        // The group stops services in reverse order: listeners first, then the queue.
        var services: [any Service] = []
        if let journal {
            var journalLogger = logger
            journalLogger[metadataKey: "tern_service"] = "journal"
            services.append(JournalCheckpoints(journal: journal, logger: journalLogger))
        }
        services += directory.map { [$0] } ?? []
        if let routingPolicy {
            var journalLogger = logger
            journalLogger[metadataKey: "tern_service"] = "rate-limits"
            services.append(
                RateLimitJournal(
                    path: RateLimitJournal.path(dataDirectory: dataDirectory),
                    limiters: ["messages": routingPolicy.messageRate, "recipients": routingPolicy.recipientRate],
                    logger: journalLogger))
        }
        services += queue.map { [$0] } ?? []
        let pidPath = QueueControlClient.pidPath(dataDirectory: dataDirectory)
        if let queue {
            var controlLogger = logger
            controlLogger[metadataKey: "tern_service"] = "control"
            do {
                services.append(
                    try await QueueControlServer.bind(
                        dataDirectory: dataDirectory, queue: queue, group: group, logger: controlLogger))
            } catch {
                throw StartupError(
                    description: "data_dir: cannot create the control socket "
                        + "\(QueueControlClient.socketPath(dataDirectory: dataDirectory)): \(error)")
            }
            try? "\(getpid())\n".write(toFile: pidPath, atomically: true, encoding: .utf8)
        }
        defer { if queue != nil { unlink(pidPath) } }
        for listener in configuration.listeners {
            var endpointLogger = logger
            endpointLogger[metadataKey: "tern_listener"] = "\(listener.role.rawValue)"
            var listenerConfiguration = endpointConfiguration
            listenerConfiguration.allowsCleartextAuthentication = listener.cleartextAuthentication
            let endpoint = SMTPEndpoint(
                role: listener.role, configuration: listenerConfiguration, store: store, policy: policy,
                tls: tls, limiter: limiter, logger: endpointLogger)
            let bound = try await Listener.bind(
                name: listener.role.rawValue, host: listener.address, port: listener.port, group: group,
                shutdownGrace: limits.shutdownGrace, logger: endpointLogger,
                childInitializer: endpoint.initializeConnection)
            let address = bound.localAddress
            let host = address.ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? listener.address
            announce("tern: listening on \(host):\(address.port ?? listener.port) role=\(listener.role.rawValue) tls=\(endpoint.tlsMode)")
            services.append(bound)
        }
        switch mode {
        case .dev: announce("tern: catch-all mailbox \(store.location) (Maildir)")
        case .serve: announce("tern: spool \(store.location)")
        }
        if mode == .dev, let http = configuration.http, let catcherStore {
            // "ready" waits for the web UI, so whoever waits for it can use the API at once.
            services += try await catcherServices(
                store: catcherStore, http: http, settings: configuration.catcher, dataDirectory: dataDirectory,
                hostname: configuration.hostname, metrics: metrics, group: group, pool: pool, logger: logger,
                announce: announce)
        } else {
            announce("tern: ready")
        }

        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger))
        try await serviceGroup.run()
        await remote?.shutdown()
        await verifier.shutdown()
        logger.info("stopped")
    }

    /// The catcher's index, kept current, and its HTTP server.
    static func catcherServices(
        store: CatcherStore, http: TernConfiguration.HTTPListener, settings: TernConfiguration.Catcher,
        dataDirectory: String, hostname: String, metrics: PrometheusCollectorRegistry?,
        group: MultiThreadedEventLoopGroup, pool: NIOThreadPool, logger: Logger, announce: @escaping @Sendable (String) -> Void
    ) async throws -> [any Service] {
        var httpLogger = logger
        httpLogger[metadataKey: "tern_service"] = "http"
        let indexPath = "\(dataDirectory)/catcher.sqlite"
        let index: SQLiteMessageIndex
        do {
            index = try SQLiteMessageIndex(path: indexPath)
        } catch {
            throw StartupError(description: "data_dir: cannot open the catcher index \(indexPath): \(error)")
        }
        let retention = Catcher.Retention(
            maximumMessages: settings.maximumMessages > 0 ? settings.maximumMessages : nil,
            maximumAge: settings.maximumAge > .zero ? .nanoseconds(settings.maximumAge.nanoseconds) : nil)
        let catcher = Catcher(store: store, index: index, pool: pool, retention: retention, logger: httpLogger)
        await catcher.start()
        var release: CatcherRelease?
        if let settings = settings.release {
            let client = try RelayClient(
                host: settings.host, port: settings.port, security: Self.releaseSecurity(settings.security),
                credentials: settings.username.flatMap { user in settings.password.map { .init(username: user, password: $0) } },
                hostname: hostname,
                verification: certificateVerification(verify: settings.tlsVerify, caFile: settings.tlsCAFile),
                group: group, pool: pool, logger: httpLogger)
            release = CatcherRelease(client: client, allowedDomains: settings.allowedDomains)
        }
        let host = http.address.contains(":") ? "[\(http.address)]" : http.address
        let server = CatcherHTTP.service(
            catcher: catcher, host: http.address, port: http.port, metrics: metrics, release: release,
            idleTimeout: .nanoseconds(settings.httpIdleTimeout.nanoseconds), group: group, logger: httpLogger
        ) { port in
            announce("tern: web UI and API on http://\(host):\(port)")
            announce("tern: ready")
        }
        return [catcher, server]
    }

    /// The resolver of `[dns]`: its servers, or those of /etc/resolv.conf.
    static func resolver(_ dns: TernConfiguration.DNS, group: any EventLoopGroup, logger: Logger) throws -> StubResolver {
        var resolverConfiguration: StubResolver.Configuration
        if dns.servers.isEmpty {
            resolverConfiguration = try StubResolver.Configuration.system()
        } else {
            let servers = try dns.servers.map { text -> SocketAddress in
                guard let (host, port) = ConfigurationLoader.parseHostPort(text, defaultPort: 53) else {
                    throw StartupError(description: "dns.servers: '\(text)' is not address:port")
                }
                return try SocketAddress(ipAddress: host, port: port)
            }
            resolverConfiguration = StubResolver.Configuration(nameServers: servers)
        }
        resolverConfiguration.timeout = dns.timeout
        resolverConfiguration.attempts = dns.attempts
        var resolverLogger = logger
        resolverLogger[metadataKey: "tern_service"] = "dns"
        return StubResolver(configuration: resolverConfiguration, eventLoopGroup: group, logger: resolverLogger)
    }

    /// The SMTP client's settings from `[outbound]` and `[[route]]`.
    static func remoteDeliveryConfiguration(_ configuration: TernConfiguration) -> RemoteDeliveryAgent.Configuration {
        let outbound = configuration.outbound
        var routes: [String: RemoteDeliveryAgent.Relay] = [:]
        for route in outbound.routes {
            var credentials: ClientSessionStateMachine.Credentials?
            if let username = route.username, let password = route.password {
                credentials = .init(username: username, password: password)
            }
            routes[route.domain] = RemoteDeliveryAgent.Relay(
                host: route.host, port: route.port,
                security: TransportSecurity(rawValue: route.security) ?? .opportunistic,
                credentials: credentials,
                verification: certificateVerification(verify: route.tlsVerify, caFile: route.tlsCAFile))
        }
        let policy: ClientSessionStateMachine.TLSPolicy
        switch outbound.tls {
        case "required": policy = .required
        case "none": policy = .none
        default: policy = .opportunistic
        }
        return RemoteDeliveryAgent.Configuration(
            hostname: configuration.hostname, port: outbound.port, tlsPolicy: policy,
            cleartextFallback: outbound.cleartextFallback, routes: routes,
            connectTimeout: outbound.connectTimeout,
            connectionIdleTime: .nanoseconds(outbound.connectionIdleTime.nanoseconds))
    }

    /// `[catcher.release] security`, in the words of a mail client's settings: `starttls`
    /// (STARTTLS required), `tls` (implicit TLS) or `none`.
    static func releaseSecurity(_ setting: String) -> TransportSecurity {
        switch setting {
        case "tls": .implicit
        case "none": .none
        default: .required
        }
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

extension TimeAmount {
    /// Whole seconds, at least one (the queue schedules in seconds).
    fileprivate var wholeSeconds: Int64 { max(nanoseconds / 1_000_000_000, 1) }
}
