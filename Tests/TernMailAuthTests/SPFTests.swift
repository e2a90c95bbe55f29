import TernDNSCore
import Testing

@testable import TernMailAuth

@Suite("SPF (RFC 7208)")
struct SPFTests {
    private func check(
        _ dns: TXTTable, ip: String, from sender: String? = "alice@example.org", helo: String = "mail.example.org"
    ) async -> SPFVerdict {
        let parts = sender.map { address -> (localPart: String, domain: String) in
            let at = address.lastIndex(of: "@")!
            return (String(address[..<at]), String(address[address.index(after: at)...]))
        }
        return await SPFCheck.verdict(
            ip: IPAddress(ip)!, sender: parts, helo: helo, receiver: "mx.tern.test", now: 1_700_000_000, resolver: dns)
    }

    private func dns(_ record: String, at domain: String = "example.org") -> TXTTable {
        var table = TXTTable()
        table.publish(domain, [record])
        return table
    }

    @Test("records: every mechanism and modifier reads; syntax errors and unknown mechanisms do not")
    func parsing() throws {
        let record = try SPFRecord(
            Array("v=spf1 +all -include:_spf.example.com ~a ?a:x.example/24 mx//64 mx:y.example/20//48 ptr ptr:z.example ip4:192.0.2.0/24 ip6:2001:db8::/32 exists:%{ir}.%{l1r+-}._spf.%{d} redirect=_spf.example.net exp=explain.%{d} unknown=%{s}".utf8))
        #expect(record.directives.count == 11)
        #expect(record.directives[2].mechanism == .a(nil, ipv4Prefix: 32, ipv6Prefix: 128))
        #expect(record.directives[4].mechanism == .mx(nil, ipv4Prefix: 32, ipv6Prefix: 64))
        #expect(record.directives[1].qualifier == .fail && record.directives[2].qualifier == .softfail)
        #expect(record.redirect?.description == "_spf.example.net")
        #expect(SPFRecord.isSPF(Array("V=SPF1".utf8)) && !SPFRecord.isSPF(Array("v=spf10 a".utf8)))
        for bad in [
            "v=spf1 foo", "v=spf1 ip4:300.1.1.1", "v=spf1 ip4:1.2.3.4/33", "v=spf1 a/08", "v=spf1 include",
            "v=spf1 redirect=a.example redirect=b.example", "v=spf1 exists:%{z}.example", "v=spf1 a:%{d0}",
            "v=spf1 include:example", "v=spf1 exists:%{c}.example", "v=spf1 all:x", "v=spf1 mx/24/64", "v=spf1 a:%",
        ] {
            #expect(throws: SPFRecord.Malformed.self, "\(bad)") { try SPFRecord(Array(bad.utf8)) }
        }
    }

    @Test("macros expand as RFC 7208 §7.4's examples do")
    func macros() throws {
        let values: (Character) -> String = {
            switch $0 {
            case "s": "strong-bad@email.example.com"
            case "l": "strong-bad"
            case "o": "email.example.com"
            case "d": "email.example.com"
            case "i": "192.0.2.3"
            default: ""
            }
        }
        for (macro, expected) in [
            ("%{s}", "strong-bad@email.example.com"), ("%{o}", "email.example.com"), ("%{d}", "email.example.com"),
            ("%{d4}", "email.example.com"), ("%{d3}", "email.example.com"), ("%{d2}", "example.com"), ("%{d1}", "com"),
            ("%{dr}", "com.example.email"), ("%{d2r}", "example.email"), ("%{l}", "strong-bad"), ("%{l-}", "strong.bad"),
            ("%{lr}", "strong-bad"), ("%{lr-}", "bad.strong"), ("%{l1r-}", "strong"),
            ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"), ("%%%_%-", "% %20"),
            ("%{S}", "strong-bad%40email.example.com"),
        ] {
            let spec = try SPFMacroString(macro, explanation: false)
            let expanded = spec.expand { $0 == "v" ? "in-addr" : values($0) }
            #expect(expanded == expected, "\(macro)")
        }
        #expect(SPFMacroString.truncatedDomain(String(repeating: "abcdefghi.", count: 30) + "example") .utf8.count <= 253)
    }

    @Test("ip4, ip6, a, mx, all and the qualifiers")
    func mechanisms() async {
        var table = dns("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a:web.example.org/28 mx -all")
        table.add("web.example.org", .a(IPv4Address("198.51.100.1")!))
        table.add("example.org", .mx(MXRecord(preference: 10, exchange: try! DNSName("mx.example.org"))))
        table.add("mx.example.org", .a(IPv4Address("203.0.113.9")!))
        #expect(await check(table, ip: "192.0.2.200").result == .pass)
        #expect(await check(table, ip: "2001:db8:1::5").result == .pass)
        #expect(await check(table, ip: "198.51.100.14").result == .pass)
        #expect(await check(table, ip: "198.51.100.17").result == .fail)
        #expect(await check(table, ip: "203.0.113.9").reason == "matched +mx at example.org")
        #expect(await check(table, ip: "2001:db9::1").result == .fail)
        #expect(await check(dns("v=spf1 ~all"), ip: "192.0.2.1").result == .softfail)
        #expect(await check(dns("v=spf1 ?all"), ip: "192.0.2.1").result == .neutral)
        #expect(await check(dns("v=spf1 ip4:10.0.0.0/8"), ip: "192.0.2.1").result == .neutral)
    }

