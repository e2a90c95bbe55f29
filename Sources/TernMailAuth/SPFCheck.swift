public import TernDNSCore

/// What an SPF check came to (RFC 7208 §2.6), for Authentication-Results and the logs.
public struct SPFVerdict: Sendable, Hashable {
    public var result: SPFResult
    /// The domain whose record was checked (the MAIL FROM domain, or the HELO name).
    public var domain: String
    /// What was checked, as Authentication-Results names it (RFC 8601 §2.7.2):
    /// `smtp.mailfrom=<address>`, or `smtp.helo=<name>` for the null sender.
    public var property = ""
    /// Why, in a few words: the mechanism that matched, or the error.
    public var reason: String?
    /// The domain's own explanation of a fail (`exp=`, §6.2), for the SMTP reply.
    public var explanation: String?

    public init(result: SPFResult, domain: String, reason: String? = nil, explanation: String? = nil) {
        self.result = result
        self.domain = domain
        self.reason = reason
        self.explanation = explanation
    }
}

/// `check_host()` of RFC 7208 §4: whether `ip` may send mail for `domain`, through DNS, within
/// §4.6.4's limits: 10 terms that query DNS (include, a, mx, ptr, exists, redirect), 2 lookups
/// that find nothing, 10 address records per mx or ptr.
public struct SPFCheck: Sendable {
    public static let termLimit = 10
    public static let voidLookupLimit = 2
    public static let addressLimit = 10

    /// The client's address.
    public let ip: IPAddress
    /// The MAIL FROM address's local part and domain (`postmaster` and the HELO name for the
    /// null sender, §2.4).
    public let localPart: String
    public let senderDomain: String
    /// The HELO/EHLO name.
    public let helo: String
    /// Tern's host name (macro `r`, explanations only) and the time (`t`).
    public let receiver: String
    public let now: Int64

    private var terms = 0
    private var voidLookups = 0

    /// For a MAIL FROM of `sender` (nil for `<>`).
    public init(ip: IPAddress, sender: (localPart: String, domain: String)?, helo: String, receiver: String, now: Int64) {
        self.ip = ip
        self.localPart = sender.map { $0.localPart.isEmpty ? "postmaster" : $0.localPart } ?? "postmaster"
        self.senderDomain = (sender?.domain ?? helo).lowercased()
        self.helo = helo
        self.receiver = receiver
        self.now = now
    }

    /// The check of the MAIL FROM identity (§2.4), or of the HELO identity (§2.3) when
    /// `domain` is the HELO name.
    public static func verdict(
        ip: IPAddress, sender: (localPart: String, domain: String)?, helo: String, receiver: String, now: Int64,
        resolver: some DNSResolving
    ) async -> SPFVerdict {
        var check = SPFCheck(ip: ip, sender: sender, helo: helo, receiver: receiver, now: now)
        let domain = check.senderDomain
        let (result, reason, explanation) = await check.checkHost(domain, resolver: resolver)
        var verdict = SPFVerdict(result: result, domain: domain, reason: reason, explanation: explanation)
        verdict.property = sender.map { "smtp.mailfrom=\($0.localPart)@\($0.domain)" } ?? "smtp.helo=\(helo)"
        return verdict
    }

    /// An evaluation's end: the result, why, and (for a fail) the domain's explanation.
    typealias Outcome = (SPFResult, String?, String?)

    /// Stops the evaluation with a result (permerror, temperror) from anywhere inside it.
    struct Stop: Error {
        var result: SPFResult
        var reason: String
    }

    mutating func checkHost(_ domain: String, resolver: some DNSResolving) async -> Outcome {
        do {
            return try await evaluate(domain, resolver: resolver)
        } catch {
            return (error.result, error.reason, nil)
        }
    }

    // §4.3-4.6.
    private mutating func evaluate(_ domain: String, resolver: some DNSResolving) async throws(Stop) -> Outcome {
        // §4.3: a name that is not a domain has no SPF record.
        guard Self.isDomainName(domain) else { return (.none, "\(domain) is not a domain name", nil) }
        let record: SPFRecord
        switch try await Self.record(of: domain, resolver: resolver) {
        case .none: return (.none, "no SPF record at \(domain)", nil)
        case .some(let found): record = found
        }
        for directive in record.directives {
            if directive.mechanism.queriesDNS { try countTerm() }
            if try await matches(directive.mechanism, domain: domain, resolver: resolver) {
                let result = directive.qualifier.result
                let explanation = result == .fail ? await explain(record, domain: domain, resolver: resolver) : nil
                return (result, "matched \(directive.qualifier.rawValue)\(Self.name(of: directive.mechanism)) at \(domain)", explanation)
            }
        }
        // §6.1: redirect= only when no directive matched (and `all` always would).
        if let redirect = record.redirect {
            try countTerm()
            let target = try expandDomain(redirect, domain: domain)
            let (result, reason, explanation) = await checkHost(target, resolver: resolver)
            // "If the redirect domain has no SPF record ... the result is permerror."
            if result == .none { return (.permerror, "redirect= to \(target), which has no SPF record", nil) }
            return (result, reason, explanation)
        }
        return (.neutral, "no mechanism matched at \(domain)", nil)
    }

