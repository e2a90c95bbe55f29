import TernDNSCore
import Testing

@testable import TernMailAuth

@Suite("DMARC (RFC 7489) and the Public Suffix List")
struct DMARCTests {
    static let suffixes = PublicSuffixList(text: """
        // a few rules of the real list's kinds
        com
        uk
        co.uk
        jp
        *.kawasaki.jp
        !city.kawasaki.jp
        """)

    @Test("organizational domains: plain, multi-label, wildcard and exception rules, the default rule")
    func organizationalDomains() {
        let list = Self.suffixes
        #expect(list.organizationalDomain(of: "mail.Example.com.") == "example.com")
        #expect(list.organizationalDomain(of: "a.b.example.co.uk") == "example.co.uk")
        #expect(list.organizationalDomain(of: "x.y.kawasaki.jp") == "x.y.kawasaki.jp")
        #expect(list.organizationalDomain(of: "www.city.kawasaki.jp") == "city.kawasaki.jp")
        #expect(list.organizationalDomain(of: "mx.example.test") == "example.test")
        #expect(list.organizationalDomain(of: "co.uk") == "co.uk")
        #expect(PublicSuffixList().organizationalDomain(of: "a.example.co.uk") == "co.uk")
    }

    @Test("records: p, sp, adkim, aspf, pct; v=DMARC1 first; a bad p= with rua= counts as none")
    func records() throws {
        let record = try DMARCRecord(Array("v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=r; pct=20; rua=mailto:a@example.com".utf8))
        #expect(record.policy == .reject && record.subdomainPolicy == .quarantine)
        #expect(record.dkimAlignment == .strict && record.spfAlignment == .relaxed && record.percentage == 20)
        #expect(try DMARCRecord(Array("v=DMARC1; p=bogus; rua=mailto:x@example.com".utf8)).policy == .none)
        #expect(try DMARCRecord(Array("v=DMARC1;p=none;pct=400".utf8)).percentage == 100)
        for bad in ["p=reject; v=DMARC1", "v=DMARC1; p=bogus", "v=DMARC1", "v=DMARC1; p=reject; p=none"] {
            #expect(throws: DMARCRecord.Malformed.self, "\(bad)") { try DMARCRecord(Array(bad.utf8)) }
        }
        #expect(DMARCRecord.isDMARC(Array("v=DMARC1; p=none".utf8)) && !DMARCRecord.isDMARC(Array("v=DMARC10; p=none".utf8)))
    }

    private func pass(_ domain: String) -> DKIMResult {
        var result = DKIMResult(result: .pass)
        result.domain = domain
        return result
    }

    private func spf(_ result: SPFResult, _ domain: String) -> SPFVerdict {
        var verdict = SPFVerdict(result: result, domain: domain)
        verdict.property = "smtp.mailfrom=bounce@\(domain)"
        return verdict
    }

    private func verdict(
        _ from: String, dkim: [DKIMResult] = [], spf: SPFVerdict? = nil, sample: Int = 0, dns: TXTTable
    ) async -> DMARCVerdict {
        await DMARCCheck(suffixes: Self.suffixes).verdict(fromDomain: from, dkim: dkim, spf: spf, sample: sample, resolver: dns)
    }

    @Test("alignment: relaxed by organizational domain, strict by name; DKIM or SPF suffices")
    func alignment() async {
        var dns = TXTTable()
        dns.publish("_dmarc.example.co.uk", ["v=DMARC1; p=reject"])
        dns.publish("_dmarc.strict.com", ["v=DMARC1; p=reject; adkim=s; aspf=s"])
        #expect(await verdict("example.co.uk", dkim: [pass("mail.example.co.uk")], dns: dns).result == .pass)
        #expect(await verdict("example.co.uk", spf: spf(.pass, "bounces.example.co.uk"), dns: dns).result == .pass)
        // A pass for another organization is no pass for this one.
        let other = await verdict("example.co.uk", dkim: [pass("other.co.uk")], spf: spf(.pass, "other.co.uk"), dns: dns)
        #expect(other.result == .fail && other.disposition == .reject)
        #expect(await verdict("strict.com", dkim: [pass("mail.strict.com")], dns: dns).result == .fail)
        #expect(await verdict("strict.com", dkim: [pass("strict.com")], dns: dns).result == .pass)
        #expect(await verdict("example.co.uk", spf: spf(.softfail, "example.co.uk"), dns: dns).result == .fail)
        var helo = SPFVerdict(result: .pass, domain: "example.co.uk")
        helo.property = "smtp.helo=example.co.uk"
        #expect(await verdict("example.co.uk", spf: helo, dns: dns).result == .fail)
    }

