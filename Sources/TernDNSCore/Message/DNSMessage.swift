/// A DNS message (RFC 1035 §4.1): header, question, answer, authority and additional sections.
public struct DNSMessage: Hashable, Sendable {
    public var header: DNSHeader
    public var questions: [DNSQuestion]
    public var answers: [DNSResourceRecord]
    public var authorities: [DNSResourceRecord]
    public var additionals: [DNSResourceRecord]

    public init(
        header: DNSHeader,
        questions: [DNSQuestion] = [],
        answers: [DNSResourceRecord] = [],
        authorities: [DNSResourceRecord] = [],
        additionals: [DNSResourceRecord] = []
    ) {
        self.header = header
        self.questions = questions
        self.answers = answers
        self.authorities = authorities
        self.additionals = additionals
    }

    /// A standard query for one question (RFC 1035 §4.1.1: QDCOUNT 1, RD set for a stub
    /// resolver, no EDNS, so answers over UDP are at most 512 octets, §4.2.1).
    public static func query(id: UInt16, question: DNSQuestion, recursionDesired: Bool = true) -> DNSMessage {
        DNSMessage(header: DNSHeader(id: id, recursionDesired: recursionDesired), questions: [question])
    }

    /// Whether this message answers `query`: a response (QR), the same ID and opcode, and the
    /// same single question (names compared without regard to case). A resolver ignores any
    /// datagram for which this is false (RFC 5452 §9.1).
    public func isResponse(to query: DNSMessage) -> Bool {
        header.isResponse && header.id == query.header.id && header.opcode == query.header.opcode
            && questions == query.questions
    }
}
