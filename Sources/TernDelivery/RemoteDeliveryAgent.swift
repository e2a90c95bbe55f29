public import Logging
public import NIOCore
public import NIOPosix
import NIOSSL
public import TernDNSCore
import TernMail
public import TernQueue
public import TernSMTPCore
public import TernStore

/// The SMTP delivery agent (Postfix's smtp(8)): relays a queued message to the server that
/// the recipient domain's MX records name, or to a configured relay host, and reports what
/// each recipient's server said.
///
/// RFC 5321 §5.1: MX hosts are tried in preference order (equal preferences in random
/// order); a domain without MX records is its own implicit MX; a null MX (RFC 7505) fails at
/// once with 556 5.1.10, a domain that does not exist with 550 5.1.2, and a DNS failure
/// defers (4.4.3). On each host, recipients still undecided after a 4yz or a broken session
/// are tried on the next address (§4.5.4.1: "try the alternates"); whatever is undecided after
/// the last one is deferred with the last reply heard.
///
/// Opportunistic STARTTLS (RFC 3207, RFC 7435) without certificate checks, as Postfix's
/// `smtp_tls_security_level = may`: when the handshake fails, the same host is tried once more
/// in cleartext if the configuration allows it. Sessions are cached per server address for the
/// next message (`ConnectionCache`).
///
/// A relay host with `required` or `implicit` security is authenticated (`Relay.verification`,
/// by default the system trust store and the relay's configured name, as Postfix's `secure`
/// level): a certificate that fails the check defers the message (451 4.7.5 with the reason),
/// never falls back to cleartext, and the credentials are not sent.
public final class RemoteDeliveryAgent: DeliveryAgent {
    /// Where a domain's mail goes instead of its MX: a relay host (smarthost).
    public struct Relay: Sendable, Hashable {
        /// A host name (looked up with A/AAAA, not MX) or an IP address.
        public var host: String
        public var port: Int
        public var security: TransportSecurity
        /// AUTH with these (RFC 4954), only over TLS.
        public var credentials: ClientSessionStateMachine.Credentials?
        /// How the relay's certificate is checked with `required` and `implicit` security
        /// (the name checked is `host`). Opportunistic TLS checks nothing. Default: the system
        /// trust store.
        public var verification: ServerCertificateCheck

        public init(
            host: String, port: Int = 25, security: TransportSecurity = .opportunistic,
            credentials: ClientSessionStateMachine.Credentials? = nil,
            verification: ServerCertificateCheck = .systemTrustStore
        ) {
            self.host = host
            self.port = port
            self.security = security
            self.credentials = credentials
            self.verification = verification
        }

        /// The check in force: only a relay that must speak TLS is authenticated.
        var effectiveVerification: ServerCertificateCheck {
            security.authenticatesPeer ? verification : .none
        }
    }

    public struct Configuration: Sendable {
        /// The name sent with EHLO (this server's fully qualified name).
        public var hostname: String
        /// The port MX hosts are reached on. Default 25 (tests point it elsewhere).
        public var port: Int
        /// STARTTLS use with MX hosts. Default opportunistic.
        public var tlsPolicy: ClientSessionStateMachine.TLSPolicy
        /// After a failed opportunistic handshake, try the host again in cleartext. Default true.
        public var cleartextFallback: Bool
        /// Domain (lower case) → relay host; `*` applies to every domain without its own.
        public var routes: [String: Relay]
        public var connectTimeout: TimeAmount
        public var timeouts: ClientSessionStateMachine.Timeouts
        /// Addresses tried per attempt, over all MX hosts (Postfix's smtp_mx_address_limit).
        public var maximumAddresses: Int
        /// How long an idle session waits for the next message.
        public var connectionIdleTime: Duration
        /// Messages per cached session before it is renewed.
        public var messagesPerConnection: Int
        /// What a job sends instead of the stored content (TernApp's ARC sealing of forwarded
        /// mail); nil sends the content as stored.
        public var prepare: (@Sendable (DeliveryJob, any MessageSource) async -> any MessageSource)?

