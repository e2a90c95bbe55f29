/// A resource record (RFC 1035 §3.2.1, §4.1.3): owner name, class, TTL and typed data.
public struct DNSResourceRecord: Hashable, Sendable, CustomStringConvertible {
    public var name: DNSName
    public var `class`: DNSClass
    /// Seconds the record may be cached. The decoder reads values with the top bit set as 0
    /// (RFC 2181 §8).
    public var ttl: UInt32
    public var data: DNSRecordData

    public init(name: DNSName, class: DNSClass = .internet, ttl: UInt32, data: DNSRecordData) {
        self.name = name
        self.class = `class`
        self.ttl = ttl
        self.data = data
    }

    public var type: DNSRecordType { data.type }

    public var description: String { "\(name) \(ttl) \(self.class) \(type) \(data)" }
}

/// The RDATA of the record types Tern reads (RFC 1035 §3.3, §3.4; RFC 3596 §2.2), and every
/// other type as opaque octets (RFC 3597).
public enum DNSRecordData: Hashable, Sendable, CustomStringConvertible {
    case a(IPv4Address)
    case aaaa(IPv6Address)
    case mx(MXRecord)
    case txt(TXTRecord)
    case ptr(DNSName)
    case cname(DNSName)
    case ns(DNSName)
    case soa(SOARecord)
    /// Any other type, RDATA uninterpreted.
    case unknown(type: DNSRecordType, rdata: [UInt8])

    public var type: DNSRecordType {
        switch self {
        case .a: .a
        case .aaaa: .aaaa
        case .mx: .mx
        case .txt: .txt
        case .ptr: .ptr
        case .cname: .cname
        case .ns: .ns
        case .soa: .soa
        case .unknown(let type, _): type
        }
    }

    public var description: String {
        switch self {
        case .a(let address): address.description
        case .aaaa(let address): address.description
        case .mx(let mx): mx.description
        case .txt(let txt): txt.description
        case .ptr(let name), .cname(let name), .ns(let name): name.description
        case .soa(let soa): soa.description
        case .unknown(_, let rdata): "\\# \(rdata.count)"  // RFC 3597 §5
        }
    }
}

/// The RDATA of an MX record (RFC 1035 §3.3.9): `PREFERENCE EXCHANGE`; lower preferences are
/// tried first (RFC 5321 §5.1).
public struct MXRecord: Hashable, Sendable, CustomStringConvertible {
    public var preference: UInt16
    public var exchange: DNSName

    public init(preference: UInt16, exchange: DNSName) {
        self.preference = preference
        self.exchange = exchange
    }

    /// `0 .`: the null MX of RFC 7505 §3, "this domain accepts no mail".
    public var isNullMX: Bool { exchange.isRoot }

    public var description: String { "\(preference) \(exchange.isRoot ? "." : exchange.description + ".")" }
}

/// The RDATA of a TXT record (RFC 1035 §3.3.14): one or more character-strings of up to 255
/// octets each. Protocols that store longer text (SPF, RFC 7208 §3.3; DKIM, RFC 6376 §3.6.2.2)
/// split it across strings and read them concatenated, without separators.
public struct TXTRecord: Hashable, Sendable, CustomStringConvertible {
    /// The character-strings, each 0 to 255 octets.
    public var strings: [[UInt8]]

    public init(strings: [[UInt8]]) {
        self.strings = strings
    }

    /// Strings given as text (each at most 255 UTF-8 octets for the record to encode).
    public init(_ strings: [String]) {
        self.strings = strings.map { Array($0.utf8) }
    }

    /// The strings joined without separators, as SPF and DKIM read them.
    public var concatenated: [UInt8] { strings.flatMap { $0 } }

    /// `concatenated` as text; invalid UTF-8 becomes U+FFFD.
    public var text: String { String(decoding: concatenated, as: UTF8.self) }

    /// Master-file style: each string quoted, non-printable octets and `"` `\` as `\DDD`.
    public var description: String {
        strings.map { string in
            var text: [UInt8] = [UInt8(ascii: "\"")]
            for byte in string {
                if byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
                    text.append(byte)
                } else {
                    text.append(contentsOf: Array("\\".utf8) + Array(String(byte).leftPadded(to: 3).utf8))
                }
            }
            text.append(UInt8(ascii: "\""))
            return String(decoding: text, as: UTF8.self)
        }.joined(separator: " ")
    }
}

/// The RDATA of an SOA record (RFC 1035 §3.3.13). Tern reads it for the negative-caching TTL of
/// RFC 2308 §5: the smaller of the SOA's own TTL and `minimum`.
public struct SOARecord: Hashable, Sendable, CustomStringConvertible {
    /// The primary name server of the zone.
    public var primaryNameServer: DNSName
    /// The mailbox of the person responsible, with the `@` as the first dot.
    public var responsibleMailbox: DNSName
    public var serial: UInt32
    public var refresh: UInt32
    public var retry: UInt32
    public var expire: UInt32
    /// Since RFC 2308 §4: the TTL for negative answers from this zone.
    public var minimum: UInt32

    public init(
        primaryNameServer: DNSName,
        responsibleMailbox: DNSName,
        serial: UInt32,
        refresh: UInt32,
        retry: UInt32,
        expire: UInt32,
        minimum: UInt32
    ) {
        self.primaryNameServer = primaryNameServer
        self.responsibleMailbox = responsibleMailbox
        self.serial = serial
        self.refresh = refresh
        self.retry = retry
        self.expire = expire
        self.minimum = minimum
    }

    public var description: String {
        "\(primaryNameServer). \(responsibleMailbox). \(serial) \(refresh) \(retry) \(expire) \(minimum)"
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
