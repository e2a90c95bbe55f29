import TernSystem
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import TernDNS
import TernDelivery
import TernDirectory
import TernMail
import TernMailAuth
import TernNet
import TernHTTP
import TernQueue
import TernSMTPCore
import TernSMTPServer
import TernIMAPServer
import TernAccess
import TernStore
import TernStoreSQLite

extension TernServer {
    /// The MTA: the directory (domains, accounts, aliases) decides who may send and receive;
    /// accepted mail is queued and delivered into local mailboxes or relayed; submission gets
    /// RFC 6409's fix-ups and the sender check; rate limits and the queue's control socket.
    static func serveAssembly(_ environment: Environment) async throws -> Assembly {
        let (configuration, dataDirectory) = (environment.configuration, environment.dataDirectory)
        let (group, pool, storeSync) = (environment.group, environment.pool, environment.storeSync)
        let directory: LiveDirectory
        let databasePath = LiveDirectory.databasePath(dataDirectory: dataDirectory)
        do {
            directory = try await LiveDirectory(
                store: try SQLiteDirectory(path: databasePath), mail: configuration.mail,
                logger: environment.logger(service: "directory"))
        } catch {
            throw StartupError(description: "data_dir: cannot open the directory \(databasePath): \(error)")
        }

        let dns = try resolver(configuration.dns, group: group, logger: environment.logger)
        let authentication = try messageAuthentication(configuration, dataDirectory: dataDirectory, resolver: dns)
        if let authentication {
            let domains = authentication.signingDomains.sorted()
            let intake = authentication.intake
            environment.logger.info(
                "mail authentication",
                metadata: [
                    "dkim_signing": "\(domains.isEmpty ? "none" : domains.joined(separator: ","))",
                    "dkim_verify": "\(intake.resolver != nil && intake.checksDKIM)", "spf": "\(intake.resolver != nil && intake.checksSPF)",
                    "dmarc": "\(intake.dmarc != nil)", "public_suffix_rules": "\(intake.dmarc?.suffixes.count ?? 0)",
                ])
            if let dmarc = intake.dmarc, dmarc.suffixes.count == 0 {
                environment.logger.warning(
                    "no Public Suffix List (install Debian's publicsuffix or set dmarc.public_suffix_list): organizational domains are guessed as the last two labels")
            }
        }
        let journal: MessageJournal
        let queue: QueueManager
        let remote: RemoteDeliveryAgent
        let mailboxStore: MaildirMailboxStore
        do {
            let queueLogger = environment.logger(service: "queue")
            // Opened in either sync mode: what an earlier run left in it must be replayed.
            journal = try MessageJournal(directory: "\(dataDirectory)/journal", pool: pool)
            let mailboxes = MaildirMailboxStore(
                root: "\(dataDirectory)/mailboxes", hostname: configuration.hostname, sync: storeSync,
                journal: journal, logger: queueLogger)
            mailboxStore = mailboxes
            var remoteConfiguration = remoteDeliveryConfiguration(configuration)
            if let signer = authentication.flatMap({ Self.reportSigner(hostname: configuration.hostname, signers: $0.signers) }),
                let sealer = ARCSealer(signer: signer)
            {
                let forwarding = ForwardSealer(
                    sealer: sealer, authservID: configuration.hostname, eventLoop: group.next(), logger: queueLogger)
                remoteConfiguration.prepare = { job, content in await forwarding.prepare(job, content) }
            }
            remote = try RemoteDeliveryAgent(
                configuration: remoteConfiguration, resolver: dns, group: group,
                pool: pool, logger: environment.logger(service: "smtp-client"))
            var queueConfiguration = QueueManager.Configuration(
                retry: RetrySchedule(
                    firstDelay: configuration.queue.retryDelay.wholeSeconds,
                    maximumDelay: configuration.queue.retryMaximumDelay.wholeSeconds,
                    maximumLifetime: configuration.queue.maximumLifetime.wholeSeconds),
                concurrency: configuration.queue.concurrency,
                destinationConcurrency: configuration.queue.destinationConcurrency,
                hostname: configuration.hostname,
                delayWarning: configuration.queue.delayWarning > .zero
                    ? configuration.queue.delayWarning.wholeSeconds : nil)
            if let signer = authentication.flatMap({ Self.reportSigner(hostname: configuration.hostname, signers: $0.signers) }) {
                queueConfiguration.signReport = { content, now in (try? signer.sign(message: content, now: now)) ?? content }
            }
            queue = QueueManager(
                store: try Spool(root: "\(dataDirectory)/spool", sync: storeSync), routing: directory.routing,
                agents: [
                    .local: LocalDeliveryAgent(mailboxes: mailboxes) { MaildirFolders(store: mailboxes, address: $0) },
                    .remote: remote,
                ],
                configuration: queueConfiguration,
                logger: queueLogger,
                clock: .system)
            try environment.open(queue)
            let replayed = try await mailboxes.recoverJournal()
            if replayed > 0 {
                environment.logger.notice(
                    "put messages from the journal into their mailboxes", metadata: ["messages": "\(replayed)"])
            }
        } catch {
            throw StartupError(description: "data_dir: cannot open the store in \(dataDirectory): \(error)")
        }

        var loginThrottle = LoginThrottle.Settings()
        loginThrottle.baseDelay = .nanoseconds(configuration.authentication.failureDelay.nanoseconds)
        loginThrottle.maximumDelay = .nanoseconds(configuration.authentication.maximumFailureDelay.nanoseconds)
        loginThrottle.window = .nanoseconds(configuration.authentication.failureWindow.nanoseconds)
        // Password hashes on threads of their own, never on the storage pool.
        let authenticator = Authenticator(
            accounts: directory.accounts, verifier: PasswordVerifier(), throttle: LoginThrottle(settings: loginThrottle))
        let window = Duration.nanoseconds(configuration.rateLimits.window.nanoseconds)
        let policy = RoutingPolicy(
            routing: directory.routing, relayNetworks: configuration.mail.relayNetworks.compactMap(IPNetwork.init),
            authenticator: authenticator,
            messageLimit: .init(count: configuration.rateLimits.messages, window: window),
            recipientLimit: .init(count: configuration.rateLimits.recipients, window: window),
            quota: RecipientQuota(accounts: directory.accounts, grace: configuration.mail.quotaGrace) { [mailboxStore] user in
                try await MaildirFolders(store: mailboxStore, address: user)?.usage() ?? MailboxUsage()
            })

        var services: [any Service] = [
            JournalCheckpoints(journal: journal, logger: environment.logger(service: "journal")),
            directory,
            RateLimitJournal(
                path: RateLimitJournal.path(dataDirectory: dataDirectory),
                limiters: ["messages": policy.messageRate, "recipients": policy.recipientRate],
                logger: environment.logger(service: "rate-limits")),
            queue,
        ]
        do {
            services.append(
                try await QueueControlServer.bind(
                    dataDirectory: dataDirectory, queue: queue, group: group,
                    logger: environment.logger(service: "control")))
        } catch {
            throw StartupError(
                description: "data_dir: cannot create the control socket "
                    + "\(QueueControlClient.socketPath(dataDirectory: dataDirectory)): \(error)")
        }
        let pidPath = QueueControlClient.pidPath(dataDirectory: dataDirectory)
        try? "\(getpid())\n".write(toFile: pidPath, atomically: true, encoding: .utf8)

        return Assembly(
            store: queue, policy: policy, mailAccess: DirectoryMailAccess(authenticator: authenticator, mailboxes: mailboxStore),
            guardsSubmission: true, authentication: authentication?.intake, services: services,
            storeAnnouncement: "tern: spool \(queue.location)",
            startAfterListeners: {
                guard let http = configuration.operationsHTTP else {
                    environment.announce("tern: ready")
                    return []
                }
                return [try operationsService(http, queue: queue, environment: environment)]
            },
            stop: {
                await remote.shutdown()
                await authenticator.shutdown()
            },
            cleanUp: { unlink(pidPath) })
    }

