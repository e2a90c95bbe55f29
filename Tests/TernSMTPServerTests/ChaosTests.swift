import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TernMail
import TernSMTPCore
import Testing

@testable import TernSMTPServer

/// The catcher's failure injection: patterns, rules, Mailpit's triggers, and the policy that
/// puts them in front of another.
@Suite("Chaos")
struct ChaosTests {
    @Test("patterns: * and ?, any case, whole subject", arguments: [
        ("*@fail.test", "x@FAIL.test", true), ("*@fail.test", "x@fail.test.example", false),
        ("user?@*", "user1@a.test", true), ("user?@*", "user12@a.test", false), ("*", "", true),
        ("a*b*c", "aXXbYYc", true), ("a*b*c", "aXXbYY", false), ("", "", true), ("", "x", false),
    ])
    func patterns(pattern: String, subject: String, matches: Bool) {
        #expect(ChaosRule.matches(pattern, subject) == matches)
    }

    @Test("a pathological pattern stays cheap")
    func pathological() {
        let pattern = String(repeating: "*a", count: 200) + "b"
        #expect(!ChaosRule.matches(pattern, String(repeating: "a", count: 4000)))
    }

    @Test("rules are checked: reply code 400-599 in US-ASCII, delay 0-300 s, probability 0-100, something to do")
    func validation() throws {
        #expect(try ChaosRule(stage: .rcpt, reply: "550 5.1.1 no such user").validated()?.enhancedCode == EnhancedStatusCode(5, 1, 1))
        #expect(try ChaosRule(stage: .rcpt, reply: "451").validated()?.code.rawValue == 451)
        #expect(try ChaosRule(stage: .mail, delay: 2).validated() == nil)
        for bad in [
            ChaosRule(stage: .rcpt, reply: "250 ok"), ChaosRule(stage: .rcpt, reply: "600 x"),
            ChaosRule(stage: .rcpt, reply: "hello"), ChaosRule(stage: .rcpt, reply: "451 4.3.0 caf\u{e9}"),
            ChaosRule(stage: .rcpt, delay: 301), ChaosRule(stage: .rcpt, delay: -1), ChaosRule(stage: .rcpt, delay: .nan),
            ChaosRule(stage: .rcpt, reply: "451", probability: 101), ChaosRule(stage: .data),
            ChaosRule(stage: .rcpt, recipient: String(repeating: "x", count: 513), drop: true),
        ] {
            #expect(throws: ChaosRule.Problem.self) { try bad.validated() }
        }
    }

    @Test("the first matching rule that hits decides; probability is drawn per command")
    func outcome() throws {
        let draws = NIOLockedValueBox([Int]())
        let rules = ChaosRules { draws.withLockedValue { $0.isEmpty ? 0 : $0.removeFirst() } }
        try rules.replace([
            ChaosRule(stage: .rcpt, recipient: "*@fail.test", reply: "550 5.1.1 no such user", probability: 50),
            ChaosRule(stage: .rcpt, inbox: "flaky", reply: "451 4.3.0 later"),
            ChaosRule(stage: .data, sender: "drop@*", drop: true),
        ])
        #expect(rules.outcome(.rcpt, sender: nil, recipients: ["a@ok.test"], inbox: "default") == nil)
        draws.withLockedValue { $0 = [49] }
        #expect(rules.outcome(.rcpt, sender: nil, recipients: ["a@fail.test"], inbox: "default")?.reply?.code.rawValue == 550)
        draws.withLockedValue { $0 = [50] }
        #expect(rules.outcome(.rcpt, sender: nil, recipients: ["a@fail.test"], inbox: "default") == nil, "missed at 50 %")
        #expect(rules.outcome(.rcpt, sender: nil, recipients: ["a@ok.test"], inbox: "flaky")?.reply?.code.rawValue == 451)
        #expect(rules.outcome(.data, sender: "drop@x.test", recipients: ["a@ok.test"], inbox: "default")?.drop == true)
        #expect(rules.outcome(.mail, sender: "drop@x.test", recipients: [], inbox: "default") == nil)
    }

    @Test("Mailpit's triggers: code and percent per stage; omitted ones are off")
    func triggers() throws {
        let rules = ChaosRules { 0 }
        var triggers = ChaosTriggers()
        triggers.recipient = .init(errorCode: 451, probability: 100)
        try rules.replace(triggers)
        let outcome = rules.outcome(.rcpt, sender: nil, recipients: ["a@b.test"], inbox: "default")
        #expect(outcome?.reply?.code.rawValue == 451 && outcome?.reply?.enhancedCode == EnhancedStatusCode(4, 7, 0))
        #expect(rules.outcome(.mail, sender: "a@b.test", recipients: [], inbox: "default") == nil)
        var bad = ChaosTriggers()
        bad.sender = .init(errorCode: 250, probability: 10)
        #expect(throws: ChaosRule.Problem.self) { try rules.replace(bad) }
        let decoded = try JSONDecoder().decode(ChaosTriggers.self, from: Data(#"{"Sender":{"ErrorCode":550,"Probability":5}}"#.utf8))
        #expect(decoded.sender == .init(errorCode: 550, probability: 5) && decoded.recipient.probability == 0)
    }

    @Test("ChaosPolicy: a rule's reply, a dropped connection, and a delay before the base policy's answer")
    func policy() async throws {
        let rules = ChaosRules { 0 }
        try rules.replace([
            ChaosRule(stage: .rcpt, recipient: "nobody@*", reply: "550 5.1.1 no such user"),
            ChaosRule(stage: .rcpt, recipient: "gone@*", drop: true),
            ChaosRule(stage: .mail, sender: "slow@*", delay: 0.2),
        ])
        let policy = ChaosPolicy(base: AcceptAllPolicy(), rules: rules) { $0 ?? "default" }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let session = SessionFacts(clientAddress: "127.0.0.1", tlsActive: false, eventLoop: loop)
        func decision(_ check: PolicyCheck) async throws -> ServerSessionStateMachine.PolicyDecision {
            switch check {
            case .decided(let decision): decision
            case .pending(let future): try await future.get()
            }
        }
        func rcpt(_ local: String) async throws -> ServerSessionStateMachine.PolicyDecision {
            try await decision(
                policy.checkRecipient(
                    ForwardPath(mailbox: MailAddress(localPart: local, domain: "x.test")), RecipientParameters(), session: session))
        }
        guard case .reject(let refusal) = try await rcpt("nobody") else {
            Issue.record("nobody@ was accepted")
            return
        }
        #expect(refusal.code.rawValue == 550)
        #expect(try await rcpt("gone") == .disconnect)
        #expect(try await rcpt("someone") == .accept)
        let started = ContinuousClock.now
        let slow = try await decision(
            policy.checkSender(.mailbox(MailAddress(localPart: "slow", domain: "x.test")), MailParameters(), session: session))
        #expect(slow == .accept && ContinuousClock.now - started >= .milliseconds(190))
    }
}
