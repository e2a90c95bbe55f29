/// Character classes that the SMTP grammar (RFC 5321) and the message format (RFC 5322) share,
/// so the envelope and the header read an atom the same way.
public enum MailCharacters {
    /// `atext` of RFC 5322 §3.2.3, which RFC 5321 §4.1.2 takes for its `Atom`:
    /// ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "/" / "=" / "?" /
    /// "^" / "_" / "`" / "{" / "|" / "}" / "~". ASCII only; RFC 6531 and RFC 6532 add UTF-8
    /// where their extensions are in use, which the callers decide.
    @inlinable
    public static func isAtext(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "/"),
            UInt8(ascii: "="), UInt8(ascii: "?"), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"),
            UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
