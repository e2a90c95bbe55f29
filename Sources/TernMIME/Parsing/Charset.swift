/// Text in the charsets mail uses, decoded to Unicode (RFC 2045 §5.1 `charset`, RFC 2047 §3).
///
/// UTF-8 and US-ASCII, UTF-16, ISO-8859-1 to -16, Windows-1250 to -1258 and KOI8-R/-U. An
/// octet sequence that does not decode becomes U+FFFD, so a wrong label shows as replacement
/// characters, never as a failure. An unknown charset is read as UTF-8, the likeliest truth of a
/// mislabelled modern message. Charset names compare in any case (RFC 2978 §2.3).
public enum Charset {
    /// Decodes `octets` labelled `name` (nil or empty: US-ASCII, RFC 2045 §5.2).
    public static func decode<Octets: Collection<UInt8>>(_ octets: Octets, charset name: String?) -> String {
        switch canonical(name) {
        case "utf-8", "us-ascii", nil:
            // Mail labelled US-ASCII that carries 8-bit text is nearly always UTF-8.
            return String(decoding: octets, as: UTF8.self)
        case "utf-16", "utf-16be":
            return utf16(Array(octets), bigEndian: true)
        case "utf-16le":
            return utf16(Array(octets), bigEndian: false)
        case let table?:
            guard let upper = singleByteTables[table] else { return String(decoding: octets, as: UTF8.self) }
            var scalars = String.UnicodeScalarView()
            for octet in octets {
                let value = octet < 0x80 ? UInt32(octet) : UInt32(upper[Int(octet - 0x80)])
                scalars.append(Unicode.Scalar(value) ?? "\u{FFFD}")
            }
            return String(scalars)
        }
    }

    /// Whether `name` is a charset decoded as itself (not read as UTF-8 for want of a table).
    public static func isKnown(_ name: String) -> Bool {
        guard let canonical = canonical(name) else { return true }
        return ["utf-8", "us-ascii", "utf-16", "utf-16be", "utf-16le"].contains(canonical)
            || singleByteTables[canonical] != nil
    }

    /// The name tables use: lower case, RFC 2231 language suffix (`*en`) removed, aliases resolved.
    static func canonical(_ name: String?) -> String? {
        guard var name = name?.lowercased(), !name.isEmpty else { return nil }
        if let star = name.firstIndex(of: "*") { name = String(name[..<star]) }
        switch name {
        case "utf8", "utf-8": return "utf-8"
        case "us-ascii", "ascii", "ansi_x3.4-1968", "iso-ir-6", "us", "646": return "us-ascii"
        case "utf-16", "utf-16be", "utf-16le": return name
        default: return singleByteAliases[name] ?? name
        }
    }

    /// UTF-16 with an optional byte-order mark, which wins over the label.
    private static func utf16(_ octets: [UInt8], bigEndian: Bool) -> String {
        var bigEndian = bigEndian
        var start = 0
        if octets.count >= 2 {
            if octets[0] == 0xFE, octets[1] == 0xFF {
                bigEndian = true
                start = 2
            } else if octets[0] == 0xFF, octets[1] == 0xFE {
                bigEndian = false
                start = 2
            }
        }
        var units: [UInt16] = []
        units.reserveCapacity((octets.count - start) / 2)
        var index = start
        while index + 1 < octets.count {
            let (high, low) = bigEndian ? (octets[index], octets[index + 1]) : (octets[index + 1], octets[index])
            units.append(UInt16(high) << 8 | UInt16(low))
            index += 2
        }
        var text = String(decoding: units, as: UTF16.self)
        if index < octets.count { text.append("\u{FFFD}") }  // an odd octet left over
        return text
    }
}
