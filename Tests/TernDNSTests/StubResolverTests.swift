import TernTestSupport
import NIOCore
import TernDNS
import TernDNSCore
import Testing

/// The resolver against NSD on loopback: every kind of answer a mail server meets.
@Suite(
    "StubResolver against NSD",
    .nsdServer,
    .enabled(if: NSDServer.isAvailable || NSDServer.isCI, NSDServer.skipMessage)
)
struct StubResolverTests {
    private func resolver(timeout: TimeAmount = .seconds(2)) throws -> StubResolver {
        StubResolver(configuration: .init(nameServers: [try NSDServer.shared().address], timeout: timeout, attempts: 2))
    }

    private func route(_ domain: String, seed: UInt64 = 1) async throws -> MXRoute {
        var generator = SeededGenerator(seed: seed)
        let name = try DNSName(domain)
        return MXRoute(answer: try await resolver().mx(domain), domain: name, using: &generator)
    }

    @Test("MX with several preferences: tried lowest first, each with its addresses")
    func severalPreferences() async throws {
        let resolver = try resolver()
        let answer = try await resolver.mx("multi.tern.test")
        #expect(
            Set(try #require(answer.records)) == [
                MXRecord(preference: 10, exchange: "mx1.multi.tern.test"),
                MXRecord(preference: 20, exchange: "mx2.multi.tern.test"),
                MXRecord(preference: 30, exchange: "mx3.multi.tern.test"),
            ]
        )
        #expect(answer.ttl == 300)
        guard case .exchanges(let exchanges) = try await route("multi.tern.test") else {
            Issue.record("no exchanges")
            return
        }
        #expect(
            exchanges.map(\.exchange.description) == [
                "mx1.multi.tern.test", "mx2.multi.tern.test", "mx3.multi.tern.test",
            ]
        )
        var addresses: [[String]] = []
        for exchange in exchanges {
            let found = try await resolver.addresses(exchange.exchange.description)
            addresses.append(try #require(found.records).map(\.description))
        }
        #expect(addresses == [["127.0.0.11"], ["127.0.0.12"], ["127.0.0.13", "::1"]])
    }

    @Test("two MX of equal preference: both, in an order the generator picks")
    func equalPreference() async throws {
        let answer = try await resolver().mx("equal.tern.test")
        #expect(try #require(answer.records).map(\.preference) == [10, 10])
        var orders = Set<[String]>()
        for seed: UInt64 in 0..<16 {
            var generator = SeededGenerator(seed: seed)
            guard case .exchanges(let exchanges) = MXRoute(answer: answer, domain: "equal.tern.test", using: &generator)
            else { continue }
            orders.insert(exchanges.map(\.exchange.description))
        }
        #expect(orders == [["a.equal.tern.test", "b.equal.tern.test"], ["b.equal.tern.test", "a.equal.tern.test"]])
    }

    @Test("a domain with an A record and no MX: NODATA, so the implicit MX is the domain")
    func implicitMX() async throws {
        let resolver = try resolver()
        // NODATA, negative TTL = min(SOA TTL 300, MINIMUM 60).
        #expect(try await resolver.mx("nomx.tern.test") == .noData(ttl: 60))
        #expect(try await route("nomx.tern.test") == .exchanges([MXRecord(preference: 0, exchange: "nomx.tern.test")]))
        #expect(try await resolver.a("nomx.tern.test") == .records([IPv4Address(127, 0, 0, 31)], ttl: 300))
        #expect(try await resolver.addresses("nomx.tern.test") == .records([.v4(IPv4Address(127, 0, 0, 31))], ttl: 300))
        #expect(try await resolver.aaaa("nomx.tern.test") == .noData(ttl: 60))
    }

    @Test("null MX: the domain accepts no mail")
    func nullMX() async throws {
        #expect(
            try await resolver().mx("nullmx.tern.test")
                == .records([MXRecord(preference: 0, exchange: .root)], ttl: 300)
        )
        #expect(try await route("nullmx.tern.test") == .nullMX)
    }

    @Test("NXDOMAIN: the name does not exist, for every type")
    func nxdomain() async throws {
        let resolver = try resolver()
        #expect(try await resolver.mx("nope.tern.test") == .nameDoesNotExist(ttl: 60))
        #expect(try await route("nope.tern.test") == .domainDoesNotExist)
        #expect(try await resolver.a("nope.tern.test") == .nameDoesNotExist(ttl: 60))
        #expect(try await resolver.addresses("nope.tern.test") == .nameDoesNotExist(ttl: 60))
        #expect(try await resolver.txt("deeper.nope.tern.test") == .nameDoesNotExist(ttl: 60))
    }

    @Test("TXT: one string, and several strings read as one text")
    func txt() async throws {
        let resolver = try resolver()
        let spf = try await resolver.txt("txt.tern.test")
        #expect(spf.records?.map(\.text) == ["v=spf1 ip4:127.0.0.0/8 -all"])
        let multi = try #require(try await resolver.txt("multistring.tern.test").records?.first)
        #expect(multi.strings.map { String(decoding: $0, as: UTF8.self) } == ["first part, ", "second part", ""])
        #expect(multi.text == "first part, second part")
        #expect(try await resolver.txt("nomx.tern.test") == .noData(ttl: 60))
    }

    @Test("PTR for IPv4 and IPv6 addresses")
    func ptr() async throws {
        let resolver = try resolver()
        #expect(try await resolver.ptr(IPAddress("127.0.0.11")!) == .records(["mx1.multi.tern.test"], ttl: 300))
        #expect(
            Set(try #require(try await resolver.ptr(IPAddress("127.0.0.31")!).records)) == [
                "nomx.tern.test", "other-name.tern.test",
            ]
        )
        #expect(try await resolver.ptr(IPAddress("::1")!) == .records(["localhost.tern.test"], ttl: 300))
        #expect(try await resolver.ptr(IPAddress("127.0.0.99")!) == .nameDoesNotExist(ttl: 60))
    }

    @Test("answers over 512 octets come truncated over UDP and whole over TCP")
    func tcpFallback() async throws {
        let server = try NSDServer.shared()
        let tcpBefore = try server.tcpQueryCount()
        let resolver = try resolver()
        let big = try await resolver.a("big.tern.test")
        #expect(Set(try #require(big.records)) == Set((1...40).map { IPv4Address(127, 0, 1, UInt8($0)) }))
        #expect(resolver.queriesSent == 2, "one UDP query answered with TC, then one over TCP")
        let bigTXT = try #require(try await resolver.txt("bigtxt.tern.test").records?.first)
        #expect(bigTXT.strings.map(\.count) == [250, 250, 250])
        #expect(resolver.queriesSent == 4)
        // No other test in this suite asks anything large enough for TCP.
        #expect(try server.tcpQueryCount() == tcpBefore + 2)
    }

    @Test("CNAMEs are followed: to an MX owner, through a chain, into another zone")
    func cnames() async throws {
        let resolver = try resolver()
        #expect(try #require(try await resolver.mx("www.tern.test").records).count == 3)
        #expect(try await resolver.a("alias.tern.test") == .records([IPv4Address(127, 0, 0, 31)], ttl: 300))
        #expect(try await resolver.a("chain1.tern.test") == .records([IPv4Address(127, 0, 0, 31)], ttl: 300))
        #expect(try await resolver.a("outside.tern.test") == .records([IPv4Address(127, 0, 0, 41)], ttl: 300))
        // The end of a chain that exists without the type asked.
        #expect(try await resolver.mx("alias.tern.test") == .noData(ttl: 60))
    }

    @Test("a CNAME loop is a temporary error")
    func cnameLoop() async throws {
        await #expect {
            try await resolver().a("loop1.tern.test")
        } throws: { error in
            guard let error = error as? DNSError else { return false }
            return error.code == .aliasLoop && error.isTemporary
        }
    }

    @Test("a CNAME out of the server's zones is asked for again; REFUSED is temporary")
    func danglingCNAME() async throws {
        let resolver = try resolver()
        await #expect {
            try await resolver.a("dangling.tern.test")
        } throws: { error in
            guard let error = error as? DNSError else { return false }
            return error.code == .refused && error.isTemporary
        }
        // The CNAME, then the target at each of the two attempts.
        #expect(resolver.queriesSent == 3)
    }

    @Test("names are case-insensitive and may end in a dot")
    func caseInsensitive() async throws {
        #expect(try #require(try await resolver().mx("MULTI.Tern.TEST.").records).count == 3)
    }

    @Test("a non-ASCII name is refused before any query")
    func nonASCII() async throws {
        let resolver = try resolver()
        await #expect {
            try await resolver.mx("bücher.tern.test")
        } throws: { error in
            guard let error = error as? DNSError else { return false }
            return error.code == .invalidName && !error.isTemporary && error.description.contains("A-label")
        }
        #expect(resolver.queriesSent == 0)
    }

    @Test("concurrent identical lookups share one query in flight")
    func inFlight() async throws {
        // The silent server first makes the one shared lookup take a timeout, long enough for
        // every caller to join it. The cache is off: the sharing is the in-flight table's.
        let silent = try await ScriptedServer.silent()
        let resolver = StubResolver(
            configuration: .init(
                nameServers: [silent.address, try NSDServer.shared().address],
                timeout: .seconds(1),
                attempts: 1,
                cacheCapacity: 0
            )
        )
        let answers = try await withThrowingTaskGroup(of: DNSAnswer<[IPv4Address]>.self) { group in
            for _ in 0..<20 {
                group.addTask { try await resolver.a("nomx.tern.test") }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.count == 20)
        #expect(answers.allSatisfy { $0 == .records([IPv4Address(127, 0, 0, 31)], ttl: 300) })
        #expect(await silent.received(atLeast: 1) == 1)
        #expect(resolver.queriesSent == 2)
        // With the cache off, the next lookup asks again.
        _ = try await resolver.a("nomx.tern.test")
        #expect(resolver.queriesSent == 4)
        await silent.stop()
    }
}
