public import NIOCore
public import TernDirectory
public import TernMIME
public import TernNet
public import TernSMTPCore
import NIOConcurrencyHelpers
public import TernMail

/// The MTA's recipient check (RFC 5321 §3.6, §7.1): local addresses must exist, anything else
/// is relaying and needs a trusted client. Tern is never an open relay.
///
/// - A local domain's address that resolves to nothing: `550 5.1.1` now, never a bounce later
///   (no backscatter).
/// - A remote address: accepted only from a relay network or an authenticated session;
///   otherwise `554 5.7.1 Relay access denied`.
/// - An authenticated user may send only as their own addresses (`Account.maySend`):
///   anything else is `553 5.7.1` (RFC 6409 §8, hostile-inputs 22).
///
/// Logins are checked against the account directory: the password hash is computed by a
/// `PasswordVerifier` (threads of its own, a bounded number at once), never on an event loop
/// or the storage pool; an unknown user costs the same hash as a wrong password, and an
/// attempt after recent failures of the client's address or the user name waits before its
/// hash, longer the more failures there were (`LoginThrottle`, hostile-inputs 23), so a
/// brute-forcer's attempts cost it time before they cost the server a core.
/// - The classic relay tricks land on one of those two: `user%other@local` and
///   `"user@other"@local` are local parts of a local domain (unknown unless configured);
///   a source route `@local:user@other` is dropped (§3.6.1) and `other` is judged;
///   `user@other@local` does not parse.
public struct RoutingPolicy: SMTPPolicy {
    public let routing: RoutingTable
    public let relayNetworks: [IPNetwork]
    public let accounts: any AccountDirectory
    private let verifier: PasswordVerifier
    let throttle: LoginThrottle
    /// The accounts of users who logged in, for the sender check that follows.
    let loggedIn = NIOLockedValueBox([String: Account]())
    /// Submission rate limits: messages and recipients per window, per user and per client
    /// address (authenticated sessions only; mail from other servers is not counted here).
    public let messageRate: RateLimiter
    public let recipientRate: RateLimiter

    public init(
        routing: RoutingTable, relayNetworks: [IPNetwork], accounts: any AccountDirectory = AccountTable(),
        verifier: PasswordVerifier = PasswordVerifier(), throttle: LoginThrottle = LoginThrottle(),
        messageLimit: RateLimiter.Limit = .init(count: 0, window: .seconds(3600)),
        recipientLimit: RateLimiter.Limit = .init(count: 0, window: .seconds(3600))
    ) {
        self.messageRate = RateLimiter(limit: messageLimit)
        self.recipientRate = RateLimiter(limit: recipientLimit)
        self.routing = routing
        self.relayNetworks = relayNetworks
        self.accounts = accounts
        self.verifier = verifier
        self.throttle = throttle
    }

    public func checkSender(_ path: ReversePath, _ parameters: MailParameters, session: SessionFacts) -> PolicyCheck {
        guard let user = session.authenticatedUser else { return .decided(.accept) }
        let sender = path.mailbox.map { "\($0.localPart)@\($0.domain)" } ?? ""
        let account = loggedIn.withLockedValue { $0[user] }
        guard let account, account.maySend(as: sender, delimiter: routing.current.recipientDelimiter) else {
            return .decided(.reject(.senderNotOwned))
        }
        guard messageRate.take(for: ["user:\(user)", "ip:\(session.clientAddress)"]) else {
            return .decided(.reject(.messageRateExceeded))
        }
        return .decided(.accept)
    }

    public func authenticate(_ credentials: SASLCredentials, session: SessionFacts, on eventLoop: any EventLoop)
        -> AuthenticationCheck
    {
        let (accounts, verifier, throttle, loggedIn) = (self.accounts, self.verifier, self.throttle, self.loggedIn)
        let client = session.clientAddress
        let promise = eventLoop.makePromise(of: ServerSessionStateMachine.AuthenticationDecision.self)
        promise.completeWithTask {
            // The brake comes first: recent failures make this attempt wait before it costs a hash.
            let user = credentials.username.lowercased()
            let brake = throttle.delay(client: client, user: user)
            if brake > .zero { try await Task.sleep(for: brake) }
            let account = try await accounts.account(named: credentials.username)
            // Proxy authentication (an authzid naming someone else) is not offered.
            let proxy = !credentials.authorizationID.isEmpty
                && credentials.authorizationID.lowercased() != credentials.username.lowercased()
            // The same work for an unknown user as for a known one: timing tells nothing.
            let hash = account?.passwordHash ?? LoginThrottle.decoyHash
            guard let matches = try await verifier.verify(password: credentials.password, against: hash) else {
                return .temporaryFailure
            }
            if let account, account.enabled, matches, !proxy {
                throttle.succeeded(client: client, user: account.address)
                loggedIn.withLockedValue { $0[account.address] = account }
                return .accepted(user: account.address)
            }
            throttle.failed(client: client, user: user)
            return .rejected
        }
        return .pending(promise.futureResult)
    }

    /// RFC 6409 §8.1 for an authenticated user: every From: and Sender: mailbox, and every
    /// address shown in their display names and comments, is one the user may send as
    /// (`Account.maySend`: their address or a granted one, a +tag of those, in any case).
    /// Fails closed: fields that cannot be read (no From:, unparseable, repeated and
    /// different) are refused like a stranger's address, `550 5.7.1`.
    public func checkHeaderSenders(_ originators: Result<Originators, Originators.Unreadable>, session: SessionFacts)
        -> SMTPReply?
    {
        guard let user = session.authenticatedUser else { return nil }
        guard case .success(let originators) = originators else { return .headerSenderUnreadable }
        let account = loggedIn.withLockedValue { $0[user] }
        let delimiter = routing.current.recipientDelimiter
        guard let account, !originators.authors.isEmpty,
            originators.addresses.allSatisfy({ !$0.isEmpty && account.maySend(as: $0, delimiter: delimiter) })
        else {
            return .headerSenderNotOwned
        }
        return nil
    }

