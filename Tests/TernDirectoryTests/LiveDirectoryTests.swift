import TernMail
import Testing

@testable import TernDirectory

@Suite("LiveDirectory.compose")
struct LiveDirectoryComposeTests {
    static func account(_ address: String, hash: String = "db", sendAs: [String] = []) -> Account {
        Account(address: address, passwordHash: hash, sendAs: sendAs)
    }

    var mail: DirectoryConfiguration {
        var mail = DirectoryConfiguration()
        mail.domains = ["config.test"]
        mail.mailboxes = ["box@config.test"]
        mail.users = [Self.account("carol@config.test", hash: "config")]
        mail.aliases = [(address: "info@config.test", targets: ["carol@config.test"])]
        return mail
    }

    @Test("domains, mailboxes and aliases are the union; every account is a mailbox")
    func union() {
        let snapshot = DirectorySnapshot(
            domains: ["db.test"], accounts: [Self.account("dave@db.test")],
            aliases: [Alias(address: "info@config.test", targets: ["dave@db.test"])])
        let (routing, accounts) = LiveDirectory.compose(mail, snapshot)
        #expect(routing.localDomains == ["config.test", "db.test"])
        #expect(accounts.map(\.address) == ["carol@config.test", "dave@db.test"])
        for address in ["box@config.test", "carol@config.test", "dave@db.test"] {
            guard case .deliver(let local, _) = routing.resolve(MailAddress(stored: address)!) else {
                Issue.record("\(address) does not resolve")
                continue
            }
            #expect(local.map(\.address) == [address])
        }
        guard case .deliver(let local, _) = routing.resolve(MailAddress(stored: "info@config.test")!) else {
            Issue.record("the alias does not resolve")
            return
        }
        #expect(local.map(\.address) == ["carol@config.test", "dave@db.test"])
    }

    @Test("a [[user]] hides the database account of the same address")
    func configurationWins() {
        let snapshot = DirectorySnapshot(domains: ["config.test"], accounts: [Self.account("carol@config.test")])
        let (_, accounts) = LiveDirectory.compose(mail, snapshot)
        #expect(accounts.count == 1 && accounts[0].passwordHash == "config")
    }

    @Test("a user may send as aliases that reach them, but not as a catch-all's domain")
    func sendAsAliases() {
        let snapshot = DirectorySnapshot(
            domains: ["db.test"], accounts: [Self.account("dave@db.test", sendAs: ["ceo@db.test"])],
            aliases: [
                Alias(address: "team@db.test", targets: ["Dave@db.test", "carol@config.test"]),
                Alias(address: "@db.test", targets: ["dave@db.test"]),
            ])
        let (_, accounts) = LiveDirectory.compose(mail, snapshot)
        let carol = accounts.first { $0.address == "carol@config.test" }!
        let dave = accounts.first { $0.address == "dave@db.test" }!
        #expect(Set(carol.sendAs) == ["info@config.test", "team@db.test"])
        #expect(Set(dave.sendAs) == ["ceo@db.test", "team@db.test"])
        #expect(!dave.maySend(as: "anyone@db.test", delimiter: "+"))
    }
}
