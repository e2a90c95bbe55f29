// The DNS codec (RFC 1035 §4) on the MX path of outbound delivery: encode the query, decode
// the response, and the resolver's pure steps from there to an ordered list of exchanges.
//
// The response is what a recursive resolver returns for gmail.com's MX: five answers whose
// owner names point back to the question and whose exchange names share suffixes through
// compression pointers (§4.1.4), plus five A records in the additional section. Tern's own
// encoder never compresses, so the response is assembled here by `CompressingWriter`.
import Benchmark
import MicroSupport
import NIOCore
import TernDNSCore

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .micro()

    let domain = try! DNSName("gmail.com")
    let question = DNSQuestion(name: domain, type: .mx)
    let query = DNSMessage.query(id: 0x4D58, question: question)
    let response = mxResponse(id: 0x4D58, domain: "gmail.com")

    Benchmark("DNSMessage: encode MX query", configuration: .micro(.kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(DNSMessage.query(id: 0x4D58, question: question).encode())
        }
    }

    Benchmark("DNSMessage: decode MX response, 5 MX + 5 A, compressed (\(response.readableBytes) B)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(DNSMessage.decode(response))
        }
    }

    // What StubResolver and RemoteDeliveryAgent do with a datagram, minus the I/O: decode,
    // match it to the query (RFC 5452 §9.1), interpret it, keep the MX RDATA, order the
    // exchanges (RFC 5321 §5.1).
    var generator = SplitMix64(seed: 42)
    Benchmark("MX datagram to route: decode, match, outcome, MXRoute") { benchmark in
        for _ in benchmark.scaledIterations {
            guard case .success(let message) = DNSMessage.decode(response), message.isResponse(to: query),
                case .records(let records, let ttl) = message.outcome(for: question)
            else { preconditionFailure("the fixture is a valid answer") }
            let answer = DNSAnswer.records(records, ttl: ttl).compactMapData { data -> MXRecord? in
                if case .mx(let mx) = data { mx } else { nil }
            }
            blackHole(MXRoute(answer: answer, domain: domain, using: &generator))
        }
    }
}

/// The MX response for `domain`: five exchanges `gmail-smtp-in.l.google.com` and
/// `altN.gmail-smtp-in.l.google.com` at preferences 5 to 40, and an A record for each.
func mxResponse(id: UInt16, domain: String) -> ByteBuffer {
    let exchanges = [(5, "gmail-smtp-in.l.google.com")] + (1...4).map { (10 * $0, "alt\($0).gmail-smtp-in.l.google.com") }
    var writer = CompressingWriter()
    writer.buffer.writeInteger(id)
    writer.buffer.writeInteger(UInt16(0x8180))  // QR RD RA, NOERROR
    for count in [1, exchanges.count, 0, exchanges.count] { writer.buffer.writeInteger(UInt16(count)) }
    writer.writeName(domain)
    writer.buffer.writeInteger(DNSRecordType.mx.rawValue)
    writer.buffer.writeInteger(DNSClass.internet.rawValue)
    for (preference, exchange) in exchanges {
        writer.writeRecordHeader(owner: domain, type: .mx, ttl: 3600)
        writer.writeRData { writer in
            writer.buffer.writeInteger(UInt16(preference))
            writer.writeName(exchange)
        }
    }
    for (index, (_, exchange)) in exchanges.enumerated() {
        writer.writeRecordHeader(owner: exchange, type: .a, ttl: 300)
        writer.writeRData { $0.buffer.writeBytes([142, 250, 27, UInt8(26 + index)]) }
    }
    precondition(writer.buffer.readableBytes <= 512, "fits a plain UDP response")
    return writer.buffer
}

/// Writes names with RFC 1035 §4.1.4 compression: each suffix already written is replaced by a
/// pointer to it, as BIND, Unbound and every public resolver do.
struct CompressingWriter {
    var buffer = ByteBuffer()
    private var offsets: [String: Int] = [:]

    mutating func writeName(_ name: String) {
        var labels = name.lowercased().split(separator: ".")[...]
        while !labels.isEmpty {
            let suffix = labels.joined(separator: ".")
            if let offset = offsets[suffix] {
                buffer.writeInteger(UInt16(0xC000 | offset))
                return
            }
            if buffer.writerIndex < 0x3FFF { offsets[suffix] = buffer.writerIndex }
            let label = labels.removeFirst()
            buffer.writeInteger(UInt8(label.utf8.count))
            buffer.writeString(String(label))
        }
        buffer.writeInteger(UInt8(0))
    }

    mutating func writeRecordHeader(owner: String, type: DNSRecordType, ttl: UInt32) {
        writeName(owner)
        buffer.writeInteger(type.rawValue)
        buffer.writeInteger(DNSClass.internet.rawValue)
        buffer.writeInteger(ttl)
    }

    /// RDLENGTH, then the RDATA `body` writes.
    mutating func writeRData(_ body: (inout CompressingWriter) -> Void) {
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt16(0))
        body(&self)
        buffer.setInteger(UInt16(buffer.writerIndex - lengthIndex - 2), at: lengthIndex)
    }
}

/// A seeded generator (SplitMix64), so the MX shuffle is the same work on every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
