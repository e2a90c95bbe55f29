// TernDNS: a stub resolver over SwiftNIO that implements TernDNSCore's `DNSResolving`.
//
// `StubResolver` sends each question over UDP from a fresh socket (a kernel-chosen random source
// port) with a random query ID, accepts only a response whose ID and question match, falls back
// to TCP (RFC 1035 §4.2.2 two-octet length framing) when the TC bit is set, and retries across
// the configured name servers with a per-try timeout (glibc's defaults: 5 s, 2 attempts). Name
// servers come from /etc/resolv.conf or are given explicitly. A bounded TTL cache (positive and
// negative, RFC 2308) is shared by all lookups, and concurrent identical questions share one
// lookup in flight. CNAME chains are followed up to a bound.
//
// Security notes: responses are parsed by TernDNSCore's bounds-checked decoder; datagrams that
// do not match the outstanding query (wrong ID, wrong question, unparsable) are ignored rather
// than trusted, so an off-path spoofer must guess a 16-bit ID and a random source port. Every
// network wait has a deadline, so a silent or hostile server costs at most
// `attempts × servers × timeout`. The cache is bounded in entries and TTLs are capped.
//
// Parameters: `StubResolver.Configuration` (name servers, timeout, attempts, cache capacity,
// TTL caps, CNAME chain bound); see its documentation for the defaults.
