import NIOCore
import NIOConcurrencyHelpers
import TernDirectory
import TernSMTPCore

/// A SCRAM-SHA-256 login (RFC 7677) against the account directory, one per AUTH command.
///
/// client-first → look the user up, answer server-first (salt, iterations) · client-final →
/// check the proof, answer server-final (the server's signature, which the client checks) ·
/// the client's empty response → 235. An unknown or disabled user, or one whose hash cannot
/// serve SCRAM, gets a salt derived from its name and the default cost, so the exchange looks
/// the same until the proof fails (RFC 5802 §5.1). Failures go through the same brute-force
/// brake as PLAIN and LOGIN.
final class SCRAMLogin: SASLMechanismServer {
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

    private let policy: RoutingPolicy
    private let client: String
    private let state = NIOLockedValueBox(State())

    init(policy: RoutingPolicy, client: String) {
        self.policy = policy
        self.client = client
    }

    var username: String? { state.withLockedValue { $0.username } }

    func respond(_ response: [UInt8], on eventLoop: any EventLoop) -> AuthenticationCheck {
        let stage = state.withLockedValue { $0.stage }
        switch stage {
        case .clientFirst:
            let promise = eventLoop.makePromise(of: ServerSessionStateMachine.AuthenticationDecision.self)
            promise.completeWithTask { try await self.start(response) }
            return .pending(promise.futureResult)
        case .clientFinal(let account):
            let result = state.withLockedValue { state in
                state.stage = .finished
                return Result { () throws(SCRAMServerExchange.Failure) in try state.exchange.receiveClientFinal(response) }
            }
            switch result {
            case .success(let serverFinal):
                // `account` is nil only for the decoy, whose proof can never hold.
                guard let account else { return failed(on: eventLoop) }
                state.withLockedValue { $0.stage = .acknowledgement(account: account) }
                return .decided(.challenge(serverFinal))
            case .failure(.malformed):
                return .decided(.malformed)
            case .failure:
                return failed(on: eventLoop)
            }
        case .acknowledgement(let account):
            state.withLockedValue { $0.stage = .finished }
            // RFC 4954 §4: SMTP has no "additional data with success", so the server-final
            // message went as a challenge and the client answers it with an empty response.
            guard response.isEmpty else { return .decided(.malformed) }
            policy.throttle.succeeded(client: client, user: account.address)
            policy.loggedIn.withLockedValue { $0[account.address] = account }
            return .decided(.accepted(user: account.address))
        case .finished:
            return .decided(.malformed)
        }
    }

    private func start(_ clientFirst: [UInt8]) async throws -> ServerSessionStateMachine.AuthenticationDecision {
        let parsed = state.withLockedValue { state in
            Result { () throws(SCRAMServerExchange.Failure) in try state.exchange.receiveClientFirst(clientFirst) }
        }
        guard case .success(let (username, authorizationID)) = parsed else {
            state.withLockedValue { $0.stage = .finished }
            return .malformed
        }
        state.withLockedValue { $0.username = username }
        // The brake, as for PLAIN: recent failures make the exchange wait before it goes on.
        let brake = policy.throttle.delay(client: client, user: username.lowercased())
        if brake > .zero { try await Task.sleep(for: brake) }
        let found = try await policy.accounts.account(named: username)
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
    private func failed(on eventLoop: any EventLoop) -> AuthenticationCheck {
        policy.throttle.failed(client: client, user: (username ?? "").lowercased())
        return .decided(.rejected)
    }
}