    @Test("include, redirect and exists; the null sender is checked as postmaster@HELO")
    func includeRedirectExists() async {
        var table = dns("v=spf1 include:_spf.example.net -all")
        table.publish("_spf.example.net", ["v=spf1 ip4:192.0.2.1 redirect=_other.example.net"])
        table.publish("_other.example.net", ["v=spf1 exists:%{i}.allowed.example.net ~all"])
        table.add("192.0.2.7.allowed.example.net", .a(IPv4Address("127.0.0.2")!))
        #expect(await check(table, ip: "192.0.2.1").result == .pass)
        #expect(await check(table, ip: "192.0.2.7").result == .pass)
        // The include's softfail does not match: the outer -all decides.
        #expect(await check(table, ip: "192.0.2.9").result == .fail)
        table.publish("mail.example.org", ["v=spf1 a -all"])
        table.add("mail.example.org", .a(IPv4Address("192.0.2.50")!))
        let helo = await check(table, ip: "192.0.2.50", from: nil)
        #expect(helo.result == .pass && helo.domain == "mail.example.org" && helo.property == "smtp.helo=mail.example.org")
        #expect(await check(table, ip: "192.0.2.50").property == "smtp.mailfrom=alice@example.org")
    }

    @Test("none, two records, a record that does not parse, DNS failures")
    func errors() async {
        #expect(await check(TXTTable(), ip: "192.0.2.1").result == .none)
        var table = dns("v=spf1 -all")
        table.publish("example.org", ["v=spf1 +all"])
        #expect(await check(table, ip: "192.0.2.1").result == .permerror)
        #expect(await check(dns("v=spf1 ip4:1.2.3"), ip: "192.0.2.1").result == .permerror)
        // A syntax error after the match still makes the record a permerror (§4.6).
        #expect(await check(dns("v=spf1 +all bogus"), ip: "192.0.2.1").result == .permerror)
        var failing = TXTTable()
        failing.failures["example.org"] = .timeout
        #expect(await check(failing, ip: "192.0.2.1").result == .temperror)
        var include = dns("v=spf1 include:gone.example -all")
        #expect(await check(include, ip: "192.0.2.1").result == .permerror)
        include.failures["gone.example"] = .serverFailure
        #expect(await check(include, ip: "192.0.2.1").result == .temperror)
        table = dns("v=spf1 redirect=nothing.example")
        #expect(await check(table, ip: "192.0.2.1").result == .permerror)
    }

    @Test("limits: 10 DNS-querying terms, 2 void lookups, an include loop, 10 MX records")
    func limits() async {
        let eleven = (1...11).map { "a:h\($0).example.org" }.joined(separator: " ")
        var table = dns("v=spf1 \(eleven) -all")
        for index in 1...11 { table.add("h\(index).example.org", .a(IPv4Address("198.51.100.\(index)")!)) }
        #expect(await check(table, ip: "198.51.100.10").result == .pass)
        let verdict = await check(table, ip: "192.0.2.1")
        #expect(verdict.result == .permerror && verdict.reason == "more than 10 DNS-querying terms")

        let voids = dns("v=spf1 a:n1.example.org a:n2.example.org a:n3.example.org -all")
        #expect(await check(voids, ip: "192.0.2.1").reason == "more than 2 lookups found nothing")

        var loop = dns("v=spf1 include:loop.example.org -all")
        loop.publish("loop.example.org", ["v=spf1 include:example.org -all"])
        #expect(await check(loop, ip: "192.0.2.1").result == .permerror)
        #expect(loop.asked.all.count <= 12)

        var many = dns("v=spf1 mx -all")
        for index in 1...11 { many.add("example.org", .mx(MXRecord(preference: 10, exchange: try! DNSName("m\(index).example.org")))) }
        #expect(await check(many, ip: "192.0.2.1").result == .permerror)
    }

    @Test("hostile records: a 64 KB TXT record and a macro that would expand to 100 KB")
    func hostile() async {
        let long = "v=spf1 " + String(repeating: "ip4:192.0.2.1 ", count: 4500) + "-all"
        var table = TXTTable()
        table.publish("example.org", stride(from: 0, to: long.utf8.count, by: 255).map {
            String(decoding: Array(long.utf8)[$0..<min($0 + 255, long.utf8.count)], as: UTF8.self)
        })
        #expect(await check(table, ip: "192.0.2.1").result == .pass)
        #expect(await check(table, ip: "192.0.2.2").result == .fail)
        let growing = "v=spf1 exists:" + String(repeating: "%{s}", count: 400) + ".example -all"
        let verdict = await check(dns(growing), ip: "192.0.2.1", from: String(repeating: "x", count: 250) + "@example.org")
        #expect(verdict.result == .permerror)
    }

    @Test("ptr: a name whose addresses include the client's, in the domain")
    func ptr() async throws {
        var table = dns("v=spf1 ptr -all")
        table.add("5.2.0.192.in-addr.arpa", .ptr(try DNSName("out.example.org")))
        table.add("out.example.org", .a(IPv4Address("192.0.2.5")!))
        table.add("6.2.0.192.in-addr.arpa", .ptr(try DNSName("liar.example.org")))
        #expect(await check(table, ip: "192.0.2.5").result == .pass)
        #expect(await check(table, ip: "192.0.2.6").result == .fail)
    }
}