    public func beginExchange(_ mechanism: SASLCredentials.Mechanism, session: SessionFacts)
        -> (any SASLMechanismServer)?
    {
        guard mechanism == .scramSHA256 else { return nil }
        return SCRAMLogin(policy: self, client: session.clientAddress)
    }

    public func checkRecipient(_ path: ForwardPath, _ parameters: RecipientParameters, session: SessionFacts)
        -> PolicyCheck
    {
        switch routing.current.resolve(path.mailbox) {
        case .deliver:
            return recipientAllowance(session)
        case .unknownUser:
            return .decided(.reject(.unknownUser))
        case .remote:
            guard mayRelay(session) else { return .decided(.reject(.relayDenied)) }
            return recipientAllowance(session)
        }
    }

    private func recipientAllowance(_ session: SessionFacts) -> PolicyCheck {
        guard let user = session.authenticatedUser else { return .decided(.accept) }
        guard recipientRate.take(for: ["user:\(user)", "ip:\(session.clientAddress)"]) else {
            return .decided(.reject(.recipientRateExceeded))
        }
        return .decided(.accept)
    }

    func mayRelay(_ session: SessionFacts) -> Bool {
        session.authenticatedUser != nil || relayNetworks.contains { $0.contains(session.clientAddress) }
    }

    /// The clients that may relay are the ones whose sender addresses Tern vouches for.
    public func vouchesForSender(_ session: SessionFacts) -> Bool {
        mayRelay(session)
    }
}

/// The brute-force brake: failed logins per client address and per user name in the last
/// `window`; the next attempt of that address or user name waits, before its password is
/// hashed, a delay that doubles with that count, from `baseDelay` up to `maximumDelay`. A
/// success clears the user's count and the address's. Nothing locks the account for its
/// owner: a client that keeps failing only slows itself.
public final class LoginThrottle: Sendable {
    public struct Settings: Sendable {
        public var baseDelay: Duration = .milliseconds(500)
        public var maximumDelay: Duration = .seconds(16)
        public var window: Duration = .seconds(15 * 60)

        public init() {}
    }

    /// Verified when the user does not exist, so that answer costs the same.
    static let decoyHash = (try? PasswordHash.make(password: "decoy \(UInt64.random(in: 0...UInt64.max))")) ?? ""

    private struct Failures {
        var count: Int
        var since: ContinuousClock.Instant
    }

    private let settings: Settings
    private let failures = NIOLockedValueBox([String: Failures]())

    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    /// Records a failure of `client` and `user`.
    func failed(client: String, user: String) {
        let now = ContinuousClock.now
        let window = settings.window
        failures.withLockedValue { table in
            for key in ["ip:\(client)", "user:\(user)"] {
                var entry = table[key] ?? Failures(count: 0, since: now)
                if entry.since.duration(to: now) > window { entry = Failures(count: 0, since: now) }
                entry.count = min(entry.count + 1, 1_000_000)
                table[key] = entry
            }
            if table.count > 100_000 { table.removeAll() }  // bounded memory under a flood
        }
    }

    /// How long an attempt of `client` as `user` waits before its hash: nothing without recent
    /// failures, else `baseDelay` doubled for each failure after the first, at most
    /// `maximumDelay`.
    func delay(client: String, user: String) -> Duration {
        let now = ContinuousClock.now
        let window = settings.window
        let count = failures.withLockedValue { table in
            ["ip:\(client)", "user:\(user)"].compactMap { table[$0] }.filter { $0.since.duration(to: now) <= window }
                .map(\.count).max() ?? 0
        }
        guard count > 0 else { return .zero }
        let factor = 1 << min(count - 1, 16)
        return min(settings.baseDelay * factor, settings.maximumDelay)
    }

    func succeeded(client: String, user: String) {
        failures.withLockedValue { table in
            table["ip:\(client)"] = nil
            table["user:\(user)"] = nil
        }
    }
}

extension SMTPReply {
    static let unknownUser = SMTPReply(550, EnhancedStatusCode(5, 1, 1), "Error: no such user here")
    static let relayDenied = SMTPReply(554, EnhancedStatusCode(5, 7, 1), "Error: relay access denied")
    // RFC 3463 X.7.1 (delivery not authorized) with a 4yz: try again later.
    static let messageRateExceeded = SMTPReply(
        450, EnhancedStatusCode(4, 7, 1), "Rate limit: too many messages for now; try again later")
    static let recipientRateExceeded = SMTPReply(
        452, EnhancedStatusCode(4, 7, 1), "Rate limit: too many recipients for now; try again later")
    static let headerSenderNotOwned = SMTPReply(
        550, EnhancedStatusCode(5, 7, 1), "From: or Sender: header names an address not owned by the authenticated user")
    static let headerSenderUnreadable = SMTPReply(
        550, EnhancedStatusCode(5, 7, 1),
        "From: or Sender: header missing, repeated or unreadable; it must name the authenticated user's addresses")
    static let senderNotOwned = SMTPReply(
        553, EnhancedStatusCode(5, 7, 1), "Sender address rejected: not owned by the authenticated user")
}
