import TernTestSupport
import Testing

@testable import TernDNSCore

@Suite("MX ordering (RFC 5321 §5.1, RFC 7505)")
struct MXRouteTests {
    private func mx(_ preference: UInt16, _ exchange: DNSName) -> MXRecord {
        MXRecord(preference: preference, exchange: exchange)
    }

    private func route(_ answer: DNSAnswer<[MXRecord]>, seed: UInt64 = 1) -> MXRoute {
        var generator = SeededGenerator(seed: seed)
        return MXRoute(answer: answer, domain: "example.com", using: &generator)
    }

    private func exchanges(_ route: MXRoute) -> [String] {
        guard case .exchanges(let records) = route else { return [] }
        return records.map(\.exchange.description)
    }

    @Test("lowest preference first")
    func preferenceOrder() {
        let answer = DNSAnswer.records(
            [mx(30, "c.example.com"), mx(10, "a.example.com"), mx(20, "b.example.com")],
            ttl: 60
        )
        for seed: UInt64 in 0..<20 {
            #expect(exchanges(route(answer, seed: seed)) == ["a.example.com", "b.example.com", "c.example.com"])
        }
        guard case .exchanges(let records) = route(answer) else { return }
        #expect(records.map(\.preference) == [10, 20, 30])
    }

    @Test("equal preferences are shuffled with the injected generator, and only among themselves")
    func equalPreferences() {
        let answer = DNSAnswer.records(
            [mx(20, "z.example.com"), mx(10, "a.example.com"), mx(10, "b.example.com"), mx(10, "c.example.com")],
            ttl: 60
        )
        var orders = Set<[String]>()
        for seed: UInt64 in 0..<200 {
            let order = exchanges(route(answer, seed: seed))
            #expect(order.count == 4)
            #expect(Set(order.prefix(3)) == ["a.example.com", "b.example.com", "c.example.com"])
            #expect(order.last == "z.example.com")
            orders.insert(order)
            // The same seed gives the same order: the randomness is the generator's alone.
            #expect(exchanges(route(answer, seed: seed)) == order)
        }
        #expect(orders.count == 6, "all 3! orders of the equal-preference exchanges appear")
    }

    @Test("the generator is what decides")
    func generatorDecides() {
        struct Counting: RandomNumberGenerator {
            var calls = 0
            var value: UInt64
            mutating func next() -> UInt64 {
                calls += 1
                return value
            }
        }
        let answer = DNSAnswer.records([mx(10, "a.example.com"), mx(10, "b.example.com")], ttl: 60)
        var low = Counting(value: 0)
        var high = Counting(value: .max)
        let first = MXRoute(answer: answer, domain: "example.com", using: &low)
        let second = MXRoute(answer: answer, domain: "example.com", using: &high)
        #expect(low.calls > 0 && high.calls > 0)
        #expect(first != second)
        // Different preferences need no randomness.
        var unused = Counting(value: 0)
        _ = MXRoute(
            answer: .records([mx(10, "a.example.com"), mx(20, "b.example.com")], ttl: 60),
            domain: "example.com",
            using: &unused
        )
        #expect(unused.calls == 0)
    }

    @Test("null MX means the domain accepts no mail (RFC 7505)")
    func nullMX() {
        #expect(route(.records([mx(0, .root)], ttl: 60)) == .nullMX)
        #expect(route(.records([mx(10, .root)], ttl: 60)) == .nullMX)
        #expect(MXRecord(preference: 0, exchange: .root).isNullMX)
        #expect(MXRecord(preference: 0, exchange: .root).description == "0 .")
        // Mixed with real exchanges (forbidden by §3), the `.` record is dropped.
        #expect(exchanges(route(.records([mx(0, .root), mx(10, "mx.example.com")], ttl: 60))) == ["mx.example.com"])
    }

    @Test("no MX records (NODATA): the domain itself is the implicit MX")
    func implicitMX() {
        #expect(route(.noData(ttl: 60)) == .exchanges([mx(0, "example.com")]))
        #expect(route(.records([], ttl: 60)) == .exchanges([mx(0, "example.com")]))
    }

    @Test("NXDOMAIN: the domain does not exist")
    func nonexistent() {
        #expect(route(.nameDoesNotExist(ttl: 60)) == .domainDoesNotExist)
    }

    @Test("an exchange listed twice is tried once, at its best preference")
    func duplicates() {
        let answer = DNSAnswer.records(
            [mx(20, "a.example.com"), mx(10, "A.example.com."), mx(15, "b.example.com")],
            ttl: 60
        )
        guard case .exchanges(let records) = route(answer) else {
            Issue.record("no exchanges")
            return
        }
        #expect(records.map(\.preference) == [10, 15])
    }
}
