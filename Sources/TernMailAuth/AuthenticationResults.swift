/// The Authentication-Results header field (RFC 8601): what the receiving ADMD found, for the
/// reader's mail client and filters downstream.
///
///     Authentication-Results: mx.example.org;
///         dkim=pass header.d=example.com header.s=sel header.a=ed25519-sha256 header.b=abcdEFGH;
///         dkim=fail reason="body hash did not verify" header.d=example.net header.s=x
public struct AuthenticationResults: Sendable, Hashable {
    /// §2.5: the host (or ADMD) that made the checks; readers trust only their own.
    public var authservID: String
    /// One per signature checked; none means `dkim=none` (§2.7.1); nil when DKIM was not
    /// checked.
    public var dkim: [DKIMResult]?
    /// The SPF check of the MAIL FROM (or HELO) identity, when one was made (§2.7.2).
    public var spf: SPFVerdict?
    /// The DMARC check (RFC 7489 §11.2), when one was made.
    public var dmarc: DMARCVerdict?
    /// The ARC chain's validation (RFC 8617 §5.2), when one was made.
    public var arc: ARCResult?

    public init(authservID: String, dkim: [DKIMResult]?, spf: SPFVerdict? = nil, dmarc: DMARCVerdict? = nil) {
        self.authservID = authservID
        self.dkim = dkim
        self.spf = spf
        self.dmarc = dmarc
    }

    /// `Authentication-Results: ...\r\n`, one result per continuation line.
    public var field: String {
        var results: [String] = []
        if dkim?.isEmpty == true { results.append("dkim=none") }
        for result in dkim ?? [] {
            var parts = ["dkim=\(result.result.rawValue)"]
            if let keyBits = result.keyBits, result.algorithm == DKIMSignatureFields.Algorithm.rsaSHA256.rawValue {
                parts.append("(\(keyBits)-bit key)")
            }
            if result.testing { parts.append("(key in test mode)") }
            if let reason = result.reason { parts.append("reason=\(Self.quoted(reason))") }
            if let unsigned = result.unsignedBodyOctets, unsigned > 0 { parts.append("(\(unsigned) body octets not signed)") }
            // §2.7.1: header.d and header.i; RFC 6008 header.b; RFC 8616-era header.a and header.s.
            for (property, value) in [
                ("header.d", result.domain), ("header.i", result.identity), ("header.s", result.selector),
                ("header.a", result.algorithm), ("header.b", result.signaturePrefix),
            ] {
                if let value, !value.isEmpty { parts.append("\(property)=\(Self.value(value))") }
            }
            results.append(parts.joined(separator: " "))
        }
        if let spf {
            var parts = ["spf=\(spf.result.rawValue)"]
            if spf.result != .pass, let reason = spf.reason { parts.append("reason=\(Self.quoted(reason))") }
            // §2.7.2: smtp.mailfrom, or smtp.helo for the null sender.
            if let equals = spf.property.firstIndex(of: "=") {
                parts.append(String(spf.property[...equals]) + Self.value(String(spf.property[spf.property.index(after: equals)...])))
            }
            results.append(parts.joined(separator: " "))
        }
        if let dmarc {
            var parts = ["dmarc=\(dmarc.result.rawValue)"]
            if let policy = dmarc.appliedPolicy { parts.append("(p=\(policy.rawValue) dis=\(dmarc.disposition.rawValue))") }
            if dmarc.result != .pass, let reason = dmarc.reason { parts.append("reason=\(Self.quoted(reason))") }
            parts.append("header.from=\(Self.value(dmarc.fromDomain))")
            results.append(parts.joined(separator: " "))
        }
        if let arc {
            // RFC 8617 §7.2 method "arc"; the number of sets and who sealed them as a comment.
            var parts = ["arc=\(arc.status.rawValue)"]
            if arc.instances > 0 {
                parts.append("(i=\(arc.instances)\(arc.sealers.isEmpty ? "" : " " + arc.sealers.joined(separator: " ")))")
            }
            if arc.status != .pass, let reason = arc.reason { parts.append("reason=\(Self.quoted(reason))") }
            results.append(parts.joined(separator: " "))
        }
        // §2.2: "none" when no method was applied at all.
        if results.isEmpty { results.append("none") }
        return "Authentication-Results: \(authservID);\r\n\t" + results.joined(separator: ";\r\n\t") + "\r\n"
    }

    /// What Tern wrote in its own Authentication-Results field of a stored message: the resinfo
    /// after the authserv-id (unfolded), to be repeated in an ARC-Authentication-Results when the
    /// message is forwarded, and the `arc=` status found on receipt (none when not written).
    /// Nil when `fields` has none of Tern's (the intake removes any other claiming its name).
    public static func own(in fields: [RawHeaderField], authservID: String) -> (results: String, arc: ARCChainStatus)? {
        guard let field = fields.first(where: { claims($0, authservID: authservID) }),
            let semicolon = field.value.firstIndex(of: UInt8(ascii: ";"))
        else { return nil }
        let resinfo = String(decoding: field.value[(semicolon + 1)...], as: UTF8.self)
            .split(whereSeparator: \.isWhitespace).joined(separator: " ")
        var arc = ARCChainStatus.none
        for result in resinfo.split(separator: ";") {
            let trimmed = result.drop { $0 == " " }
            guard trimmed.hasPrefix("arc=") else { continue }
            let word = trimmed.dropFirst(4).prefix { $0.isLetter }
            arc = ARCChainStatus(rawValue: word.lowercased()) ?? .fail
        }
        return (resinfo, arc)
    }

    /// Whether `field` is an Authentication-Results that claims to come from `authservID`:
    /// §5 has a border MTA remove those from incoming mail, since only it may say so.
    public static func claims(_ field: RawHeaderField, authservID: String) -> Bool {
        guard field.lowercasedName == "authentication-results" else { return false }
        var octets = field.value[...]
        // [CFWS] before the authserv-id: white space, line ends and (nested) comments.
        var depth = 0
        while let first = octets.first {
            if first == UInt8(ascii: "(") {
                depth += 1
            } else if first == UInt8(ascii: ")"), depth > 0 {
                depth -= 1
            } else if depth == 0, !DKIMTagList.isFWSOctet(first) {
                break
            }
            octets = octets.dropFirst()
        }
        var id = octets.prefix { !DKIMTagList.isFWSOctet($0) && $0 != UInt8(ascii: ";") && $0 != UInt8(ascii: "(") }
        if id.first == UInt8(ascii: "\""), id.count >= 2, id.last == UInt8(ascii: "\"") { id = id.dropFirst().dropLast() }
        return String(decoding: id, as: UTF8.self).lowercased() == authservID.lowercased()
    }

    /// A property value (§2.2 `pvalue`): as it is when it is a token or an address-like value,
    /// quoted otherwise.
    static func value(_ text: String) -> String {
        let plain = !text.isEmpty && text.utf8.allSatisfy { octet in
            (0x21...0x7E).contains(octet) && !"()<>,;:\\\"[]?=".utf8.contains(octet)
        }
        return plain ? text : quoted(text)
    }

    /// An RFC 5322 quoted-string, with control characters dropped.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars where scalar.value >= 0x20 && scalar.value != 0x7F {
            if scalar == "\"" || scalar == "\\" { out.append("\\") }
            out.unicodeScalars.append(scalar)
        }
        return out + "\""
    }
}
