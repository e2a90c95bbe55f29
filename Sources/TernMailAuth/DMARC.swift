public import TernDNSCore
import TernMail

/// A DMARC policy record (RFC 7489 §6.3): the TXT record at `_dmarc.<domain>`, a tag list whose
/// first tag is `v=DMARC1`.
public struct DMARCRecord: Sendable, Hashable {
    public enum Policy: String, Sendable, Hashable {
        case none, quarantine, reject
    }

    /// §3.1: relaxed alignment wants the same organizational domain, strict the same name.
    public enum Alignment: String, Sendable, Hashable {
        case relaxed = "r"
        case strict = "s"
    }

    public struct Malformed: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    public var policy: Policy
    /// `sp=`: the policy for subdomains of the organizational domain (`p=` when absent).
    public var subdomainPolicy: Policy?
    public var dkimAlignment: Alignment
    public var spfAlignment: Alignment
    /// `pct=`: the share of failing mail the policy applies to, 0 to 100.
    public var percentage: Int
    /// `rua=`: where aggregate reports go, as written.
    public var aggregateReports: [String]

    /// Whether a TXT record's text is meant as a DMARC record (§6.6.3: it starts `v=DMARC1`).
    public static func isDMARC(_ text: some Collection<UInt8>) -> Bool {
        let version = Array("v=DMARC1".utf8)
        let trimmed = text.drop { $0 == 0x20 || $0 == 0x09 }
        guard trimmed.count >= version.count, trimmed.prefix(version.count).elementsEqual(version) else { return false }
        let rest = trimmed.dropFirst(version.count).drop { $0 == 0x20 || $0 == 0x09 }
        return rest.isEmpty || rest.first == UInt8(ascii: ";")
    }

    public init(_ text: some BidirectionalCollection<UInt8>) throws(Malformed) {
        let tags: DKIMTagList
        do {
            tags = try DKIMTagList(text)
        } catch {
            throw Malformed(description: "malformed tag list: \(error.description)")
        }
        guard tags.tags.first?.name == "v", tags["v"] == "DMARC1" else { throw Malformed(description: "v=DMARC1 is not first") }
        // §6.3 p=: required. "If the policy is invalid but a rua tag is present, treat as p=none"
        // (§6.6.3 step 6 lets a record with a bad p= and a rua= still bring reports).
        let rua = tags["rua"].map { DKIMSignatureFields.compact($0).split(separator: ",").map(String.init) } ?? []
        if let value = tags["p"], let policy = Policy(rawValue: value.lowercased()) {
            self.policy = policy
        } else if !rua.isEmpty {
            policy = .none
        } else {
            throw Malformed(description: "no valid p= tag")
        }
        aggregateReports = rua
        subdomainPolicy = tags["sp"].flatMap { Policy(rawValue: $0.lowercased()) }
        dkimAlignment = tags["adkim"].flatMap { Alignment(rawValue: $0.lowercased()) } ?? .relaxed
        spfAlignment = tags["aspf"].flatMap { Alignment(rawValue: $0.lowercased()) } ?? .relaxed
        // pct=: 0 to 100; a value out of range is ignored (the default, 100, applies).
        percentage = tags["pct"].flatMap { ASCIIDecimal.parse($0, in: 0...100) }.map { Int($0) } ?? 100
    }
}

/// The DMARC results (RFC 7489 §11.2) as Authentication-Results writes them.
public enum DMARCResult: String, Sendable, Hashable {
    case none, pass, fail, temperror, permerror
}

/// What the DMARC check of a message came to (RFC 7489 §6.6).
public struct DMARCVerdict: Sendable, Hashable {
    public var result: DMARCResult
    /// The RFC 5322.From domain checked (`header.from`).
    public var fromDomain: String
    /// The policy found, and the one that applies to this domain (`sp=` for a subdomain).
    public var policy: DMARCRecord.Policy?
    public var appliedPolicy: DMARCRecord.Policy?
    /// What the receiver should do with the message: the applied policy for a fail within
    /// `pct=`, none otherwise (the `dis=` of Authentication-Results).
    public var disposition: DMARCRecord.Policy = .none
    public var reason: String?

    public init(result: DMARCResult, fromDomain: String, reason: String? = nil) {
        self.result = result
        self.fromDomain = fromDomain
        self.reason = reason
    }
}

/// What policy discovery (RFC 7489 §6.6.3) found for a From: domain.
public struct DMARCPolicy: Sendable, Hashable {
    public enum Found: Sendable, Hashable {
        /// One DMARC record, at the From: domain or at its organizational domain.
        case record(DMARCRecord, atOrganizationalDomain: Bool)
        /// No record: DMARC does not apply.
        case none
        /// DNS failed (temperror) or the record does not parse (permerror).
        case error(DMARCResult, String)
    }

    /// The From: domain, lower case, without a final dot.
    public var fromDomain: String
    public var found: Found

    /// The policy for this From: domain: `sp=` when the record is its organizational domain's
    /// (and has one), `p=` otherwise.
    public var applied: DMARCRecord.Policy? {
        guard case .record(let record, let atOrganizational) = found else { return nil }
        return atOrganizational ? (record.subdomainPolicy ?? record.policy) : record.policy
    }

