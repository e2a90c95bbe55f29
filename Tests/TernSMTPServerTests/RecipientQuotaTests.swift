import NIOCore
import NIOConcurrencyHelpers
import NIOPosix
import TernDirectory
import TernMail
import TernSMTPCore
import TernStore
import Testing

@testable import TernSMTPServer

/// The quota at RCPT: 452 4.2.2 while a mailbox is full, 552 5.2.2 once it has stayed full for
/// the grace period, and the declared SIZE weighed against what is left.
@Suite("RecipientQuota")
struct RecipientQuotaTests {
    /// A clock and a usage figure moved by hand.
    final class World: Sendable {
        let milliseconds = NIOLockedValueBox(Int64(1_795_400_000_000))
        let used = NIOLockedValueBox([String: Int]())
        var clock: WallClock { WallClock { [self] in .init(milliseconds: milliseconds.withLockedValue { $0 }) } }
        func advance(seconds: Int64) { milliseconds.withLockedValue { $0 += seconds * 1000 } }
        func store(_ octets: Int, for user: String) { used.withLockedValue { $0[user] = octets } }
    }

    static let accounts = AccountTable([
        Account(address: "full@tern.test", passwordHash: "x", quotaBytes: 1000),
        Account(address: "free@tern.test", passwordHash: "x"),
        Account(address: "other@tern.test", passwordHash: "x", quotaBytes: 1000),
    ])

    func quota(_ world: World, grace: Duration = .seconds(3600)) -> RecipientQuota {
        RecipientQuota(accounts: Self.accounts, grace: grace, clock: world.clock) { user in
            MailboxUsage(octets: world.used.withLockedValue { $0[user] ?? 0 }, messages: 1)
        }
    }

    @Test("only an account with a quota is checked")
    func limits() {
        let quota = quota(World())
        #expect(quota.limit(of: "FULL@tern.test") == 1000)
        #expect(quota.limit(of: "free@tern.test") == nil)
        #expect(quota.limit(of: "nobody@tern.test") == nil)
    }

    @Test("full: 452 4.2.2 through the grace period, then 552 5.2.2, and room again accepts")
    func fullThenForGood() async {
        let world = World()
        let quota = quota(world)
        world.store(999, for: "full@tern.test")
        #expect(await quota.check("full@tern.test", limit: 1000, declaredSize: nil) == nil)
        world.store(1000, for: "full@tern.test")
        let first = await quota.check("full@tern.test", limit: 1000, declaredSize: nil)
        #expect(first?.code.rawValue == 452)
        #expect(first?.enhancedCode == EnhancedStatusCode(4, 2, 2))
        world.advance(seconds: 3599)
        #expect(await quota.check("full@tern.test", limit: 1000, declaredSize: nil)?.code.rawValue == 452)
        world.advance(seconds: 1)
        let later = await quota.check("full@tern.test", limit: 1000, declaredSize: nil)
        #expect(later?.code.rawValue == 552)
        #expect(later?.enhancedCode == EnhancedStatusCode(5, 2, 2))
        // Another full mailbox has its own grace period.
        world.store(5000, for: "other@tern.test")
        #expect(await quota.check("other@tern.test", limit: 1000, declaredSize: nil)?.code.rawValue == 452)
        // The user makes room: accepted, and a new fill starts a new grace period.
        world.store(10, for: "full@tern.test")
        #expect(await quota.check("full@tern.test", limit: 1000, declaredSize: nil) == nil)
        world.store(1000, for: "full@tern.test")
        #expect(await quota.check("full@tern.test", limit: 1000, declaredSize: nil)?.code.rawValue == 452)
    }

    @Test("SIZE: what does not fit now is 452; what can never fit is 552; a huge SIZE cannot overflow")
    func declaredSize() async {
        let world = World()
        let quota = quota(world)
        world.store(600, for: "full@tern.test")
        #expect(await quota.check("full@tern.test", limit: 1000, declaredSize: 400) == nil)
        #expect(await quota.check("full@tern.test", limit: 1000, declaredSize: 401)?.code.rawValue == 452)
        #expect(await quota.check("full@tern.test", limit: 1000, declaredSize: 1001)?.code.rawValue == 552)
        world.store(Int.max - 1, for: "free@tern.test")
        #expect(await quota.check("free@tern.test", limit: Int.max, declaredSize: Int.max)?.code.rawValue == 452)
    }

    @Test("a grace of zero refuses for good at once; a usage that cannot be read accepts")
    func edges() async {
        let world = World()
        world.store(2000, for: "full@tern.test")
        #expect(await quota(world, grace: .zero).check("full@tern.test", limit: 1000, declaredSize: nil)?.code.rawValue == 552)
        struct Unreadable: Error {}
        let broken = RecipientQuota(accounts: Self.accounts, grace: .zero) { _ in throw Unreadable() }
        #expect(await broken.check("full@tern.test", limit: 1000, declaredSize: nil) == nil)
    }

    @Test("RoutingPolicy asks for one account's address, never for a list's members")
    func policy() async throws {
        let world = World()
        world.store(1000, for: "full@tern.test")
        world.store(1000, for: "other@tern.test")
        let routing = RoutingTable(
            MailRouting(
                localDomains: ["tern.test"],
                mailboxes: [
                    .init(localPart: "full", domain: "tern.test"), .init(localPart: "free", domain: "tern.test"),
                    .init(localPart: "other", domain: "tern.test"),
                ],
                aliases: [
                    "alias@tern.test": [MailAddress(localPart: "full", domain: "tern.test")],
                    "list@tern.test": [
                        MailAddress(localPart: "full", domain: "tern.test"),
                        MailAddress(localPart: "other", domain: "tern.test"),
                    ],
                ]))
        let policy = RoutingPolicy(routing: routing, relayNetworks: [], quota: quota(world))
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let session = SessionFacts(clientAddress: "127.0.0.1", tlsActive: false, eventLoop: loop)
        func decide(_ local: String) async throws -> ServerSessionStateMachine.PolicyDecision {
            let path = ForwardPath(mailbox: MailAddress(localPart: local, domain: "tern.test"))
            switch policy.checkRecipient(path, RecipientParameters(), session: session) {
            case .decided(let decision): return decision
            case .pending(let future): return try await future.get()
            }
        }
        guard case .reject(let full) = try await decide("full+tag") else {
            Issue.record("a full mailbox was accepted")
            return
        }
        #expect(full.code.rawValue == 452)
        guard case .reject(let viaAlias) = try await decide("alias") else {
            Issue.record("an alias of one full mailbox was accepted")
            return
        }
        #expect(viaAlias.code.rawValue == 452)
        #expect(try await decide("list") == .accept)
        #expect(try await decide("free") == .accept)
        // Without an event loop to wait on, the check is skipped rather than blocking.
        let blind = SessionFacts(clientAddress: "127.0.0.1", tlsActive: false)
        let path = ForwardPath(mailbox: MailAddress(localPart: "full", domain: "tern.test"))
        guard case .decided(.accept) = policy.checkRecipient(path, RecipientParameters(), session: blind) else {
            Issue.record("expected an immediate accept without an event loop")
            return
        }
    }
}