    /// `[http]`: `/metrics`, the health checks and the admin API. Announces its address, then
    /// "ready".
    static func operationsService(
        _ http: TernConfiguration.OperationsHTTP, queue: QueueManager, environment: Environment
    ) throws -> any Service {
        let directory: DirectoryAdministration
        do {
            directory = try DirectoryAdministration.open(
                dataDirectory: environment.dataDirectory, configuration: environment.configuration)
        } catch {
            throw StartupError(description: "http: cannot open the directory database: \(error)")
        }
        let administration = ServerAdministrator(
            queue: queue, dataDirectory: environment.dataDirectory, directory: directory)
        let host = http.address.contains(":") ? "[\(http.address)]" : http.address
        let announce = environment.announce
        return OperationsHTTP.service(
            host: http.address, port: http.port, metrics: environment.metrics, administration: administration,
            adminToken: http.adminToken, group: environment.group, logger: environment.logger(service: "http")
        ) { port in
            announce("tern: operations on http://\(host):\(port)\(http.adminToken == nil ? "" : " (admin API on)")")
            announce("tern: ready")
        }
    }

    /// `[dkim]`, `[spf]` and the keys in the data directory, or nil when Tern neither signs nor
    /// checks.
    static func messageAuthentication(
        _ configuration: TernConfiguration, dataDirectory: String, resolver: StubResolver
    ) throws -> (intake: MessageAuthentication, signingDomains: [String], signers: [String: DKIMSigner])? {
        let dkim = configuration.dkim
        let signers = dkim.sign ? try dkimSigners(configuration, dataDirectory: dataDirectory) : [:]
        let checks = dkim.verify || configuration.spf.verify || configuration.dmarc.verify
        guard !signers.isEmpty || checks else { return nil }
        let loaded = signers
        var intake = MessageAuthentication(
            authservID: configuration.hostname, resolver: checks ? resolver : nil,
            signatureLimit: dkim.maximumSignatures, signer: { loaded[$0] })
        intake.checksDKIM = dkim.verify
        intake.checksSPF = configuration.spf.verify
        if configuration.dmarc.verify {
            intake.dmarc = DMARCCheck(suffixes: try publicSuffixList(configuration.dmarc))
            intake.enforcesDMARCReject = configuration.dmarc.reject
            intake.quarantinesToJunk = configuration.dmarc.quarantineToJunk
        }
        return (intake, Array(loaded.keys), loaded)
    }

