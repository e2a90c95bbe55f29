import TernMail

/// What a DKIM-Signature field says (RFC 6376 §3.5), read from its tag list and checked as §6.1.1
/// asks before any key is fetched: a signature that fails here is `permerror` (RFC 8601 §2.7.1)
/// without a DNS query.
public struct DKIMSignatureFields: Sendable, Hashable {
    /// §3.3 and RFC 8463 §3: the algorithms Tern signs with and verifies. rsa-sha1 is refused
    /// (RFC 8301 §3.1: verifiers "MUST NOT consider signatures using rsa-sha1 as valid").
    public enum Algorithm: String, Sendable, Hashable, CaseIterable {
        case rsaSHA256 = "rsa-sha256"
        case ed25519SHA256 = "ed25519-sha256"

        /// The `k=` key type the algorithm needs (§3.6.1, RFC 8463 §4).
        public var keyType: String {
            switch self {
            case .rsaSHA256: "rsa"
            case .ed25519SHA256: "ed25519"
            }
        }
    }

    /// Why the field cannot be used: §6.1.1's reasons, each a permanent failure.
    public struct Unusable: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    public var algorithm: Algorithm
    /// `b=`, decoded.
    public var signature: [UInt8]
    /// `bh=`, decoded.
    public var bodyHash: [UInt8]
    public var headerCanonicalization: DKIMCanonicalization
    public var bodyCanonicalization: DKIMCanonicalization
    /// `d=`, the SDID, in lower case.
    public var domain: String
    /// `h=`, as written (compared without regard to case), From among them.
    public var signedHeaders: [String]
    /// `i=`, the AUID: at `domain` or a subdomain of it (`@domain` when absent, §3.5).
    public var identity: String
    /// `l=`, the canonical body octets the body hash covers; nil for all of them.
    public var bodyLength: Int?
    /// `s=`.
    public var selector: String
    /// `t=`, seconds since 1970.
    public var timestamp: Int64?
    /// `x=`, seconds since 1970.
    public var expiration: Int64?
    /// Every tag, as parsed.
    public var tags: DKIMTagList
    /// For an ARC-Message-Signature, its instance (`i=`, RFC 8617 §4.2.1).
    public var instance: Int?

    /// A DKIM-Signature, or an ARC-Message-Signature: RFC 8617 §4.1.2, "the same syntax and
    /// semantics as the DKIM-Signature field", except that it has no `v=` and its `i=` is the
    /// ARC instance, not an AUID.
    public enum Kind: Sendable {
        case dkimSignature
        case arcMessageSignature
    }

    /// The tags every signature carries (§3.5: "REQUIRED").
    static let required = ["v", "a", "b", "bh", "d", "h", "s"]
    static let requiredByARC = ["i", "a", "b", "bh", "d", "h", "s"]

    public init(value: some BidirectionalCollection<UInt8>, kind: Kind = .dkimSignature) throws(Unusable) {
        let tags: DKIMTagList
        do {
            tags = try DKIMTagList(value)
        } catch {
            throw Unusable(description: "malformed tag list: \(error.description)")
        }
        try self.init(tags: tags, kind: kind)
    }

