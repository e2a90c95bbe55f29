import TernMailAuth

/// Mail authentication: what any sender controls (a message's DKIM-Signature fields, its
/// header and body) and what any domain's DNS answers (key records).
enum MailAuthTargets {
    /// The input as a DKIM-Signature value, as a key record, as a header field and as a body:
    /// every reading returns or refuses; the body canonicalizes to the same octets whichever
    /// way it is split into chunks, with no empty line at its end and, under relaxed, no run
    /// of whitespace and none at a line's end.
    static let dkim = FuzzTarget(
        name: "dkim",
        summary: "DKIM: tag lists, signature fields, key records, header and body canonicalization",
        maximumLength: 16 * 1024
    ) { bytes in
        if let list = try? DKIMTagList(bytes) {
            fuzzCheck(Set(list.tags.map(\.name)).count == list.tags.count, "a tag twice in a parsed list")
        }
        _ = try? DKIMSignatureFields(value: bytes)
        if let record = try? DKIMKeyRecord(txt: bytes) {
            _ = DKIMSignatureFields.Algorithm.allCases.map(record.accepts)
        }
        for algorithm in DKIMCanonicalization.allCases {
            let header = algorithm.canonicalizeHeader(bytes)
            if algorithm == .relaxed {
                fuzzCheck(header.suffix(2).elementsEqual([0x0D, 0x0A]), "a relaxed header field without its CRLF")
                fuzzCheck(!header.dropLast(2).contains(0x0D) && !header.dropLast(2).contains(0x0A), "a relaxed header still folded")
            }
            var whole = DKIMBodyCanonicalizer(algorithm)
            var expected: [UInt8] = []
            whole.update(bytes, into: &expected)
            whole.finish(into: &expected)
            var split = DKIMBodyCanonicalizer(algorithm)
            var output: [UInt8] = []
            var start = 0
            let step = Int(bytes.first ?? 1) % 7 + 1
            while start < bytes.count {
                split.update(bytes[start..<min(bytes.count, start + step)], into: &output)
                start += step
            }
            split.finish(into: &output)
            fuzzCheck(output == expected, "\(algorithm) body differs when fed \(step) octets at a time")
            fuzzCheck(whole.length == expected.count, "\(algorithm) body length \(whole.length) is not \(expected.count)")
            fuzzCheck(!expected.isEmpty || algorithm == .relaxed, "an empty simple body")
            fuzzCheck(expected.isEmpty || expected.suffix(2).elementsEqual([0x0D, 0x0A]), "a body that does not end in CRLF")
            fuzzCheck(!expected.suffix(4).elementsEqual([0x0D, 0x0A, 0x0D, 0x0A]), "an empty line at the body's end")
            if algorithm == .relaxed {
                fuzzCheck(!expected.contains(0x09), "a tab left in a relaxed body")
                for index in expected.indices.dropFirst() where expected[index - 1] == 0x20 {
                    fuzzCheck(expected[index] != 0x20, "two spaces in a relaxed body")
                    fuzzCheck(!expected[index...].starts(with: [0x0D, 0x0A]), "a space at the end of a relaxed line")
                }
            }
        }
    }

    /// The input as a whole message arriving on port 25: its header split into fields as they
    /// came, its DKIM-Signature fields read and their `h=` fields selected, `b=` removed, the
    /// body hashed for each, Authentication-Results fields checked for Tern's name. Fields keep
    /// every octet of the header they were split from (line ends as CRLF), in order.
    static let dkimMessage = FuzzTarget(
        name: "dkim-message",
        summary: "DKIM and ARC: a whole message's header fields, signatures, h= selection, b= removal, body hashes, ARC sets, sealing",
        maximumLength: 64 * 1024
    ) { bytes in
        let (header, body) = RawHeaderField.split(message: bytes)
        let fields = RawHeaderField.fields(of: header)
        for field in fields {
            fuzzCheck(field.octets.suffix(2).elementsEqual([0x0D, 0x0A]), "a raw field without its CRLF")
            fuzzCheck(!field.lowercasedName.isEmpty, "a raw field without a name")
            _ = AuthenticationResults.claims(field, authservID: "mx.example.org")
            let emptied = DKIMHeaderHash.removingSignatureValue(field.octets)
            fuzzCheck(emptied.count <= field.octets.count, "removing b= made the field longer")
            if let signature = try? DKIMSignatureFields(value: field.value) {
                let selected = DKIMHeaderSelection.select(signature.signedHeaders, from: fields)
                fuzzCheck(selected.count == signature.signedHeaders.count, "h= selected a different number of fields")
                _ = DKIMHeaderHash.digest(selected: selected, signatureField: field.octets, canonicalization: signature.headerCanonicalization)
            }
        }
        var verification = DKIMVerification(header: header, limit: 4)
        let step = Int(bytes.last ?? 1) % 13 + 1
        var start = body.startIndex
        while start < body.endIndex {
            verification.updateBody(body[start..<min(body.endIndex, start + step)])
            start += step
        }
        verification.finishBody()
        // ARC: the sets read (or refused), Tern's own Authentication-Results read back, and a
        // seal over the message: a sealed message has one valid set more than it had.
        var chain = ARCVerification(fields: fields)
        chain.updateBody(body)
        chain.finishBody()
        _ = AuthenticationResults.own(in: fields, authservID: "mx.example.org")
        var hash = DKIMSigner.bodyHash()
        hash.update(body)
        if let sets = chain.completeSets, let set = try? arcFuzzSealer.seal(
            header: header, bodyHash: hash.finalize(), authservID: "mx.example.org", results: "spf=pass", chain: .pass,
            now: 1_800_000_000)
        {
            let sealed = ARCVerification(fields: RawHeaderField.fields(of: set + Array(header))).completeSets
            fuzzCheck(sealed == sets + 1, "sealing did not add exactly one ARC set")
        }
    }

    /// The input as an SPF record (any domain's TXT record) and as a macro-string: a record
    /// reads or is refused; a macro expands within its limit, with the sender's parts as long
    /// as an SMTP path allows.
    static let spf = FuzzTarget(
        name: "spf",
        summary: "SPF: records (mechanisms, modifiers, prefix lengths) and macro-strings, parsed and expanded",
        maximumLength: 16 * 1024
    ) { bytes in
        _ = SPFRecord.isSPF(bytes)
        if let record = try? SPFRecord(bytes) {
            fuzzCheck(record.directives.count <= bytes.count, "more directives than octets")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        for explanation in [false, true] {
            guard let macro = try? SPFMacroString(text, explanation: explanation) else { continue }
            let long = String(repeating: "l", count: 64) + "@" + String(repeating: "d.", count: 120) + "example"
            let expanded = macro.expand { letter in letter == "s" ? long : letter == "i" ? "192.0.2.1" : "example.org" }
            fuzzCheck(expanded.map { $0.utf8.count <= SPFMacroString.expansionLimit } ?? true, "an expansion past the limit")
            if let expanded {
                // Labels go from the left while the name is too long; a last label longer than
                // 253 octets stays (DNS then refuses the name, and the term finds nothing).
                let domain = SPFMacroString.truncatedDomain(expanded)
                fuzzCheck(domain.utf8.count <= 253 || !domain.contains("."), "a domain not cut to 253")
            }
        }
    }
}

/// A sealer for the fuzz targets. The key is made at start; what the targets check (the sets
/// a seal adds) does not depend on its octets, so a finding reproduces with any key.
private let arcFuzzSealer = ARCSealer(domain: "example.org", selector: "fuzz", key: DKIMPrivateKey.generateEd25519())
