public import TernDNSCore

/// An SPF record (RFC 7208 §4.5, §12): `v=spf1` and its terms, each read and checked when the
/// record is, so that evaluation meets no syntax error halfway (§4.6: a syntax error anywhere
/// in the record is a permerror, even after a match).
///
///     record    = version terms *SP
///     terms     = *( 1*SP ( directive / modifier ) )
///     directive = [ qualifier ] mechanism
///     qualifier = "+" / "-" / "?" / "~"
///     mechanism = ( all / include / a / mx / ptr / ip4 / ip6 / exists )
///     modifier  = redirect / explanation / unknown-modifier
public struct SPFRecord: Sendable, Hashable {
    /// §4.6.2: what a matching directive makes the result.
    public enum Qualifier: Character, Sendable, Hashable {
        case pass = "+"
        case fail = "-"
        case softfail = "~"
        case neutral = "?"

        var result: SPFResult {
            switch self {
            case .pass: .pass
            case .fail: .fail
            case .softfail: .softfail
            case .neutral: .neutral
            }
        }
    }

    /// §5: the mechanisms; domain-specs are macro-strings, expanded when evaluated.
    public enum Mechanism: Sendable, Hashable {
        case all
        case include(SPFMacroString)
        case a(SPFMacroString?, ipv4Prefix: Int, ipv6Prefix: Int)
        case mx(SPFMacroString?, ipv4Prefix: Int, ipv6Prefix: Int)
        case ptr(SPFMacroString?)
        case ip4(IPv4Address, prefix: Int)
        case ip6(IPv6Address, prefix: Int)
        case exists(SPFMacroString)

        /// §4.6.4: the terms that cost a DNS query, ten at most per evaluation.
        var queriesDNS: Bool {
            switch self {
            case .include, .a, .mx, .ptr, .exists: true
            case .all, .ip4, .ip6: false
            }
        }
    }

    public struct Directive: Sendable, Hashable {
        public var qualifier: Qualifier
        public var mechanism: Mechanism
    }

    /// Why a record is a permerror.
    public struct Malformed: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    public var directives: [Directive] = []
    /// `redirect=` (§6.1).
    public var redirect: SPFMacroString?
    /// `exp=` (§6.2).
    public var explanation: SPFMacroString?

    /// Whether a TXT record's text is an SPF record at all (§4.5: "v=spf1" then a space or the
    /// end; anything else, "v=spf10" included, is some other record).
    public static func isSPF(_ text: some Collection<UInt8>) -> Bool {
        let version = Array("v=spf1".utf8)
        guard text.count >= version.count else { return false }
        guard zip(text.prefix(version.count), version).allSatisfy({ $0 | 0x20 == $1 | 0x20 }) else { return false }
        return text.count == version.count || text.dropFirst(version.count).first == UInt8(ascii: " ")
    }

    public init(_ text: some Collection<UInt8>) throws(Malformed) {
        guard Self.isSPF(text) else { throw Malformed(description: "not an SPF record") }
        let terms = text.dropFirst(6).split(separator: UInt8(ascii: " "))
        for term in terms {
            try parse(String(decoding: term, as: UTF8.self))
        }
    }

    private mutating func parse(_ term: String) throws(Malformed) {
        // A modifier's name is followed by "="; a mechanism's by ":" or "/" or nothing.
        let nameEnd = term.firstIndex { $0 == "=" || $0 == ":" || $0 == "/" } ?? term.endIndex
        if nameEnd < term.endIndex, term[nameEnd] == "=" {
            let name = term[..<nameEnd].lowercased()
            guard Self.isModifierName(name) else { throw Malformed(description: "bad modifier name in \(term)") }
            let value = String(term[term.index(after: nameEnd)...])
            switch name {
            case "redirect":
                guard redirect == nil else { throw Malformed(description: "redirect= twice") }
                redirect = try SPFMacroString(domainSpec: value)
            case "exp":
                guard explanation == nil else { throw Malformed(description: "exp= twice") }
                explanation = try SPFMacroString(domainSpec: value)
            default:
                // §6: unknown modifiers are ignored, but must still be macro-strings.
                _ = try SPFMacroString(value, explanation: false)
            }
            return
        }
        var rest = Substring(term)
        var qualifier = Qualifier.pass
        if let first = rest.first, let given = Qualifier(rawValue: first) {
            qualifier = given
            rest = rest.dropFirst()
        }
        let end = rest.firstIndex { $0 == ":" || $0 == "/" } ?? rest.endIndex
        let name = rest[..<end].lowercased()
        let argument = rest[end...]
        directives.append(Directive(qualifier: qualifier, mechanism: try Self.mechanism(name, argument, term: term)))
    }

