/// The character classes of RFC 9051 §9, on octets.
public enum IMAPCharacters {
    /// `CHAR = %x01-7F` (RFC 5234).
    public static func isChar(_ octet: UInt8) -> Bool { octet >= 0x01 && octet <= 0x7F }

    /// `CTL = %x00-1F / %x7F`.
    public static func isControl(_ octet: UInt8) -> Bool { octet <= 0x1F || octet == 0x7F }

    /// `atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials /
    /// resp-specials`, with `list-wildcards = "%" / "*"`, `quoted-specials = DQUOTE / "\"` and
    /// `resp-specials = "]"`.
    public static func isAtomSpecial(_ octet: UInt8) -> Bool {
        switch octet {
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "{"), UInt8(ascii: " "), UInt8(ascii: "%"),
            UInt8(ascii: "*"), UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "]"):
            true
        default: isControl(octet)
        }
    }

    /// `ATOM-CHAR = <any CHAR except atom-specials>`.
    public static func isAtomChar(_ octet: UInt8) -> Bool { isChar(octet) && !isAtomSpecial(octet) }

    /// `ASTRING-CHAR = ATOM-CHAR / resp-specials`.
    public static func isAStringChar(_ octet: UInt8) -> Bool { isAtomChar(octet) || octet == UInt8(ascii: "]") }

    public static func isDigit(_ octet: UInt8) -> Bool { octet >= 0x30 && octet <= 0x39 }

    /// Octets with ASCII letters in upper case, as a String: keywords, command names, FETCH
    /// items and month names compare case-insensitively (§9 note 3), and only ASCII letters fold.
    public static func uppercased(_ octets: some Sequence<UInt8>) -> String {
        String(decoding: octets.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 32 : $0 }, as: UTF8.self)
    }
}
