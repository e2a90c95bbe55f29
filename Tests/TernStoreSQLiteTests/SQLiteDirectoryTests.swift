import Foundation
import TernDirectory
import TernStoreSQLite
import Testing

@Suite("SQLite directory")
struct SQLiteDirectoryTests {
    let root: String
    let directory: SQLiteDirectory

    init() throws {
        root = NSTemporaryDirectory() + "tern-directory-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        directory = try SQLiteDirectory(path: "\(root)/directory.sqlite")
    }

    static func account(_ address: String, sendAs: [String] = []) -> Account {
        Account(address: address, displayName: "Name of \(address)", passwordHash: "SCRAM-SHA-256$x", sendAs: sendAs)
    }

    @Test func domainsAreAddedListedAndRemoved() async throws {
        try await directory.addDomain("Example.ORG")
        try await directory.addDomain("b.example")
        #expect(try await directory.domains() == ["b.example", "example.org"])
        await #expect(throws: DirectoryError.domainExists("example.org")) { try await directory.addDomain("example.org") }
        try await directory.removeDomain("b.example")
        #expect(try await directory.domains() == ["example.org"])
        await #expect(throws: DirectoryError.noSuchDomain("b.example")) { try await directory.removeDomain("b.example") }
    }

    @Test func accountsNeedALocalDomainAndRoundTrip() async throws {
        await #expect(throws: DirectoryError.noSuchDomain("example.org")) {
            try await directory.addAccount(Self.account("alice@example.org"))
        }
        try await directory.addDomain("example.org")
        var alice = Self.account("Alice@Example.org", sendAs: ["sales@example.org", "ceo@example.org"])
        alice.quotaBytes = 1 << 30
        try await directory.addAccount(alice)
        await #expect(throws: DirectoryError.accountExists("alice@example.org")) { try await directory.addAccount(alice) }

        let stored = try #require(try await directory.account(named: "ALICE@example.org"))
        #expect(stored.address == "alice@example.org")
        #expect(stored.displayName == "Name of Alice@Example.org")
        #expect(Set(stored.sendAs) == ["sales@example.org", "ceo@example.org"])
        #expect(stored.quotaBytes == 1 << 30)
        #expect(stored.enabled)

        var changed = stored
        changed.enabled = false
        changed.sendAs = ["sales@example.org"]
        changed.passwordHash = "other"
        try await directory.updateAccount(changed)
        let updated = try #require(try await directory.account(named: "alice@example.org"))
        #expect(!updated.enabled && updated.sendAs == ["sales@example.org"] && updated.passwordHash == "other")

        await #expect(throws: DirectoryError.domainInUse("example.org", accounts: 1, aliases: 0)) {
            try await directory.removeDomain("example.org")
        }
        try await directory.removeAccount("alice@example.org")
        #expect(try await directory.account(named: "alice@example.org") == nil)
        await #expect(throws: DirectoryError.noSuchAccount("alice@example.org")) {
            try await directory.removeAccount("alice@example.org")
        }
        await #expect(throws: DirectoryError.noSuchAccount("bob@example.org")) {
            try await directory.updateAccount(Self.account("bob@example.org"))
        }
        try await directory.removeDomain("example.org")
    }

    @Test func aliasesCollectTargetsAndLoseThemOneByOne() async throws {
        try await directory.addDomain("example.org")
        try await directory.addAlias("sales@example.org", targets: ["alice@example.org", "bob@remote.example"])
        try await directory.addAlias("@example.org", targets: ["alice@example.org"])
        await #expect(throws: DirectoryError.aliasExists("sales@example.org", target: "alice@example.org")) {
            try await directory.addAlias("sales@example.org", targets: ["alice@example.org"])
        }
        await #expect(throws: DirectoryError.noSuchDomain("other.example")) {
            try await directory.addAlias("x@other.example", targets: ["alice@example.org"])
        }
        #expect(
            try await directory.aliases() == [
                Alias(address: "@example.org", targets: ["alice@example.org"]),
                Alias(address: "sales@example.org", targets: ["alice@example.org", "bob@remote.example"]),
            ])
        try await directory.removeAlias("sales@example.org", target: "bob@remote.example")
        try await directory.removeAlias("@example.org", target: nil)
        #expect(try await directory.aliases() == [Alias(address: "sales@example.org", targets: ["alice@example.org"])])
        await #expect(throws: DirectoryError.noSuchAlias("nobody@example.org")) {
            try await directory.removeAlias("nobody@example.org", target: nil)
        }
    }

    @Test func everyChangeMovesTheGenerationAndAFailedOneDoesNot() async throws {
        let start = try await directory.generation()
        try await directory.addDomain("example.org")
        let afterDomain = try await directory.generation()
        #expect(afterDomain > start)
        await #expect(throws: DirectoryError.self) { try await directory.addDomain("example.org") }
        #expect(try await directory.generation() == afterDomain)
        try await directory.addAccount(Self.account("alice@example.org"))
        #expect(try await directory.generation() > afterDomain)
    }

    @Test func aSecondOpenerSeesChangesAndTheFileIsPrivate() async throws {
        try await directory.addDomain("example.org")
        try await directory.addAccount(Self.account("alice@example.org", sendAs: ["a@example.org"]))
        try await directory.addAlias("a@example.org", targets: ["alice@example.org"])
        let other = try SQLiteDirectory(path: "\(root)/directory.sqlite")
        let snapshot = try await other.snapshot()
        #expect(snapshot.domains == ["example.org"])
        #expect(snapshot.accounts.map(\.address) == ["alice@example.org"])
        #expect(snapshot.aliases == [Alias(address: "a@example.org", targets: ["alice@example.org"])])
        let mode = try FileManager.default.attributesOfItem(atPath: "\(root)/directory.sqlite")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }
}
