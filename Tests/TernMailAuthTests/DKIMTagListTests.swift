import TernMail
import Testing

@testable import TernMailAuth

@Suite("DKIM tag lists, signature fields and key records (RFC 6376 §3.2, §3.5, §3.6.1)")
struct DKIMTagListTests {
    private func tags(_ text: String) throws -> DKIMTagList { try DKIMTagList(Array(text.utf8)) }

    private func signature(_ text: String) throws(DKIMSignatureFields.Unusable) -> DKIMSignatureFields {
        try DKIMSignatureFields(value: Array(text.utf8))
    }

    /// The Ed25519 signature of RFC 8463's example message, as dkimpy's tests carry it.
    static let ed25519Signature = """
        v=1; a=ed25519-sha256; c=simple/simple; \r
         d=football.example.com; i=@football.example.com; \r
         q=dns/txt; s=brisbane; t=1518460054; h=from : to : \r
         subject : date : message-id : from : subject : date; \r
         bh=4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=; \r
         b=9/dsDChY0YMTtD5Eyw3wx7x22BlSJP7M5ECbJ7GWrR45nXlTCGb8l0YB\r
         o0wBLR++X5LqmsxXaOYLLJe46l10AQ==
        """

    @Test("tags: folded whitespace around names and values, a trailing ';', names case-sensitive")
    func tagList() throws {
        let list = try tags(" a = 1 ;\r\n\tB=two words\r\n  folded ; c=;")
        #expect(list.tags.map(\.name) == ["a", "B", "c"])
        #expect(list["a"] == "1")
        #expect(list["B"] == "two words\r\n  folded")
        #expect(list["b"] == nil)
        #expect(list["c"] == "")
        #expect(try tags("").tags.isEmpty)
        #expect(try tags("  ").tags.isEmpty)
    }

    @Test("malformed tag lists are refused", arguments: [
        "a=1; a=2", "=1", "1a=x", "a b=1", "a", "a=1;;b=2", "a=\u{7F}", "a=é", "a_-=1",
    ])
    func malformedTagLists(_ text: String) {
        #expect(throws: DKIMTagList.Malformed.self) { try tags(text) }
    }

    @Test("the RFC 8463 signature reads as written")
    func ed25519Signature() throws {
        let fields = try signature(Self.ed25519Signature)
        #expect(fields.algorithm == .ed25519SHA256)
        #expect(fields.domain == "football.example.com")
        #expect(fields.selector == "brisbane")
        #expect(fields.identity == "@football.example.com")
        #expect(fields.headerCanonicalization == .simple && fields.bodyCanonicalization == .simple)
        #expect(fields.signedHeaders == ["from", "to", "subject", "date", "message-id", "from", "subject", "date"])
        #expect(fields.timestamp == 1_518_460_054 && fields.expiration == nil && fields.bodyLength == nil)
        #expect(fields.signature.count == 64)
        #expect(Base64.encode(fields.bodyHash) == "4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=")
    }

    @Test("c= defaults: simple/simple when absent, a lone header algorithm means simple body")
    func canonicalizationDefaults() throws {
        let base = "v=1; a=rsa-sha256; d=example.test; s=s1; h=From; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"
        let absent = try signature(base)
        #expect(absent.headerCanonicalization == .simple && absent.bodyCanonicalization == .simple)
        let lone = try signature(base + "; c=Relaxed")
        #expect(lone.headerCanonicalization == .relaxed && lone.bodyCanonicalization == .simple)
        #expect(absent.identity == "@example.test")
        #expect(try signature(base + "; l=0000000000000000000000000000000000000000000000000000000000000000000000000012").bodyLength == 12)
        #expect(try signature(base + "; l=99999999999999999999999").bodyLength == Int.max)
    }

    @Test("signatures §6.1.1 refuses before any key is fetched", arguments: [
        ("no v=", "a=rsa-sha256; d=example.test; s=s1; h=From; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"),
        ("v=2", "v=2; a=rsa-sha256; d=example.test; s=s1; h=From; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"),
        ("rsa-sha1", "v=1; a=rsa-sha1; d=example.test; s=s1; h=From; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"),
        ("From unsigned", "v=1; a=rsa-sha256; d=example.test; s=s1; h=To:Subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"),
        ("i= outside d=", "v=1; a=rsa-sha256; d=example.test; i=a@example.org; s=s1; h=From; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"),
        ("i= a suffix but no subdomain", "v=1; a=rsa-sha256; d=example.test; i=a@badexample.test; s=s1; h=From; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"),
        ("x= before t=", "v=1; a=rsa-sha256; d=example.test; s=s1; h=From; t=200; x=100; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"),
        ("t= of 13 digits", "v=1; a=rsa-sha256; d=example.test; s=s1; h=From; t=1000000000000; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"),
        ("bh= not a digest", "v=1; a=rsa-sha256; d=example.test; s=s1; h=From; bh=AAAA; b=AAAA"),
        ("b= not base64", "v=1; a=rsa-sha256; d=example.test; s=s1; h=From; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=A*AA"),
        ("l= not a number", "v=1; a=rsa-sha256; d=example.test; s=s1; h=From; l=-1; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"),
        ("c= unknown", "v=1; a=rsa-sha256; c=loose; d=example.test; s=s1; h=From; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"),
        ("q= unknown", "v=1; a=rsa-sha256; q=http; d=example.test; s=s1; h=From; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"),
        ("d= not a name", "v=1; a=rsa-sha256; d=exa mple..test; s=s1; h=From; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"),
        ("a tag twice", "v=1; v=1; a=rsa-sha256; d=example.test; s=s1; h=From; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"),
    ])
    func unusableSignatures(_ reason: String, _ text: String) {
        #expect(throws: DKIMSignatureFields.Unusable.self, "\(reason)") { try signature(text) }
    }

    @Test("key records: RFC 8463's Ed25519 key, an RSA key by default, revoked, testing and strict")
    func keyRecords() throws {
        let ed25519 = try DKIMKeyRecord(txt: Array("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=".utf8))
        #expect(ed25519.keyType == "ed25519" && ed25519.publicKey.count == 32)
        #expect(ed25519.accepts(.ed25519SHA256) && !ed25519.accepts(.rsaSHA256))
        let rsa = try DKIMKeyRecord(txt: Array("p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB; h=sha256".utf8))
        #expect(rsa.keyType == "rsa" && rsa.accepts(.rsaSHA256) && !rsa.isRevoked)
        let sha1Only = try DKIMKeyRecord(txt: Array("k=rsa; h=sha1; p=AAAA".utf8))
        #expect(!sha1Only.accepts(.rsaSHA256))
        let revoked = try DKIMKeyRecord(txt: Array("v=DKIM1; p=".utf8))
        #expect(revoked.isRevoked)
        let flagged = try DKIMKeyRecord(txt: Array("p=AAAA; t=y:s; s=email".utf8))
        #expect(flagged.testing && flagged.strict)
    }

    @Test("key records refused", arguments: [
        "k=rsa", "v=DKIM2; p=AAAA", "p=AAAA; v=DKIM1", "v=DKIM1: g=*; k=rsa; p=AAAA", "p=AAAA; s=tlsrpt", "p=A A=A",
    ])
    func unusableKeyRecords(_ text: String) {
        #expect(throws: DKIMKeyRecord.Unusable.self) { try DKIMKeyRecord(txt: Array(text.utf8)) }
    }
}