    public init(tags: DKIMTagList, kind: Kind = .dkimSignature) throws(Unusable) {
        self.tags = tags
        for name in kind == .dkimSignature ? Self.required : Self.requiredByARC where tags[name] == nil {
            throw Unusable(description: "no \(name)= tag")
        }
        // §3.5 v=: "MUST have the value '1'".
        if kind == .dkimSignature {
            guard tags["v"] == "1" else { throw Unusable(description: "v= is not 1") }
        }
        let algorithmName = Self.compact(tags["a"] ?? "").lowercased()
        guard let algorithm = Algorithm(rawValue: algorithmName) else {
            throw Unusable(description: algorithmName == "rsa-sha1" ? "rsa-sha1 is not accepted (RFC 8301)" : "unknown algorithm \(algorithmName)")
        }
        self.algorithm = algorithm
        // §3.5 b= and bh=: "Whitespace is ignored in this value".
        guard let signature = Base64.decode(Self.compact(tags["b"] ?? "").utf8), !signature.isEmpty else {
            throw Unusable(description: "b= is not base64")
        }
        guard let bodyHash = Base64.decode(Self.compact(tags["bh"] ?? "").utf8), bodyHash.count == 32 else {
            throw Unusable(description: "bh= is not a base64 SHA-256 digest")
        }
        self.signature = signature
        self.bodyHash = bodyHash
        (headerCanonicalization, bodyCanonicalization) = try Self.canonicalizations(tags["c"])
        let domain = Self.compact(tags["d"] ?? "").lowercased()
        guard Self.isDomain(domain) else { throw Unusable(description: "d= is not a domain name") }
        self.domain = domain
        let selector = Self.compact(tags["s"] ?? "").lowercased()
        // A selector is one or more labels (§3.1), looked up under `<selector>._domainkey.<d>`.
        guard Self.isDomain(selector) else { throw Unusable(description: "s= is not a selector") }
        self.selector = selector
        signedHeaders = Self.compact(tags["h"] ?? "").split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        // §3.5 h=: "The field MUST contain the complete list of header fields in the order
        // presented to the signing algorithm"; §5.4: "The From header field MUST be signed".
        guard signedHeaders.allSatisfy({ !$0.isEmpty }) else { throw Unusable(description: "h= has an empty field name") }
        guard signedHeaders.contains(where: { $0.lowercased() == "from" }) else { throw Unusable(description: "h= does not sign From") }
        // §3.5 i=: "the domain part of the address MUST be the same as, or a subdomain of,
        // the value of the "d=" tag".
        if kind == .arcMessageSignature {
            guard let instance = ARCInstance.parse(tags["i"]) else { throw Unusable(description: "i= is not an ARC instance (1 to 50)") }
            self.instance = instance
            identity = "@\(domain)"
        } else if let value = tags["i"] {
            let identity = Self.compact(value)
            guard let at = identity.lastIndex(of: "@") else { throw Unusable(description: "i= has no @") }
            let identityDomain = identity[identity.index(after: at)...].lowercased()
            guard identityDomain == domain || identityDomain.hasSuffix(".\(domain)") else {
                throw Unusable(description: "i= is not in d=")
            }
            self.identity = identity
        } else {
            identity = "@\(domain)"
        }
        // §3.5 l=: 1*76DIGIT. A count past what any message here can be is "the whole body"
        // as far as a verifier can tell; it is kept bounded rather than refused.
        if let value = tags["l"] {
            let digits = Self.compact(value)
            guard !digits.isEmpty, digits.utf8.count <= 76, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
                throw Unusable(description: "l= is not a decimal number")
            }
            bodyLength = ASCIIDecimal.parse(digits, in: 0...Int64.max).map { Int(clamping: $0) } ?? Int.max
        }
        // §3.5 q=: "dns/txt" is the only method defined.
        if let value = tags["q"] {
            let methods = Self.compact(value).split(separator: ":").map { $0.lowercased() }
            guard methods.contains("dns/txt") else {
                throw Unusable(description: "q= names no method Tern knows (dns/txt)")
            }
        }
        // §3.5 t= and x=: 1*12DIGIT, x= after t=.
        timestamp = try Self.seconds(tags["t"], tag: "t")
        expiration = try Self.seconds(tags["x"], tag: "x")
        if let timestamp, let expiration, expiration < timestamp {
            throw Unusable(description: "x= is before t=")
        }
    }

    /// The value without FWS anywhere (b=, bh= and the others that may be folded).
    static func compact(_ value: String) -> String {
        String(decoding: value.utf8.filter { !DKIMTagList.isFWSOctet($0) }, as: UTF8.self)
    }

    /// §3.5 c=: `header[/body]`, simple when absent.
    private static func canonicalizations(_ value: String?) throws(Unusable) -> (DKIMCanonicalization, DKIMCanonicalization) {
        guard let value else { return (.simple, .simple) }
        let parts = compact(value).lowercased().split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let header = DKIMCanonicalization(rawValue: String(parts[0])),
            let body = parts.count == 2 ? DKIMCanonicalization(rawValue: String(parts[1])) : .simple
        else {
            throw Unusable(description: "c= is not simple or relaxed")
        }
        return (header, body)
    }

    /// 1*12DIGIT (§3.5 t=, x=), within the times Tern reasons about.
    private static func seconds(_ value: String?, tag: String) throws(Unusable) -> Int64? {
        guard let value else { return nil }
        let digits = compact(value)
        guard digits.utf8.count <= 12, let seconds = ASCIIDecimal.parse(digits, in: 0...CalendarBounds.latestSecond) else {
            throw Unusable(description: "\(tag)= is not a time")
        }
        return seconds
    }

    /// Labels of letters, digits, hyphens and underscores (selectors and `_domainkey` names
    /// use them), none empty, at most 63 octets each and 253 in all: nothing that could walk
    /// out of a directory when used as a file name.
    public static func isDomain(_ name: String) -> Bool {
        let octets = name.utf8
        guard (1...253).contains(octets.count) else { return false }
        return octets.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.count)
                && label.allSatisfy {
                    (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)
                        || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
                }
        }
    }
}
