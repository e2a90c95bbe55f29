/// What DNS says about a name and type: records, or one of the two negative answers of RFC 2308.
/// Failures (SERVFAIL, timeouts, …) are thrown as `DNSError`, never folded into this type.
///
/// ```swift
/// switch try await resolver.mx("example.com") {
/// case .records(let exchangers, let ttl): …
/// case .nameDoesNotExist: …   // NXDOMAIN: bounce, 5.1.2
/// case .noData: …             // the name exists, without MX records: implicit MX
/// }
/// ```
public enum DNSAnswer<Records: Sendable>: Sendable {
    /// The records asked for, never empty, after following any CNAME chain. `ttl` is the
    /// smallest TTL among the records and the CNAMEs that led to them, in seconds.
    case records(Records, ttl: UInt32)
    /// NXDOMAIN, RFC 2308's "Name Error": the name (or the end of its CNAME chain) does not
    /// exist. `ttl` is the negative-caching TTL of RFC 2308 §5 (0 when the response carried no
    /// SOA and the answer must not be cached).
    case nameDoesNotExist(ttl: UInt32)
    /// NODATA (RFC 2308 §2.2): the name exists but has no records of this type.
    case noData(ttl: UInt32)

    /// The records, or nil for a negative answer.
    public var records: Records? {
        if case .records(let records, _) = self { return records }
        return nil
    }

    /// How long, in seconds, the answer may be cached.
    public var ttl: UInt32 {
        switch self {
        case .records(_, let ttl), .nameDoesNotExist(let ttl), .noData(let ttl): ttl
        }
    }

    /// The same answer with the records transformed.
    public func map<Other: Sendable>(_ transform: (Records) throws -> Other) rethrows -> DNSAnswer<Other> {
        switch self {
        case .records(let records, let ttl): .records(try transform(records), ttl: ttl)
        case .nameDoesNotExist(let ttl): .nameDoesNotExist(ttl: ttl)
        case .noData(let ttl): .noData(ttl: ttl)
        }
    }
}

extension DNSAnswer: Equatable where Records: Equatable {}
extension DNSAnswer: Hashable where Records: Hashable {}

extension DNSAnswer where Records == [DNSResourceRecord] {
    /// The RDATA of each record that `extract` accepts. Records of other types are dropped; if
    /// none is left the answer becomes NODATA with the same TTL.
    public func compactMapData<Element: Sendable>(_ extract: (DNSRecordData) -> Element?) -> DNSAnswer<[Element]> {
        switch self {
        case .records(let records, let ttl):
            let elements = records.compactMap { extract($0.data) }
            return elements.isEmpty ? .noData(ttl: ttl) : .records(elements, ttl: ttl)
        case .nameDoesNotExist(let ttl):
            return .nameDoesNotExist(ttl: ttl)
        case .noData(let ttl):
            return .noData(ttl: ttl)
        }
    }
}
