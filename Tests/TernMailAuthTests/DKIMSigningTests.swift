import Crypto
import CryptoExtras
import Foundation
import TernDNSCore
import TernMail
import Testing

@testable import TernMailAuth

/// DNS from a table, for the verifiers' lookups: records by name and type (CNAMEs not
/// followed), NXDOMAIN for a name with none, or a failure the way a resolver fails.
struct TXTTable: DNSResolving {
    var records: [String: [DNSRecordData]] = [:]
    var failures: [String: DNSError.Code] = [:]
    /// Every question asked, for tests that count lookups.
    let asked = QuestionLog()

    func lookup(_ name: DNSName, type: DNSRecordType) async throws -> DNSAnswer<[DNSResourceRecord]> {
        var key = name.description.lowercased()
        if key.hasSuffix(".") { key.removeLast() }
        asked.append("\(type) \(key)")
        if let code = failures[key] { throw DNSError(code, key) }
        guard let found = records[key] else { return .nameDoesNotExist(ttl: 0) }
        let matching = found.filter { $0.type == type }.map { DNSResourceRecord(name: name, ttl: 300, data: $0) }
        return matching.isEmpty ? .noData(ttl: 300) : .records(matching, ttl: 300)
    }

    mutating func publish(_ name: String, _ strings: [String]) {
        add(name, .txt(TXTRecord(strings)))
    }

    mutating func add(_ name: String, _ data: DNSRecordData) {
        records[name.lowercased(), default: []].append(data)
    }
}

/// The questions a `TXTTable` was asked.
final class QuestionLog: @unchecked Sendable {
    private let lock = NSLock()
    private var questions: [String] = []

    func append(_ question: String) { lock.withLock { questions.append(question) } }
    var all: [String] { lock.withLock { questions } }
}

/// The example of RFC 6376 Appendix A signed with ed25519-sha256 and rsa-sha256, as dkimpy's
/// test data carries it (rfc6376.signed.msg): the Ed25519 signature is RFC 8463 Appendix A.3's,
/// made with the key of A.2; the RSA one is dkimpy's, with its 1024-bit test key (test.txt).
enum DKIMExample {
    static let lines = [
        "DKIM-Signature: v=1; a=ed25519-sha256; c=simple/simple; ",
        " d=football.example.com; i=@football.example.com; ",
        " q=dns/txt; s=brisbane; t=1518460054; h=from : to : ",
        " subject : date : message-id : from : subject : date; ",
        " bh=4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=; ",
        " b=9/dsDChY0YMTtD5Eyw3wx7x22BlSJP7M5ECbJ7GWrR45nXlTCGb8l0YB",
        " o0wBLR++X5LqmsxXaOYLLJe46l10AQ==",
        "DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple; ",
        " d=football.example.com; i=@football.example.com; ",
        " q=dns/txt; s=test; t=1527915362; h=from : to : subject : ",
        " date : message-id : from : subject : date; ",
        " bh=4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=; ",
        " b=icKcLSEZYXJ95flvWE8FT6hl5iqd8MC/LEKYH0QjsqYy6MO/4pgVNCZH",
        " l/RAXAuADxE/40Fg7uTlxwwD1hjN2Ple6J//cJfslBdDOq6zTVbne1dqtl",
        " NOat7iamJ1AfRqyG+ja7a2AZsrpUuJ7VA6O+0zRYPqpwMEkEFIzI9i/Xk=",
        "From: Joe SixPack <joe@football.example.com>",
        "To: Suzie Q <suzie@shopping.example.net>",
        "Subject: Is dinner ready?",
        "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)",
        "Message-ID: <20030712040037.46341.5F8J@football.example.com>",
        "",
        "Hi.",
        "",
        "We lost the game.  Are you hungry yet?",
        "",
        "Joe.",
        "",
    ]

    static func message(_ lines: [String] = lines, lineEnd: String = "\r\n") -> [UInt8] {
        Array(lines.joined(separator: lineEnd).utf8) + Array(lineEnd.utf8)
    }

    /// RFC 8463 Appendix A.2's key.
    static let ed25519Record = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    /// 1024 bits: what verification must still accept (RFC 8301 §3.2).
    static let rsaRecord =
        "v=DKIM1; g=*; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"
    static let signedAt: Int64 = 1_527_915_362

