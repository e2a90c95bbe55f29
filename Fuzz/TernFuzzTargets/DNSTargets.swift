import NIOCore
import TernDNSCore

/// The DNS wire decoder: what any host that can reach the resolver's UDP port may send back.
enum DNSTargets {
    /// One message (a UDP payload) through `DNSMessage.decode` and the header-and-question
    /// decoder used for truncated answers; a decoded message is encoded, decoded again and
    /// must come back equal, and is interpreted as the resolver does (CNAME chains, negative
    /// answers, MX routes).
    static let message = FuzzTarget(
        name: "dns",
        summary: "DNSMessage.decode (compression, RDATA of A/AAAA/MX/TXT/PTR/CNAME/NS/SOA), re-encoding, interpretation",
        maximumLength: 4096
    ) { bytes in
        let buffer = ByteBuffer(bytes: bytes)
        _ = DNSMessage.decodeHeaderAndQuestions(buffer)
        guard case .success(let message) = DNSMessage.decode(buffer) else { return }
        for record in message.answers + message.authorities + message.additionals {
            _ = record.description
        }
        if case .success(let encoded) = message.encode() {
            guard case .success(let again) = DNSMessage.decode(encoded) else {
                fuzzCheck(false, "an encoded message does not decode")
                return
            }
            fuzzCheck(again == message, "a message changed in an encode-decode round trip")
        }
        let questions = message.questions + message.answers.prefix(4).map { DNSQuestion(name: $0.name, type: .mx) }
        for question in questions.prefix(8) {
            let outcome = message.outcome(for: question)
            guard case .records(let records, let ttl) = outcome else { continue }
            let answer = DNSAnswer<[DNSResourceRecord]>.records(records, ttl: ttl)
            let exchangers = answer.compactMapData { data -> MXRecord? in
                if case .mx(let mx) = data { return mx }
                return nil
            }
            var generator = SplitMix64(seed: UInt64(bytes.count))
            _ = MXRoute(answer: exchangers, domain: question.name, using: &generator)
        }
    }
}
