public import Logging
public import NIOCore
import NIOPosix
import Synchronization
public import TernDNSCore

/// A stub resolver (RFC 1034 §5.3.1) that asks the configured recursive name servers over UDP,
/// falls back to TCP for truncated answers, and caches answers for their TTL.
///
/// For each question not in the cache: for each attempt, for each server in order, one try,
/// as glibc does: a UDP query with a random ID from a fresh random port, and if the answer has
/// TC set the same query over TCP. NOERROR and NXDOMAIN end the search; SERVFAIL, REFUSED,
/// FORMERR, NOTIMP, a timeout or a socket error move on to the next server. When every try has
/// failed the error thrown is the last temporary one (or the last one, if none was temporary).
/// A lookup therefore takes at most `attempts × servers × timeout` (twice that per try when a
/// TCP fallback happens) per name in a CNAME chain.
///
/// Concurrent lookups of the same name and type share one query in flight. Waiting callers
/// stay until that query ends (it is bounded by the timeouts above), even if cancelled.
public final class StubResolver: DNSResolving {
    /// Settings of a `StubResolver`, with glibc's defaults where glibc has one.
    public struct Configuration: Sendable {
        /// The recursive name servers, tried in order. Empty: every lookup throws
        /// `DNSError.Code.noNameServers`.
        public var nameServers: [SocketAddress]
        /// How long one try waits for its answer (glibc: 5 s, `options timeout:`).
        public var timeout: TimeAmount
        /// How many rounds over all servers (glibc: 2, `options attempts:`).
        public var attempts: Int
        /// How many answers the cache holds; 0 disables caching. Default 10,000.
        public var cacheCapacity: Int
        /// The longest a positive answer is cached, in seconds. Default one day.
        public var maximumTTL: UInt32
        /// The longest a negative answer is cached, in seconds (RFC 2308 §5 suggests one to
        /// three hours). Default one hour.
        public var maximumNegativeTTL: UInt32
        /// How many CNAMEs a lookup follows before failing with `.aliasLoop`. Default 8.
        public var maximumAliases: Int

        public init(
            nameServers: [SocketAddress],
            timeout: TimeAmount = .seconds(5),
            attempts: Int = 2,
            cacheCapacity: Int = 10_000,
            maximumTTL: UInt32 = 86_400,
            maximumNegativeTTL: UInt32 = 3_600,
            maximumAliases: Int = 8
        ) {
            self.nameServers = nameServers
            self.timeout = timeout
            self.attempts = max(1, attempts)
            self.cacheCapacity = cacheCapacity
            self.maximumTTL = maximumTTL
            self.maximumNegativeTTL = maximumNegativeTTL
            self.maximumAliases = max(0, maximumAliases)
        }

        /// The servers and options of a parsed resolv.conf; with no `nameserver` line,
        /// 127.0.0.1 port 53, as glibc.
        public init(resolvConf: ResolvConf) {
            var servers = resolvConf.nameServers
            if servers.isEmpty, let loopback = try? SocketAddress(ipAddress: "127.0.0.1", port: 53) {
                servers = [loopback]
            }
            self.init(
                nameServers: servers,
                timeout: .seconds(Int64(resolvConf.timeoutSeconds ?? 5)),
                attempts: resolvConf.attempts ?? 2
            )
        }

        /// The configuration of the system's resolver, from `/etc/resolv.conf` (or `path`).
        public static func system(resolvConfPath: String = "/etc/resolv.conf") throws -> Configuration {
            Configuration(resolvConf: try ResolvConf.load(path: resolvConfPath))
        }
    }

    private struct InFlight {
        var id: UInt64
        var task: Task<DNSAnswer<[DNSResourceRecord]>, any Error>
    }

    private enum Plan: Sendable {
        case cached(DNSAnswer<[DNSResourceRecord]>)
        case wait(Task<DNSAnswer<[DNSResourceRecord]>, any Error>)
    }

    private struct State {
        var cache: DNSCache
        var inFlight: [DNSCache.Key: InFlight] = [:]
        var nextFlightID: UInt64 = 0
    }

    public let configuration: Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let now: @Sendable () -> NIODeadline
    private let state: Mutex<State>
    private let queryCounter = Atomic<Int>(0)

    /// - Parameters:
    ///   - eventLoopGroup: where the sockets live; NIO's shared singleton when nil.
    ///   - logger: queries at `.trace`, failed tries at `.debug`; never more than names and
    ///     servers.
    ///   - now: the cache's clock (tests pass a manual one). Timeouts always use real time.
    public init(
        configuration: Configuration,
        eventLoopGroup: (any EventLoopGroup)? = nil,
        logger: Logger = Logger(label: "tern.dns"),
        now: @escaping @Sendable () -> NIODeadline = { NIODeadline.now() }
    ) {
        self.configuration = configuration
        self.group = eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
        self.logger = logger
        self.now = now
        self.state = Mutex(
            State(
                cache: DNSCache(
                    capacity: configuration.cacheCapacity,
                    maximumTTL: configuration.maximumTTL,
                    maximumNegativeTTL: configuration.maximumNegativeTTL
                )
            )
        )
    }

    /// How many queries this resolver has sent (UDP and TCP tries counted separately).
    public var queriesSent: Int { queryCounter.load(ordering: .relaxed) }

    /// How many answers the cache holds (expired ones included until they are next touched).
    public var cachedAnswers: Int { state.withLock { $0.cache.count } }