        public init(
            hostname: String, port: Int = 25, tlsPolicy: ClientSessionStateMachine.TLSPolicy = .opportunistic,
            cleartextFallback: Bool = true, routes: [String: Relay] = [:], connectTimeout: TimeAmount = .seconds(30),
            timeouts: ClientSessionStateMachine.Timeouts = .init(), maximumAddresses: Int = 5,
            connectionIdleTime: Duration = .seconds(2), messagesPerConnection: Int = 100
        ) {
            self.hostname = hostname
            self.port = port
            self.tlsPolicy = tlsPolicy
            self.cleartextFallback = cleartextFallback
            self.routes = routes
            self.connectTimeout = connectTimeout
            self.timeouts = timeouts
            self.maximumAddresses = maximumAddresses
            self.connectionIdleTime = connectionIdleTime
            self.messagesPerConnection = messagesPerConnection
        }
    }

    /// One server to try: the name it was found under and its address.
    struct Target: Hashable, Sendable {
        var name: String
        var address: SocketAddress
        var security: TransportSecurity
        var credentials: ClientSessionStateMachine.Credentials? = nil
        var verification: ServerCertificateCheck = .none
    }

    enum Resolution: Hashable, Sendable {
        case targets([Target])
        /// Every recipient fails with this reply.
        case failed(SMTPReply)
        /// Every recipient is deferred with this reply.
        case deferred(SMTPReply)
    }

    public let configuration: Configuration
    private let resolver: any DNSResolving
    private let group: any EventLoopGroup
    private let pool: NIOThreadPool
    /// One client context per certificate check in use: `.none` for MX hosts, and one per
    /// distinct check of the routes.
    private let tls: [ServerCertificateCheck: NIOSSLContext]
    private let cache: ConnectionCache
    private let logger: Logger

    public init(
        configuration: Configuration, resolver: any DNSResolving, group: any EventLoopGroup, pool: NIOThreadPool,
        logger: Logger
    ) throws {
        self.configuration = configuration
        self.resolver = resolver
        self.group = group
        self.pool = pool
        self.logger = logger
        // Opportunistic TLS authenticates nobody (RFC 7435 §1.3): any certificate is taken,
        // as a peer that cannot be verified is still better encrypted than not. A relay that
        // gets credentials is checked as its route says.
        var contexts: [ServerCertificateCheck: NIOSSLContext] = [:]
        for verification in Set(configuration.routes.values.map(\.effectiveVerification)).union([.none]) {
            contexts[verification] = try verification.makeClientContext()
        }
        self.tls = contexts
        self.cache = ConnectionCache(
            limits: .init(
                idleTime: configuration.connectionIdleTime, maximumMessages: configuration.messagesPerConnection))
    }

    /// Ends the cached idle sessions (QUIT).
    public func shutdown() async {
        await cache.finishAll()
    }

    public func deliver(_ job: DeliveryJob) async -> [DeliveryResult] {
        let domain = job.items.first.map { DeliveryJob.domain(of: $0.delivery.recipient) } ?? ""
        let targets: [Target]
        switch await resolve(domain) {
        case .failed(let reply): return job.items.map { _ in DeliveryResult(.failed(reply)) }
        case .deferred(let reply): return job.items.map { _ in DeliveryResult(.deferred(reply)) }
        case .targets(let found): targets = found
        }
        var body: any MessageSource
        do {
            body = try await job.openContent()
        } catch {
            return job.items.map { _ in DeliveryResult(.deferred(.cannotReadQueuedMessage(error))) }
        }
        if let prepare = configuration.prepare { body = await prepare(job, body) }

        var results = [DeliveryResult?](repeating: nil, count: job.items.count)
        var lastFailure = DeliveryResult(.deferred(.noServerReached(domain: domain)))
        for target in targets.prefix(configuration.maximumAddresses) {
            let undecided = results.indices.filter { results[$0] == nil }
            guard !undecided.isEmpty else { break }
            let heard = await attempt(job, items: undecided, body: body, at: target)
            for (index, result) in heard {
                if case .deferred = result.outcome {
                    lastFailure = result
                } else {
                    results[index] = result
                }
            }
        }
        return results.map { $0 ?? lastFailure }
    }

