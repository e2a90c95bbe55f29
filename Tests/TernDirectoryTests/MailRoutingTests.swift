import TernMail
import Testing

@testable import TernDirectory

@Suite("MailRouting")
struct MailRoutingTests {
    let routing = MailRouting(
        localDomains: ["example.test", "Other.Test"],
        mailboxes: [
            .init(localPart: "alice", domain: "example.test"),
            .init(localPart: "bob", domain: "example.test"),
            .init(localPart: "carol", domain: "other.test"),
        ],
        aliases: [
            "postmaster@example.test": [MailAddress(localPart: "alice", domain: "example.test")],
            "team@example.test": [
                MailAddress(localPart: "alice", domain: "example.test"),
                MailAddress(localPart: "bob", domain: "example.test"),
                MailAddress(localPart: "friend", domain: "remote.test"),
            ],
            "loop1@example.test": [MailAddress(localPart: "loop2", domain: "example.test")],
            "loop2@example.test": [
                MailAddress(localPart: "loop1", domain: "example.test"),
                MailAddress(localPart: "bob", domain: "example.test"),
            ],
            "cycle@example.test": [MailAddress(localPart: "cycle", domain: "example.test")],
            "@other.test": [MailAddress(localPart: "carol", domain: "other.test")],
        ])

    private func resolve(_ local: String, _ domain: String) -> MailRouting.Resolution {
        routing.resolve(MailAddress(localPart: local, domain: domain))
    }

    private func local(_ addresses: String...) -> MailRouting.Resolution {
        .deliver(
            local: addresses.map { text in
                let parts = text.split(separator: "@")
                return MailRouting.Mailbox(localPart: String(parts[0]), domain: String(parts[1]))
            }, remote: [])
    }

    @Test("a mailbox is delivered under its configured octets, not the client's equivalent spelling")
    func configuredOctets() {
        let precomposed = "caf\u{E9}"
        let routing = MailRouting(localDomains: ["example.test"], mailboxes: [.init(localPart: precomposed, domain: "example.test")])
        for spelling in ["cafe\u{301}", "CAF\u{C9}", "caf\u{E9}"] {
            guard case .deliver(let local, _) = routing.resolve(MailAddress(localPart: spelling, domain: "EXAMPLE.test")) else {
                Issue.record("\(spelling) did not resolve")
                continue
            }
            #expect(local.map { Array($0.localPart.utf8) } == [Array(precomposed.utf8)])
            #expect(local.map { Array($0.domain.utf8) } == [Array("example.test".utf8)])
        }
    }

    @Test("mailboxes, case-insensitively")
    func mailboxes() {
        #expect(resolve("alice", "example.test") == local("alice@example.test"))
        #expect(resolve("ALICE", "EXAMPLE.TEST") == local("alice@example.test"))
        #expect(resolve("carol", "other.test") == local("carol@other.test"))
    }

    @Test("sub-addressing reaches the mailbox")
    func plus() {
        #expect(resolve("alice+lists", "example.test") == local("alice@example.test"))
        #expect(resolve("nobody+x", "example.test") == .unknownUser)
        #expect(resolve("+x", "example.test") == .unknownUser)
    }

    @Test("aliases: one-to-one, one-to-many, to remote addresses")
    func aliases() {
        #expect(resolve("postmaster", "example.test") == local("alice@example.test"))
        #expect(
            resolve("team", "example.test")
                == .deliver(
                    local: [.init(localPart: "alice", domain: "example.test"), .init(localPart: "bob", domain: "example.test")],
                    remote: [MailAddress(localPart: "friend", domain: "remote.test")]))
    }

    @Test("alias cycles end; a cycle with no mailbox is an unknown user")
    func cycles() {
        #expect(resolve("loop1", "example.test") == local("bob@example.test"))
        #expect(resolve("cycle", "example.test") == .unknownUser)
    }

    @Test("catch-all takes unknown users of its domain only")
    func catchAll() {
        #expect(resolve("anything", "other.test") == local("carol@other.test"))
        #expect(resolve("anything", "example.test") == .unknownUser)
    }

    @Test("relay tricks never leave a local domain", arguments: [
        ("user%remote.test", "example.test"), ("\"user@remote.test\"", "example.test"), ("../alice", "example.test"),
        ("alice/../../etc", "example.test"), ("remote.test!user", "example.test"),
    ])
    func relayTricks(local: String, domain: String) {
        #expect(resolve(local, domain) == .unknownUser)
    }

    @Test("other domains are remote; a trailing dot is the same domain")
    func remote() {
        #expect(resolve("x", "remote.test") == .remote(MailAddress(localPart: "x", domain: "remote.test")))
        #expect(resolve("alice", "example.test.") == local("alice@example.test"))
    }
}