    @Test("policy discovery: the From domain, then its organizational domain with sp=; pct= samples")
    func discovery() async {
        var dns = TXTTable()
        dns.publish("_dmarc.example.com", ["v=DMARC1; p=reject; sp=quarantine; pct=50"])
        let sub = await verdict("news.example.com", dns: dns)
        #expect(sub.result == .fail && sub.policy == .reject && sub.appliedPolicy == .quarantine && sub.disposition == .quarantine)
        #expect(await verdict("example.com", sample: 49, dns: dns).disposition == .reject)
        // Outside pct=, reject becomes quarantine (§6.6.4).
        #expect(await verdict("example.com", sample: 50, dns: dns).disposition == .quarantine)
        dns.publish("_dmarc.news.example.com", ["v=DMARC1; p=none"])
        #expect(await verdict("news.example.com", dns: dns).disposition == .none)
        #expect(await verdict("nothing.com", dns: dns).result == .none)
        var failing = TXTTable()
        failing.failures["_dmarc.example.com"] = .timeout
        #expect(await verdict("example.com", dns: failing).result == .temperror)
        dns.publish("_dmarc.two.com", ["v=DMARC1; p=reject"])
        dns.publish("_dmarc.two.com", ["v=DMARC1; p=none"])
        #expect(await verdict("two.com", dns: dns).result == .none)
        dns.publish("_dmarc.broken.com", ["v=DMARC1; p=maybe"])
        #expect(await verdict("broken.com", dns: dns).result == .permerror)
    }

    @Test("policy looked up before the body: whether failing mail may be quarantined")
    func quarantinePossible() async {
        var dns = TXTTable()
        dns.publish("_dmarc.q.com", ["v=DMARC1; p=quarantine"])
        dns.publish("_dmarc.r.com", ["v=DMARC1; p=reject"])
        dns.publish("_dmarc.half.com", ["v=DMARC1; p=reject; pct=50"])
        dns.publish("_dmarc.n.com", ["v=DMARC1; p=none; sp=quarantine"])
        let check = DMARCCheck(suffixes: Self.suffixes)
        func may(_ domain: String, enforcing: Bool = true) async -> Bool {
            await check.policy(fromDomain: domain, resolver: dns).mayQuarantine(enforcingReject: enforcing)
        }
        #expect(await may("q.com"))
        #expect(await may("Q.COM."))
        #expect(!(await may("r.com")))
        #expect(await may("r.com", enforcing: false))
        #expect(await may("half.com"))
        #expect(!(await may("n.com")))
        #expect(await may("mail.n.com"))  // sp= for a subdomain
        #expect(!(await may("none.com")))
        // The verdict from a policy looked up early is the one looked up at the end.
        let policy = await check.policy(fromDomain: "mail.n.com", resolver: dns)
        #expect(policy.fromDomain == "mail.n.com" && policy.applied == .quarantine)
        let early = check.verdict(policy: policy, dkim: [], spf: nil, sample: 0)
        #expect(early == (await verdict("mail.n.com", sample: 0, dns: dns)))
        #expect(early.disposition == .quarantine)
    }

    @Test("Authentication-Results says dkim, spf and dmarc, each with its properties")
    func authenticationResults() {
        var signature = pass("example.com")
        signature.selector = "s1"
        signature.algorithm = "ed25519-sha256"
        var dmarc = DMARCVerdict(result: .fail, fromDomain: "example.com", reason: "neither DKIM nor SPF aligned with example.com")
        dmarc.appliedPolicy = .reject
        dmarc.disposition = .reject
        let field = AuthenticationResults(
            authservID: "mx.tern.test", dkim: [signature], spf: spf(.fail, "example.net"), dmarc: dmarc
        ).field
        #expect(field == """
            Authentication-Results: mx.tern.test;\r
            \tdkim=pass header.d=example.com header.s=s1 header.a=ed25519-sha256;\r
            \tspf=fail smtp.mailfrom=bounce@example.net;\r
            \tdmarc=fail (p=reject dis=reject) reason="neither DKIM nor SPF aligned with example.com" header.from=example.com\r

            """)
        #expect(AuthenticationResults(authservID: "mx", dkim: nil).field == "Authentication-Results: mx;\r\n\tnone\r\n")
    }

    @Test("an Authentication-Results claims Tern's name whatever its case, comments and folding")
    func claims() {
        for (text, claims) in [
            ("Authentication-Results: mx.tern.test; dkim=pass", true),
            ("Authentication-Results:   (c (nested)) MX.Tern.Test;\r\n dkim=pass", true),
            ("Authentication-Results: \"mx.tern.test\"; none", true),
            ("Authentication-Results: mx.tern.test.evil; dkim=pass", false),
            ("Authentication-Results: other.test; dkim=pass header.d=mx.tern.test", false),
            ("X-Authentication-Results: mx.tern.test; dkim=pass", false),
        ] {
            let fields = RawHeaderField.fields(of: Array((text + "\r\n").utf8))
            #expect(AuthenticationResults.claims(fields[0], authservID: "mx.tern.test") == claims, "\(text)")
        }
    }
}
