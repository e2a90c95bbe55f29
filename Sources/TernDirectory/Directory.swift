import Synchronization

/// Where logins are checked: lookups by login name, case-insensitive.
public protocol AccountDirectory: Sendable {
    func account(named name: String) async throws -> Account?
}

/// Accounts in memory, replaced as a whole when their source changes (the configuration's
/// `[[user]]` entries merged with the directory database). Lookups never touch a disk.
public final class AccountTable: AccountDirectory {
    private let accounts: Mutex<[String: Account]>

    public init(_ accounts: [Account] = []) {
        self.accounts = Mutex(Self.index(accounts))
    }

    public func account(named name: String) async throws -> Account? {
        accounts.withLock { $0[name.lowercased()] }
    }

    /// The same lookup without suspending, for a check on an event loop.
    public func account(address: String) -> Account? {
        accounts.withLock { $0[address.lowercased()] }
    }

    public func replace(with accounts: [Account]) {
        let index = Self.index(accounts)
        self.accounts.withLock { $0 = index }
    }

    public var isEmpty: Bool { accounts.withLock { $0.isEmpty } }

    /// The first entry for an address wins.
    private static func index(_ accounts: [Account]) -> [String: Account] {
        Dictionary(accounts.map { ($0.address, $0) }, uniquingKeysWith: { first, _ in first })
    }
}

/// An alias: mail to `address` (or, for `@domain`, to any unknown address of the domain) goes
/// to `targets`, local or remote.
public struct Alias: Hashable, Sendable, Codable {
    public var address: String
    public var targets: [String]

    public init(address: String, targets: [String]) {
        self.address = address.lowercased()
        self.targets = targets
    }

    /// `@domain`: the domain's catch-all.
    public var isCatchAll: Bool { address.hasPrefix("@") }
}

/// Everything the server needs from the directory at once: the local domains, the accounts
/// (each one also a mailbox) and the aliases.
public struct DirectorySnapshot: Hashable, Sendable {
    public var domains: [String]
    public var accounts: [Account]
    public var aliases: [Alias]

    public init(domains: [String] = [], accounts: [Account] = [], aliases: [Alias] = []) {
        self.domains = domains
        self.accounts = accounts
        self.aliases = aliases
    }
}

/// Why a directory change was refused; the text is for the administrator.
public enum DirectoryError: Error, Hashable, Sendable, CustomStringConvertible {
    case domainExists(String)
    case noSuchDomain(String)
    case domainInUse(String, accounts: Int, aliases: Int)
    case accountExists(String)
    case noSuchAccount(String)
    case aliasExists(String, target: String)
    case noSuchAlias(String)
    case invalidAddress(String)

    public var description: String {
        switch self {
        case .domainExists(let domain): "domain \(domain) exists already"
        case .noSuchDomain(let domain): "\(domain) is not a local domain (add it with: tern domain add \(domain))"
        case .domainInUse(let domain, let accounts, let aliases):
            "domain \(domain) still has \(accounts) user(s) and \(aliases) alias(es); delete them first"
        case .accountExists(let address): "user \(address) exists already"
        case .noSuchAccount(let address): "no user \(address)"
        case .aliasExists(let address, let target): "alias \(address) -> \(target) exists already"
        case .noSuchAlias(let address): "no alias \(address)"
        case .invalidAddress(let text): "'\(text)' is not an address (local@domain)"
        }
    }
}

/// The directory's storage: domains, accounts with what they may send as, and aliases. SQLite
/// in the data directory is the embedded default; a shared PostgreSQL implements the same
/// protocol for several nodes. Addresses and domains are stored in lower case.
public protocol DirectoryStore: Sendable {
    func domains() async throws -> [String]
    func addDomain(_ domain: String) async throws
    /// Refuses a domain that still has accounts or aliases.
    func removeDomain(_ domain: String) async throws

    func accounts() async throws -> [Account]
    func account(named address: String) async throws -> Account?
    /// The account's domain must be local (`addDomain`).
    func addAccount(_ account: Account) async throws
    /// Replaces the stored account with the same address.
    func updateAccount(_ account: Account) async throws
    func removeAccount(_ address: String) async throws

    func aliases() async throws -> [Alias]
    /// Adds targets to the alias (creating it); its domain must be local.
    func addAlias(_ address: String, targets: [String]) async throws
    /// Removes one target, or the whole alias when `target` is nil.
    func removeAlias(_ address: String, target: String?) async throws

    func snapshot() async throws -> DirectorySnapshot
    /// A number that changes with every change to the directory, by this process or another
    /// (`tern user add` while the server runs): the server reloads its snapshot when it moves.
    func generation() async throws -> Int64
}