    private static func mechanism(_ name: String, _ argument: Substring, term: String) throws(Malformed) -> Mechanism {
        switch name {
        case "all":
            guard argument.isEmpty else { throw Malformed(description: "all takes no argument: \(term)") }
            return .all
        case "include", "exists":
            guard argument.first == ":" else { throw Malformed(description: "\(name) needs a domain: \(term)") }
            let spec = try SPFMacroString(domainSpec: String(argument.dropFirst()))
            return name == "include" ? .include(spec) : .exists(spec)
        case "a", "mx":
            var spec: SPFMacroString?
            var cidr = argument
            if argument.first == ":" {
                let body = argument.dropFirst()
                let slash = body.firstIndex(of: "/") ?? body.endIndex
                spec = try SPFMacroString(domainSpec: String(body[..<slash]))
                cidr = body[slash...]
            }
            let (v4, v6) = try dualCIDR(cidr, term: term)
            return name == "a" ? .a(spec, ipv4Prefix: v4, ipv6Prefix: v6) : .mx(spec, ipv4Prefix: v4, ipv6Prefix: v6)
        case "ptr":
            if argument.isEmpty { return .ptr(nil) }
            guard argument.first == ":" else { throw Malformed(description: "bad ptr: \(term)") }
            return .ptr(try SPFMacroString(domainSpec: String(argument.dropFirst())))
        case "ip4", "ip6":
            guard argument.first == ":" else { throw Malformed(description: "\(name) needs an address: \(term)") }
            let body = argument.dropFirst()
            let slash = body.firstIndex(of: "/") ?? body.endIndex
            let address = String(body[..<slash])
            let maximum = name == "ip4" ? 32 : 128
            let prefix =
                slash == body.endIndex ? maximum : try Self.prefix(body[body.index(after: slash)...], maximum: maximum, term: term)
            if name == "ip4", let network = IPv4Address(address) { return .ip4(network, prefix: prefix) }
            if name == "ip6", let network = IPv6Address(address) { return .ip6(network, prefix: prefix) }
            throw Malformed(description: "bad \(name == "ip4" ? "IPv4" : "IPv6") address: \(term)")
        default:
            // §4.6.1: an unknown mechanism is a permerror.
            throw Malformed(description: "unknown mechanism \(name)")
        }
    }

    /// `[ ip4-cidr-length ] [ "/" ip6-cidr-length ]` (§5.6): `/24`, `//64`, `/24//64`.
    private static func dualCIDR(_ text: Substring, term: String) throws(Malformed) -> (Int, Int) {
        guard !text.isEmpty else { return (32, 128) }
        guard text.first == "/" else { throw Malformed(description: "bad prefix length: \(term)") }
        let body = text.dropFirst()
        if body.first == "/" { return (32, try prefix(body.dropFirst(), maximum: 128, term: term)) }
        let parts = body.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let v4 = try prefix(parts[0], maximum: 32, term: term)
        guard parts.count == 2 else { return (v4, 128) }
        guard parts[1].first == "/" else { throw Malformed(description: "bad IPv6 prefix length: \(term)") }
        return (v4, try prefix(parts[1].dropFirst(), maximum: 128, term: term))
    }

    /// A prefix length: digits without a leading zero (§5.6 ip4-cidr-length), at most `maximum`.
    private static func prefix(_ digits: Substring, maximum: Int, term: String) throws(Malformed) -> Int {
        guard (1...3).contains(digits.utf8.count), digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
            digits == "0" || digits.first != "0", let value = Int(digits), value <= maximum
        else {
            throw Malformed(description: "bad prefix length: \(term)")
        }
        return value
    }

    /// `name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )` (§6).
    private static func isModifierName(_ name: String) -> Bool {
        guard let first = name.utf8.first, (0x61...0x7A).contains(first) else { return false }
        return name.utf8.allSatisfy {
            (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
                || $0 == UInt8(ascii: ".")
        }
    }
}

/// The SPF results (RFC 7208 §2.6), as Authentication-Results writes them (RFC 8601 §2.7.2).
public enum SPFResult: String, Sendable, Hashable {
    case none, neutral, pass, fail, softfail, temperror, permerror
}
