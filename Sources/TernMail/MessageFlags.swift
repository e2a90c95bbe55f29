/// The system flags of RFC 9051 §2.3.2 (`\Recent` is gone from IMAP4rev2). Maildir writes them
/// as the letters of a file name's info part, `:2,DFRST` (https://cr.yp.to/proto/maildir.html).
public struct MessageFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8

    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `\Seen`, Maildir `S`.
    public static let seen = MessageFlags(rawValue: 1 << 0)
    /// `\Answered`, Maildir `R` (replied).
    public static let answered = MessageFlags(rawValue: 1 << 1)
    /// `\Flagged`, Maildir `F`.
    public static let flagged = MessageFlags(rawValue: 1 << 2)
    /// `\Deleted`, Maildir `T` (trashed).
    public static let deleted = MessageFlags(rawValue: 1 << 3)
    /// `\Draft`, Maildir `D`.
    public static let draft = MessageFlags(rawValue: 1 << 4)

    public static let all: MessageFlags = [.seen, .answered, .flagged, .deleted, .draft]
}

/// How `updateFlags` changes the flags: IMAP STORE's `+FLAGS`, `-FLAGS` and `FLAGS`, for the
/// system flags and the keywords (`$Forwarded`, `Junk`: RFC 9051 §2.3.2 flag-keyword).
public enum FlagUpdate: Sendable, Hashable {
    case add(MessageFlags, keywords: [String] = [])
    case remove(MessageFlags, keywords: [String] = [])
    case replace(MessageFlags, keywords: [String] = [])

    public func applied(to flags: MessageFlags) -> MessageFlags {
        switch self {
        case .add(let added, _): flags.union(added)
        case .remove(let removed, _): flags.subtracting(removed)
        case .replace(let replacement, _): replacement
        }
    }

    /// Keywords compare without regard to case; one already set keeps its spelling.
    public func applied(toKeywords keywords: [String]) -> [String] {
        switch self {
        case .add(_, let added): Self.distinct(keywords + added)
        case .remove(_, let removed):
            keywords.filter { keyword in !removed.contains { $0.lowercased() == keyword.lowercased() } }
        case .replace(_, let replacement): Self.distinct(replacement)
        }
    }

    /// The keywords without repeats (the first spelling of each is kept).
    public static func distinct(_ keywords: [String]) -> [String] {
        var seen: Set<String> = []
        return keywords.filter { seen.insert($0.lowercased()).inserted }
    }
}