    /// Forgets every cached answer.
    public func removeAllCachedAnswers() {
        state.withLock { $0.cache.removeAll() }
    }

    public func lookup(_ name: DNSName, type: DNSRecordType) async throws -> DNSAnswer<[DNSResourceRecord]> {
        let key = DNSCache.Key(name: name, type: type)
        let now = self.now()
        let plan: Plan = state.withLock { state in
            if let cached = state.cache.answer(for: key, now: now) { return .cached(cached) }
            if let flight = state.inFlight[key] { return .wait(flight.task) }
            let id = state.nextFlightID
            state.nextFlightID += 1
            let task = Task { [self] in
                let result: Result<DNSAnswer<[DNSResourceRecord]>, any Error>
                do {
                    result = .success(try await resolve(name, type: type))
                } catch {
                    result = .failure(error)
                }
                let finished = self.now()
                self.state.withLock { state in
                    if state.inFlight[key]?.id == id { state.inFlight[key] = nil }
                    if case .success(let answer) = result { state.cache.insert(answer, for: key, now: finished) }
                }
                return try result.get()
            }
            state.inFlight[key] = InFlight(id: id, task: task)
            return .wait(task)
        }
        switch plan {
        case .cached(let answer):
            return answer
        case .wait(let task):
            return try await task.value
        }
    }

    /// The answer for `name` and `type` from the network, following CNAMEs across responses
    /// (and through the cache) up to `maximumAliases`.
    private func resolve(_ name: DNSName, type: DNSRecordType) async throws -> DNSAnswer<[DNSResourceRecord]> {
        var current = name
        var chainTTL = UInt32.max
        var aliases = 0
        var visited: Set<DNSName> = [name]
        while true {
            if current != name,
                let cached = state.withLock({
                    $0.cache.answer(for: DNSCache.Key(name: current, type: type), now: now())
                })
            {
                return cached.lowering(ttlTo: chainTTL)
            }
            let question = DNSQuestion(name: current, type: type)
            let response = try await exchange(question)
            switch response.outcome(for: question, maximumAliases: configuration.maximumAliases - aliases) {
            case .records(let records, let ttl):
                return .records(records, ttl: min(chainTTL, ttl))
            case .nameDoesNotExist(let ttl):
                return .nameDoesNotExist(ttl: min(chainTTL, ttl))
            case .noData(let ttl):
                return .noData(ttl: min(chainTTL, ttl))
            case .alias(let target, let ttl, let count):
                aliases += count
                guard aliases <= configuration.maximumAliases, visited.insert(target).inserted else {
                    throw DNSError(.aliasLoop, "following CNAMEs from \(name)")
                }
                chainTTL = min(chainTTL, ttl)
                current = target
            case .failure(let error):
                throw error
            }
        }
    }

    /// One question through the servers and attempts: the first NOERROR or NXDOMAIN response.
    private func exchange(_ question: DNSQuestion) async throws -> DNSMessage {
        let servers = configuration.nameServers
        guard !servers.isEmpty else { throw DNSError(.noNameServers, "asking for \(question)") }
        var lastError: DNSError?
        var lastTemporaryError: DNSError?
        for _ in 0..<configuration.attempts {
            for server in servers {
                try Task.checkCancellation()
                do {
                    let response = try await tryOnce(question, server: server)
                    switch response.header.responseCode {
                    case .noError, .nameError:
                        return response
                    default:
                        throw DNSError.responseCode(response.header.responseCode, "from \(server) for \(question)")
                    }
                } catch let error as DNSError {
                    logger.debug(
                        "DNS try failed",
                        metadata: [
                            "tern_dns_question": "\(question)", "tern_dns_server": "\(server)",
                            "tern_dns_error": "\(error)",
                        ]
                    )
                    lastError = error
                    if error.isTemporary { lastTemporaryError = error }
                }
            }
        }
        throw lastTemporaryError ?? lastError ?? DNSError(.timeout, "asking for \(question)")
    }

    /// One UDP query to one server, and the same over TCP if the answer is truncated.
    private func tryOnce(_ question: DNSQuestion, server: SocketAddress) async throws -> DNSMessage {
        // SystemRandomNumberGenerator reads the kernel's CSPRNG: IDs an off-path attacker
        // cannot predict (RFC 5452 §4.3).
        let query = DNSMessage.query(id: UInt16.random(in: .min ... .max), question: question)
        logger.trace("DNS query", metadata: ["tern_dns_question": "\(question)", "tern_dns_server": "\(server)"])
        queryCounter.add(1, ordering: .relaxed)
        let response = try await DNSTransport.udp(query, to: server, timeout: configuration.timeout, group: group)
        guard response.header.isTruncated else { return response }
        logger.trace("DNS answer truncated, retrying over TCP", metadata: ["tern_dns_question": "\(question)"])
        queryCounter.add(1, ordering: .relaxed)
        return try await DNSTransport.tcp(query, to: server, timeout: configuration.timeout, group: group)
    }
}

extension DNSAnswer {
    /// The same answer with its TTL at most `ttl`.
    fileprivate func lowering(ttlTo ttl: UInt32) -> DNSAnswer {
        switch self {
        case .records(let records, let own): .records(records, ttl: Swift.min(own, ttl))
        case .nameDoesNotExist(let own): .nameDoesNotExist(ttl: Swift.min(own, ttl))
        case .noData(let own): .noData(ttl: Swift.min(own, ttl))
        }
    }
}
