public import Crypto

/// What a DKIM signature signs (RFC 6376 §3.7): the header fields `h=` selects, each
/// canonicalized, then the DKIM-Signature field itself, canonicalized with the value of its
/// `b=` tag removed and without its final CRLF. The signature covers the SHA-256 of that
/// (rsa-sha256 signs the digest with PKCS#1 v1.5; ed25519-sha256 signs the 32 octets of the
/// digest, RFC 8463 §3).
public enum DKIMHeaderHash {
    public static func digest(
        selected: [RawHeaderField?], signatureField: [UInt8], canonicalization: DKIMCanonicalization
    ) -> SHA256.Digest {
        var hash = SHA256()
        for case let field? in selected {
            hash.update(data: canonicalization.canonicalizeHeader(field.octets))
        }
        var signature = canonicalization.canonicalizeHeader(removingSignatureValue(signatureField))
        // "... MUST NOT be included ... the trailing CRLF" (§3.7).
        if signature.count >= 2, signature[signature.count - 2] == 0x0D, signature.last == 0x0A {
            signature.removeLast(2)
        }
        hash.update(data: signature)
        return hash.finalize()
    }

    /// The field with every octet of its `b=` tag's value removed, "including all surrounding
    /// whitespace" (§3.7); the rest, folding included, as it was. The field keeps a final CRLF if
    /// it had one.
    public static func removingSignatureValue(_ field: [UInt8]) -> [UInt8] {
        guard let colon = field.firstIndex(of: UInt8(ascii: ":")) else { return field }
        var end = field.endIndex
        if end >= colon + 3, field[end - 2] == 0x0D, field[end - 1] == 0x0A { end -= 2 }
        var out = Array(field[...colon])
        var start = colon + 1
        while start <= end {
            let stop = field[start..<end].firstIndex(of: UInt8(ascii: ";")) ?? end
            let spec = field[start..<stop]
            if let equals = spec.firstIndex(of: UInt8(ascii: "=")),
                spec[..<equals].filter({ !DKIMTagList.isFWSOctet($0) }) == [UInt8(ascii: "b")]
            {
                out.append(contentsOf: spec[...equals])
            } else {
                out.append(contentsOf: spec)
            }
            if stop < end { out.append(UInt8(ascii: ";")) }
            start = stop + 1
        }
        out.append(contentsOf: field[end...])
        return out
    }
}
