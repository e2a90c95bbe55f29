import NIOCore
import TernTestSupport

@testable import TernDNSCore



/// Octets from hex pairs separated by spaces: `"C0 0C 00 01"`.
func hex(_ text: String) -> [UInt8] {
    text.split(separator: " ").map { UInt8($0, radix: 16)! }
}

func decode(_ bytes: [UInt8]) -> Result<DNSMessage, DNSWireError> {
    DNSMessage.decode(ByteBuffer(bytes: bytes))
}

func encode(_ message: DNSMessage) -> [UInt8]? {
    guard case .success(let buffer) = message.encode() else { return nil }
    return Array(buffer.readableBytesView)
}

func decodeError(_ bytes: [UInt8]) -> DNSWireError.Code? {
    guard case .failure(let error) = decode(bytes) else { return nil }
    return error.code
}

/// The packets the codec tests are built on: each constructed by hand from RFC 1035 §4.1 (see
/// the comments), names compressed where a server would compress them.
enum Packets {
    /// A query: ID 0x1234, RD, one question `example.com IN MX`.
    static let mxQuery = hex(
        "12 34 01 00 00 01 00 00 00 00 00 00 07 65 78 61 6D 70 6C 65 03 63 6F 6D 00 00 0F 00 01"
    )

    /// The answer: QR RD RA, two MX records whose exchanges `mx1`/`mx2` end in a pointer to the
    /// question name (C0 0C), and two A records in the additional section whose owner names are
    /// pointers into the MX RDATA (C0 2B = offset 43, C0 3F = 63).
    static let mxResponse = hex(
        """
        12 34 81 80 00 01 00 02 00 00 00 02 07 65 78 61 6D 70 6C 65 03 63 6F 6D 00 00 0F 00 01 \
        C0 0C 00 0F 00 01 00 00 0E 10 00 08 00 0A 03 6D 78 31 C0 0C \
        C0 0C 00 0F 00 01 00 00 0E 10 00 08 00 14 03 6D 78 32 C0 0C \
        C0 2B 00 01 00 01 00 00 01 2C 00 04 7F 00 00 02 \
        C0 3F 00 01 00 01 00 00 01 2C 00 04 7F 00 00 03
        """
    )

    static let mxResponseMessage = DNSMessage(
        header: DNSHeader(id: 0x1234, isResponse: true, recursionDesired: true, recursionAvailable: true),
        questions: [DNSQuestion(name: "example.com", type: .mx)],
        answers: [
            DNSResourceRecord(
                name: "example.com",
                ttl: 3600,
                data: .mx(MXRecord(preference: 10, exchange: "mx1.example.com"))
            ),
            DNSResourceRecord(
                name: "example.com",
                ttl: 3600,
                data: .mx(MXRecord(preference: 20, exchange: "mx2.example.com"))
            ),
        ],
        additionals: [
            DNSResourceRecord(name: "mx1.example.com", ttl: 300, data: .a(IPv4Address(127, 0, 0, 2))),
            DNSResourceRecord(name: "mx2.example.com", ttl: 300, data: .a(IPv4Address(127, 0, 0, 3))),
        ]
    )

    /// NXDOMAIN, uncompressed (what Tern's encoder writes): QR AA, RCODE 3, the zone's SOA in
    /// the authority section (TTL 900, MINIMUM 60).
    static let nxdomain = hex(
        """
        AB CD 84 03 00 01 00 00 00 01 00 00 04 6E 6F 70 65 07 65 78 61 6D 70 6C 65 03 63 6F 6D 00 00 01 00 01 \
        07 65 78 61 6D 70 6C 65 03 63 6F 6D 00 00 06 00 01 00 00 03 84 00 3C \
        02 6E 73 07 65 78 61 6D 70 6C 65 03 63 6F 6D 00 \
        0A 68 6F 73 74 6D 61 73 74 65 72 07 65 78 61 6D 70 6C 65 03 63 6F 6D 00 \
        00 00 00 01 00 00 0E 10 00 00 02 58 00 01 51 80 00 00 00 3C
        """
    )

    static let nxdomainMessage = DNSMessage(
        header: DNSHeader(
            id: 0xABCD,
            isResponse: true,
            isAuthoritativeAnswer: true,
            recursionDesired: false,
            responseCode: .nameError
        ),
        questions: [DNSQuestion(name: "nope.example.com", type: .a)],
        authorities: [exampleSOA]
    )

    /// `example.com`'s SOA: TTL 900, minimum 60 (the negative-caching TTL is the smaller).
    static let exampleSOA = DNSResourceRecord(
        name: "example.com",
        ttl: 900,
        data: .soa(
            SOARecord(
                primaryNameServer: "ns.example.com",
                responsibleMailbox: "hostmaster.example.com",
                serial: 1,
                refresh: 3600,
                retry: 600,
                expire: 86400,
                minimum: 60
            )
        )
    )