    /// Whether failing mail may end with the disposition quarantine: the applied policy says
    /// so, or says reject but only for part of the mail (`pct=` below 100, §6.6.4) or while
    /// the receiver does not refuse (`enforcingReject` false, when reject is taken as quarantine).
    public func mayQuarantine(enforcingReject: Bool) -> Bool {
        guard case .record(let record, _) = found else { return false }
        switch applied {
        case .quarantine: return true
        case .reject: return record.percentage < 100 || !enforcingReject
        case .none?, nil: return false
        }
    }
}

/// DMARC's evaluation (RFC 7489 §6.6): the policy of the From: domain (or of its organizational
/// domain), and whether a DKIM pass or an SPF pass is aligned with it.
public struct DMARCCheck: Sendable {
    public let suffixes: PublicSuffixList

    public init(suffixes: PublicSuffixList) {
        self.suffixes = suffixes
    }

    /// `fromDomain`: the one domain of the message's From: field. `sample`: a number in 0..<100
    /// drawn for `pct=` (§6.6.4).
    public func verdict(
        fromDomain: String, dkim: [DKIMResult], spf: SPFVerdict?, sample: Int, resolver: some DNSResolving
    ) async -> DMARCVerdict {
        verdict(policy: await policy(fromDomain: fromDomain, resolver: resolver), dkim: dkim, spf: spf, sample: sample)
    }

    /// §6.6.3, policy discovery: the From: domain's record, else its organizational domain's.
    /// It needs only the From: field, so the intake asks while the body is still arriving.
    public func policy(fromDomain: String, resolver: some DNSResolving) async -> DMARCPolicy {
        let from = Self.normalized(fromDomain)
        let organizational = suffixes.organizationalDomain(of: from)
        do {
            if let record = try await Self.record(at: from, resolver: resolver) {
                return DMARCPolicy(fromDomain: from, found: .record(record, atOrganizationalDomain: false))
            }
            if organizational != from, let record = try await Self.record(at: organizational, resolver: resolver) {
                return DMARCPolicy(fromDomain: from, found: .record(record, atOrganizationalDomain: true))
            }
            return DMARCPolicy(fromDomain: from, found: .none)
        } catch {
            return DMARCPolicy(fromDomain: from, found: .error(error.result, error.reason))
        }
    }

    /// §6.6.2 and §6.6.4: whether a DKIM pass or an SPF pass is aligned with the From: domain
    /// of `policy`, and what the receiver should do with the message if not.
    public func verdict(policy: DMARCPolicy, dkim: [DKIMResult], spf: SPFVerdict?, sample: Int) -> DMARCVerdict {
        let from = policy.fromDomain
        var verdict = DMARCVerdict(result: .none, fromDomain: from)
        let record: DMARCRecord
        switch policy.found {
        case .error(let result, let reason):
            verdict.result = result
            verdict.reason = reason
            return verdict
        case .none:
            verdict.reason = "no DMARC record for \(from)"
            return verdict
        case .record(let found, _):
            record = found
        }
        verdict.policy = record.policy
        verdict.appliedPolicy = policy.applied
        let dkimAligned = dkim.contains { result in
            result.result == .pass && result.domain.map { aligned($0, from, record.dkimAlignment) } == true
        }
        let spfAligned = spf.map { $0.result == .pass && !$0.property.hasPrefix("smtp.helo") && aligned($0.domain, from, record.spfAlignment) } ?? false
        if dkimAligned || spfAligned {
            verdict.result = .pass
            verdict.reason = dkimAligned ? "DKIM aligned" : "SPF aligned"
            return verdict
        }
        verdict.result = .fail
        verdict.reason = "neither DKIM nor SPF aligned with \(from)"
        // §6.6.4: pct= of the failing mail gets the policy; the rest the next weaker one.
        let applied = policy.applied ?? .none
        if sample < record.percentage {
            verdict.disposition = applied
        } else {
            verdict.disposition = applied == .reject ? .quarantine : .none
        }
        return verdict
    }

    /// §3.1.1, §3.1.2: strict wants the same name, relaxed the same organizational domain.
    private func aligned(_ domain: String, _ from: String, _ mode: DMARCRecord.Alignment) -> Bool {
        let domain = Self.normalized(domain)
        switch mode {
        case .strict: return domain == from
        case .relaxed: return suffixes.organizationalDomain(of: domain) == suffixes.organizationalDomain(of: from)
        }
    }

    struct Stop: Error {
        var result: DMARCResult
        var reason: String
    }

    /// The DMARC record at `_dmarc.<domain>`: nil for none; several records count as none
    /// (§6.6.3 step 5 "if the remaining set contains multiple records ... terminate with no
    /// policy"); a DNS failure is a temperror; one record that does not parse is a permerror.
    private static func record(at domain: String, resolver: some DNSResolving) async throws(Stop) -> DMARCRecord? {
        let records: [TXTRecord]
        do {
            records = try await resolver.txt("_dmarc.\(domain)").records ?? []
        } catch let error as DNSError where !error.isTemporary {
            return nil
        } catch {
            throw Stop(result: .temperror, reason: "DNS lookup of _dmarc.\(domain) failed")
        }
        let dmarc = records.map(\.concatenated).filter { DMARCRecord.isDMARC($0) }
        guard dmarc.count == 1, let text = dmarc.first else { return nil }
        do {
            return try DMARCRecord(text)
        } catch {
            throw Stop(result: .permerror, reason: "_dmarc.\(domain): \(error.description)")
        }
    }

    private static func normalized(_ domain: String) -> String {
        var lowered = domain.lowercased()
        if lowered.hasSuffix(".") { lowered.removeLast() }
        return lowered
    }
}
