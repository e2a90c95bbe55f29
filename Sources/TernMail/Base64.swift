/// Base64 (RFC 4648 §4, with padding), as SASL puts it on the wire (SMTP AUTH, RFC 4954 §4;
/// IMAP AUTHENTICATE, RFC 9051 §6.2.2; POP3 AUTH, RFC 5034 §4).
/// The protocol cores have no Foundation; this is the whole of what they need. In TernMail
/// because more than SASL reads it: DKIM's `b=`, `bh=` and `p=` (RFC 6376 §3.5, §3.6.1) too.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Each octet's value in the alphabet, 0xFF for octets outside it.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    public static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            output += [18, 12, 6, 0].map { alphabet[Int(value >> $0 & 0x3F)] }
            index += 3
        }
        switch bytes.count - index {
        case 1:
            let value = UInt32(bytes[index]) << 16
            output += [alphabet[Int(value >> 18 & 0x3F)], alphabet[Int(value >> 12 & 0x3F)], 61, 61]
        case 2:
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            output += [alphabet[Int(value >> 18 & 0x3F)], alphabet[Int(value >> 12 & 0x3F)], alphabet[Int(value >> 6 & 0x3F)], 61]
        default:
            break
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Strict decoding (RFC 4648 §3.3, §3.5): the length a multiple of four, padding only at
    /// the end, no white space or other octet outside the alphabet, and pad bits zero, so each
    /// text has one meaning. Nil for anything else.
    public static func decode<Bytes: Collection<UInt8>>(_ text: Bytes) -> [UInt8]? {
        let input = Array(text)
        guard input.count % 4 == 0 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            let isLast = index + 4 == input.count
            let padding = isLast ? input[index...].reversed().prefix { $0 == 61 }.count : 0
            guard padding <= 2 else { return nil }
            var value: UInt32 = 0
            for offset in 0..<4 {
                let byte = input[index + offset]
                if offset >= 4 - padding {
                    value <<= 6
                    continue
                }
                let digit = values[Int(byte)]
                guard digit != 0xFF else { return nil }
                value = value << 6 | UInt32(digit)
            }
            output.append(UInt8(value >> 16 & 0xFF))
            if padding < 2 { output.append(UInt8(value >> 8 & 0xFF)) }
            if padding < 1 { output.append(UInt8(value & 0xFF)) }
            // Bits under the padding must be zero (RFC 4648 §3.5).
            if padding == 1, value & 0xFF != 0 { return nil }
            if padding == 2, value & 0xFFFF != 0 { return nil }
            index += 4
        }
        return output
    }
}
