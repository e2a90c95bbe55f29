import Foundation
import GRDB
import TernMail
public import TernDirectory

/// The directory in SQLite (GRDB), the embedded default: `<data_dir>/directory.sqlite`.
///
/// WAL, so the server reads while `tern user add` writes from another process, and
/// `synchronous=FULL`, so a change that was reported done survives a power loss. The file is
/// created mode 0600: it holds password hashes. Every write bumps a generation counter in the
/// same transaction, which the server polls to pick up changes.
public final class SQLiteDirectory: DirectoryStore {
    public let path: String
    private let database: DatabasePool

    public init(path: String) throws {
        self.path = path
        database = try SQLiteDatabase.connect(path: path, synchronous: .full, migrator: Self.migrator)
    }

    /// The schema, one migration per change; never edit a shipped one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: domains, accounts, send_as, aliases") { db in
            try db.execute(
                sql: """
                    CREATE TABLE domain (
                        name TEXT PRIMARY KEY NOT NULL,
                        created_at INTEGER NOT NULL
                    );
                    CREATE TABLE account (
                        address TEXT PRIMARY KEY NOT NULL,
                        domain TEXT NOT NULL REFERENCES domain(name),
                        display_name TEXT,
                        password_hash TEXT NOT NULL,
                        quota_bytes INTEGER,
                        enabled INTEGER NOT NULL DEFAULT 1,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL
                    );
                    CREATE INDEX account_domain ON account(domain);
                    CREATE TABLE send_as (
                        account TEXT NOT NULL REFERENCES account(address) ON DELETE CASCADE,
                        address TEXT NOT NULL,
                        PRIMARY KEY (account, address)
                    );
                    CREATE TABLE alias (
                        address TEXT NOT NULL,
                        domain TEXT NOT NULL REFERENCES domain(name),
                        target TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        PRIMARY KEY (address, target)
                    );
                    CREATE TABLE generation (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        value INTEGER NOT NULL
                    );
                    INSERT INTO generation (id, value) VALUES (1, 0);
                    """)
        }
        return migrator
    }

    // MARK: Domains

    public func domains() async throws -> [String] {
        try await database.read { db in try String.fetchAll(db, sql: "SELECT name FROM domain ORDER BY name") }
    }

    public func addDomain(_ domain: String) async throws {
        let name = domain.lowercased()
        try await change { db in
            guard try !Self.domainExists(name, db) else { throw DirectoryError.domainExists(name) }
            try db.execute(sql: "INSERT INTO domain (name, created_at) VALUES (?, ?)", arguments: [name, Self.now()])
        }
    }

    public func removeDomain(_ domain: String) async throws {
        let name = domain.lowercased()
        try await change { db in
            guard try Self.domainExists(name, db) else { throw DirectoryError.noSuchDomain(name) }
            let accounts = try Int.fetchOne(db, sql: "SELECT count(*) FROM account WHERE domain = ?", arguments: [name]) ?? 0
            let aliases =
                try Int.fetchOne(db, sql: "SELECT count(DISTINCT address) FROM alias WHERE domain = ?", arguments: [name])
                ?? 0
            guard accounts == 0, aliases == 0 else {
                throw DirectoryError.domainInUse(name, accounts: accounts, aliases: aliases)
            }
            try db.execute(sql: "DELETE FROM domain WHERE name = ?", arguments: [name])
        }
    }

    // MARK: Accounts

    public func accounts() async throws -> [Account] {
        try await database.read { db in try Self.fetchAccounts(db, where: nil) }
    }

    public func account(named address: String) async throws -> Account? {
        let address = address.lowercased()
        return try await database.read { db in try Self.fetchAccounts(db, where: address).first }
    }

    public func addAccount(_ account: Account) async throws {
        try await change { db in
            guard try Self.domainExists(account.domain, db) else { throw DirectoryError.noSuchDomain(account.domain) }
            guard try Self.accountExists(account.address, db) == false else {
                throw DirectoryError.accountExists(account.address)
            }
            let now = Self.now()
            try db.execute(
                sql: """
                    INSERT INTO account (address, domain, display_name, password_hash, quota_bytes, enabled, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    account.address, account.domain, account.displayName, account.passwordHash, account.quotaBytes,
                    account.enabled, now, now,
                ])
            try Self.storeSendAs(account, db)
        }
    }

    public func updateAccount(_ account: Account) async throws {
        try await change { db in
            try db.execute(
                sql: """
                    UPDATE account SET display_name = ?, password_hash = ?, quota_bytes = ?, enabled = ?, updated_at = ?
                    WHERE address = ?
                    """,
                arguments: [
                    account.displayName, account.passwordHash, account.quotaBytes, account.enabled, Self.now(),
                    account.address,
                ])
            guard db.changesCount == 1 else { throw DirectoryError.noSuchAccount(account.address) }
            try db.execute(sql: "DELETE FROM send_as WHERE account = ?", arguments: [account.address])
            try Self.storeSendAs(account, db)
        }
    }

    public func removeAccount(_ address: String) async throws {
        let address = address.lowercased()
        try await change { db in
            try db.execute(sql: "DELETE FROM account WHERE address = ?", arguments: [address])
            guard db.changesCount == 1 else { throw DirectoryError.noSuchAccount(address) }
        }
    }

    // MARK: Aliases

    public func aliases() async throws -> [Alias] {
        try await database.read { db in try Self.fetchAliases(db) }
    }

    public func addAlias(_ address: String, targets: [String]) async throws {
        let address = address.lowercased()
        let domain = Self.domain(of: address)
        try await change { db in
            guard try Self.domainExists(domain, db) else { throw DirectoryError.noSuchDomain(domain) }
            for target in targets {
                let exists =
                    try Bool.fetchOne(
                        db, sql: "SELECT 1 FROM alias WHERE address = ? AND target = ?", arguments: [address, target])
                    ?? false
                guard !exists else { throw DirectoryError.aliasExists(address, target: target) }
                try db.execute(
                    sql: "INSERT INTO alias (address, domain, target, created_at) VALUES (?, ?, ?, ?)",
                    arguments: [address, domain, target, Self.now()])
            }
        }
    }

    public func removeAlias(_ address: String, target: String?) async throws {
        let address = address.lowercased()
        try await change { db in
            if let target {
                try db.execute(sql: "DELETE FROM alias WHERE address = ? AND target = ?", arguments: [address, target])
            } else {
                try db.execute(sql: "DELETE FROM alias WHERE address = ?", arguments: [address])
            }
            guard db.changesCount > 0 else { throw DirectoryError.noSuchAlias(address) }
        }
    }

    // MARK: Snapshot

    public func snapshot() async throws -> DirectorySnapshot {
        try await database.read { db in
            DirectorySnapshot(
                domains: try String.fetchAll(db, sql: "SELECT name FROM domain ORDER BY name"),
                accounts: try Self.fetchAccounts(db, where: nil), aliases: try Self.fetchAliases(db))
        }
    }

    public func generation() async throws -> Int64 {
        try await database.read { db in try Int64.fetchOne(db, sql: "SELECT value FROM generation") ?? 0 }
    }

    // MARK: Helpers

    /// One write transaction that also moves the generation.
    private func change(_ body: @escaping @Sendable (Database) throws -> Void) async throws {
        try await database.write { db in
            try body(db)
            try db.execute(sql: "UPDATE generation SET value = value + 1")
        }
    }

    private static func fetchAccounts(_ db: Database, where address: String?) throws -> [Account] {
        var sendAs: [String: [String]] = [:]
        let grants =
            address == nil
            ? try Row.fetchAll(db, sql: "SELECT account, address FROM send_as ORDER BY account, address")
            : try Row.fetchAll(
                db, sql: "SELECT account, address FROM send_as WHERE account = ? ORDER BY address", arguments: [address])
        for grant in grants { sendAs[grant["account"], default: []].append(grant["address"]) }
        let rows =
            address == nil
            ? try Row.fetchAll(db, sql: "SELECT * FROM account ORDER BY domain, address")
            : try Row.fetchAll(db, sql: "SELECT * FROM account WHERE address = ?", arguments: [address])
        return rows.map { row in
            let address: String = row["address"]
            return Account(
                address: address, displayName: row["display_name"], passwordHash: row["password_hash"],
                sendAs: sendAs[address] ?? [], enabled: row["enabled"], quotaBytes: row["quota_bytes"])
        }
    }

    private static func fetchAliases(_ db: Database) throws -> [Alias] {
        var aliases: [Alias] = []
        for row in try Row.fetchAll(db, sql: "SELECT address, target FROM alias ORDER BY address, created_at, target") {
            let address: String = row["address"]
            let target: String = row["target"]
            if aliases.last?.address == address {
                aliases[aliases.count - 1].targets.append(target)
            } else {
                aliases.append(Alias(address: address, targets: [target]))
            }
        }
        return aliases
    }

    private static func storeSendAs(_ account: Account, _ db: Database) throws {
        for address in Set(account.sendAs) {
            try db.execute(
                sql: "INSERT INTO send_as (account, address) VALUES (?, ?)", arguments: [account.address, address])
        }
    }

    private static func domainExists(_ name: String, _ db: Database) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM domain WHERE name = ?", arguments: [name]) ?? false
    }

    private static func accountExists(_ address: String, _ db: Database) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM account WHERE address = ?", arguments: [address]) ?? false
    }

    /// `@example.org` and `x@example.org` are both in example.org.
    static func domain(of address: String) -> String {
        address.lastIndex(of: "@").map { String(address[address.index(after: $0)...]) } ?? address
    }

    private static func now() -> Int64 { WallClock.system.seconds }
}
