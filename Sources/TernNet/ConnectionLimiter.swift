import NIOConcurrencyHelpers

/// Counts open connections in total and per client address, so a flood from one address is
/// refused (421 4.7.0) while other clients are still served (hostile-inputs 43).
public final class ConnectionLimiter: Sendable {
    public struct Limits: Sendable, Hashable {
        public var total: Int
        public var perAddress: Int

        public init(total: Int, perAddress: Int) {
            self.total = total
            self.perAddress = perAddress
        }
    }

    private struct State {
        var total = 0
        var perAddress: [String: Int] = [:]
    }

    public let limits: Limits
    private let state = NIOLockedValueBox(State())

    public init(limits: Limits) {
        self.limits = limits
    }

    /// Takes a slot for `address`; false when a limit is reached. Every true must be matched
    /// by one `release`.
    public func acquire(_ address: String) -> Bool {
        state.withLockedValue { state in
            let current = state.perAddress[address, default: 0]
            guard state.total < limits.total, current < limits.perAddress else { return false }
            state.total += 1
            state.perAddress[address] = current + 1
            return true
        }
    }

    public func release(_ address: String) {
        state.withLockedValue { state in
            state.total -= 1
            let remaining = state.perAddress[address, default: 1] - 1
            state.perAddress[address] = remaining > 0 ? remaining : nil
        }
    }

    public var openConnections: Int { state.withLockedValue { $0.total } }

    /// True when four fifths of the connection slots are taken: timeouts then shrink, so
    /// slow clients cannot hold the last slots (Postfix's stress mode, hostile-inputs 44).
    public var isUnderPressure: Bool { state.withLockedValue { $0.total * 5 >= limits.total * 4 } }
}

/// Counts sessions per logged-in user across listeners (IMAP's and POP3's per-user cap, like
/// Dovecot's `mail_max_userip_connections`): one client that opens a connection per folder is
/// fine, a script that opens hundreds for one account is not.
public final class UserSessionLimiter: Sendable {
    public let perUser: Int
    private let sessions = NIOLockedValueBox([String: Int]())

    public init(perUser: Int) {
        self.perUser = perUser
    }

    /// Takes a session for `user` (case does not matter); false when the user has `perUser`
    /// already. Every true must be matched by one `release`.
    public func acquire(_ user: String) -> Bool {
        let key = user.lowercased()
        return sessions.withLockedValue { sessions in
            let current = sessions[key, default: 0]
            guard current < perUser else { return false }
            sessions[key] = current + 1
            return true
        }
    }

    public func release(_ user: String) {
        let key = user.lowercased()
        sessions.withLockedValue { sessions in
            let remaining = sessions[key, default: 1] - 1
            sessions[key] = remaining > 0 ? remaining : nil
        }
    }

    public func sessions(of user: String) -> Int {
        sessions.withLockedValue { $0[user.lowercased(), default: 0] }
    }
}
