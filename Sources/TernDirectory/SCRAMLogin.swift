import NIOConcurrencyHelpers

/// A SCRAM-SHA-256 login (RFC 7677) against the account directory, one per AUTH or
/// AUTHENTICATE command, whichever protocol carries it.
///
/// client-first → look the user up, answer server-first (salt, iterations) · client-final →
/// check the proof, answer server-final (the server's signature, which the client checks) ·
/// the client's empty response → accepted (SMTP, IMAP and POP3 have no "additional data with
/// success" everywhere, so server-final goes as a challenge). An unknown or disabled user, or
/// one whose hash cannot serve SCRAM, gets a salt derived from its name and the default cost,
/// so the exchange looks the same until the proof fails (RFC 5802 §5.1). Failures go through
/// the same brute-force brake as PLAIN.
public final class SCRAMLogin: Sendable {
    public enum Step: Sendable {
        /// Send these octets to the client and wait for its next response.
        case challenge([UInt8])
        case accepted(Account)
        case rejected
        /// The response is not a SCRAM message of this stage.
        case malformed
    }

    private enum Stage {
        case clientFirst
        case clientFinal(account: Account?)
        case acknowledgement(account: Account)
        case finished
    }

    private struct State {
        var exchange = SCRAMServerExchange()
        var stage = Stage.clientFirst
        var username: String?
    }

    private let authenticator: Authenticator
    private let client: String
    private let state = NIOLockedValueBox(State())

    init(authenticator: Authenticator, client: String) {
        self.authenticator = authenticator
        self.client = client
    }

    /// The user name the client gave, once it gave one (for the log).
    public var username: String? { state.withLockedValue { $0.username } }

    /// The client's next (decoded) response.
    public func respond(_ response: [UInt8]) async throws -> Step {
        let stage = state.withLockedValue { $0.stage }
        switch stage {
        case .clientFirst:
            return try await start(response)
        case .clientFinal(let account):
            let result = state.withLockedValue { state in
                state.stage = .finished
                return Result { () throws(SCRAMServerExchange.Failure) in try state.exchange.receiveClientFinal(response) }
            }
            switch result {
            case .success(let serverFinal):
                // `account` is nil only for the decoy, whose proof can never hold.
                guard let account else { return failed() }
                state.withLockedValue { $0.stage = .acknowledgement(account: account) }
                return .challenge(serverFinal)
            case .failure(.malformed):
                return .malformed
            case .failure:
                return failed()
            }
        case .acknowledgement(let account):
            state.withLockedValue { $0.stage = .finished }
            guard response.isEmpty else { return .malformed }
            authenticator.throttle.succeeded(client: client, user: account.address)
            return .accepted(account)
        case .finished:
            return .malformed
        }
    }

    private func start(_ clientFirst: [UInt8]) async throws -> Step {
        let parsed = state.withLockedValue { state in
            Result { () throws(SCRAMServerExchange.Failure) in try state.exchange.receiveClientFirst(clientFirst) }
        }
        guard case .success(let (username, authorizationID)) = parsed else {
            state.withLockedValue { $0.stage = .finished }
            return .malformed
        }
        state.withLockedValue { $0.username = username }
        // The brake, as for PLAIN: recent failures make the exchange wait before it goes on.
        let brake = authenticator.throttle.delay(client: client, user: username.lowercased())
        if brake > .zero { try await Task.sleep(for: brake) }
        let found = try await authenticator.accounts.account(named: username)
        // Proxy authentication (an authzid naming someone else) is not offered.
        let proxy = !authorizationID.isEmpty && authorizationID.lowercased() != username.lowercased()
        let account = found.flatMap { $0.enabled && !proxy ? $0 : nil }
        let credentials = account.flatMap { SCRAMCredentials(stored: $0.passwordHash) }
        let serverFirst = state.withLockedValue { state in
            state.stage = .clientFinal(account: credentials == nil ? nil : account)
            return state.exchange.serverFirst(credentials: credentials, decoy: SCRAMServerExchange.decoy(for: username))
        }
        return .challenge(serverFirst)
    }

    /// A failed proof counts toward the brake, like a wrong PLAIN password.
    private func failed() -> Step {
        authenticator.throttle.failed(client: client, user: (username ?? "").lowercased())
        return .rejected
    }
}
