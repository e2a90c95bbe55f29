// TernDNSCore: the DNS wire format (RFC 1035, RFC 3596 AAAA, RFC 2308 negative answers, RFC 7505
// null MX) without I/O, and `DNSResolving`, the protocol every mail role uses to ask DNS questions.
//
// Message/ holds the value types of RFC 1035 §4 (header, question, resource records), Wire/ their
// decoder and encoder, Names/ domain names and IP addresses, Resolving/ the `DNSResolving`
// protocol, its result type `DNSAnswer`, the error type `DNSError`, the pure interpretation of a
// response (rcode, CNAME chain, negative TTL) and the RFC 5321 §5.1 ordering of mail exchangers.
// Nothing here opens a socket, reads a clock or logs: TernDNS does that.
//
// Security notes: every octet of a response is attacker-controlled (any host can send UDP to
// the resolver's port). The decoder reads through bounds-checked `ByteBuffer` accessors and
// returns a `DNSWireError` value for every malformation, never traps; a compression pointer must
// point strictly backwards (RFC 1035 §4.1.4 "a prior occurrence"), so pointer chains cannot
// loop, and a name is held to 255 octets however it was assembled. Names from the wire may
// contain any octet; `DNSName.description` escapes everything but visible ASCII so a hostile
// name cannot inject control characters into logs or headers. Names from callers must be ASCII
// (IDNs arrive as A-labels); anything else is refused with `DNSError.invalidName`.