    // MARK: Sending

    /// Tries the `items` of `job` on one server: a cached session or a new one, then, if the
    /// TLS handshake failed and policy allows, once more in cleartext. Returns each item's
    /// result from this server.
    private func attempt(_ job: DeliveryJob, items: [Int], body: any MessageSource, at target: Target) async
        -> [(Int, DeliveryResult)]
    {
        // Sessions differ by what was negotiated on them: TLS policy, the certificate check and
        // the name it checked, and login.
        let checked = target.verification == .none ? "" : "\(target.verification)|\(target.name)"
        let key = "\(target.security.rawValue)|\(checked)|\(target.credentials?.username ?? "")|\(target.address)"
        let message = outboundMessage(job, items: items, size: body.size)
        var security = target.security
        var reusedFirst = true
        while true {
            let connection: SMTPClientConnection
            var reused = false
            if reusedFirst, let cached = await cache.take(key) {
                connection = cached
                reused = true
            } else {
                do {
                    connection = try await SMTPClientConnection.connect(
                        to: target.address, hostName: target.name,
                        configuration: sessionConfiguration(security, credentials: target.credentials),
                        tls: security == .none ? nil : tls[target.verification], group: group,
                        connectTimeout: configuration.connectTimeout,
                        logger: logger)
                } catch {
                    let relay = "\(target.name)[\(target.address.ipAddress ?? "?")]:\(target.address.port ?? 0)"
                    return items.map { ($0, DeliveryResult(.deferred(.cannotConnect(to: relay, error)), relay: relay)) }
                }
            }
            reusedFirst = false
            let transfer = await connection.send(message, body: body)
            if transfer.reusable {
                await cache.put(connection, key: key)
            } else {
                await cache.forget(connection)
                connection.close()
            }
            let failure = transfer.sessionFailure
            // A cached session the server dropped while it waited says nothing about the
            // message: open a new one.
            if reused, let failure, failure.isLocal, transfer.report.recipients.allSatisfy({ !$0.outcome.isFinal }) {
                continue
            }
            if let failure, failure.mayRetryWithoutTLS, security == .opportunistic, configuration.cleartextFallback {
                logger.info(
                    "TLS handshake failed; trying again without TLS",
                    metadata: ["relay": "\(connection.relay)", "tern_queue_id": "\(job.messageID)"])
                security = .none
                continue
            }
            return zip(items, transfer.report.recipients).map { index, result in
                let reply = (result.outcome.isFinal ? nil : transfer.localError) ?? result.outcome.reply
                let outcome: DeliveryOutcome
                switch result.outcome {
                case .delivered: outcome = .delivered(reply)
                case .failed: outcome = .failed(reply)
                case .deferred: outcome = .deferred(reply)
                }
                return (
                    index,
                    DeliveryResult(
                        outcome, relay: connection.relay, tls: transfer.report.tls,
                        remoteSupportsDSN: transfer.report.remoteSupportsDSN)
                )
            }
        }
    }

    private func sessionConfiguration(
        _ security: TransportSecurity, credentials: ClientSessionStateMachine.Credentials?
    ) -> ClientSessionStateMachine.Configuration {
        var session = ClientSessionStateMachine.Configuration(hostname: configuration.hostname)
        session.timeouts = configuration.timeouts
        session.credentials = credentials
        security.configure(&session, opportunisticPolicy: configuration.tlsPolicy)
        return session
    }

