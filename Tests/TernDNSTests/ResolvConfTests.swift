import TernTestSupport
import Foundation
import NIOCore
import TernDNSCore
import Testing

@testable import TernDNS

@Suite("resolv.conf")
struct ResolvConfTests {
    @Test("nameserver lines, IPv4 and IPv6, comments and options")
    func parse() throws {
        let conf = ResolvConf.parse(
            """
            # generated
            search example.com
            nameserver 192.0.2.53   # primary
            nameserver\t2001:db8::53
            ; nameserver 192.0.2.99
            nameserver not-an-address
            nameserver 01.2.3.4
            nameserver fe80::1%lo
            nameserver 192.0.2.54
            options ndots:2 timeout:3 attempts:4 rotate
            """
        )
        #expect(conf.nameServers.map { $0.ipAddress } == ["192.0.2.53", "2001:db8::53", "fe80::1"])
        #expect(conf.nameServers.allSatisfy { $0.port == 53 })
        #expect(conf.timeoutSeconds == 3)
        #expect(conf.attempts == 4)
    }

    @Test("options are clamped as glibc clamps them; junk values are ignored")
    func optionBounds() {
        let conf = ResolvConf.parse("options timeout:99 attempts:0\noptions timeout:x attempts:+2")
        #expect(conf.timeoutSeconds == 30)
        #expect(conf.attempts == 1)
        #expect(ResolvConf.parse("options attempts:99999999999999999999").attempts == nil)
    }

    @Test("the configuration: glibc's defaults, 127.0.0.1 when no server is named")
    func configuration() throws {
        let empty = StubResolver.Configuration(resolvConf: ResolvConf.parse("search example.com\n"))
        #expect(empty.nameServers == [try SocketAddress(ipAddress: "127.0.0.1", port: 53)])
        #expect(empty.timeout == .seconds(5))
        #expect(empty.attempts == 2)
        let tuned = StubResolver.Configuration(
            resolvConf: ResolvConf.parse("nameserver ::1\noptions timeout:1 attempts:3")
        )
        #expect(tuned.nameServers == [try SocketAddress(ipAddress: "::1", port: 53)])
        #expect(tuned.timeout == .seconds(1))
        #expect(tuned.attempts == 3)
    }

    @Test("read from a file")
    func load() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tern-resolv-\(UUID().uuidString).conf"
        ).path
        try "nameserver 127.0.0.53\noptions edns0 trust-ad\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try StubResolver.Configuration.system(resolvConfPath: path)
        #expect(configuration.nameServers.map { $0.ipAddress } == ["127.0.0.53"])
        #expect(throws: (any Error).self) { try ResolvConf.load(path: path + ".missing") }
    }
}

@Suite("DNSCache")
struct DNSCacheTests {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    private func key(_ name: String) -> DNSCache.Key {
        DNSCache.Key(name: try! DNSName(name), type: .a)
    }

    private func answer(ttl: UInt32) -> DNSAnswer<[DNSResourceRecord]> {
        .records([DNSResourceRecord(name: "a.example", ttl: ttl, data: .a(IPv4Address(127, 0, 0, 1)))], ttl: ttl)
    }

    @Test("entries live for their TTL, counted down; names are keys without case")
    func expiry() {
        var cache = DNSCache(capacity: 10, maximumTTL: 86_400, maximumNegativeTTL: 3_600)
        cache.insert(answer(ttl: 60), for: key("a.example"), now: start)
        #expect(cache.answer(for: key("A.EXAMPLE."), now: start)?.ttl == 60)
        #expect(cache.answer(for: key("a.example"), now: start + .milliseconds(30_500))?.ttl == 30)
        #expect(cache.answer(for: key("a.example"), now: start + .seconds(60)) == nil)
        #expect(cache.count == 0)
    }

    @Test("TTLs are capped; TTL 0 is not stored")
    func caps() {
        var cache = DNSCache(capacity: 10, maximumTTL: 100, maximumNegativeTTL: 10)
        cache.insert(answer(ttl: 1_000_000), for: key("a.example"), now: start)
        cache.insert(.nameDoesNotExist(ttl: 3_600), for: key("b.example"), now: start)
        cache.insert(.noData(ttl: 0), for: key("c.example"), now: start)
        #expect(cache.answer(for: key("a.example"), now: start)?.ttl == 100)
        #expect(cache.answer(for: key("b.example"), now: start) == .nameDoesNotExist(ttl: 10))
        #expect(cache.answer(for: key("c.example"), now: start) == nil)
        #expect(cache.count == 2)
    }

    @Test("the cache never holds more than its capacity; the soonest to expire go first")
    func capacity() {
        var cache = DNSCache(capacity: 100, maximumTTL: 86_400, maximumNegativeTTL: 3_600)
        for index in 0..<1_000 {
            cache.insert(answer(ttl: UInt32(10 + index)), for: key("n\(index).example"), now: start)
            #expect(cache.count <= 100)
        }
        // The newest (longest-lived) entry survives; the first ones were evicted.
        #expect(cache.answer(for: key("n999.example"), now: start) != nil)
        #expect(cache.answer(for: key("n0.example"), now: start) == nil)
        // Expired entries are dropped before live ones.
        var expiring = DNSCache(capacity: 2, maximumTTL: 86_400, maximumNegativeTTL: 3_600)
        expiring.insert(answer(ttl: 1), for: key("old.example"), now: start)
        expiring.insert(answer(ttl: 500), for: key("kept.example"), now: start)
        expiring.insert(answer(ttl: 500), for: key("new.example"), now: start + .seconds(5))
        #expect(expiring.answer(for: key("kept.example"), now: start + .seconds(5)) != nil)
        #expect(expiring.answer(for: key("new.example"), now: start + .seconds(5)) != nil)
    }

    @Test("capacity 0 disables caching")
    func disabled() {
        var cache = DNSCache(capacity: 0, maximumTTL: 86_400, maximumNegativeTTL: 3_600)
        cache.insert(answer(ttl: 60), for: key("a.example"), now: start)
        #expect(cache.answer(for: key("a.example"), now: start) == nil)
    }
}
