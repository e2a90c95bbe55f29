import CoreMetrics
import NIOConcurrencyHelpers
public import TernSASL

/// Checks logins against the account directory for every protocol that has them (SMTP AUTH,
/// IMAP LOGIN and AUTHENTICATE, POP3 USER/PASS and AUTH), so a brute-forcer meets one brake
/// whichever port it tries.
///
/// The password hash is computed by a `PasswordVerifier` (threads of its own, a bounded number
/// at once), never on an event loop or the storage pool; an unknown user costs the same hash as
/// a wrong password; and an attempt after recent failures of the client's address or the user
/// name waits before its hash, longer the more failures there were (`LoginThrottle`,
/// hostile-inputs 23), so guessing costs the guesser time before it costs the server a core.
public final class Authenticator: Sendable {
    public let accounts: any AccountDirectory
    let verifier: PasswordVerifier
    public let throttle: LoginThrottle

    /// What a login came to.
    public enum Outcome: Sendable {
        case accepted(Account)
        case rejected
        /// Too many hashes running or waiting: try again later (SMTP 454, IMAP `NO [UNAVAILABLE]`).
        case unavailable
    }

    public init(
        accounts: any AccountDirectory, verifier: PasswordVerifier = PasswordVerifier(),
        throttle: LoginThrottle = LoginThrottle()
    ) {
        self.accounts = accounts
        self.verifier = verifier
        self.throttle = throttle
    }

    /// Checks a user name and password (PLAIN, LOGIN, IMAP LOGIN, POP3 PASS) from `client`.
    /// Proxy authentication (an authzid naming someone else) is not offered.
    public func verify(_ credentials: SASLCredentials, client: String) async throws -> Outcome {
        // The brake comes first: recent failures make this attempt wait before it costs a hash.
        let user = credentials.username.lowercased()
        let brake = throttle.delay(client: client, user: user)
        if brake > .zero { try await Task.sleep(for: brake) }
        let account = try await accounts.account(named: credentials.username)
        let proxy = !credentials.authorizationID.isEmpty && credentials.authorizationID.lowercased() != user
        // The same work for an unknown user as for a known one: timing tells nothing.
        let hash = account?.passwordHash ?? LoginThrottle.decoyHash
        guard let matches = try await verifier.verify(password: credentials.password, against: hash) else {
            return .unavailable
        }
        if let account, account.enabled, matches, !proxy {
            throttle.succeeded(client: client, user: account.address)
            return .accepted(account)
        }
        throttle.failed(client: client, user: user)
        return .rejected
    }

    /// A new SCRAM-SHA-256 exchange (RFC 7677) with `client`.
    public func scramLogin(client: String) -> SCRAMLogin {
        SCRAMLogin(authenticator: self, client: client)
    }

    /// Stops the verifier's threads once the hashes in progress have finished.
    public func shutdown() async {
        await verifier.shutdown()
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
        // SMTP AUTH, IMAP and POP3 logins alike; looked up per failure, which is rare and slow.
        Counter(label: "tern_auth_failures_total").increment()
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