    /// The envelope for the chosen items: the original sender, each recipient with the
    /// NOTIFY and ORCPT it arrived with (RFC 3461 §5.2.1: relayed as given; when alias
    /// expansion changed the address and no ORCPT came, the original goes as ORCPT).
    func outboundMessage(_ job: DeliveryJob, items: [Int], size: Int) -> OutboundMessage {
        var envelope = job.message.envelope
        envelope.recipients = items.map { position -> EnvelopeRecipient in
            let delivery = job.items[position].delivery
            let arrived = job.message.envelopeRecipient(of: delivery)
            var original = arrived?.originalRecipient
            if original == nil, delivery.original.lowercased() != delivery.recipient.lowercased(),
                delivery.original.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "=") })
            {
                original = OriginalRecipient(addressType: "rfc822", encodedAddress: delivery.original)
            }
            return EnvelopeRecipient(
                address: MailAddress(storedOrBare: delivery.recipient), notify: arrived?.notify, originalRecipient: original)
        }
        return OutboundMessage(envelope: envelope, size: size)
    }

    // MARK: Routing

    /// The servers for `domain`, in the order to try them.
    func resolve(_ domain: String) async -> Resolution {
        if let relay = configuration.routes[domain] ?? configuration.routes["*"] {
            return await relayTargets(relay)
        }
        // An address literal (RFC 5321 §4.1.3): that host, no DNS.
        if domain.hasPrefix("["), domain.hasSuffix("]") {
            var literal = String(domain.dropFirst().dropLast())
            if literal.lowercased().hasPrefix("ipv6:") { literal.removeFirst(5) }
            guard let address = try? SocketAddress(ipAddress: literal, port: configuration.port) else {
                return .failed(.invalidAddressLiteral(domain))
            }
            return .targets([Target(name: literal, address: address, security: .opportunistic)])
        }
        let name: DNSName
        do {
            name = try DNSName(domain)
        } catch {
            return .failed(.invalidRecipientDomain(domain))
        }
        let route: MXRoute
        do {
            route = MXRoute(answer: try await resolver.mx(domain), domain: name)
        } catch {
            return Self.dnsFailure(error, question: "MX", name: domain)
        }
        switch route {
        case .nullMX:
            return .failed(.nullMX(domain))
        case .domainDoesNotExist:
            return .failed(.domainDoesNotExist(domain))
        case .exchanges(let exchanges):
            var targets: [Target] = []
            var temporary: SMTPReply?
            for exchange in exchanges {
                let host = exchange.exchange.description
                do {
                    guard case .records(let addresses, _) = try await resolver.addresses(host) else { continue }
                    for address in addresses {
                        guard let socket = try? SocketAddress(ipAddress: address.description, port: configuration.port)
                        else { continue }
                        targets.append(Target(name: host, address: socket, security: .opportunistic))
                    }
                } catch {
                    if case .deferred(let reply) = Self.dnsFailure(error, question: "A/AAAA", name: host) {
                        temporary = reply
                    }
                }
                if targets.count >= configuration.maximumAddresses { break }
            }
            if !targets.isEmpty { return .targets(targets) }
            if let temporary { return .deferred(temporary) }
            return .failed(.noAddressForMailServers(domain))
        }
    }

    private func relayTargets(_ relay: Relay) async -> Resolution {
        if let address = try? SocketAddress(ipAddress: relay.host, port: relay.port) {
            return .targets([
                Target(
                    name: relay.host, address: address, security: relay.security, credentials: relay.credentials,
                    verification: relay.effectiveVerification)
            ])
        }
        do {
            guard case .records(let addresses, _) = try await resolver.addresses(relay.host) else {
                // A configuration mistake: keep the mail until it is fixed.
                return .deferred(.relayHostHasNoAddress(relay.host))
            }
            return .targets(
                addresses.compactMap { address in
                    (try? SocketAddress(ipAddress: address.description, port: relay.port)).map {
                        Target(
                            name: relay.host, address: $0, security: relay.security, credentials: relay.credentials,
                            verification: relay.effectiveVerification)
                    }
                })
        } catch {
            return .deferred(.cannotResolveRelayHost(relay.host, error))
        }
    }

    /// A lookup that failed without an answer: temporary failures defer (RFC 5321 §5.1),
    /// anything else fails.
    static func dnsFailure(_ error: any Error, question: String, name: String) -> Resolution {
        if let error = error as? DNSError, !error.isTemporary {
            return .failed(.dnsLookupFailed(question: question, name: name, error, permanent: true))
        }
        return .deferred(.dnsLookupFailed(question: question, name: name, error, permanent: false))
    }
}

extension ClientSessionStateMachine.RecipientOutcome {
    /// Delivered or failed: this server's word is final.
    var isFinal: Bool {
        if case .deferred = self { return false }
        return true
    }
}
