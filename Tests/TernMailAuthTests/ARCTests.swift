import Foundation
import Testing

@testable import TernMailAuth

/// ARC (RFC 8617): chains of one to three hops sealed by `ARCSealer` and validated by
/// `ARCVerification`, and every way §5.2 says a chain breaks.
@Suite("ARC (RFC 8617)")
struct ARCTests {
    static let now: Int64 = 1_800_000_000
    static let message = Array(
        "From: Dee <dee@origin.example>\r\nTo: list@a.example\r\nSubject: hops\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@origin.example>\r\n\r\nThe body.\r\n"
            .utf8)

    /// Three sealers, each with its key published; RSA for the first (what every validator
    /// knows), Ed25519 for the others (Tern validates both).
    struct World {
        var dns = TXTTable()
        var sealers: [ARCSealer] = []

        init() throws {
            for (index, domain) in ["a.example", "b.example", "c.example"].enumerated() {
                let key = index == 0 ? try DKIMPrivateKey.generateRSA(bits: 2048) : DKIMPrivateKey.generateEd25519()
                dns.publish("arc._domainkey.\(domain)", [key.keyRecord])
                sealers.append(ARCSealer(domain: domain, selector: "arc", key: key))
            }
        }
    }

    /// One hop: the sealer validates what arrived, adds a trace field as an MTA would, then seals.
    static func hop(_ message: [UInt8], sealer: ARCSealer, dns: TXTTable) async throws -> [UInt8]? {
        let arrived = await validate(message, dns: dns)
        let traced = Array("Received: from somewhere by \(sealer.domain); Mon, 7 Dec 2026 10:00:00 +0000\r\n".utf8) + message
        let (header, body) = RawHeaderField.split(message: traced)
        var hash = DKIMSigner.bodyHash()
        hash.update(body)
        let results = "spf=pass smtp.mailfrom=dee@origin.example; arc=\(arrived.status.rawValue)"
        guard let set = try sealer.seal(
            header: header, bodyHash: hash.finalize(), authservID: "mx.\(sealer.domain)", results: results,
            chain: arrived.status, now: now)
        else { return nil }
        return set + traced
    }

    static func validate(_ message: [UInt8], dns: TXTTable) async -> ARCResult {
        let (header, body) = RawHeaderField.split(message: message)
        var verification = ARCVerification(fields: RawHeaderField.fields(of: header))
        verification.updateBody(body)
        verification.finishBody()
        return await verification.verify(now: now, resolver: dns)
    }

    @Test("one, two and three hops validate; each seal says cv=none, then pass")
    func hops() async throws {
        let world = try World()
        #expect(await Self.validate(Self.message, dns: world.dns) == ARCResult(status: .none))
        var message = Self.message
        for (index, sealer) in world.sealers.enumerated() {
            message = try #require(try await Self.hop(message, sealer: sealer, dns: world.dns))
            let result = await Self.validate(message, dns: world.dns)
            #expect(result.status == .pass, "\(result)")
            #expect(result.instances == index + 1)
            #expect(result.sealers == Array(["a.example", "b.example", "c.example"].prefix(index + 1)))
        }
        let text = String(decoding: message, as: UTF8.self)
        #expect(text.hasPrefix("ARC-Seal: i=3; a=ed25519-sha256; t=1800000000; cv=pass; d=c.example; s=arc;"))
        #expect(text.contains("ARC-Seal: i=1; a=rsa-sha256; t=1800000000; cv=none; d=a.example; s=arc;"))
        #expect(text.contains("ARC-Authentication-Results: i=2; mx.b.example;\r\n\tspf=pass smtp.mailfrom=dee@origin.example; arc=pass\r\n"))
        // DNS is asked once per sealer's key, though the newest sealer signed two fields.
        var counting = TXTTable()
        counting.records = world.dns.records
        #expect(await Self.validate(message, dns: counting).status == .pass)
        #expect(counting.asked.all.sorted() == ["a.example", "b.example", "c.example"].map { "TXT arc._domainkey.\($0)" })
    }

