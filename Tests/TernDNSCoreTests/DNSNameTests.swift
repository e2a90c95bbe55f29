import TernTestSupport
import Testing

@testable import TernDNSCore

@Suite("DNSName")
struct DNSNameTests {
    static let valid: [(String, String, Int)] = [
        ("example.com", "example.com", 13),
        ("example.com.", "example.com", 13),
        ("Mail.Example.COM", "Mail.Example.COM", 18),
        (".", ".", 1),
        ("localhost", "localhost", 11),
        ("_dmarc.example.com", "_dmarc.example.com", 20),
        ("sel._domainkey.example.com", "sel._domainkey.example.com", 28),
        ("xn--bcher-kva.example", "xn--bcher-kva.example", 23),
        ("1.0.0.127.in-addr.arpa", "1.0.0.127.in-addr.arpa", 24),
        (String(repeating: "a", count: 63) + ".com", String(repeating: "a", count: 63) + ".com", 69),
    ]

    @Test("parses names", arguments: valid)
    func parses(text: String, description: String, wireLength: Int) throws {
        let name = try DNSName(text)
        #expect(name.description == description)
        #expect(name.wireLength == wireLength)
    }

    @Test("a name of 255 octets is the longest")
    func longest() throws {
        // 3 × 64 + 62 + root = 255: labels of 63, 63, 63 and 61 octets.
        let label63 = String(repeating: "a", count: 63)
        let text = [label63, label63, label63, String(repeating: "b", count: 61)].joined(separator: ".")
        #expect(try DNSName(text).wireLength == 255)
        #expect(throws: DNSError.self) { try DNSName(text + "b") }
    }

    static let invalid: [(String, String)] = [
        ("", "empty"),
        ("..", "empty label"),
        ("a..b", "empty label"),
        (".example.com", "empty label"),
        ("example.com..", "empty label"),
        (String(repeating: "a", count: 64) + ".com", "63 octets"),
        ("exa mple.com", "not allowed"),
        ("exa\u{0}mple.com", "not allowed"),
        ("exa\r\nmple.com", "not allowed"),
        ("a\\.b", "not allowed"),
        ("a;b", "not allowed"),
        ("bücher.example", "A-labels"),
        ("例子.测试", "A-labels"),
        ("exam\u{0301}ple.com", "A-labels"),
    ]

    @Test("refuses invalid names with a clear error", arguments: invalid)
    func refuses(text: String, reason: String) {
        do {
            let name = try DNSName(text)
            Issue.record("accepted \(name)")
        } catch {
            #expect(error.code == .invalidName)
            #expect(!error.isTemporary)
            #expect(error.description.contains(reason), "\(error)")
        }
    }

    @Test("comparison and hashing ignore ASCII case only")
    func caseInsensitive() throws {
        let lower = DNSName(stringLiteral: "mail.example.com")
        let mixed = DNSName(stringLiteral: "MAIL.Example.Com.")
        #expect(lower == mixed)
        #expect(Set([lower, mixed]).count == 1)
        #expect(lower != DNSName(stringLiteral: "mail.example.co"))
        #expect(lower != (DNSName(stringLiteral: "mail.example.com.x")))
        #expect(mixed.lowercased.description == "mail.example.com")
        // Octets above 0x7F are not folded.
        let upper = try DNSName(labels: [[0xC9]])
        let lowerAccent = try DNSName(labels: [[0xE9]])
        #expect(upper != lowerAccent)
    }

    @Test("parents and subdomains")
    func hierarchy() throws {
        let name = DNSName(stringLiteral: "a.b.example.com")
        #expect(name.parent == (DNSName(stringLiteral: "b.example.com")))
        #expect(name.isSubdomain(of: DNSName(stringLiteral: "EXAMPLE.com")))
        #expect(name.isSubdomain(of: .root))
        #expect(name.isSubdomain(of: name))
        #expect(!name.isSubdomain(of: DNSName(stringLiteral: "ample.com")))
        #expect(!(DNSName(stringLiteral: "example.com")).isSubdomain(of: name))
        #expect(DNSName.root.parent == nil)
        #expect(name.labels.map { String(decoding: $0, as: UTF8.self) } == ["a", "b", "example", "com"])
    }

    @Test("names from the wire are escaped in text, so they cannot inject into logs")
    func escaping() throws {
        let name = try DNSName(labels: [Array("a.b".utf8), [0x0D, 0x0A], Array("c d".utf8), [0x5C, 0xFF]])
        #expect(name.description == "a\\046b.\\013\\010.c\\032d.\\092\\255")
        #expect(!name.description.utf8.contains { $0 < 0x20 || $0 >= 0x7F })
    }

    @Test("labels must be 1 to 63 octets")
    func labelBounds() {
        #expect(throws: DNSError.self) { try DNSName(labels: [[]]) }
        #expect(throws: DNSError.self) { try DNSName(labels: [Array(repeating: 1, count: 64)]) }
        #expect(throws: DNSError.self) {
            try DNSName(labels: Array(repeating: Array(repeating: 1, count: 63), count: 4))
        }
    }
}

@Suite("IP addresses")
struct IPAddressTests {
    static let v4: [(String, UInt32?)] = [
        ("127.0.0.1", 0x7F00_0001), ("0.0.0.0", 0), ("255.255.255.255", 0xFFFF_FFFF), ("192.0.2.10", 0xC000_020A),
        ("256.0.0.1", nil), ("1.2.3", nil), ("1.2.3.4.5", nil), ("01.2.3.4", nil), ("+1.2.3.4", nil),
        ("1..3.4", nil), ("1.2.3.4 ", nil), ("", nil), ("١.٢.٣.٤", nil), ("1.2.3.0x4", nil),
    ]

    @Test("IPv4 text", arguments: v4)
    func ipv4(text: String, value: UInt32?) {
        #expect(IPv4Address(text)?.rawValue == value)
        if let value { #expect(IPv4Address(rawValue: value).description == text) }
    }

    static let v6: [(String, String?)] = [
        ("::1", "::1"), ("::", "::"), ("2001:db8::1", "2001:db8::1"), ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("fe80::", "fe80::"), ("2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"),
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"), ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
        ("1:0:3:4:5:6:7:8", "1:0:3:4:5:6:7:8"),
        ("1:2:3:4:5:6:7:8:9", nil), ("1::2::3", nil), (":::", nil), ("1:2:3:4:5:6:7", nil), ("12345::", nil),
        ("::g", nil), ("fe80::1%eth0", nil), ("1:2:3:4:5:6:7::8", nil), ("::1.2.3", nil), ("", nil), (":", nil),
        ("1:", nil), (":1", nil),
    ]

    @Test("IPv6 text (RFC 4291 in, RFC 5952 out)", arguments: v6)
    func ipv6(text: String, canonical: String?) {
        #expect(IPv6Address(text)?.description == canonical)
    }

    @Test("reverse names for PTR lookups")
    func reverseNames() throws {
        #expect(IPAddress("192.0.2.10")?.reverseName.description == "10.2.0.192.in-addr.arpa")
        #expect(
            IPAddress("2001:db8::567:89ab")?.reverseName.description
                == "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        )
    }

    @Test("IPv6 octets round-trip")
    func ipv6Bytes() throws {
        let address = try #require(IPv6Address("2001:db8::1:2"))
        #expect(IPv6Address(bytes: address.bytes) == address)
        #expect(IPv6Address(bytes: [1, 2, 3]) == nil)
    }
}
