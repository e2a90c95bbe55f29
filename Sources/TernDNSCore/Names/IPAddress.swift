public import NIOCore

/// An IPv4 address: the RDATA of an A record (RFC 1035 §3.4.1).
public struct IPv4Address: Hashable, Sendable, CustomStringConvertible {
    /// The address in network order as one integer (`127.0.0.1` is `0x7F00_0001`).
    public var rawValue: UInt32

    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// The four octets, most significant first.
    public var bytes: [UInt8] {
        [
            UInt8(truncatingIfNeeded: rawValue >> 24), UInt8(truncatingIfNeeded: rawValue >> 16),
            UInt8(truncatingIfNeeded: rawValue >> 8), UInt8(truncatingIfNeeded: rawValue),
        ]
    }

    /// Parses dotted-quad text.
    ///
    /// `IPv4address = dec-octet "." dec-octet "." dec-octet "." dec-octet` (RFC 3986 §3.2.2):
    /// `dec-octet` is 0 to 255 in decimal ABNF digits without leading zeros, so `010.0.0.1`
    /// (octal to `inet_aton`) and `+1.0.0.1` are refused rather than guessed at.
    public init?(_ text: String) {
        guard let value = Self.parse(Array(text.utf8)[...]) else { return nil }
        rawValue = value
    }

    static func parse(_ bytes: ArraySlice<UInt8>) -> UInt32? {
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count),
                part.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                part.count == 1 || part.first != UInt8(ascii: "0")
            else { return nil }
            let octet = part.reduce(0) { $0 * 10 + UInt32($1 - UInt8(ascii: "0")) }
            guard octet <= 255 else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    public var description: String {
        bytes.map { String($0) }.joined(separator: ".")
    }

    /// The name a PTR lookup asks for: `d.c.b.a.in-addr.arpa` (RFC 1035 §3.5).
    public var reverseName: DNSName {
        var labels = bytes.reversed().map { Array(String($0).utf8) }
        labels.append(Array("in-addr".utf8))
        labels.append(Array("arpa".utf8))
        // Four short labels and two fixed ones are always a valid name.
        return (try? DNSName(labels: labels)) ?? .root
    }
}

