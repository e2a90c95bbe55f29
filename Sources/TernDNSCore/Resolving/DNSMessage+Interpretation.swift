/// What one response says about the question it answers, once its RCODE, CNAME chain and
/// authority section are read (RFC 1034 §5.3.3, RFC 2308 §2).
public enum DNSResponseOutcome: Sendable, Equatable {
    /// The records of the type asked, at the end of the chain; `ttl` covers the chain.
    case records([DNSResourceRecord], ttl: UInt32)
    /// NXDOMAIN for the end of the chain; `ttl` is the negative TTL (0: do not cache).
    case nameDoesNotExist(ttl: UInt32)
    /// NODATA for the end of the chain; `ttl` is the negative TTL (0: do not cache).
    case noData(ttl: UInt32)
    /// The answer ends in an alias whose target the response does not cover (a server that does
    /// not chase CNAMEs out of its zones): ask again for `target`. `ttl` is the smallest TTL of
    /// the `aliases` CNAME records followed.
    case alias(target: DNSName, ttl: UInt32, aliases: Int)
    /// No answer: an error RCODE, a CNAME loop, a referral.
    case failure(DNSError)

    /// Failures are equal when their codes are (the detail text is for logs).
    public static func == (lhs: DNSResponseOutcome, rhs: DNSResponseOutcome) -> Bool {
        switch (lhs, rhs) {
        case (.records(let l, let lt), .records(let r, let rt)): l == r && lt == rt
        case (.nameDoesNotExist(let l), .nameDoesNotExist(let r)): l == r
        case (.noData(let l), .noData(let r)): l == r
        case (.alias(let l, let lt, let la), .alias(let r, let rt, let ra)): l == r && lt == rt && la == ra
        case (.failure(let l), .failure(let r)): l.code == r.code
        default: false
        }
    }
}

extension DNSMessage {
    /// Reads this response as the answer to `question`.
    ///
    /// - NOERROR and NXDOMAIN are answers; SERVFAIL, REFUSED, FORMERR, NOTIMP and other codes
    ///   are `.failure`.
    /// - From the question's name, records of the type asked end the walk; otherwise a CNAME
    ///   for the current name moves it to the target (RFC 1034 §3.6.2), at most
    ///   `maximumAliases` times and never to a name already visited.
    /// - Where the walk ends without records: NXDOMAIN is `.nameDoesNotExist` (for the end of
    ///   the chain, RFC 6604 §3); with an SOA in the authority section it is NODATA (RFC 2308
    ///   §2.2); after a CNAME without SOA it is `.alias` (ask again); NS records without SOA in
    ///   a non-authoritative answer are a referral (`.failure`); otherwise NODATA.
    /// - The negative TTL is the smaller of the SOA's TTL and its MINIMUM (RFC 2308 §5).
    public func outcome(for question: DNSQuestion, maximumAliases: Int = 8) -> DNSResponseOutcome {
        switch header.responseCode {
        case .noError, .nameError:
            break
        default:
            return .failure(.responseCode(header.responseCode, "for \(question)"))
        }
        var current = question.name
        var ttl = UInt32.max
        var visited: Set<DNSName> = [current]
        var aliases = 0
        while true {
            let matching = answers.filter {
                $0.type == question.type && $0.class == question.class && $0.name == current
            }
            if !matching.isEmpty {
                return .records(matching, ttl: min(ttl, matching.map(\.ttl).min() ?? 0))
            }
            guard question.type != .cname,
                let alias = answers.first(where: {
                    $0.type == .cname && $0.class == question.class && $0.name == current
                }),
                case .cname(let target) = alias.data
            else { break }
            aliases += 1
            guard aliases <= maximumAliases, !visited.contains(target) else {
                return .failure(DNSError(.aliasLoop, "following CNAMEs from \(question.name)"))
            }
            visited.insert(target)
            ttl = min(ttl, alias.ttl)
            current = target
        }
        let negativeTTL = authorities.lazy.compactMap { record -> UInt32? in
            guard case .soa(let soa) = record.data else { return nil }
            return min(record.ttl, soa.minimum)
        }.first
        if header.responseCode == .nameError {
            return .nameDoesNotExist(ttl: min(ttl, negativeTTL ?? 0))
        }
        if let negativeTTL {
            return .noData(ttl: min(ttl, negativeTTL))
        }
        if aliases > 0 {
            return .alias(target: current, ttl: ttl, aliases: aliases)
        }
        if !header.isAuthoritativeAnswer, authorities.contains(where: { $0.type == .ns }) {
            return .failure(DNSError(.referral, "for \(question): is the server a recursive resolver?"))
        }
        return .noData(ttl: 0)
    }
}
