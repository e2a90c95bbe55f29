/// Content-Transfer-Encoding (RFC 2045 §6): how a part's octets travel, and how to get them back.
public enum TransferEncoding: Hashable, Sendable {
    case sevenBit
    case eightBit
    case binary
    case base64
    case quotedPrintable
    /// An encoding RFC 2045 does not define (`x-uuencode`, a typo): the octets are left as
    /// they are (§6.4 says to treat such a part as application/octet-stream).
    case unknown(String)

    /// The header field's value (any case, white space and comments around it ignored);
    /// absent means 7bit (§6.1).
    public init(headerValue: String?) {
        let token = headerValue.map { MIMEToken.firstToken(of: $0).lowercased() } ?? "7bit"
        switch token {
        case "7bit", "": self = .sevenBit
        case "8bit": self = .eightBit
        case "binary": self = .binary
        case "base64": self = .base64
        case "quoted-printable": self = .quotedPrintable
        default: self = .unknown(token)
        }
    }

    public var name: String {
        switch self {
        case .sevenBit: "7bit"
        case .eightBit: "8bit"
        case .binary: "binary"
        case .base64: "base64"
        case .quotedPrintable: "quoted-printable"
        case .unknown(let name): name
        }
    }

    /// The decoded octets.
    public func decode<Octets: Collection<UInt8>>(_ octets: Octets) -> [UInt8] {
        switch self {
        case .base64: Self.decodeBase64(octets)
        case .quotedPrintable: Self.decodeQuotedPrintable(octets)
        default: Array(octets)
        }
    }

    /// Base64 as mail readers must take it (§6.8): characters outside the alphabet (line
    /// breaks, stray spaces) are ignored, decoding stops at `=` padding, and a final partial
    /// group yields what it can.
    public static func decodeBase64<Octets: Collection<UInt8>>(_ octets: Octets) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(octets.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for octet in octets {
            if octet == UInt8(ascii: "=") { break }
            guard let value = base64Value(octet) else { continue }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return output
    }

    private static func base64Value(_ octet: UInt8) -> UInt8? {
        switch octet {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): octet - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): octet - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): octet - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }

    /// Quoted-printable (§6.7): `=XX` is an octet (either case, as §6.7 rule 1 asks readers to
    /// accept), `=` before a line break is a soft break and goes, white space before a line
    /// break goes (rule 3), and an `=` that starts nothing valid stays as it is.
    public static func decodeQuotedPrintable<Octets: Collection<UInt8>>(_ octets: Octets) -> [UInt8] {
        let input = Array(octets)
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        var index = 0
        // White space waiting to learn whether a line break follows (then it goes, rule 3):
        // always a run of the input, so it is kept as where the run starts, not copied.
        var whitespaceStart = 0
        var whitespaceCount = 0
        while index < input.count {
            let octet = input[index]
            switch octet {
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                if whitespaceCount == 0 { whitespaceStart = index }
                whitespaceCount += 1
                index += 1
                continue
            case UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                whitespaceCount = 0  // trailing white space of an encoded line
                output.append(octet)
                index += 1
                continue
            default:
                break
            }
            output += input[whitespaceStart..<whitespaceStart + whitespaceCount]
            whitespaceCount = 0
            guard octet == UInt8(ascii: "=") else {
                output.append(octet)
                index += 1
                continue
            }
            // A soft line break: "=" then optional white space, then CRLF or LF.
            var look = index + 1
            while look < input.count, input[look] == 0x20 || input[look] == 0x09 { look += 1 }
            if look < input.count, input[look] == 0x0D || input[look] == 0x0A {
                index = look + (input[look] == 0x0D && look + 1 < input.count && input[look + 1] == 0x0A ? 2 : 1)
                continue
            }
            if look == input.count {
                index = look  // "=" at the very end: a soft break before nothing
                continue
            }
            if index + 2 < input.count, let high = hexValue(input[index + 1]), let low = hexValue(input[index + 2]) {
                output.append(high << 4 | low)
                index += 3
            } else {
                output.append(octet)
                index += 1
            }
        }
        output += input[whitespaceStart..<whitespaceStart + whitespaceCount]
        return output
    }

    static func hexValue(_ octet: UInt8) -> UInt8? {
        switch octet {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): octet - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): octet - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): octet - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
