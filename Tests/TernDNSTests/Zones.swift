import TernTestSupport
import TernDNSCore

/// A zone NSD serves in the tests: its master file (RFC 1035 §5).
struct Zone: Sendable {
    var name: String
    var text: String

    var fileName: String { name + ".zone" }

    static let all: [Zone] = [tern, other, reverseV4, reverseV6]

    /// Three quoted character-strings of 250 octets: `"aaa…" "bbb…" "ccc…"`.
    private static let bigStrings = ["a", "b", "c"].map { "\"" + String(repeating: $0, count: 250) + "\"" }
        .joined(separator: " ")

    /// `tern.test`: every case the resolver has to get right. Addresses are in 127.0.0.0/8.
    static let tern = Zone(
        name: "tern.test",
        text: """
            $ORIGIN tern.test.
            $TTL 300
            @           SOA   ns.tern.test. hostmaster.tern.test. 1 3600 600 86400 60
            @           NS    ns
            ns          A     127.0.0.1

            ; MX with several preferences, listed out of order.
            multi       MX    30 mx3.multi
            multi       MX    10 mx1.multi
            multi       MX    20 mx2.multi
            mx1.multi   A     127.0.0.11
            mx2.multi   A     127.0.0.12
            mx3.multi   A     127.0.0.13
            mx3.multi   AAAA  ::1

            ; Two MX with equal preference.
            equal       MX    10 a.equal
            equal       MX    10 b.equal
            a.equal     A     127.0.0.21
            b.equal     A     127.0.0.22

            ; A but no MX: the implicit MX.
            nomx        A     127.0.0.31

            ; Null MX (RFC 7505).
            nullmx      MX    0 .

            ; TXT: one string, and one record of several strings.
            txt         TXT   "v=spf1 ip4:127.0.0.0/8 -all"
            multistring TXT   "first part, " "second part" ""

            ; 40 A records: 12 + 16 + 40 × 16 = 668 octets, over UDP's 512 without EDNS.
            \((1...40).map { "big         A     127.0.1.\($0)" }.joined(separator: "\n"))

            ; TXT too large for UDP: three strings of 250 octets.
            bigtxt      TXT   \(bigStrings)

            ; CNAMEs: to an MX owner, a chain of two, a loop, into another zone NSD serves, and
            ; out of every zone NSD serves (NSD answers the CNAME alone, REFUSED for the target).
            www         CNAME multi
            alias       CNAME nomx
            chain1      CNAME chain2
            chain2      CNAME nomx
            loop1       CNAME loop2
            loop2       CNAME loop1
            outside     CNAME host.other.test.
            dangling    CNAME host.elsewhere.invalid.

            ; Short TTLs, for the cache.
            short       60 A  127.0.0.51
            """
    )

    static let other = Zone(
        name: "other.test",
        text: """
            $ORIGIN other.test.
            $TTL 300
            @           SOA   ns.tern.test. hostmaster.tern.test. 1 3600 600 86400 60
            @           NS    ns.tern.test.
            host        A     127.0.0.41
            """
    )

    /// PTR records for 127.0.0.0/24 (RFC 1035 §3.5).
    static let reverseV4 = Zone(
        name: "0.0.127.in-addr.arpa",
        text: """
            $ORIGIN 0.0.127.in-addr.arpa.
            $TTL 300
            @           SOA   ns.tern.test. hostmaster.tern.test. 1 3600 600 86400 60
            @           NS    ns.tern.test.
            11          PTR   mx1.multi.tern.test.
            31          PTR   nomx.tern.test.
            31          PTR   other-name.tern.test.
            """
    )

    /// A PTR record for ::1 (RFC 3596 §2.5).
    static let reverseV6 = Zone(
        name: "ip6.arpa",
        text: """
            $ORIGIN ip6.arpa.
            $TTL 300
            @           SOA   ns.tern.test. hostmaster.tern.test. 1 3600 600 86400 60
            @           NS    ns.tern.test.
            1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0 PTR localhost.tern.test.
            """
    )
}
