// DKIM (RFC 6376, RFC 8463) per message, as the intake does it: signing a submission with an
// Ed25519 and an RSA-2048 key (body hash, header hash, two signatures), and checking those two
// signatures on arrival (body hash, header hash, two verifications; the key records come from a
// table, so no DNS is timed). Messages of 10 KB and 1 MB; the body is fed in 64 KB chunks, as the
// SMTP session hands it over.
import Benchmark
import MicroSupport
import TernDNSCore
import TernMailAuth

/// Key records by name, for the verifier's lookups.
struct KeyTable: DNSResolving {
    var records: [String: TXTRecord]

    func lookup(_ name: DNSName, type: DNSRecordType) async throws -> DNSAnswer<[DNSResourceRecord]> {
        var key = name.description.lowercased()
        if key.hasSuffix(".") { key.removeLast() }
        guard let record = records[key] else { return .nameDoesNotExist(ttl: 0) }
        return .records([DNSResourceRecord(name: name, ttl: 300, data: .txt(record))], ttl: 300)
    }
}

/// A plain-text message of about `size` octets: a real header, then 76-octet lines.
func message(size: Int) -> [UInt8] {
    var text = """
        From: Alice <alice@example.org>\r
        To: Bob <bob@example.net>\r
        Subject: The quarterly figures\r
        Date: Mon, 07 Dec 2026 18:00:00 +0000\r
        Message-ID: <figures.1@example.org>\r
        MIME-Version: 1.0\r
        Content-Type: text/plain; charset=utf-8\r
        \r

        """
    let line = String(repeating: "figures and more figures ", count: 3).prefix(74) + "\r\n"
    while text.utf8.count < size { text += line }
    return Array(text.utf8)
}

func split(_ message: [UInt8]) -> (header: ArraySlice<UInt8>, body: ArraySlice<UInt8>) {
    RawHeaderField.split(message: message)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .micro()
    let ed = DKIMPrivateKey.generateEd25519()
    let rsa = try! DKIMPrivateKey.generateRSA(bits: 2048)
    let signer = DKIMSigner(
        domain: "example.org", keys: [.init(selector: "ed", privateKey: ed), .init(selector: "rsa", privateKey: rsa)])
    let keys = KeyTable(records: [
        "ed._domainkey.example.org": TXTRecord([ed.keyRecord]),
        "rsa._domainkey.example.org": TXTRecord(stride(from: 0, to: rsa.keyRecord.utf8.count, by: 255).map {
            String(decoding: Array(rsa.keyRecord.utf8)[$0..<min($0 + 255, rsa.keyRecord.utf8.count)], as: UTF8.self)
        }),
    ])

    for (label, size) in [("10 KB", 10 * 1024), ("1 MB", 1024 * 1024)] {
        let plain = message(size: size)
        let (header, body) = split(plain)
        let signed = try! signer.sign(message: plain, now: 1_796_000_000)
        let (signedHeader, signedBody) = split(signed)

        Benchmark("DKIM sign, ed25519 + rsa-2048, \(label)") { benchmark in
            for _ in benchmark.scaledIterations {
                var hash = DKIMSigner.bodyHash()
                var start = body.startIndex
                while start < body.endIndex {
                    let end = min(start + 65_536, body.endIndex)
                    hash.update(body[start..<end])
                    start = end
                }
                blackHole(try! signer.signatures(header: header, bodyHash: hash.finalize(), now: 1_796_000_000))
            }
        }

        Benchmark("DKIM verify, ed25519 + rsa-2048, \(label)") { benchmark in
            for _ in benchmark.scaledIterations {
                var verification = DKIMVerification(header: signedHeader)
                var start = signedBody.startIndex
                while start < signedBody.endIndex {
                    let end = min(start + 65_536, signedBody.endIndex)
                    verification.updateBody(signedBody[start..<end])
                    start = end
                }
                verification.finishBody()
                let results = await verification.verify(now: 1_796_000_100, resolver: keys)
                precondition(results.allSatisfy { $0.result == .pass }, "the fixture verifies")
                blackHole(results)
            }
        }
    }
}