    @Test("a changed body, a changed older set, a missing field, a duplicate, a seal with the wrong cv: fail")
    func broken() async throws {
        let world = try World()
        var message = Self.message
        for sealer in world.sealers.prefix(2) {
            message = try #require(try await Self.hop(message, sealer: sealer, dns: world.dns))
        }
        #expect(await Self.validate(message, dns: world.dns).status == .pass)
        let text = String(decoding: message, as: UTF8.self)
        func result(_ changed: String) async -> ARCResult { await Self.validate(Array(changed.utf8), dns: world.dns) }

        let body = await result(text.replacingOccurrences(of: "The body.", with: "The body!"))
        #expect(body.status == .fail && body.reason == "ARC-Message-Signature i=2: body hash did not verify")
        // The newest AMS does not sign the older set; the newest seal does.
        let older = await result(text.replacingOccurrences(of: "i=1; mx.a.example;", with: "i=1; mx.evil.example;"))
        #expect(older.status == .fail && older.reason == "ARC-Seal i=2 did not verify")
        let missing = await result(text.replacingOccurrences(of: "ARC-Authentication-Results: i=1;", with: "X-Gone: i=1;"))
        #expect(missing.status == .fail && missing.reason == "ARC set i=1 is incomplete")
        let doubled = text.replacingOccurrences(of: "ARC-Authentication-Results: i=2;", with: "ARC-Authentication-Results: i=1;")
        #expect(await result(doubled).reason == "two arc-authentication-results fields with i=1")
        let outOfRange = await result(text.replacingOccurrences(of: "ARC-Seal: i=2;", with: "ARC-Seal: i=51;"))
        #expect(outOfRange.status == .fail)
        // A key that is gone.
        var gone = world.dns
        gone.records["arc._domainkey.a.example"] = nil
        #expect(await Self.validate(message, dns: gone).reason == "ARC-Seal i=1: no key record")
    }

    @Test("a chain found broken is sealed with cv=fail once, then never again; a seal saying fail fails the chain")
    func failedChains() async throws {
        let world = try World()
        var message = try #require(try await Self.hop(Self.message, sealer: world.sealers[0], dns: world.dns))
        // Changed in transit after the first hop: the second sealer finds the chain broken.
        message = Array(String(decoding: message, as: UTF8.self).replacingOccurrences(of: "The body.", with: "Changed.").utf8)
        message = try #require(try await Self.hop(message, sealer: world.sealers[1], dns: world.dns))
        #expect(String(decoding: message, as: UTF8.self).hasPrefix("ARC-Seal: i=2; a=ed25519-sha256; t=1800000000; cv=fail;"))
        let result = await Self.validate(message, dns: world.dns)
        #expect(result.status == .fail && result.reason == "ARC-Seal i=2 says the chain failed")
        #expect(try await Self.hop(message, sealer: world.sealers[2], dns: world.dns) == nil)
    }

    @Test("Authentication-Results says arc=, and Tern's own field is read back for the next hop")
    func authenticationResults() {
        var results = AuthenticationResults(authservID: "mx.b.example", dkim: [])
        results.arc = ARCResult(status: .pass, instances: 2, sealers: ["a.example", "b.example"])
        let field = results.field
        #expect(field == "Authentication-Results: mx.b.example;\r\n\tdkim=none;\r\n\tarc=pass (i=2 a.example b.example)\r\n")
        let fields = [
            RawHeaderField(name: "Authentication-Results", value: "other.example; arc=fail"),
            RawHeaderField(octets: Array(field.utf8), lowercasedName: "authentication-results"),
        ]
        let own = AuthenticationResults.own(in: fields, authservID: "MX.B.EXAMPLE")
        #expect(own?.results == "dkim=none; arc=pass (i=2 a.example b.example)")
        #expect(own?.arc == .pass)
        #expect(AuthenticationResults.own(in: [fields[0]], authservID: "mx.b.example") == nil)
        results.arc = ARCResult(status: .fail, reason: "ARC-Seal i=1 did not verify", instances: 1, sealers: ["a.example"])
        #expect(results.field.contains("arc=fail (i=1 a.example) reason=\"ARC-Seal i=1 did not verify\""))
    }
}
