/// The TYPE of a resource record and the QTYPE of a question (RFC 1035 §3.2.2, §3.2.3).
///
/// A struct rather than an enum: a response may carry any of the 65,536 values, and unknown
/// types must round-trip (RFC 3597).
public struct DNSRecordType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// A host address (RFC 1035 §3.4.1).
    public static let a = DNSRecordType(rawValue: 1)
    /// An authoritative name server (RFC 1035 §3.3.11).
    public static let ns = DNSRecordType(rawValue: 2)
    /// The canonical name for an alias (RFC 1035 §3.3.1).
    public static let cname = DNSRecordType(rawValue: 5)
    /// The start of a zone of authority (RFC 1035 §3.3.13).
    public static let soa = DNSRecordType(rawValue: 6)
    /// A domain name pointer (RFC 1035 §3.3.12).
    public static let ptr = DNSRecordType(rawValue: 12)
    /// Mail exchange (RFC 1035 §3.3.9).
    public static let mx = DNSRecordType(rawValue: 15)
    /// Text strings (RFC 1035 §3.3.14).
    public static let txt = DNSRecordType(rawValue: 16)
    /// An IPv6 host address (RFC 3596 §2.1).
    public static let aaaa = DNSRecordType(rawValue: 28)
    /// The EDNS(0) pseudo-record (RFC 6891 §6.1.1).
    public static let opt = DNSRecordType(rawValue: 41)
    /// A request for all records (RFC 1035 §3.2.3, QTYPE only).
    public static let any = DNSRecordType(rawValue: 255)

    public var description: String {
        switch self {
        case .a: "A"
        case .ns: "NS"
        case .cname: "CNAME"
        case .soa: "SOA"
        case .ptr: "PTR"
        case .mx: "MX"
        case .txt: "TXT"
        case .aaaa: "AAAA"
        case .opt: "OPT"
        case .any: "ANY"
        default: "TYPE\(rawValue)"  // RFC 3597 §5
        }
    }
}

/// The CLASS of a resource record and the QCLASS of a question (RFC 1035 §3.2.4, §3.2.5).
public struct DNSClass: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// The Internet.
    public static let internet = DNSClass(rawValue: 1)

    public var description: String {
        self == .internet ? "IN" : "CLASS\(rawValue)"
    }
}

/// The RCODE of a response header (RFC 1035 §4.1.1), the low four bits (extended codes, which
/// need EDNS, are not used by Tern's queries).
public struct DNSResponseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue & 0x0F
    }

    public static let noError = DNSResponseCode(rawValue: 0)
    /// The server could not interpret the query.
    public static let formatError = DNSResponseCode(rawValue: 1)
    /// SERVFAIL: the server could not process the query (often a failure upstream).
    public static let serverFailure = DNSResponseCode(rawValue: 2)
    /// NXDOMAIN: the name does not exist (RFC 2308 §1 "Name Error").
    public static let nameError = DNSResponseCode(rawValue: 3)
    /// The server does not support this kind of query.
    public static let notImplemented = DNSResponseCode(rawValue: 4)
    /// The server refuses to answer, for policy reasons.
    public static let refused = DNSResponseCode(rawValue: 5)

    public var description: String {
        switch self {
        case .noError: "NOERROR"
        case .formatError: "FORMERR"
        case .serverFailure: "SERVFAIL"
        case .nameError: "NXDOMAIN"
        case .notImplemented: "NOTIMP"
        case .refused: "REFUSED"
        default: "RCODE\(rawValue)"
        }
    }
}

/// The OPCODE of a header (RFC 1035 §4.1.1); Tern sends only standard queries.
public struct DNSOpcode: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue & 0x0F
    }

    public static let query = DNSOpcode(rawValue: 0)
}
