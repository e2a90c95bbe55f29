import Foundation
public import TernDirectory
import TernStore
import TernStoreSQLite

/// What `tern domain|user|alias` do: checks what the administrator typed the way the
/// configuration loader checks the same things, changes the directory database, and renders
/// listings as text or JSON. A running server picks the change up within a second
/// (`LiveDirectory`).
public struct DirectoryAdministration: Sendable {
    public let store: any DirectoryStore
    /// The configuration file given with `--config`, to tell where it and the database disagree.
    public let configuration: TernConfiguration?
    /// Where the users' Maildirs are (`<data_dir>/mailboxes`), to report their usage.
    public let mailboxRoot: String?

    public init(store: any DirectoryStore, configuration: TernConfiguration?, mailboxRoot: String? = nil) {
        self.store = store
        self.configuration = configuration
        self.mailboxRoot = mailboxRoot
    }

    /// The embedded directory of a data directory, created (mode 0700) when missing.
    public static func open(dataDirectory: String, configuration: TernConfiguration?) throws -> DirectoryAdministration {
        try FileManager.default.createDirectory(
            atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let store = try SQLiteDirectory(path: LiveDirectory.databasePath(dataDirectory: dataDirectory))
        return DirectoryAdministration(
            store: store, configuration: configuration, mailboxRoot: "\(dataDirectory)/mailboxes")
    }

    // MARK: Domains

    public func addDomain(_ text: String) async throws {
        try await store.addDomain(try Self.domain(text))
    }

    public func removeDomain(_ text: String) async throws {
        try await store.removeDomain(try Self.domain(text))
    }

    public func listDomains(json: Bool) async throws -> String {
        let stored = try await store.domains()
        let configured = (configuration?.mail.domains ?? []).filter { !stored.contains($0) }
        let rows = stored.map { DomainRow(name: $0, source: .database) }
            + configured.map { DomainRow(name: $0, source: .configuration) }
        if json { return try Self.json(rows) }
        return rows.map { "\($0.name)\($0.source == .configuration ? "  (configuration)" : "")\n" }.joined()
    }

    // MARK: Users

    /// Adds a user; `password` comes from a prompt or standard input, never the command line,
    /// and is asked for once the address has passed its checks.
    public func addUser(
        _ text: String, password: () -> String, displayName: String?, sendAs: [String], quotaBytes: Int64?, enabled: Bool,
        iterations: Int = PasswordHash.defaultIterations
    ) async throws {
        let address = try Self.mailbox(text)
        let grants = try sendAs.map(Self.address)
        guard try await store.account(named: address) == nil else { throw DirectoryError.accountExists(address) }
        let hash = try PasswordHash.make(password: password(), iterations: iterations)
        try await store.addAccount(
            Account(
                address: address, displayName: displayName, passwordHash: hash, sendAs: grants, enabled: enabled,
                quotaBytes: quotaBytes.flatMap { $0 > 0 ? $0 : nil }))
    }

    public func setPassword(_ text: String, password: () -> String, iterations: Int = PasswordHash.defaultIterations)
        async throws
    {
        var account = try await existingAccount(text)
        account.passwordHash = try PasswordHash.make(password: password(), iterations: iterations)
        try await store.updateAccount(account)
    }

    /// Changes what is given and keeps the rest.
    public func updateUser(
        _ text: String, displayName: String?, sendAs: [String]?, quotaBytes: Int64?, enabled: Bool?
    ) async throws {
        var account = try await existingAccount(text)
        if let displayName { account.displayName = displayName.isEmpty ? nil : displayName }
        if let sendAs { account.sendAs = try sendAs.map(Self.address) }
        if let quotaBytes { account.quotaBytes = quotaBytes > 0 ? quotaBytes : nil }
        if let enabled { account.enabled = enabled }
        try await store.updateAccount(account)
    }

    public func removeUser(_ text: String) async throws {
        try await store.removeAccount(try Self.mailbox(text))
    }

    public func listUsers(json: Bool) async throws -> String {
        let rows = try await userRows()
        if json { return try Self.json(rows) }
        return rows.map { row in
            var line = row.address
            if let name = row.displayName { line += "  \"\(name)\"" }
            if !row.enabled { line += "  (disabled)" }
            if row.source == .configuration { line += "  (configuration)" }
            return line + "\n"
        }.joined()
    }

    public func showUser(_ text: String, json: Bool) async throws -> String {
        let address = try Self.mailbox(text)
        guard var row = try await userRows().first(where: { $0.address == address }) else {
            throw DirectoryError.noSuchAccount(address)
        }
        if let mailboxRoot, let (local, domain) = ConfigurationLoader.splitAddress(address) {
            let usage = MaildirFolders.usage(ofUserDirectory: "\(mailboxRoot)/\(domain)/\(local)")
            row.usageBytes = usage.octets
            row.usageMessages = usage.messages
        }
        if json { return try Self.json(row) }
        var lines = ["address:       \(row.address)"]
        lines.append("display name:  \(row.displayName ?? "-")")
        lines.append("enabled:       \(row.enabled ? "yes" : "no")")
        lines.append("send as:       \(row.sendAs.isEmpty ? "-" : row.sendAs.joined(separator: ", "))")
        lines.append("quota:         \(row.quotaBytes.map { "\($0) bytes" } ?? "none")")
        if let used = row.usageBytes, let messages = row.usageMessages {
            var line = "usage:         \(used) bytes in \(messages) message\(messages == 1 ? "" : "s")"
            if let quota = row.quotaBytes, quota > 0 {
                let (hundredfold, overflowed) = Int64(clamping: used).multipliedReportingOverflow(by: 100)
                line += overflowed ? " (over the quota)" : " (\(hundredfold / quota)% of the quota)"
            }
            lines.append(line)
        }
        lines.append("password:      \(row.passwordScheme)")
        lines.append("source:        \(row.source.rawValue)")
        if let shadowed = row.shadowedDatabaseEntry, shadowed {
            lines.append("note:          a database entry of the same address is hidden by the configuration")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: Aliases

    public func addAlias(_ text: String, targets: [String]) async throws {
        let source = try Self.aliasAddress(text)
        guard !targets.isEmpty else { throw DirectoryError.invalidAddress("") }
        try await store.addAlias(source, targets: try targets.map(Self.address))
    }

    public func removeAlias(_ text: String, target: String?) async throws {
        try await store.removeAlias(try Self.aliasAddress(text), target: try target.map(Self.address))
    }

    public func listAliases(json: Bool) async throws -> String {
        let stored = try await store.aliases()
        let configured = (configuration?.mail.aliases ?? []).map { Alias(address: $0.address, targets: $0.targets) }
        let rows = stored.map { AliasRow(address: $0.address, targets: $0.targets, source: .database) }
            + configured.map { AliasRow(address: $0.address, targets: $0.targets, source: .configuration) }
        if json { return try Self.json(rows) }
        return rows.map {
            "\($0.address) -> \($0.targets.joined(separator: ", "))\($0.source == .configuration ? "  (configuration)" : "")\n"
        }.joined()
    }

    // MARK: Rows

    enum Source: String, Codable {
        case database
        case configuration
    }

    struct DomainRow: Codable {
        var name: String
        var source: Source
    }

    struct UserRow: Codable {
        var address: String
        var displayName: String?
        var enabled: Bool
        var sendAs: [String]
        var quotaBytes: Int64?
        /// The hash's algorithm (`SCRAM-SHA-256`, `pbkdf2-sha256`); never the hash.
        var passwordScheme: String
        var source: Source
        var shadowedDatabaseEntry: Bool?
        /// What the user's mailboxes hold (`show` only).
        var usageBytes: Int?
        var usageMessages: Int?

        enum CodingKeys: String, CodingKey {
            case address, enabled, source
            case usageBytes = "usage_bytes"
            case usageMessages = "usage_messages"
            case displayName = "display_name"
            case sendAs = "send_as"
            case quotaBytes = "quota_bytes"
            case passwordScheme = "password_scheme"
            case shadowedDatabaseEntry = "shadowed_database_entry"
        }

        init(_ account: Account, source: Source, shadowed: Bool? = nil) {
            address = account.address
            displayName = account.displayName
            enabled = account.enabled
            sendAs = account.sendAs
            quotaBytes = account.quotaBytes
            passwordScheme =
                SCRAMCredentials(stored: account.passwordHash) != nil
                ? "SCRAM-SHA-256" : (account.passwordHash.split(separator: "$").first.map(String.init) ?? "unknown")
            self.source = source
            shadowedDatabaseEntry = shadowed
        }
    }

    struct AliasRow: Codable {
        var address: String
        var targets: [String]
        var source: Source
    }

    /// Database users, and with `--config` the configuration's, which win over a database user
    /// of the same address (as in the server).
    private func userRows() async throws -> [UserRow] {
        let stored = try await store.accounts()
        let configured = configuration?.mail.users ?? []
        let configuredAddresses = Set(configured.map(\.address))
        let storedAddresses = Set(stored.map(\.address))
        return configured.map { UserRow($0, source: .configuration, shadowed: storedAddresses.contains($0.address)) }
            + stored.filter { !configuredAddresses.contains($0.address) }.map { UserRow($0, source: .database) }
    }

    private func existingAccount(_ text: String) async throws -> Account {
        let address = try Self.mailbox(text)
        guard let account = try await store.account(named: address) else { throw DirectoryError.noSuchAccount(address) }
        return account
    }

    // MARK: Checks (the same rules as the configuration's)

    static func domain(_ text: String) throws -> String {
        var name = text.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        guard ConfigurationLoader.isHostname(name) else { throw DirectoryError.invalidAddress(text) }
        return name
    }

    /// A mailbox address: a local part that is safe as a Maildir name.
    static func mailbox(_ text: String) throws -> String {
        guard let (local, domain) = ConfigurationLoader.splitAddress(text), ConfigurationLoader.isSafeLocalPart(local)
        else { throw DirectoryError.invalidAddress(text) }
        return "\(local)@\(domain)"
    }

    /// Any address (a send-as grant or an alias target, which may be remote).
    static func address(_ text: String) throws -> String {
        guard let (local, domain) = ConfigurationLoader.splitAddress(text) else {
            throw DirectoryError.invalidAddress(text)
        }
        return "\(local)@\(domain)"
    }

    /// An alias's own address, or `@domain` for a catch-all.
    static func aliasAddress(_ text: String) throws -> String {
        if text.hasPrefix("@") { return "@" + (try domain(String(text.dropFirst()))) }
        return try mailbox(text)
    }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
    }
}
