/// RFC 2047 encoded words: `=?charset?B?...?=` and `=?charset?Q?...?=` in Subject and other
/// unstructured fields, and in display names.
public enum EncodedWords {
    /// The text with every well-formed encoded word decoded. White space between two encoded
    /// words goes (§6.2); an encoded word that is not well formed stays as written.
    public static func decode(_ text: String) -> String {
        guard text.contains("=?") else { return text }
        let scalars = Array(text.unicodeScalars)
        var output = String.UnicodeScalarView()
        var pendingWhitespace = String.UnicodeScalarView()
        var previousWasEncoded = false
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == " " || scalar == "\t" || scalar == "\r" || scalar == "\n" {
                if scalar != "\r" && scalar != "\n" { pendingWhitespace.append(scalar) }
                index += 1
                continue
            }
            if scalar == "=", index + 1 < scalars.count, scalars[index + 1] == "?",
                let (decoded, end) = word(scalars, from: index)
            {
                if !previousWasEncoded { output.append(contentsOf: pendingWhitespace) }
                pendingWhitespace = String.UnicodeScalarView()
                output.append(contentsOf: decoded.unicodeScalars)
                previousWasEncoded = true
                index = end
                continue
            }
            output.append(contentsOf: pendingWhitespace)
            pendingWhitespace = String.UnicodeScalarView()
            previousWasEncoded = false
            output.append(scalar)
            index += 1
        }
        output.append(contentsOf: pendingWhitespace)
        return String(output)
    }

    /// One encoded word starting at `start` (`=?`): its text and the index after `?=`.
    private static func word(_ scalars: [Unicode.Scalar], from start: Int) -> (String, Int)? {
        // =?charset?encoding?encoded-text?=, at most 75 characters by §2, but real mailers write
        // longer ones; 1000 bounds the search.
        var fields: [String.UnicodeScalarView] = [String.UnicodeScalarView()]
        var index = start + 2
        let limit = min(scalars.count, start + 1000)
        while index < limit {
            let scalar = scalars[index]
            if scalar == "?", fields.count == 3, index + 1 < scalars.count, scalars[index + 1] == "=" {
                let charset = String(fields[0])
                let encoded = Array(String(fields[2]).utf8)
                let octets: [UInt8]
                switch String(fields[1]).lowercased() {
                case "b": octets = TransferEncoding.decodeBase64(encoded)
                case "q": octets = decodeQ(encoded)
                default: return nil
                }
                guard !charset.isEmpty else { return nil }
                return (Charset.decode(octets, charset: charset), index + 2)
            }
            if scalar == "?" {
                guard fields.count < 3 else { return nil }
                fields.append(String.UnicodeScalarView())
            } else if scalar == " " || scalar == "\t" || scalar == "\r" || scalar == "\n" {
                return nil  // encoded words contain no white space (§2)
            } else {
                fields[fields.count - 1].append(scalar)
            }
            index += 1
        }
        return nil
    }

    /// The Q encoding (§4.2): quoted-printable where `_` is a space.
    private static func decodeQ(_ encoded: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var index = 0
        while index < encoded.count {
            let octet = encoded[index]
            if octet == UInt8(ascii: "_") {
                output.append(0x20)
                index += 1
            } else if octet == UInt8(ascii: "="), index + 2 < encoded.count,
                let high = TransferEncoding.hexValue(encoded[index + 1]),
                let low = TransferEncoding.hexValue(encoded[index + 2])
            {
                output.append(high << 4 | low)
                index += 3
            } else {
                output.append(octet)
                index += 1
            }
        }
        return output
    }
}
