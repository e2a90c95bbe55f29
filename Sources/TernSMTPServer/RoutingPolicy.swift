public import NIOCore
public import TernSASL
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
/// Logins are checked by the directory's `Authenticator` (bounded hashing off the event loops,
/// the brute-force brake shared with IMAP and POP3).
/// - The classic relay tricks land on one of those two: `user%other@local` and
///   `"user@other"@local` are local parts of a local domain (unknown unless configured);
///   a source route `@local:user@other` is dropped (§3.6.1) and `other` is judged;
///   `user@other@local` does not parse.
public struct RoutingPolicy: SMTPPolicy {
    public let routing: RoutingTable
    public let relayNetworks: [IPNetwork]
    public let authenticator: Authenticator
    /// The accounts of users who logged in, for the sender check that follows.
    let loggedIn = NIOLockedValueBox([String: Account]())
    /// Submission rate limits: messages and recipients per window, per user and per client
    /// address (authenticated sessions only; mail from other servers is not counted here).
    public let messageRate: RateLimiter
    public let recipientRate: RateLimiter
    /// Mailbox quotas at RCPT; nil checks none.
    public let quota: RecipientQuota?

    public init(
        routing: RoutingTable, relayNetworks: [IPNetwork],
        authenticator: Authenticator = Authenticator(accounts: AccountTable()),
        messageLimit: RateLimiter.Limit = .init(count: 0, window: .seconds(3600)),
        recipientLimit: RateLimiter.Limit = .init(count: 0, window: .seconds(3600)),
        quota: RecipientQuota? = nil
    ) {
        self.quota = quota
        self.messageRate = RateLimiter(limit: messageLimit)
        self.recipientRate = RateLimiter(limit: recipientLimit)
        self.routing = routing
        self.relayNetworks = relayNetworks
        self.authenticator = authenticator
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
        let (authenticator, loggedIn) = (self.authenticator, self.loggedIn)
        let client = session.clientAddress
        let promise = eventLoop.makePromise(of: ServerSessionStateMachine.AuthenticationDecision.self)
        promise.completeWithTask {
            switch try await authenticator.verify(credentials, client: client) {
            case .accepted(let account):
                loggedIn.withLockedValue { $0[account.address] = account }
                return .accepted(user: account.address)
            case .rejected: return .rejected
            case .unavailable: return .temporaryFailure
            }
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
        return SCRAMMechanism(login: authenticator.scramLogin(client: session.clientAddress), loggedIn: loggedIn)
    }

    public func checkRecipient(_ path: ForwardPath, _ parameters: RecipientParameters, session: SessionFacts)
        -> PolicyCheck
    {
        switch routing.current.resolve(path.mailbox) {
        case .deliver(let local, let remote):
            guard let quota, local.count == 1, remote.isEmpty, let eventLoop = session.eventLoop,
                let limit = quota.limit(of: local[0].address)
            else { return recipientAllowance(session) }
            let (address, size) = (local[0].address, session.declaredSize)
            let promise = eventLoop.makePromise(of: ServerSessionStateMachine.PolicyDecision.self)
            promise.completeWithTask { [self] in
                if let refusal = await quota.check(address, limit: limit, declaredSize: size) { return .reject(refusal) }
                return switch recipientAllowance(session) {
                case .decided(let decision): decision
                case .pending(let later): try await later.get()
                }
            }
            return .pending(promise.futureResult)
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

/// SMTP AUTH's side of a SCRAM-SHA-256 login: each step of the directory's exchange as a 334
/// challenge or an outcome (RFC 4954 §4: the server-final message goes as a challenge and the
/// client answers it with an empty response).
final class SCRAMMechanism: SASLMechanismServer {
    private let login: SCRAMLogin
    private let loggedIn: NIOLockedValueBox<[String: Account]>

    init(login: SCRAMLogin, loggedIn: NIOLockedValueBox<[String: Account]>) {
        self.login = login
        self.loggedIn = loggedIn
    }

    var username: String? { login.username }

    func respond(_ response: [UInt8], on eventLoop: any EventLoop) -> AuthenticationCheck {
        let (login, loggedIn) = (self.login, self.loggedIn)
        let promise = eventLoop.makePromise(of: ServerSessionStateMachine.AuthenticationDecision.self)
        promise.completeWithTask {
            switch try await login.respond(response) {
            case .challenge(let octets): return .challenge(octets)
            case .accepted(let account):
                loggedIn.withLockedValue { $0[account.address] = account }
                return .accepted(user: account.address)
            case .rejected: return .rejected
            case .malformed: return .malformed
            }
        }
        return .pending(promise.futureResult)
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
