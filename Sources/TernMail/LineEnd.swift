/// Where a line of a line-based protocol ends: SMTP (RFC 5321 §2.3.8) and IMAP (RFC 9051
/// §2.2) end lines only at CR LF. A bare CR or bare LF does not end a line; it stays inside it
/// and is reported, so the protocol can refuse the whole line (`NOOP\nQUIT\r\n` runs nothing).
public enum LineEnd {
    /// The index of the CR of the first CR LF that ends within the first `limit` octets of
    /// `bytes`, and whether a bare CR or LF came before it; nil when there is none.
    @inlinable
    public static func find(in bytes: UnsafeRawBufferPointer, limit: Int) -> (end: Int, hasBareLineEnding: Bool)? {
        var bare = false
        let end = min(bytes.count, limit)
        var index = 0
        while index < end {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") {
                if index > 0, bytes[index - 1] == UInt8(ascii: "\r") { return (index - 1, bare) }
                bare = true
            } else if byte == UInt8(ascii: "\r"), index + 1 < bytes.count, bytes[index + 1] != UInt8(ascii: "\n") {
                bare = true
            }
            index += 1
        }
        return nil
    }

    /// Every line end CRLF: a file, a pipe or a JSON string has bare LFs, or CRs (RFC 5321
    /// §2.3.8 and RFC 5322 §2.3 want CRLF and nothing else); a final line without one gets
    /// one.
    public static func crlf(_ input: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(input.count + input.count / 40 + 2)
        var index = 0
        while index < input.count {
            let octet = input[index]
            index += 1
            guard octet == 0x0D || octet == 0x0A else {
                out.append(octet)
                continue
            }
            // CR LF, a bare CR and a bare LF all end one line.
            if octet == 0x0D, index < input.count, input[index] == 0x0A { index += 1 }
            out += [0x0D, 0x0A]
        }
        if let last = out.last, last != 0x0A { out += [0x0D, 0x0A] }
        return out
    }
}