    static var dns: TXTTable {
        var table = TXTTable()
        table.publish("brisbane._domainkey.football.example.com", [ed25519Record])
        // A long record split over strings, as DNS hosts publish RSA keys (§3.6.2.2).
        let rsa = Array(rsaRecord.utf8)
        table.publish(
            "test._domainkey.football.example.com",
            [String(decoding: rsa[..<100], as: UTF8.self), String(decoding: rsa[100...], as: UTF8.self)])
        return table
    }
}

/// Verifies `message` as the SMTP server does: header, body in chunks of `chunk` octets, keys.
func verifyDKIM(_ message: [UInt8], dns: TXTTable, now: Int64, chunk: Int = 7, limit: Int = 10) async -> [DKIMResult] {
    let (header, body) = RawHeaderField.split(message: message)
    var verification = DKIMVerification(header: header, limit: limit)
    var start = body.startIndex
    while start < body.endIndex {
        let end = min(start + chunk, body.endIndex)
        verification.updateBody(body[start..<end])
        start = end
    }
    verification.finishBody()
    return await verification.verify(now: now, resolver: dns)
}

@Suite("DKIM signing and verification (RFC 6376 §5, §6; RFC 8463)")
struct DKIMSigningTests {
    @Test("the RFC example signed by dkimpy verifies: ed25519 and a 1024-bit RSA key, CRLF or LF")
    func exampleVerifies() async {
        for lineEnd in ["\r\n", "\n"] {
            let results = await verifyDKIM(DKIMExample.message(lineEnd: lineEnd), dns: DKIMExample.dns, now: DKIMExample.signedAt + 60)
            #expect(results.map(\.result) == [.pass, .pass])
            #expect(results.map(\.algorithm) == ["ed25519-sha256", "rsa-sha256"])
            #expect(results.map(\.selector) == ["brisbane", "test"])
            #expect(results.map(\.domain) == ["football.example.com", "football.example.com"])
            #expect(results.map(\.keyBits) == [256, 1024])
            #expect(results.map(\.signaturePrefix) == ["9/dsDChY", "icKcLSEZ"])
        }
    }

