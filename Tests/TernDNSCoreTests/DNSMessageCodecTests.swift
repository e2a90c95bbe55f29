import TernTestSupport
import NIOCore
import Testing

@testable import TernDNSCore

@Suite("DNS message codec")
struct DNSMessageCodecTests {
    // MARK: Encode fixtures

    @Test("a query encodes byte for byte")
    func queryEncoding() {
        let query = DNSMessage.query(id: 0x1234, question: DNSQuestion(name: "example.com", type: .mx))
        #expect(encode(query) == Packets.mxQuery)
    }

    @Test("a query name keeps its case and loses its trailing dot")
    func queryNameCase() throws {
        let query = DNSMessage.query(
            id: 1,
            question: DNSQuestion(name: DNSName(stringLiteral: "ExAmple.COM."), type: .a)
        )
        let bytes = try #require(encode(query))
        #expect(Array(bytes[12..<25]) == hex("07 45 78 41 6D 70 6C 65 03 43 4F 4D 00"))
    }

    @Test("an uncompressed response encodes byte for byte")
    func responseEncoding() {
        #expect(encode(Packets.nxdomainMessage) == Packets.nxdomain)
    }

    @Test("encoding refuses what the wire cannot carry")
    func encodingLimits() {
        var message = DNSMessage(header: DNSHeader(id: 1))
        message.answers = [
            DNSResourceRecord(
                name: "a.example",
                ttl: 1,
                data: .txt(TXTRecord(strings: [Array(repeating: 0x61, count: 256)]))
            )
        ]
        guard case .failure(let error) = message.encode() else {
            Issue.record("encoded a 256-octet character-string")
            return
        }
        #expect(error.code == .characterStringTooLong)
    }

    // MARK: Decode fixtures

    static let decodeFixtures: [(String, [UInt8], DNSMessage)] = [
        (
            "MX query", Packets.mxQuery,
            DNSMessage.query(id: 0x1234, question: DNSQuestion(name: "example.com", type: .mx))
        ),
        ("MX response, compressed", Packets.mxResponse, Packets.mxResponseMessage),
        ("NXDOMAIN with SOA", Packets.nxdomain, Packets.nxdomainMessage),
        ("every record type", Packets.allTypes, Packets.allTypesMessage),
    ]

    @Test("decodes constructed packets", arguments: decodeFixtures)
    func decoding(name: String, bytes: [UInt8], expected: DNSMessage) throws {
        let message = try decode(bytes).get()
        #expect(message == expected)
        // The structure, not only equality: names compare case-insensitively, so check the
        // octets too.
        #expect(message.questions.map(\.name.description) == expected.questions.map(\.name.description))
    }

    @Test("decode then encode then decode is the identity", arguments: decodeFixtures)
    func roundTrip(name: String, bytes: [UInt8], expected: DNSMessage) throws {
        let message = try decode(bytes).get()
        let reencoded = try #require(encode(message))
        #expect(try decode(reencoded).get() == message)
    }

    @Test("each record type decodes to its RDATA")
    func recordTypes() throws {
        let answers = try decode(Packets.allTypes).get().answers
        #expect(answers.map(\.type) == [.a, .aaaa, .mx, .txt, .ptr, .cname, .ns, .soa, DNSRecordType(rawValue: 99)])
        #expect(answers[0].data == .a(IPv4Address(rawValue: 0xC000_0201)))
        #expect(answers[1].data.description == "2001:db8::1")
        #expect(answers[2].data.description == "10 mail.example.org.")
        guard case .txt(let txt) = answers[3].data else {
            Issue.record("not TXT")
            return
        }
        #expect(txt.strings.count == 3)
        #expect(txt.text == "v=spf1 -allsecond")
        #expect(txt.description == "\"v=spf1 -all\" \"\" \"second\"")
        #expect(answers[4].name.description == "1.2.0.192.in-addr.arpa")
        #expect(answers[5].name.description == "www.example.org")
        #expect(answers[8].data.description == "\\# 3")
    }

    @Test("header flags survive decoding and encoding")
    func headerFlags() throws {
        for flags: UInt16 in [0x0000, 0x8180, 0x8583, 0x0200, 0x7FFF, 0xFFFF, 0x8410] {
            let header = DNSHeader(id: 7, flags: flags)
            #expect(header.flags == flags)
        }
        let header = try decode(Packets.mxResponse).get().header
        #expect(header.isResponse && header.recursionDesired && header.recursionAvailable)
        #expect(!header.isTruncated && !header.isAuthoritativeAnswer)
        #expect(header.responseCode == .noError)
    }

    @Test("the TC bit is read")
    func truncationBit() throws {
        var bytes = Packets.mxQuery
        bytes[2] = 0x83  // QR, TC, RD
        let header = try decode(bytes).get().header
        #expect(header.isTruncated && header.isResponse)
    }

