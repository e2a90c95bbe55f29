public import Logging
public import ServiceLifecycle
import TernMail

/// Who lives here, as the running server sees it: the configuration's `[mail]`, `[[mailbox]]`,
/// `[[user]]` and `[[alias]]` merged with the directory database, and kept current: every
/// `refreshInterval` it asks the database whether anything changed (one row) and, when it
/// did, swaps in a new routing and account table. `tern user add` on a running server takes
/// effect within a second, without a restart.
///
/// The configuration wins where both name the same account: configuration as code is the
/// administrator's declared truth, and a database row must not quietly override it.
public actor LiveDirectory: Service {
    public nonisolated let store: any DirectoryStore
    public nonisolated let routing: RoutingTable
    public nonisolated let accounts: AccountTable
    private let mail: DirectoryConfiguration
    private let refreshInterval: Duration
    private let logger: Logger
    private var generation: Int64

    /// Where the embedded directory lives in a data directory.
    public nonisolated static func databasePath(dataDirectory: String) -> String { "\(dataDirectory)/directory.sqlite" }

    public init(
        store: any DirectoryStore, mail: DirectoryConfiguration, refreshInterval: Duration = .seconds(1), logger: Logger
    ) async throws {
        self.store = store
        self.mail = mail
        self.refreshInterval = refreshInterval
        self.logger = logger
        generation = try await store.generation()
        let (routing, accounts) = Self.compose(mail, try await store.snapshot())
        self.routing = RoutingTable(routing)
        self.accounts = AccountTable(accounts)
    }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    try await Task.sleep(for: self.refreshInterval)
                    await self.refreshIfChanged()
                }
            }
        } catch is CancellationError {
            return
        }
    }

    /// Reloads when the database's generation moved. A database error keeps the routing in
    /// force: mail keeps flowing on what was known.
    func refreshIfChanged() async {
        do {
            let current = try await store.generation()
            guard current != generation else { return }
            let (routing, accounts) = Self.compose(mail, try await store.snapshot())
            self.routing.replace(with: routing)
            self.accounts.replace(with: accounts)
            generation = current
            logger.info(
                "directory reloaded",
                metadata: ["domains": "\(routing.localDomains.count)", "accounts": "\(accounts.count)"])
        } catch {
            logger.warning("directory reload failed; keeping the previous one", metadata: ["error": "\(error)"])
        }
    }

    /// The routing and accounts of the configuration and a directory snapshot together.
    ///
    /// - Local domains, mailboxes and aliases are the union of both (an alias named in both
    ///   gets the targets of both).
    /// - Every account is also a mailbox; a `[[user]]` hides a database account of the same
    ///   address.
    /// - A user may send as an alias that points at them (not a catch-all: that would let
    ///   them send as anyone in the domain), besides what `send_as` grants.
    static func compose(_ mail: DirectoryConfiguration, _ snapshot: DirectorySnapshot) -> (MailRouting, [Account]) {
        let configured = Set(mail.users.map(\.address))
        var accounts = mail.users + snapshot.accounts.filter { !configured.contains($0.address) }

        var aliases: [String: [MailAddress]] = [:]
        var aliasesOf: [String: [String]] = [:]
        let allAliases = mail.aliases.map { Alias(address: $0.address, targets: $0.targets) } + snapshot.aliases
        for alias in allAliases {
            let targets = alias.targets.compactMap(MailAddress.init(stored:))
            aliases[alias.address, default: []] += targets
            guard !alias.isCatchAll else { continue }
            for target in targets { aliasesOf["\(target.localPart)@\(target.domain)".lowercased(), default: []].append(alias.address) }
        }
        for index in accounts.indices {
            let granted = aliasesOf[accounts[index].address] ?? []
            accounts[index].sendAs += granted.filter { !accounts[index].sendAs.contains($0) }
        }

        let addresses = mail.mailboxes + accounts.map(\.address)
        let mailboxes = Set(addresses.compactMap(MailAddress.init(stored:)).map {
            MailRouting.Mailbox(localPart: $0.localPart, domain: $0.domain)
        })
        let routing = MailRouting(
            localDomains: Set(mail.domains + snapshot.domains), mailboxes: mailboxes, aliases: aliases,
            recipientDelimiter: mail.recipientDelimiter.first)
        return (routing, accounts)
    }
}