    @Test("a changed header or body fails, each signature on its own")
    func tamperingFails() async {
        var lines = DKIMExample.lines
        lines[17] = "Subject: Is dinner ready??"
        #expect(await verifyDKIM(DKIMExample.message(lines), dns: DKIMExample.dns, now: DKIMExample.signedAt).map(\.reason)
            == ["signature did not verify", "signature did not verify"])
        lines = DKIMExample.lines
        lines[23] = "We won the game.  Are you hungry yet?"
        #expect(await verifyDKIM(DKIMExample.message(lines), dns: DKIMExample.dns, now: DKIMExample.signedAt).map(\.reason)
            == ["body hash did not verify", "body hash did not verify"])
        // A field the signer did not sign may be added...
        lines = DKIMExample.lines
        lines.insert("X-Added: fine", at: 20)
        #expect(await verifyDKIM(DKIMExample.message(lines), dns: DKIMExample.dns, now: DKIMExample.signedAt).map(\.result) == [.pass, .pass])
        // ...but a second From, Subject or Date is: h= lists each once more than the message had.
        lines = DKIMExample.lines
        lines.insert("From: Mallory <m@evil.example>", at: 20)
        #expect(await verifyDKIM(DKIMExample.message(lines), dns: DKIMExample.dns, now: DKIMExample.signedAt).map(\.result) == [.fail, .fail])
    }

    @Test("keys: missing, revoked, of the wrong type, a DNS failure, a record that is not a key")
    func keyProblems() async {
        let message = DKIMExample.message()
        let now = DKIMExample.signedAt
        var dns = TXTTable()
        #expect(await verifyDKIM(message, dns: dns, now: now).map(\.result) == [.permerror, .permerror])
        dns.publish("brisbane._domainkey.football.example.com", ["v=DKIM1; k=ed25519; p="])
        dns.publish("test._domainkey.football.example.com", ["v=DKIM1; k=ed25519; p=yi50DjK5O9pqbFpNHklsv9lqaS0ArSYu02qp1S0DW1Y="])
        let results = await verifyDKIM(message, dns: dns, now: now)
        #expect(results.map(\.reason) == ["key revoked", "key is not for rsa-sha256"])
        dns = TXTTable()
        dns.failures["brisbane._domainkey.football.example.com"] = .timeout
        dns.publish("test._domainkey.football.example.com", ["google-site-verification=abc"])
        dns.publish("test._domainkey.football.example.com", [DKIMExample.rsaRecord])
        // A timeout is temporary; of two records at a name, the one that is a key is used.
        #expect(await verifyDKIM(message, dns: dns, now: now).map(\.result) == [.temperror, .pass])
    }

    @Test("t= and x=: expired and future signatures are refused")
    func signatureTimes() async throws {
        let key = DKIMPrivateKey.generateEd25519()
        var dns = TXTTable()
        dns.publish("s1._domainkey.example.org", [key.keyRecord])
        let signer = DKIMSigner(domain: "example.org", keys: [.init(selector: "s1", privateKey: key)], validity: 3600)
        let message = try signer.sign(message: Array("From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n".utf8), now: 1_000_000)
        #expect(await verifyDKIM(message, dns: dns, now: 1_000_000 + 3600).map(\.result) == [.pass])
        #expect(await verifyDKIM(message, dns: dns, now: 1_000_000 + 3601).map(\.reason) == ["signature expired"])
        #expect(await verifyDKIM(message, dns: dns, now: 1_000_000 - 301).map(\.reason) == ["signature timestamp in the future"])
        #expect(await verifyDKIM(message, dns: dns, now: 1_000_000 - 300).map(\.result) == [.pass])
    }

    @Test("Tern's own signatures: ed25519 and RSA side by side, relaxed, oversigned, l= absent")
    func signAndVerify() async throws {
        let ed = DKIMPrivateKey.generateEd25519()
        let rsa = try DKIMPrivateKey.generateRSA(bits: 2048)
        var dns = TXTTable()
        dns.publish("ed._domainkey.example.org", [ed.keyRecord])
        // RSA-2048's record is longer than one 255-octet string.
        let record = Array(rsa.keyRecord.utf8)
        dns.publish("rsa._domainkey.example.org", [String(decoding: record[..<255], as: UTF8.self), String(decoding: record[255...], as: UTF8.self)])
        let signer = DKIMSigner(
            domain: "Example.ORG", keys: [.init(selector: "ed", privateKey: ed), .init(selector: "rsa", privateKey: rsa)])
        let original = Array(
            "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject:  lunch \r\n\tplans\r\nX-Mailer: x\r\n\r\nsee you  \r\nat noon\r\n\r\n\r\n".utf8)
        let signed = try signer.sign(message: original, now: 1_700_000_000)
        #expect(Array(signed.suffix(original.count)) == original)
        let results = await verifyDKIM(signed, dns: dns, now: 1_700_000_100)
        #expect(results.map(\.result) == [.pass, .pass])
        #expect(results.map(\.keyBits) == [256, 2048])
        let header = String(decoding: RawHeaderField.split(message: signed).header, as: UTF8.self)
        let fields = RawHeaderField.fields(of: RawHeaderField.split(message: signed).header)
        let first = try DKIMSignatureFields(value: fields[0].value)
        #expect(first.signedHeaders == ["from", "from", "subject", "subject", "date", "to", "to"])
        #expect(first.headerCanonicalization == .relaxed && first.bodyCanonicalization == .relaxed)
        #expect(first.timestamp == 1_700_000_000 && first.expiration == nil && first.bodyLength == nil)
        // Every line of the new fields fits in 78 characters (RFC 5322 §2.1.1).
        #expect(header.split(separator: "\r\n").allSatisfy { $0.utf8.count <= 78 })
        // Relaxed survives what relays do: refolding a header, trailing whitespace in the body.
        let relayed = String(decoding: signed, as: UTF8.self)
            .replacingOccurrences(of: "Subject:  lunch \r\n\tplans", with: "Subject: lunch plans")
            .replacingOccurrences(of: "at noon\r\n", with: "at noon \r\n")
        #expect(await verifyDKIM(Array(relayed.utf8), dns: dns, now: 1_700_000_100).map(\.result) == [.pass, .pass])
    }

    @Test("l= is honoured and what lies past it reported; a body cut short fails")
    func bodyLength() async throws {
        let key = DKIMPrivateKey.generateEd25519()
        var dns = TXTTable()
        dns.publish("s._domainkey.example.org", [key.keyRecord])
        let body = Array("first line\r\n".utf8)
        var hash = DKIMBodyHash(.relaxed)
        hash.update(body)
        let tags: [(String, String)] = [
            ("v", "1"), ("a", "ed25519-sha256"), ("c", "relaxed/relaxed"), ("d", "example.org"), ("s", "s"),
            ("l", "12"), ("h", "from"), ("bh", Base64.encode(hash.finalize())), ("b", ""),
        ]
        let header = Array("From: a@example.org\r\n".utf8)
        let selected = DKIMHeaderSelection.select(["from"], from: RawHeaderField.fields(of: header))
        let digest = DKIMHeaderHash.digest(selected: selected, signatureField: DKIMSigner.render(tags), canonicalization: .relaxed)
        var signedTags = tags
        signedTags[8].1 = Base64.encode(try key.sign(digest))
        let signed = DKIMSigner.render(signedTags) + header + Array("\r\n".utf8)
        let whole = await verifyDKIM(signed + body, dns: dns, now: 0)
        #expect(whole.map(\.result) == [.pass])
        #expect(whole.first?.unsignedBodyOctets == 0)
        let appended = await verifyDKIM(signed + body + Array("unsigned advert\r\n".utf8), dns: dns, now: 0)
        #expect(appended.map(\.result) == [.pass])
        #expect(appended.first?.unsignedBodyOctets == 17)
        #expect(await verifyDKIM(signed + Array("first\r\n".utf8), dns: dns, now: 0).map(\.reason) == ["body shorter than l="])
    }

    @Test("unusable signatures are permerror with what could be read, and only `limit` are looked at")
    func unusableAndLimit() async {
        var lines = DKIMExample.lines
        lines.insert("DKIM-Signature: v=1; a=rsa-sha1; d=bad.example; s=x; h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA", at: 0)
        let results = await verifyDKIM(DKIMExample.message(lines), dns: DKIMExample.dns, now: DKIMExample.signedAt)
        #expect(results.map(\.result) == [.permerror, .pass, .pass])
        #expect(results.first?.domain == "bad.example")
        #expect(results.first?.reason == "rsa-sha1 is not accepted (RFC 8301)")
        #expect(await verifyDKIM(DKIMExample.message(lines), dns: DKIMExample.dns, now: DKIMExample.signedAt, limit: 2).count == 2)
        #expect(await verifyDKIM(Array("From: a@b\r\n\r\nx\r\n".utf8), dns: DKIMExample.dns, now: 0).isEmpty)
    }

    @Test("hostile: an h= of 10,000 names, a body of 50 MB, a header of 2,000 signatures: bounded work")
    func hostile() async throws {
        let key = DKIMPrivateKey.generateEd25519()
        var dns = TXTTable()
        dns.publish("s._domainkey.example.org", [key.keyRecord])
        var signer = DKIMSigner(domain: "example.org", keys: [.init(selector: "s", privateKey: key)])
        // 10,000 names in h=, most of them absent from the header: each selects nothing.
        signer.signedFields = ["From"] + (0..<10_000).map { "X-Absent-\($0)" }
        signer.oversignedFields = signer.signedFields
        let small = try signer.sign(message: Array("From: a@example.org\r\n\r\nhi\r\n".utf8), now: 1_000)
        #expect(try DKIMSignatureFields(value: RawHeaderField.fields(of: RawHeaderField.split(message: small).header)[0].value)
            .signedHeaders.count == 10_002)
        #expect(await verifyDKIM(small, dns: dns, now: 1_000).map(\.result) == [.pass])

        // 50 MB, streamed in 64 KB chunks as the intake feeds it; one hash, whatever the size.
        let line = Array(String(repeating: "x", count: 78).utf8) + [0x0D, 0x0A]
        var body: [UInt8] = []
        body.reserveCapacity(50 * 1024 * 1024 + 80)
        while body.count < 50 * 1024 * 1024 { body += line }
        let plain = Array("From: a@example.org\r\nSubject: big\r\n\r\n".utf8) + body
        let big = try DKIMSigner(domain: "example.org", keys: [.init(selector: "s", privateKey: key)]).sign(message: plain, now: 1_000)
        #expect(await verifyDKIM(big, dns: dns, now: 1_000, chunk: 65_536).map(\.result) == [.pass])

        // 2,000 signatures: only the first `limit` are read, hashed or looked up.
        let forged = String(repeating: "DKIM-Signature: v=1; a=rsa-sha256; d=x.example; s=s; h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n", count: 2_000)
        let results = await verifyDKIM(Array((forged + "From: a@example.org\r\n\r\nbody\r\n").utf8), dns: dns, now: 1_000)
        #expect(results.count == DKIMVerification.defaultSignatureLimit)
        #expect(dns.asked.all.filter { $0.contains("x.example") }.count == 1)
    }

    @Test("h= selects fields bottom-up, and a name listed too often selects nothing")
    func headerSelection() {
        let fields = RawHeaderField.fields(of: Array("Received: 1\r\nTo: a\r\nReceived: 2\r\nFrom : x\r\n y\r\ngarbage\r\n".utf8))
        #expect(fields.map(\.lowercasedName) == ["received", "to", "received", "from"])
        #expect(fields[3].octets == Array("From : x\r\n y\r\n".utf8))
        let selected = DKIMHeaderSelection.select(["Received", "from", "RECEIVED", "received", "cc"], from: fields)
        #expect(selected.map { $0.map { String(decoding: $0.octets, as: UTF8.self) } } == [
            "Received: 2\r\n", "From : x\r\n y\r\n", "Received: 1\r\n", nil, nil,
        ])
    }

    @Test("b= is emptied with its whitespace, everything else kept as written (§3.7)")
    func signatureValueRemoved() {
        let field = Array("DKIM-Signature: v=1; bh=abc=;\r\n b = ab\r\n  cd ; d=x\r\n".utf8)
        #expect(String(decoding: DKIMHeaderHash.removingSignatureValue(field), as: UTF8.self) == "DKIM-Signature: v=1; bh=abc=;\r\n b =; d=x\r\n")
        let last = Array("DKIM-Signature: a=1; b=xyz".utf8)
        #expect(String(decoding: DKIMHeaderHash.removingSignatureValue(last), as: UTF8.self) == "DKIM-Signature: a=1; b=")
    }

    @Test("private keys round-trip through PEM; openssl's PKCS#1 RSA form reads; sizes are bounded")
    func keyFiles() throws {
        let ed = DKIMPrivateKey.generateEd25519()
        let pem = ed.pemRepresentation
        #expect(pem.hasPrefix("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"))
        #expect(try DKIMPrivateKey(pem: pem).publicKeyData == ed.publicKeyData)
        let rsa = try DKIMPrivateKey.generateRSA(bits: 2048)
        #expect(try DKIMPrivateKey(pem: rsa.pemRepresentation).publicKeyData == rsa.publicKeyData)
        #expect(rsa.keyRecord.hasPrefix("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"))
        #expect(throws: DKIMPrivateKey.Unusable.self) { try DKIMPrivateKey.generateRSA(bits: 1000) }
        #expect(throws: DKIMPrivateKey.Unusable.self) { try DKIMPrivateKey(pem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n") }
    }

    @Test("an RSA key published as a bare PKCS#1 RSAPublicKey is read too")
    func pkcs1PublicKey() throws {
        let rsa = try DKIMPrivateKey.generateRSA(bits: 2048)
        guard case .rsa(let key) = rsa.material else { Issue.record("not RSA"); return }
        let record = try DKIMKeyRecord(txt: Array("k=rsa; p=\(Base64.encode(Array(key.publicKey.pkcs1DERRepresentation)))".utf8))
        let publicKey = try DKIMPublicKey(record: record, algorithm: .rsaSHA256)
        #expect(publicKey.bits == 2048)
    }
}
