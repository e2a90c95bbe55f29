/// The DNS questions mail asks: MX for routing (RFC 5321 §5.1), A and AAAA for connecting, TXT
/// for SPF, DKIM and DMARC, PTR for the client's name.
///
/// A conformer implements `lookup(_:type:)`; the typed methods have default implementations on
/// top of it (and may be overridden). Names are absolute ASCII domain names, with or without the
/// trailing dot; there is no search list. Every method:
/// - returns a `DNSAnswer`: records (with TTL), NXDOMAIN or NODATA, CNAME chains followed;
/// - throws `DNSError` when there is no answer, with `isTemporary` telling a retry from a
///   permanent failure; a name that is not valid ASCII throws `DNSError.Code.invalidName`
///   without any query (IDNs must be converted to A-labels first);
/// - may throw `CancellationError` when its task is cancelled.
public protocol DNSResolving: Sendable {
    /// The records of `type` at `name`, the CNAME chain followed: the records returned are
    /// those of `type` at the end of the chain.
    func lookup(_ name: DNSName, type: DNSRecordType) async throws -> DNSAnswer<[DNSResourceRecord]>

    /// The MX records of `domain`, unordered; `MXRoute` turns them into the hosts to try.
    func mx(_ domain: String) async throws -> DNSAnswer<[MXRecord]>

    /// The IPv4 and IPv6 addresses of `host` (A and AAAA asked at once): IPv4 addresses first.
    /// Records if either type has some (the TTL is the smaller); an error if neither has records
    /// and either lookup failed; NXDOMAIN if either says so; otherwise NODATA.
    func addresses(_ host: String) async throws -> DNSAnswer<[IPAddress]>

    /// The A records of `host`.
    func a(_ host: String) async throws -> DNSAnswer<[IPv4Address]>

    /// The AAAA records of `host` (RFC 3596).
    func aaaa(_ host: String) async throws -> DNSAnswer<[IPv6Address]>

    /// The TXT records of `name`, each with its character-strings (`TXTRecord.text` joins them).
    func txt(_ name: String) async throws -> DNSAnswer<[TXTRecord]>

    /// The PTR records for `address`, asked under `in-addr.arpa` or `ip6.arpa`.
    func ptr(_ address: IPAddress) async throws -> DNSAnswer<[DNSName]>
}

extension DNSResolving {
    public func mx(_ domain: String) async throws -> DNSAnswer<[MXRecord]> {
        try await lookup(DNSName(domain), type: .mx).compactMapData {
            if case .mx(let mx) = $0 { return mx }
            return nil
        }
    }

    public func a(_ host: String) async throws -> DNSAnswer<[IPv4Address]> {
        try await lookup(DNSName(host), type: .a).compactMapData {
            if case .a(let address) = $0 { return address }
            return nil
        }
    }

    public func aaaa(_ host: String) async throws -> DNSAnswer<[IPv6Address]> {
        try await lookup(DNSName(host), type: .aaaa).compactMapData {
            if case .aaaa(let address) = $0 { return address }
            return nil
        }
    }

    public func txt(_ name: String) async throws -> DNSAnswer<[TXTRecord]> {
        try await lookup(DNSName(name), type: .txt).compactMapData {
            if case .txt(let txt) = $0 { return txt }
            return nil
        }
    }

    public func ptr(_ address: IPAddress) async throws -> DNSAnswer<[DNSName]> {
        try await lookup(address.reverseName, type: .ptr).compactMapData {
            if case .ptr(let name) = $0 { return name }
            return nil
        }
    }

    public func addresses(_ host: String) async throws -> DNSAnswer<[IPAddress]> {
        _ = try DNSName(host)  // an invalid name fails once, before any query
        async let v4 = Self.capture { try await self.a(host) }
        async let v6 = Self.capture { try await self.aaaa(host) }
        return try combineAddresses(
            await v4.map { $0.map { $0.map(IPAddress.v4) } },
            await v6.map { $0.map { $0.map(IPAddress.v6) } }
        )
    }

    private static func capture<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
        do {
            return .success(try await body())
        } catch {
            return .failure(error)
        }
    }
}

/// The rule of `DNSResolving.addresses(_:)` for merging the A and AAAA answers.
func combineAddresses(
    _ v4: Result<DNSAnswer<[IPAddress]>, any Error>,
    _ v6: Result<DNSAnswer<[IPAddress]>, any Error>
) throws -> DNSAnswer<[IPAddress]> {
    let answers = [v4, v6].compactMap { try? $0.get() }
    let found = answers.compactMap { answer -> ([IPAddress], UInt32)? in
        guard case .records(let addresses, let ttl) = answer else { return nil }
        return (addresses, ttl)
    }
    if !found.isEmpty {
        return .records(found.flatMap(\.0), ttl: found.map(\.1).min() ?? 0)
    }
    let errors = [v4, v6].compactMap { result -> (any Error)? in
        if case .failure(let error) = result { return error }
        return nil
    }
    if let error = errors.first(where: { ($0 as? DNSError)?.isTemporary ?? true }) ?? errors.first {
        throw error
    }
    let ttl = answers.map(\.ttl).min() ?? 0
    if answers.contains(where: { if case .nameDoesNotExist = $0 { true } else { false } }) {
        return .nameDoesNotExist(ttl: ttl)
    }
    return .noData(ttl: ttl)
}