    /// The domain's one SPF record (§4.5): none when it has none; a permerror for two, or for
    /// one that does not parse; a temperror when DNS fails.
    private static func record(of domain: String, resolver: some DNSResolving) async throws(Stop) -> SPFRecord? {
        let records: [TXTRecord]
        do {
            records = try await resolver.txt(domain).records ?? []
        } catch let error as DNSError where !error.isTemporary {
            return nil
        } catch {
            throw Stop(result: .temperror, reason: "DNS lookup of \(domain) failed")
        }
        let spf = records.map(\.concatenated).filter { SPFRecord.isSPF($0) }
        guard spf.count <= 1 else { throw Stop(result: .permerror, reason: "\(domain) has \(spf.count) SPF records") }
        guard let text = spf.first else { return nil }
        do {
            return try SPFRecord(text)
        } catch {
            throw Stop(result: .permerror, reason: "\(domain): \(error.description)")
        }
    }

    private mutating func countTerm() throws(Stop) {
        terms += 1
        guard terms <= Self.termLimit else {
            throw Stop(result: .permerror, reason: "more than \(Self.termLimit) DNS-querying terms")
        }
    }

    /// A lookup of a/mx/ptr/exists that found nothing (§4.6.4).
    private mutating func countVoid() throws(Stop) {
        voidLookups += 1
        guard voidLookups <= Self.voidLookupLimit else {
            throw Stop(result: .permerror, reason: "more than \(Self.voidLookupLimit) lookups found nothing")
        }
    }

    private mutating func matches(
        _ mechanism: SPFRecord.Mechanism, domain: String, resolver: some DNSResolving
    ) async throws(Stop) -> Bool {
        switch mechanism {
        case .all:
            return true
        case .ip4(let network, let prefix):
            guard case .v4(let address) = ip else { return false }
            return Self.matches(address.bytes, network.bytes, prefix: prefix)
        case .ip6(let network, let prefix):
            guard case .v6(let address) = ip else { return false }
            return Self.matches(address.bytes, network.bytes, prefix: prefix)
        case .include(let spec):
            let target = try expandDomain(spec, domain: domain)
            // §5.2: pass matches; fail, softfail and neutral do not; errors and none end it.
            let (result, reason, _) = await checkHost(target, resolver: resolver)
            switch result {
            case .pass: return true
            case .fail, .softfail, .neutral: return false
            case .temperror: throw Stop(result: .temperror, reason: reason ?? "include:\(target)")
            case .permerror: throw Stop(result: .permerror, reason: reason ?? "include:\(target)")
            case .none: throw Stop(result: .permerror, reason: "include:\(target) has no SPF record")
            }
        case .a(let spec, let v4, let v6):
            let target = try spec.map { spec throws(Stop) in try expandDomain(spec, domain: domain) } ?? domain
            let addresses = try await addresses(of: target, resolver: resolver, countsVoid: true)
            return addresses.contains { matchesClient($0, v4: v4, v6: v6) }
        case .mx(let spec, let v4, let v6):
            let target = try spec.map { spec throws(Stop) in try expandDomain(spec, domain: domain) } ?? domain
            let exchanges: [MXRecord]
            do {
                exchanges = try await resolver.mx(target).records ?? []
            } catch let error as DNSError where !error.isTemporary {
                exchanges = []
            } catch {
                throw Stop(result: .temperror, reason: "MX lookup of \(target) failed")
            }
            if exchanges.isEmpty { try countVoid() }
            // §4.6.4: "MUST NOT result in querying more than 10 address records".
            guard exchanges.count <= Self.addressLimit else {
                throw Stop(result: .permerror, reason: "\(target) has more than \(Self.addressLimit) MX records")
            }
            for exchange in exchanges where !exchange.isNullMX {
                let found = try await addresses(of: exchange.exchange.description, resolver: resolver, countsVoid: false)
                if found.contains(where: { matchesClient($0, v4: v4, v6: v6) }) { return true }
            }
            return false
        case .ptr(let spec):
            let target = try spec.map { spec throws(Stop) in try expandDomain(spec, domain: domain) } ?? domain
            return try await validatedNames(resolver: resolver).contains { name in
                name == target.lowercased() || name.hasSuffix("." + target.lowercased())
            }
        case .exists(let spec):
            let target = try expandDomain(spec, domain: domain)
            // §5.7: an A query whatever the client's address family.
            do {
                let found = try await resolver.a(target).records ?? []
                if found.isEmpty { try countVoid() }
                return !found.isEmpty
            } catch let error as DNSError where !error.isTemporary {
                try countVoid()
                return false
            } catch let stop as Stop {
                throw stop
            } catch {
                throw Stop(result: .temperror, reason: "lookup of \(target) failed")
            }
        }
    }

