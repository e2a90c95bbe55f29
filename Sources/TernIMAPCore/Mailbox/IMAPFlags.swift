public import NIOCore
public import TernMail

/// The system flags on the wire (RFC 9051 §2.3.2, `flag` of §9).
extension MessageFlags {
    /// Each system flag and its name, in the order FETCH lists them.
    public static let imapNames: [(flag: MessageFlags, name: String)] = [
        (.answered, "\\Answered"), (.flagged, "\\Flagged"), (.deleted, "\\Deleted"), (.seen, "\\Seen"), (.draft, "\\Draft"),
    ]

    /// The system flags among `names` (as the parser gives them, canonically spelled), and the
    /// other names: keywords and flag extensions.
    public static func parsing(_ names: [String]) -> (flags: MessageFlags, others: [String]) {
        var flags: MessageFlags = []
        var others: [String] = []
        for name in names {
            if let known = imapNames.first(where: { $0.name == name }) {
                flags.insert(known.flag)
            } else {
                others.append(name)
            }
        }
        return (flags, others)
    }

    /// `flag-list = "(" [flag *(SP flag)] ")"`: the system flags, then the keywords.
    public func writeIMAP(keywords: [String] = [], to buffer: inout ByteBuffer) {
        buffer.writeStaticString("(")
        var first = true
        for name in Self.imapNames.filter({ contains($0.flag) }).map(\.name) + keywords {
            if !first { buffer.writeStaticString(" ") }
            first = false
            buffer.writeString(name)
        }
        buffer.writeStaticString(")")
    }

    /// The keywords among names a client sent (`others` of `parsing`): flag extensions
    /// (`\Recent`, `\Foo`) are not keywords and are not stored.
    public static func keywords(_ others: [String]) -> [String] {
        FlagUpdate.distinct(others.filter { !$0.hasPrefix("\\") })
    }
}
