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
}