/// An IPv6 address: the RDATA of an AAAA record (RFC 3596 §2.2).
public struct IPv6Address: Hashable, Sendable, CustomStringConvertible {
    /// The most significant 64 bits.
    public var high: UInt64
    /// The least significant 64 bits.
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The address from its 16 octets in network order; nil for any other count.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            if index < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.init(high: high, low: low)
    }

    /// The 16 octets in network order.
    public var bytes: [UInt8] {
        (0..<16).map { index in
            let word = index < 8 ? high : low
            return UInt8(truncatingIfNeeded: word >> (UInt64(7 - index % 8) * 8))
        }
    }

    /// The eight 16-bit groups.
    var groups: [UInt16] {
        (0..<8).map { index in
            let word = index < 4 ? high : low
            return UInt16(truncatingIfNeeded: word >> (UInt64(3 - index % 4) * 16))
        }
    }

    /// Parses the text forms of RFC 4291 §2.2.
    ///
    /// `IPv6address = 6( h16 ":" ) ls32 / "::" 5( h16 ":" ) ls32 / … / [ *6( h16 ":" ) h16 ] "::"`,
    /// `h16 = 1*4HEXDIG`, `ls32 = ( h16 ":" h16 ) / IPv4address` (RFC 3986 §3.2.2): eight groups,
    /// or fewer with exactly one `::`, the last 32 bits optionally as a dotted quad. Zone
    /// indices (`%eth0`) are refused.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        var doubleColon: Int?
        var index = 0
        while index + 1 < bytes.count {
            if bytes[index] == UInt8(ascii: ":"), bytes[index + 1] == UInt8(ascii: ":") {
                guard doubleColon == nil else { return nil }
                doubleColon = index
                index += 2
            } else {
                index += 1
            }
        }
        var groups: [UInt16]
        if let split = doubleColon {
            guard let head = Self.parseGroups(bytes[..<split], allowIPv4Tail: false),
                let tail = Self.parseGroups(bytes[(split + 2)...], allowIPv4Tail: true),
                head.count + tail.count <= 7
            else { return nil }
            groups = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard let all = Self.parseGroups(bytes[...], allowIPv4Tail: true), all.count == 8 else { return nil }
            groups = all
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (position, group) in groups.enumerated() {
            if position < 4 { high = high << 16 | UInt64(group) } else { low = low << 16 | UInt64(group) }
        }
        self.init(high: high, low: low)
    }

    private static func parseGroups(_ bytes: ArraySlice<UInt8>, allowIPv4Tail: Bool) -> [UInt16]? {
        guard !bytes.isEmpty else { return [] }
        let pieces = bytes.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        guard pieces.count <= 8 else { return nil }
        var groups: [UInt16] = []
        for (position, piece) in pieces.enumerated() {
            if allowIPv4Tail, position == pieces.count - 1, piece.contains(UInt8(ascii: ".")) {
                guard let v4 = IPv4Address.parse(piece) else { return nil }
                groups.append(UInt16(truncatingIfNeeded: v4 >> 16))
                groups.append(UInt16(truncatingIfNeeded: v4))
                continue
            }
            guard (1...4).contains(piece.count) else { return nil }
            var value: UInt16 = 0
            for byte in piece {
                guard let digit = hexValue(byte) else { return nil }
                value = value << 4 | UInt16(digit)
            }
            groups.append(value)
        }
        return groups
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The RFC 5952 §4 text form: lower-case hex without leading zeros, the longest run of two or
    /// more zero groups (the first of equal runs) as `::`, and IPv4-mapped addresses (§5) with a
    /// dotted quad.
    public var description: String {
        let groups = self.groups
        if high == 0, low >> 32 == 0xFFFF {
            return "::ffff:" + IPv4Address(rawValue: UInt32(truncatingIfNeeded: low)).description
        }
        var bestStart = -1
        var bestLength = 0
        var runStart = -1
        for index in 0...8 {
            if index < 8, groups[index] == 0 {
                if runStart < 0 { runStart = index }
            } else if runStart >= 0 {
                if index - runStart > bestLength {
                    bestStart = runStart
                    bestLength = index - runStart
                }
                runStart = -1
            }
        }
        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        guard bestLength >= 2 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }

    /// The name a PTR lookup asks for: 32 nibbles, least significant first, under `ip6.arpa`
    /// (RFC 3596 §2.5).
    public var reverseName: DNSName {
        var labels: [[UInt8]] = []
        for byte in bytes.reversed() {
            labels.append(Array(String(byte & 0x0F, radix: 16).utf8))
            labels.append(Array(String(byte >> 4, radix: 16).utf8))
        }
        labels.append(Array("ip6".utf8))
        labels.append(Array("arpa".utf8))
        // 34 labels of at most four octets: always a valid name.
        return (try? DNSName(labels: labels)) ?? .root
    }
}

/// An IPv4 or IPv6 address.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    /// Parses an IPv4 dotted quad or an IPv6 address (see `IPv4Address.init?(_:)` and
    /// `IPv6Address.init?(_:)`).
    public init?(_ text: String) {
        if let v4 = IPv4Address(text) {
            self = .v4(v4)
        } else if let v6 = IPv6Address(text) {
            self = .v6(v6)
        } else {
            return nil
        }
    }

    /// The IP address of a socket address; nil for Unix domain sockets.
    public init?(_ socketAddress: SocketAddress) {
        guard let text = socketAddress.ipAddress else { return nil }
        switch socketAddress.protocol {
        case .inet:
            guard let v4 = IPv4Address(text) else { return nil }
            self = .v4(v4)
        case .inet6:
            // A link-local address may carry a zone (`fe80::1%eth0`); the zone is not part of
            // the address that PTR records describe.
            let address = text.split(separator: "%", maxSplits: 1).first.map(String.init) ?? text
            guard let v6 = IPv6Address(address) else { return nil }
            self = .v6(v6)
        default:
            return nil
        }
    }

    public var description: String {
        switch self {
        case .v4(let address): address.description
        case .v6(let address): address.description
        }
    }

    /// The name under `in-addr.arpa` or `ip6.arpa` that a PTR lookup asks for.
    public var reverseName: DNSName {
        switch self {
        case .v4(let address): address.reverseName
        case .v6(let address): address.reverseName
        }
    }
}
