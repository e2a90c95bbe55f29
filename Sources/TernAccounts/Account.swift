/// A user who may log in (SMTP AUTH, later IMAP and POP3) and send mail.
public struct Account: Sendable, Hashable {
    /// The login name and the user's own address, lower case (`alice@example.org`).
    public var address: String
    public var displayName: String?
    /// A `PasswordHash` PHC string; never the password.
    public var passwordHash: String
    /// Other addresses the user may send as (RFC 6409 §8: the MSA may check the sender).
    public var sendAs: [String]
    public var enabled: Bool

    public init(address: String, displayName: String? = nil, passwordHash: String, sendAs: [String] = [], enabled: Bool = true) {
        self.address = address.lowercased()
        self.displayName = displayName
        self.passwordHash = passwordHash
        self.sendAs = sendAs.map { $0.lowercased() }
        self.enabled = enabled
    }

    /// Whether the user may use `sender` as MAIL FROM: their own address or one they were
    /// granted, also with a `+tag` (sub-addressing, `delimiter`), in any case. The null sender
    /// (empty) is allowed: it is no one's address, and mail programs use it for their
    /// notifications.
    public func maySend(as sender: String, delimiter: Character?) -> Bool {
        guard !sender.isEmpty else { return true }
        let lowered = sender.lowercased()
        let allowed = Set([address] + sendAs)
        if allowed.contains(lowered) { return true }
        guard let delimiter, let at = lowered.lastIndex(of: "@") else { return false }
        let local = lowered[..<at]
        guard let cut = local.firstIndex(of: delimiter) else { return false }
        return allowed.contains(String(local[..<cut]) + lowered[at...])
    }
}

/// Where accounts come from: the configuration file today, a database later. Lookups are by
/// login name, case-insensitive.
public protocol AccountDirectory: Sendable {
    func account(named name: String) async throws -> Account?
}

/// Accounts declared in the configuration file (`[[user]]`): configuration as code.
public struct StaticAccountDirectory: AccountDirectory {
    private let accounts: [String: Account]

    public init(_ accounts: [Account]) {
        self.accounts = Dictionary(accounts.map { ($0.address, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func account(named name: String) async throws -> Account? {
        accounts[name.lowercased()]
    }

    public var isEmpty: Bool { accounts.isEmpty }
}
