import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import TernDelivery
import TernDNS
import TernHTTP
import TernMailAuth
import TernSASL
import TernIMAPServer
import TernAccess
import TernSMTPCore
import TernSMTPServer
import TernStore
import TernStoreSQLite

extension TernServer {
    /// The developers' mail catcher: every recipient accepted into one catch-all Maildir with an
    /// inbox per login, AUTH with any credentials and without TLS (so an application's SMTP
    /// settings work unchanged; the user name is recorded with each message), and with
    /// `[catcher] http` the web UI and API.
    static func devAssembly(_ environment: Environment) async throws -> Assembly {
        let configuration = environment.configuration
        let catcher: CatcherStore
        do {
            catcher = try await CatcherStore.open(
                root: "\(environment.dataDirectory)/mailboxes/catch-all", hostname: configuration.hostname,
                sync: environment.storeSync, logger: environment.logger(service: "catcher"))
            try environment.open(catcher)
        } catch {
            throw StartupError(description: "data_dir: cannot open the store in \(environment.dataDirectory): \(error)")
        }
        let chaos = ChaosRules(rules: configuration.catcher.chaos)
        let policy = ChaosPolicy(
            base: AcceptAllPolicy(
                inboxes: AcceptAllPolicy.Inboxes(
                    needsInbox: { catcher.needsInbox(login: $0) }, openInbox: { try await catcher.openInbox($0) })),
            rules: chaos,
            inbox: { login in login.map { CatcherStore.inboxName(login: $0) } ?? CatcherStore.defaultInboxName })
        let tally = SMTPTally()
        return Assembly(
            store: catcher, policy: policy, mailAccess: CatcherMailAccess(catcher: catcher), guardsSubmission: false,
            configureSession: { session in
                session.authenticationMechanisms = [.plain, .login]
                session.authenticationRequiresTLS = false
            },
            tally: tally,
            storeAnnouncement: "tern: catch-all mailbox \(catcher.location) (Maildir)",
            startAfterListeners: {
                guard let http = configuration.http else {
                    environment.announce("tern: ready")
                    return []
                }
                return try await catcherServices(
                    store: catcher, http: http, environment: environment, tally: tally, chaos: chaos)
            })
    }

    /// The catcher's index, kept current, and its HTTP server.
    static func catcherServices(
        store: CatcherStore, http: TernConfiguration.HTTPListener, environment: Environment, tally: SMTPTally,
        chaos: ChaosRules
    ) async throws -> [any Service] {
        let (settings, hostname, group, pool) = (
            environment.configuration.catcher, environment.configuration.hostname, environment.group, environment.pool
        )
        let (metrics, announce) = (environment.metrics, environment.announce)
        let httpLogger = environment.logger(service: "http")
        let indexPath = "\(environment.dataDirectory)/catcher.sqlite"
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
            release = CatcherRelease(client: client, allowedDomains: settings.allowedDomains, eventLoop: group.next())
            if environment.configuration.dkim.sign {
                release?.signers = try dkimSigners(environment.configuration, dataDirectory: environment.dataDirectory)
            }
        }
        let host = http.address.contains(":") ? "[\(http.address)]" : http.address
        let information = CatcherInformation(
            databasePath: indexPath,
            releaseServer: settings.release.map { $0.host.contains(":") ? "[\($0.host)]:\($0.port)" : "\($0.host):\($0.port)" }
        ) { .init(accepted: tally.accepted, acceptedSize: tally.acceptedSize, refused: tally.refused) }
        let server = CatcherHTTP.service(
            catcher: catcher, host: http.address, port: http.port, metrics: metrics, release: release,
            authentication: try catcherAuthentication(environment, logger: httpLogger), information: information,
            chaos: CatcherChaosControl(store: chaos),
            allowedHosts: settings.allowedHosts,
            idleTimeout: .nanoseconds(settings.httpIdleTimeout.nanoseconds), group: group, logger: httpLogger
        ) { port in
            announce("tern: web UI and API on http://\(host):\(port)")
            announce("tern: ready")
        }
        guard let webhook = settings.webhook else { return [catcher, server] }
        return [catcher, server, CatcherWebhook(url: webhook, catcher: catcher, group: group, logger: httpLogger)]
    }

    /// The checks the catcher shows per message: `[dkim] verify`, `[spf] verify` and
    /// `[dmarc] verify` through `[dns]`'s resolver. Nil (the API then says why) when all three
    /// are off or no resolver can be had (a machine without /etc/resolv.conf): the catcher
    /// works without DNS.
    static func catcherAuthentication(_ environment: Environment, logger: Logger) throws -> CatcherAuthentication? {
        let configuration = environment.configuration
        guard configuration.dkim.verify || configuration.spf.verify || configuration.dmarc.verify else { return nil }
        let resolver: StubResolver
        do {
            resolver = try Self.resolver(configuration.dns, group: environment.group, logger: logger)
        } catch {
            logger.warning("no DNS resolver: the catcher shows no DKIM, SPF or DMARC verdicts", metadata: ["error": "\(error)"])
            return nil
        }
        var checks = ReceiverChecks(
            authservID: configuration.hostname, checksDKIM: configuration.dkim.verify, checksSPF: configuration.spf.verify)
        if configuration.dmarc.verify { checks.dmarc = DMARCCheck(suffixes: try publicSuffixList(configuration.dmarc)) }
        return CatcherAuthentication(checks: checks, resolver: resolver, signatureLimit: configuration.dkim.maximumSignatures)
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
}