    /// The A records (for an IPv4 client) or AAAA records (IPv6) of `name` (§5.3).
    private mutating func addresses(of name: String, resolver: some DNSResolving, countsVoid: Bool) async throws(Stop) -> [IPAddress] {
        let found: [IPAddress]
        do {
            switch ip {
            case .v4: found = (try await resolver.a(name).records ?? []).map(IPAddress.v4)
            case .v6: found = (try await resolver.aaaa(name).records ?? []).map(IPAddress.v6)
            }
        } catch let error as DNSError where !error.isTemporary {
            found = []
        } catch {
            throw Stop(result: .temperror, reason: "address lookup of \(name) failed")
        }
        if found.isEmpty, countsVoid { try countVoid() }
        return found
    }

    /// §5.5: the client's PTR names (10 at most) whose own addresses include the client's.
    /// A failed lookup here only makes `ptr` not match.
    private mutating func validatedNames(resolver: some DNSResolving) async throws(Stop) -> [String] {
        let names: [DNSName]
        do {
            names = try await resolver.ptr(ip).records ?? []
        } catch {
            return []
        }
        if names.isEmpty { try countVoid() }
        var validated: [String] = []
        for name in names.prefix(Self.addressLimit) {
            let text = name.description.lowercased()
            let trimmed = text.hasSuffix(".") ? String(text.dropLast()) : text
            if let found = try? await addresses(of: trimmed, resolver: resolver, countsVoid: false), found.contains(ip) {
                validated.append(trimmed)
            }
        }
        return validated
    }

    private func matchesClient(_ address: IPAddress, v4: Int, v6: Int) -> Bool {
        switch (ip, address) {
        case (.v4(let client), .v4(let other)): Self.matches(client.bytes, other.bytes, prefix: v4)
        case (.v6(let client), .v6(let other)): Self.matches(client.bytes, other.bytes, prefix: v6)
        default: false
        }
    }

    /// Whether the first `prefix` bits of two addresses agree.
    static func matches(_ a: [UInt8], _ b: [UInt8], prefix: Int) -> Bool {
        guard a.count == b.count, (0...(a.count * 8)).contains(prefix) else { return false }
        let whole = prefix / 8
        guard a.prefix(whole) == b.prefix(whole) else { return false }
        let bits = prefix % 8
        guard bits > 0 else { return true }
        let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
        return a[whole] & mask == b[whole] & mask
    }

    /// §6.2: a fail's explanation: the TXT record at `exp=`'s domain, its macros expanded. Any
    /// problem just means no explanation.
    private func explain(_ record: SPFRecord, domain: String, resolver: some DNSResolving) async -> String? {
        guard let spec = record.explanation, let target = try? expandDomain(spec, domain: domain),
            let records = try? await resolver.txt(target).records, records.count == 1
        else { return nil }
        let text = String(decoding: records[0].concatenated, as: UTF8.self)
        guard let macro = try? SPFMacroString(text, explanation: true) else { return nil }
        return macro.expand { value(of: $0, domain: domain) }.map { String($0.prefix(512)) }
    }

    private func expandDomain(_ spec: SPFMacroString, domain: String) throws(Stop) -> String {
        guard let expanded = spec.expand({ value(of: $0, domain: domain) }) else {
            throw Stop(result: .permerror, reason: "a macro expands past \(SPFMacroString.expansionLimit) octets")
        }
        return SPFMacroString.truncatedDomain(expanded)
    }

    /// §7.3's macro letters.
    private func value(of letter: Character, domain: String) -> String {
        switch letter {
        case "s": "\(localPart)@\(senderDomain)"
        case "l": localPart
        case "o": senderDomain
        case "d": domain
        case "i", "c":
            switch ip {
            case .v4(let address): address.description
            case .v6(let address):
                letter == "c" ? address.description : address.bytes.flatMap { [$0 >> 4, $0 & 0x0F] }.map { String($0, radix: 16) }.joined(separator: ".")
            }
        // The validated name of the client: RFC 7208 §7.3 discourages it; "unknown" is what it
        // says to use when there is none, and Tern spends no lookups on it.
        case "p": "unknown"
        case "v":
            switch ip {
            case .v4: "in-addr"
            case .v6: "ip6"
            }
        case "h": helo
        case "r": receiver
        case "t": String(now)
        default: ""
        }
    }

    private static func name(of mechanism: SPFRecord.Mechanism) -> String {
        switch mechanism {
        case .all: "all"
        case .include(let spec): "include:\(spec)"
        case .a(let spec, _, _): spec.map { "a:\($0)" } ?? "a"
        case .mx(let spec, _, _): spec.map { "mx:\($0)" } ?? "mx"
        case .ptr(let spec): spec.map { "ptr:\($0)" } ?? "ptr"
        case .ip4(let address, let prefix): "ip4:\(address)/\(prefix)"
        case .ip6(let address, let prefix): "ip6:\(address)/\(prefix)"
        case .exists(let spec): "exists:\(spec)"
        }
    }

    /// §4.3: labels of at most 63 octets, 253 in all, none empty, more than one.
    static func isDomainName(_ name: String) -> Bool {
        var name = Substring(name)
        if name.last == "." { name = name.dropLast() }
        let labels = name.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return (1...253).contains(name.utf8.count) && labels.count >= 2 && labels.allSatisfy { (1...63).contains($0.count) }
    }
}
