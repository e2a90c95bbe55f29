import Testing

@testable import TernNet

@Suite("IPNetwork")
struct IPNetworkTests {
    @Test("membership", arguments: [
        ("127.0.0.0/8", "127.1.2.3", true),
        ("127.0.0.0/8", "128.0.0.1", false),
        ("192.0.2.0/24", "192.0.2.255", true),
        ("192.0.2.0/25", "192.0.2.128", false),
        ("192.0.2.7", "192.0.2.7", true),
        ("192.0.2.7", "192.0.2.8", false),
        ("0.0.0.0/0", "203.0.113.9", true),
        ("::1/128", "::1", true),
        ("2001:db8::/32", "2001:db8:ffff::1", true),
        ("2001:db8::/32", "2001:db9::1", false),
        ("127.0.0.0/8", "::ffff:127.0.0.1", true),
        ("127.0.0.0/8", "::1", false),
        ("10.0.0.0/8", "not an address", false),
    ])
    func contains(network: String, address: String, expected: Bool) throws {
        let parsed = try #require(IPNetwork(network))
        #expect(parsed.contains(address) == expected)
    }

    @Test("invalid networks", arguments: ["", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/+8", "10.0.0/8", "host/8", "1.2.3.4/8/8"])
    func invalid(text: String) {
        #expect(IPNetwork(text) == nil)
    }

    @Test("host bits are cleared")
    func normalized() {
        #expect(IPNetwork("192.0.2.77/24")?.description == "192.0.2.0/24")
        #expect(IPNetwork("2001:db8::1/32")?.description == "2001:db8::/32")
    }
}