    /// The signers of the domains with keys in the data directory, with `[dkim] expiry`.
    static func dkimSigners(_ configuration: TernConfiguration, dataDirectory: String) throws -> [String: DKIMSigner] {
        do {
            let expiry = configuration.dkim.expiry
            return try DKIMKeyring.load(dataDirectory: dataDirectory, expiry: expiry > .zero ? expiry.wholeSeconds : nil)
        } catch {
            throw StartupError(description: "dkim: \(error)")
        }
    }

    /// The signer for reports from `MAILER-DAEMON@<hostname>`: that of the host name, or of the
    /// nearest domain above it with keys (mx.example.org's reports signed for example.org align
    /// with it under DMARC's relaxed mode).
    static func reportSigner(hostname: String, signers: [String: DKIMSigner]) -> DKIMSigner? {
        var labels = hostname.lowercased().split(separator: ".")
        while labels.count >= 2 {
            if let signer = signers[labels.joined(separator: ".")] { return signer }
            labels.removeFirst()
        }
        return nil
    }

    /// `[dmarc] public_suffix_list`, or Debian's copy; without either, only the default rule
    /// (every TLD a public suffix), which gets `example.co.uk` wrong: the log says so.
    static func publicSuffixList(_ dmarc: TernConfiguration.DMARC) throws -> PublicSuffixList {
        let path = dmarc.publicSuffixList ?? PublicSuffixList.debianPath
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            if dmarc.publicSuffixList != nil {
                throw StartupError(description: "dmarc.public_suffix_list: cannot read \(path)")
            }
            return PublicSuffixList()
        }
        return PublicSuffixList(text: text)
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
}

extension TimeAmount {
    /// Whole seconds, at least one (the queue schedules in seconds).
    fileprivate var wholeSeconds: Int64 { max(nanoseconds / 1_000_000_000, 1) }
}
