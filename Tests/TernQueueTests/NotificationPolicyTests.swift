import TernMIME
import TernDirectory
import TernMail
import TernStore
import Testing

@testable import TernQueue

@Suite("NotificationPolicy")
struct NotificationPolicyTests {
    let policy = NotificationPolicy(routing: MailRouting(localDomains: ["example.test"]))

    private func delivery(
        _ recipient: String, for original: String, reply text: String, relay: String? = nil
    ) throws -> QueuedDelivery {
        var delivery = QueuedDelivery(recipient: recipient, original: original, route: relay == nil ? .local : .remote)
        let reply = try #require(SMTPReply(storedLine: text))
        delivery.lastReply = reply
        if let relay { delivery.record(DeliveryAttempt(at: 0, relay: relay, tls: true, reply: reply)) }
        return delivery
    }

    @Test(
        "an untrusted client's sender must be plausible",
        arguments: [
            ("stranger@remote.test", true), ("a@[192.0.2.1]", false), ("a@localhost", false), ("alice@example.test", false),
            ("alice@EXAMPLE.test", false),
        ])
    func plausibility(sender: String, plausible: Bool) throws {
        let parts = sender.split(separator: "@")
        let address = MailAddress(localPart: String(parts[0]), domain: String(parts[1]))
        #expect((policy.refusal(sender: address, trusted: false) == nil) == plausible)
        #expect(policy.refusal(sender: address, trusted: true) == nil, "a trusted client's sender always may")
    }

    @Test("an untrusted client's message comes back as its headers only")
    func returned() {
        #expect(policy.returned(.full, trusted: false) == .headers)
        #expect(policy.returned(nil, trusted: false) == .headers)
        #expect(policy.returned(.full, trusted: true) == .full)
        #expect(policy.returned(nil, trusted: true) == nil)
    }

    @Test("a success report names the address the client gave, never the mailboxes behind it or their UIDs")
    func successHidesExpansion() throws {
        let member = try delivery("bob@example.test", for: "team@example.test", reply: "250 2.0.0 delivered to maildir (uid 7)")
        let reported = NotificationPolicy.reported(member, action: .delivered, trusted: false)
        #expect(reported.recipient == "team@example.test")
        #expect(reported.reply.storedLine == "250 2.0.0 delivered")
        #expect(reported.remoteMTA == nil)

        let forwarded = try delivery(
            "friend@far.test", for: "team@example.test", reply: "250 2.0.0 Ok", relay: "mx.far.test[192.0.2.7]:25")
        let relayed = NotificationPolicy.reported(forwarded, action: .relayed, trusted: true)
        #expect((relayed.recipient, relayed.reply.storedLine, relayed.remoteMTA) == ("team@example.test", "250 2.0.0 delivered", nil))

        let direct = try delivery("alice@example.test", for: "alice@example.test", reply: "250 2.0.0 delivered to maildir (uid 3)")
        #expect(NotificationPolicy.reported(direct, action: .delivered, trusted: true).reply.storedLine == "250 2.0.0 delivered")
    }

    @Test("a failure through a forward is explained to a trusted sender and hidden from an untrusted one")
    func failureThroughForward() throws {
        let forwarded = try delivery(
            "friend@far.test", for: "team@example.test", reply: "550 5.1.1 no such user", relay: "mx.far.test[192.0.2.7]:25")
        let toStranger = NotificationPolicy.reported(forwarded, action: .failed, trusted: false)
        #expect(toStranger.recipient == "team@example.test")
        #expect(!toStranger.reply.storedLine.contains("far.test") && toStranger.remoteMTA == nil)
        let toUser = NotificationPolicy.reported(forwarded, action: .failed, trusted: true)
        #expect((toUser.recipient, toUser.reply.storedLine, toUser.remoteMTA) == ("friend@far.test", "550 5.1.1 no such user", "mx.far.test"))
    }
}
