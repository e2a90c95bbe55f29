/// Where mail for a domain goes, from its MX answer (RFC 5321 §5.1, RFC 7505).
public enum MXRoute: Hashable, Sendable {
    /// Try these exchanges in this order: lowest preference first, equal preferences in random
    /// order. With no MX records (NODATA) this is the implicit MX: the domain itself at
    /// preference 0. The caller looks up each exchange's addresses.
    case exchanges([MXRecord])
    /// The domain publishes a null MX (`0 .`, RFC 7505 §3): it accepts no mail. Fail the
    /// recipient with 556 5.1.10 (RFC 7505 §4.1, RFC 7504) without connecting anywhere.
    case nullMX
    /// NXDOMAIN: the domain does not exist (RFC 5321 §5.1 "the lookup fails"; 550 5.1.2).
    case domainDoesNotExist

    /// The route for `domain`, whose MX lookup gave `answer`.
    ///
    /// - Records: sorted by preference, each run of equal preferences shuffled with `generator`
    ///   so load spreads across them (§5.1 "randomize"). Records whose exchange is the root are
    ///   dropped when others exist (RFC 7505 §3 forbids mixing them, and `.` is no host); if
    ///   only such records are present the domain has a null MX.
    /// - NODATA: the implicit MX, `domain` at preference 0 (§5.1).
    /// - NXDOMAIN: `.domainDoesNotExist`.
    ///
    /// Duplicated exchanges are tried once, at their lowest preference. Pure: the randomness
    /// comes only from `generator`, so tests pass a seeded one.
    public init(answer: DNSAnswer<[MXRecord]>, domain: DNSName, using generator: inout some RandomNumberGenerator) {
        switch answer {
        case .nameDoesNotExist:
            self = .domainDoesNotExist
        case .noData:
            self = .exchanges([MXRecord(preference: 0, exchange: domain)])
        case .records(let records, _):
            let usable = records.filter { !$0.isNullMX }
            guard !usable.isEmpty else {
                self = records.isEmpty ? .exchanges([MXRecord(preference: 0, exchange: domain)]) : .nullMX
                return
            }
            let sorted = usable.sorted { $0.preference < $1.preference }
            var ordered: [MXRecord] = []
            ordered.reserveCapacity(sorted.count)
            var seen = Set<DNSName>()
            var start = 0
            while start < sorted.count {
                var end = start + 1
                while end < sorted.count, sorted[end].preference == sorted[start].preference { end += 1 }
                var group = Array(sorted[start..<end])
                group.shuffle(using: &generator)
                for record in group where seen.insert(record.exchange).inserted {
                    ordered.append(record)
                }
                start = end
            }
            self = .exchanges(ordered)
        }
    }

    /// `init(answer:domain:using:)` with the system's random number generator.
    public init(answer: DNSAnswer<[MXRecord]>, domain: DNSName) {
        var generator = SystemRandomNumberGenerator()
        self.init(answer: answer, domain: domain, using: &generator)
    }
}
