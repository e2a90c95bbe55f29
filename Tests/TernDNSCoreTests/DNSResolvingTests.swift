import TernTestSupport
import Synchronization
import Testing

@testable import TernDNSCore

/// A resolver that answers from a table, to test what `DNSResolving`'s default methods make of
/// `lookup(_:type:)`.
final class TableResolver: DNSResolving {
    let table: [DNSQuestion: Result<DNSAnswer<[DNSResourceRecord]>, DNSError>]
    let asked = Mutex<[DNSQuestion]>([])

    init(_ table: [DNSQuestion: Result<DNSAnswer<[DNSResourceRecord]>, DNSError>]) {
        self.table = table
    }

    func lookup(_ name: DNSName, type: DNSRecordType) async throws -> DNSAnswer<[DNSResourceRecord]> {
        let question = DNSQuestion(name: name, type: type)
        asked.withLock { $0.append(question) }
        return try (table[question] ?? .success(.nameDoesNotExist(ttl: 0))).get()
    }
}

@Suite("DNSResolving defaults")
struct DNSResolvingTests {
    private static func record(_ name: DNSName, _ data: DNSRecordData, ttl: UInt32 = 300) -> DNSResourceRecord {
        DNSResourceRecord(name: name, ttl: ttl, data: data)
    }

    private let resolver = TableResolver([
        DNSQuestion(name: "example.com", type: .mx): .success(
            .records([record("example.com", .mx(MXRecord(preference: 10, exchange: "mx.example.com")))], ttl: 300)
        ),
        DNSQuestion(name: "mx.example.com", type: .a): .success(
            .records([record("mx.example.com", .a(IPv4Address(127, 0, 0, 2)))], ttl: 300)
        ),
        DNSQuestion(name: "mx.example.com", type: .aaaa): .success(
            .records([record("mx.example.com", .aaaa(IPv6Address("::1")!))], ttl: 100)
        ),
        DNSQuestion(name: "v4only.example.com", type: .a): .success(
            .records([record("v4only.example.com", .a(IPv4Address(127, 0, 0, 3)))], ttl: 300)
        ),
        DNSQuestion(name: "v4only.example.com", type: .aaaa): .success(.noData(ttl: 60)),
        DNSQuestion(name: "flaky.example.com", type: .a): .failure(DNSError(.timeout)),
        DNSQuestion(name: "flaky.example.com", type: .aaaa): .success(.noData(ttl: 60)),
        DNSQuestion(name: "half.example.com", type: .a): .failure(DNSError(.serverFailure)),
        DNSQuestion(name: "half.example.com", type: .aaaa): .success(
            .records([record("half.example.com", .aaaa(IPv6Address("::2")!))], ttl: 100)
        ),
        DNSQuestion(name: "empty.example.com", type: .a): .success(.noData(ttl: 60)),
        DNSQuestion(name: "empty.example.com", type: .aaaa): .success(.noData(ttl: 30)),
        DNSQuestion(name: "example.com", type: .txt): .success(
            .records([record("example.com", .txt(TXTRecord(["v=spf1 ", "-all"])))], ttl: 300)
        ),
        DNSQuestion(name: "2.0.0.127.in-addr.arpa", type: .ptr): .success(
            .records([record("2.0.0.127.in-addr.arpa", .ptr("mx.example.com"))], ttl: 300)
        ),
    ])

    @Test("typed lookups map the records")
    func typed() async throws {
        #expect(
            try await resolver.mx("example.com")
                == .records([MXRecord(preference: 10, exchange: "mx.example.com")], ttl: 300)
        )
        #expect(try await resolver.mx("EXAMPLE.COM.").records?.count == 1)
        #expect(try await resolver.a("mx.example.com") == .records([IPv4Address(127, 0, 0, 2)], ttl: 300))
        #expect(try await resolver.aaaa("mx.example.com").records == [IPv6Address("::1")!])
        #expect(try await resolver.txt("example.com").records?.first?.text == "v=spf1 -all")
        #expect(try await resolver.ptr(.v4(IPv4Address(127, 0, 0, 2))) == .records(["mx.example.com"], ttl: 300))
        #expect(try await resolver.mx("nope.example.com") == .nameDoesNotExist(ttl: 0))
    }

    @Test("addresses: A and AAAA merged, IPv4 first, smaller TTL")
    func addresses() async throws {
        #expect(
            try await resolver.addresses("mx.example.com")
                == .records([.v4(IPv4Address(127, 0, 0, 2)), .v6(IPv6Address("::1")!)], ttl: 100)
        )
        #expect(
            try await resolver.addresses("v4only.example.com") == .records([.v4(IPv4Address(127, 0, 0, 3))], ttl: 300)
        )
        // Records win over a failure of the other type.
        #expect(try await resolver.addresses("half.example.com") == .records([.v6(IPv6Address("::2")!)], ttl: 100))
        #expect(try await resolver.addresses("empty.example.com") == .noData(ttl: 30))
        #expect(try await resolver.addresses("nope.example.com") == .nameDoesNotExist(ttl: 0))
        // No records and one failure: the failure.
        await #expect {
            try await resolver.addresses("flaky.example.com")
        } throws: { error in
            (error as? DNSError)?.code == .timeout
        }
    }

    @Test("invalid names fail before any lookup, permanently")
    func invalidNames() async {
        for name in ["bücher.example", "a..b", String(repeating: "x", count: 64) + ".example"] {
            await #expect {
                try await resolver.mx(name)
            } throws: { error in
                guard let error = error as? DNSError else { return false }
                return error.code == .invalidName && !error.isTemporary
            }
            await #expect(throws: DNSError.self) { try await resolver.addresses(name) }
        }
        #expect(resolver.asked.withLock { $0.isEmpty })
    }
}