    /// Every record type Tern reads, and two it does not, in one response (AA, RD, RA; ID 0xBEEF;
    /// question `example.org IN ANY`): A, AAAA, MX (exchange `mail` + C0 0C), TXT with three
    /// strings (one empty), PTR (an uncompressed in-addr.arpa owner), CNAME (`www` + C0 0C), NS
    /// (`ns1` + C0 0C), SOA (MNAME a pointer into the NS RDATA, C0 C0; RNAME `hostmaster` +
    /// C0 0C), TYPE99 as opaque octets; an SOA in the authority section (MNAME C0 C0, RNAME
    /// C0 D4, both pointers into the earlier SOA); an EDNS OPT pseudo-record in the additional
    /// section (root owner, class 1232 = UDP payload size).
    static let allTypes = hex(
        """
        BE EF 85 80 00 01 00 09 00 01 00 01 07 65 78 61 6D 70 6C 65 03 6F 72 67 00 00 FF 00 01 \
        C0 0C 00 01 00 01 00 00 01 2C 00 04 C0 00 02 01 \
        C0 0C 00 1C 00 01 00 00 01 2C 00 10 20 01 0D B8 00 00 00 00 00 00 00 00 00 00 00 01 \
        C0 0C 00 0F 00 01 00 00 0E 10 00 09 00 0A 04 6D 61 69 6C C0 0C \
        C0 0C 00 10 00 01 00 00 00 3C 00 14 0B 76 3D 73 70 66 31 20 2D 61 6C 6C 00 06 73 65 63 6F 6E 64 \
        01 31 01 32 01 30 03 31 39 32 07 69 6E 2D 61 64 64 72 04 61 72 70 61 00 00 0C 00 01 00 01 51 80 00 02 C0 0C \
        03 77 77 77 C0 0C 00 05 00 01 00 00 00 78 00 02 C0 0C \
        C0 0C 00 02 00 01 00 01 51 80 00 06 03 6E 73 31 C0 0C \
        C0 0C 00 06 00 01 00 00 0E 10 00 23 C0 C0 0A 68 6F 73 74 6D 61 73 74 65 72 C0 0C \
        78 A3 F1 75 00 00 1C 20 00 00 03 84 00 12 75 00 00 00 01 2C \
        C0 0C 00 63 00 01 00 00 01 2C 00 03 01 02 03 \
        C0 0C 00 06 00 01 00 00 02 58 00 18 C0 C0 C0 D4 00 00 00 01 00 00 00 02 00 00 00 03 00 00 00 04 00 00 00 05 \
        00 00 29 04 D0 00 00 00 00 00 00
        """
    )

    static let allTypesMessage = DNSMessage(
        header: DNSHeader(
            id: 0xBEEF,
            isResponse: true,
            isAuthoritativeAnswer: true,
            recursionDesired: true,
            recursionAvailable: true
        ),
        questions: [DNSQuestion(name: "example.org", type: .any)],
        answers: [
            DNSResourceRecord(name: "example.org", ttl: 300, data: .a(IPv4Address(192, 0, 2, 1))),
            DNSResourceRecord(name: "example.org", ttl: 300, data: .aaaa(IPv6Address("2001:db8::1")!)),
            DNSResourceRecord(
                name: "example.org",
                ttl: 3600,
                data: .mx(MXRecord(preference: 10, exchange: "mail.example.org"))
            ),
            DNSResourceRecord(name: "example.org", ttl: 60, data: .txt(TXTRecord(["v=spf1 -all", "", "second"]))),
            DNSResourceRecord(name: "1.2.0.192.in-addr.arpa", ttl: 86400, data: .ptr("example.org")),
            DNSResourceRecord(name: "www.example.org", ttl: 120, data: .cname("example.org")),
            DNSResourceRecord(name: "example.org", ttl: 86400, data: .ns("ns1.example.org")),
            DNSResourceRecord(
                name: "example.org",
                ttl: 3600,
                data: .soa(
                    SOARecord(
                        primaryNameServer: "ns1.example.org",
                        responsibleMailbox: "hostmaster.example.org",
                        serial: 2_024_010_101,
                        refresh: 7200,
                        retry: 900,
                        expire: 1_209_600,
                        minimum: 300
                    )
                )
            ),
            DNSResourceRecord(
                name: "example.org",
                ttl: 300,
                data: .unknown(type: DNSRecordType(rawValue: 99), rdata: [1, 2, 3])
            ),
        ],
        authorities: [
            DNSResourceRecord(
                name: "example.org",
                ttl: 600,
                data: .soa(
                    SOARecord(
                        primaryNameServer: "ns1.example.org",
                        responsibleMailbox: "hostmaster.example.org",
                        serial: 1,
                        refresh: 2,
                        retry: 3,
                        expire: 4,
                        minimum: 5
                    )
                )
            )
        ],
        additionals: [
            DNSResourceRecord(
                name: .root,
                class: DNSClass(rawValue: 1232),
                ttl: 0,
                data: .unknown(type: .opt, rdata: [])
            )
        ]
    )

    static let all: [[UInt8]] = [mxQuery, mxResponse, nxdomain, allTypes]
}