    @Test("a TTL with the top bit set reads as 0 (RFC 2181 §8)")
    func hugeTTL() throws {
        var bytes = Packets.mxResponse
        bytes[35] = 0x80  // first answer's TTL: 0x80000E10
        #expect(try decode(bytes).get().answers[0].ttl == 0)
    }

    @Test("response matching: ID, QR and the question, names compared without case")
    func responseMatching() throws {
        let query = DNSMessage.query(id: 0x1234, question: DNSQuestion(name: "EXAMPLE.com", type: .mx))
        var response = try decode(Packets.mxResponse).get()
        #expect(response.isResponse(to: query))
        response.header.id = 0x1235
        #expect(!response.isResponse(to: query))
        response.header.id = 0x1234
        response.questions = [DNSQuestion(name: "example.com", type: .a)]
        #expect(!response.isResponse(to: query))
        response.questions = []
        #expect(!response.isResponse(to: query))
        #expect(!query.isResponse(to: query))
    }

    // MARK: Hostile input

    @Test("every truncation of every packet is an error, never a trap", arguments: Packets.all)
    func truncations(bytes: [UInt8]) {
        for length in 0..<bytes.count {
            #expect(decodeError(Array(bytes.prefix(length))) != nil, "prefix of \(length) octets decoded")
        }
        // The whole packet decodes, and trailing octets are ignored.
        #expect(decodeError(bytes) == nil)
        #expect(decodeError(bytes + [0, 1, 2]) == nil)
    }

    private static let label63: [UInt8] = [63] + Array(repeating: 0x61, count: 63)

    /// A header with one question and nothing else; the question name follows at offset 12.
    private static let header = hex("00 01 81 80 00 01 00 00 00 00 00 00")

    static let malformedNames: [(String, [UInt8], DNSWireError.Code)] = [
        ("pointer to itself", header + hex("C0 0C 00 01 00 01"), .pointerLoop),
        ("label then pointer back to its own start", header + hex("01 61 C0 0C 00 01 00 01"), .pointerLoop),
        ("two pointers pointing at each other", header + hex("C0 0E C0 0C 00 01 00 01"), .pointerLoop),
        ("pointer forward", header + hex("C0 10 00 00 01 61 00 00 01 00 01"), .pointerLoop),
        ("pointer past the end", header + hex("C0 FF 00 01 00 01"), .pointerOutOfBounds),
        ("pointer far past the end", header + hex("FF FF 00 01 00 01"), .pointerOutOfBounds),
        ("pointer into the header", header + hex("C0 02 00 01 00 01"), .pointerOutOfBounds),
        ("pointer cut in half", header + hex("C0"), .truncated),
        ("extended label type 01", header + hex("41 61 00 00 01 00 01"), .reservedLabelType),
        ("reserved label type 10", header + hex("81 61 00 00 01 00 01"), .reservedLabelType),
        ("label longer than the message", header + hex("3F 61 62"), .truncated),
        ("no root label", header + hex("01 61"), .truncated),
        (
            "name over 255 octets", header + Array(repeating: label63, count: 4).flatMap { $0 } + [0, 0, 1, 0, 1],
            .nameTooLong
        ),
    ]

    @Test("malformed and looping names are refused", arguments: malformedNames)
    func malformedName(name: String, bytes: [UInt8], expected: DNSWireError.Code) {
        #expect(decodeError(bytes) == expected)
    }

    @Test("a name of exactly 255 octets decodes; one built from pointers over 255 does not")
    func nameLengthThroughPointers() throws {
        // 3 × (1 + 63) + (1 + 61) + root = 255.
        let label63: [UInt8] = [63] + Array(repeating: 0x61, count: 63)
        let label61: [UInt8] = [61] + Array(repeating: 0x62, count: 61)
        let long: [UInt8] = label63 + label63 + label63 + label61 + [0]
        let exact = Self.header + long + [0, 1, 0, 1]
        #expect(try decode(exact).get().questions[0].name.wireLength == 255)
        // An answer owner `x` + pointer to the 255-octet question name: 257 octets.
        var bytes = exact
        bytes[7] = 1  // ANCOUNT 1
        bytes += hex("01 78 C0 0C 00 01 00 01 00 00 00 00 00 04 01 02 03 04")
        #expect(decodeError(bytes) == .nameTooLong)
    }

