/// Mailbox names as IMAP4rev1 writes them (RFC 3501 §5.1.3): printable ASCII stands for itself,
/// `&` is written `&-`, and every other run of characters is `&`, the modified base64 (`,` for
/// `/`, no padding) of its UTF-16, and `-`. IMAP4rev2 and UTF8=ACCEPT clients send UTF-8
/// instead (RFC 9051 §5.1).
public enum ModifiedUTF7 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,".utf8)

    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, octet) in alphabet.enumerated() { table[Int(octet)] = UInt8(index) }
        return table
    }()

    public static func encode(_ name: String) -> [UInt8] {
        var output: [UInt8] = []
        var pending: [UInt16] = []
        func flush() {
            guard !pending.isEmpty else { return }
            output.append(UInt8(ascii: "&"))
            var bits: UInt32 = 0
            var count = 0
            for unit in pending {
                bits = bits << 16 | UInt32(unit)
                count += 16
                while count >= 6 {
                    count -= 6
                    output.append(alphabet[Int(bits >> UInt32(count) & 0x3F)])
                }
                bits &= (1 << UInt32(count)) - 1
            }
            if count > 0 { output.append(alphabet[Int(bits << UInt32(6 - count) & 0x3F)]) }
            output.append(UInt8(ascii: "-"))
            pending.removeAll()
        }
        for scalar in name.unicodeScalars {
            if scalar.value >= 0x20, scalar.value <= 0x7E {
                flush()
                output.append(UInt8(scalar.value))
                if scalar == "&" { output.append(UInt8(ascii: "-")) }
            } else {
                pending.append(contentsOf: String(scalar).utf16)
            }
        }
        flush()
        return output
    }

    /// The name a modified UTF-7 text stands for; nil for text that is not (8-bit octets, a bad
    /// base64 run, broken UTF-16, a run that encodes ASCII, which has its one spelling outside
    /// runs, two runs side by side, which are one run's second spelling) or that holds a
    /// control character (no mailbox name has one).
    public static func decode(_ octets: [UInt8]) -> String? {
        var scalars = String.UnicodeScalarView()
        var index = 0
        // Where the last base64 run ended: a run right after it would be a second spelling of
        // one longer run.
        var runEnd = -1
        while index < octets.count {
            let octet = octets[index]
            guard octet >= 0x20, octet <= 0x7E else { return nil }
            guard octet == UInt8(ascii: "&") else {
                scalars.append(Unicode.Scalar(octet))
                index += 1
                continue
            }
            guard let end = octets[(index + 1)...].firstIndex(of: UInt8(ascii: "-")) else { return nil }
            if end == index + 1 {
                scalars.append("&")
                index = end + 1
                continue
            }
            var units: [UInt16] = []
            var bits: UInt32 = 0
            var count = 0
            for digit in octets[(index + 1)..<end] {
                let value = values[Int(digit)]
                guard value != 0xFF else { return nil }
                bits = bits << 6 | UInt32(value)
                count += 6
                if count >= 16 {
                    count -= 16
                    units.append(UInt16(truncatingIfNeeded: bits >> UInt32(count)))
                    bits &= (1 << UInt32(count)) - 1
                }
            }
            // Leftover bits must be padding zeros, fewer than one base64 digit's worth.
            guard count < 6, bits == 0, !units.isEmpty, runEnd != index else { return nil }
            var decoded = String.UnicodeScalarView()
            var iterator = units.makeIterator()
            var utf16 = UTF16()
            decoding: while true {
                switch utf16.decode(&iterator) {
                case .scalarValue(let scalar):
                    // ASCII has its one spelling outside a run; control characters none.
                    guard scalar.value >= 0x80 else { return nil }
                    decoded.append(scalar)
                case .emptyInput: break decoding
                case .error: return nil
                }
            }
            scalars.append(contentsOf: decoded)
            index = end + 1
            runEnd = index
        }
        return String(scalars)
    }
}
