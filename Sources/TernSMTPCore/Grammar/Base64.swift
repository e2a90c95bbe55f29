/// Base64 (RFC 4648 §4, with padding), as SASL puts it on the SMTP wire (RFC 4954 §4).
/// The core has no Foundation; this is the whole of what it needs.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

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
}