    static let malformedRecords: [(String, [UInt8], DNSWireError.Code)] = [
        // ANCOUNT 1; the owner `a`, then the record.
        (
            "A with RDLENGTH 5",
            hex("00 01 81 80 00 00 00 01 00 00 00 00 01 61 00 00 01 00 01 00 00 00 3C 00 05 7F 00 00 01 00"),
            .rdataLengthMismatch
        ),
        (
            "A with RDLENGTH 3",
            hex("00 01 81 80 00 00 00 01 00 00 00 00 01 61 00 00 01 00 01 00 00 00 3C 00 03 7F 00 00"),
            .rdataLengthMismatch
        ),
        (
            "AAAA with RDLENGTH 4",
            hex("00 01 81 80 00 00 00 01 00 00 00 00 01 61 00 00 1C 00 01 00 00 00 3C 00 04 7F 00 00 01"),
            .rdataLengthMismatch
        ),
        (
            "RDLENGTH past the end",
            hex("00 01 81 80 00 00 00 01 00 00 00 00 01 61 00 00 01 00 01 00 00 00 3C 00 09 7F 00 00 01"), .truncated
        ),
        // MX whose exchange name runs past RDLENGTH (3) into the next octets.
        (
            "MX name past RDLENGTH",
            hex("00 01 81 80 00 00 00 01 00 00 00 00 01 61 00 00 0F 00 01 00 00 00 3C 00 03 00 0A 01 62 00"), .truncated
        ),
        (
            "MX with a byte to spare",
            hex("00 01 81 80 00 00 00 01 00 00 00 00 01 61 00 00 0F 00 01 00 00 00 3C 00 05 00 0A 00 FF 00"),
            .rdataLengthMismatch
        ),
        (
            "TXT string past RDLENGTH",
            hex("00 01 81 80 00 00 00 01 00 00 00 00 01 61 00 00 10 00 01 00 00 00 3C 00 02 05 61 62 63 64 65"),
            .truncated
        ),
        (
            "SOA missing MINIMUM",
            hex(
                "00 01 81 80 00 00 00 01 00 00 00 00 01 61 00 00 06 00 01 00 00 00 3C 00 12 "
                    + "00 00 00 00 00 01 00 00 00 02 00 00 00 03 00 00 00 04"
            ), .truncated
        ),
        (
            "CNAME target pointer loop",
            hex("00 01 81 80 00 00 00 01 00 00 00 00 01 61 00 00 05 00 01 00 00 00 3C 00 02 C0 19"), .pointerLoop
        ),
        ("counts larger than the message", hex("00 01 81 80 FF FF FF FF FF FF FF FF"), .truncated),
    ]

    @Test("malformed records are refused", arguments: malformedRecords)
    func malformedRecord(name: String, bytes: [UInt8], expected: DNSWireError.Code) {
        #expect(decodeError(bytes) == expected)
    }

    @Test("a truncated (TC) answer cut through a record still shows its header and question")
    func headerAndQuestionsOfCutMessage() throws {
        var bytes = Array(Packets.mxResponse.prefix(40))
        bytes[2] |= 0x02
        #expect(decodeError(bytes) == .truncated)
        let partial = try DNSMessage.decodeHeaderAndQuestions(ByteBuffer(bytes: bytes)).get()
        #expect(partial.header.isTruncated)
        #expect(partial.questions == [DNSQuestion(name: "example.com", type: .mx)])
        #expect(partial.answers.isEmpty)
    }

    // MARK: Property tests

    @Test("random octets never trap or loop, and whatever decodes re-encodes to the same message")
    func randomBytes() {
        var generator = SeededGenerator(seed: 0xD15)
        var decoded = 0
        for round in 0..<60_000 {
            let length = Int.random(in: 0...(round % 10 == 0 ? 1_500 : 120), using: &generator)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if bytes.count >= 12 {
                // Small counts make deeper parsing likely.
                for index in stride(from: 4, to: 12, by: 2) {
                    bytes[index] = 0
                    bytes[index + 1] = UInt8.random(in: 0...3, using: &generator)
                }
            }
            if case .success(let message) = decode(bytes) {
                decoded += 1
                checkRoundTrip(message)
            }
        }
        #expect(decoded > 0)
    }

    @Test("mutated valid packets never trap or loop")
    func mutations() {
        var generator = SeededGenerator(seed: 1035)
        var decoded = 0
        for round in 0..<60_000 {
            var bytes = Packets.all[round % Packets.all.count]
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                switch Int.random(in: 0..<4, using: &generator) {
                case 0:
                    // Any octet to any value.
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(
                        in: 0...255,
                        using: &generator
                    )
                case 1:
                    // A compression pointer anywhere, to anywhere.
                    let index = Int.random(in: 12..<(bytes.count - 1), using: &generator)
                    bytes[index] = 0xC0 | UInt8.random(in: 0...1, using: &generator)
                    bytes[index + 1] = UInt8.random(in: 0...255, using: &generator)
                case 2:
                    // A small change to a length or count.
                    let index = Int.random(in: 0..<bytes.count, using: &generator)
                    bytes[index] = bytes[index] &+ UInt8.random(in: 1...3, using: &generator)
                default:
                    bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator)))
                    if bytes.count < 14 { bytes = Packets.all[round % Packets.all.count] }
                }
            }
            if case .success(let message) = decode(bytes) {
                decoded += 1
                checkRoundTrip(message)
            }
        }
        #expect(decoded > 1_000)
    }

    private func checkRoundTrip(_ message: DNSMessage) {
        guard let bytes = encode(message) else {
            Issue.record("decoded message does not encode: \(message)")
            return
        }
        guard case .success(let again) = decode(bytes), again == message else {
            Issue.record("round trip changed \(message)")
            return
        }
    }
}
