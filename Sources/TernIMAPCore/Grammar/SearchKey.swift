/// What a SEARCH matches (RFC 9051 §6.4.4, `search-key` of §9). The keys that name a header
/// (FROM, TO, CC, BCC, SUBJECT, HEADER) are `.header`, the flag keys `.flag`/`.noFlag`, and a
/// parenthesized list or the keys of the program an `.and`.
public indirect enum SearchKey: Sendable, Hashable {
    case all
    /// A message with this flag (`\Seen`, `\Answered`, ..., or a keyword).
    case flag(String)
    /// A message without it.
    case noFlag(String)
    /// IMAP4rev1's `RECENT` (RFC 3501 §6.4.4); `NEW` is `RECENT UNSEEN`, `OLD` is `NOT RECENT`.
    case recent
    /// The field `name` contains `value` (substring, case-insensitive); an empty value matches
    /// every message that has the field.
    case header(name: [UInt8], value: [UInt8])
    case body([UInt8])
    /// The header or the body.
    case text([UInt8])
    /// INTERNALDATE before, on or since a date (the date only, in the server's zone).
    case before(SearchDate)
    case on(SearchDate)
    case since(SearchDate)
    /// The Date field's date.
    case sentBefore(SearchDate)
    case sentOn(SearchDate)
    case sentSince(SearchDate)
    /// RFC822.SIZE larger or smaller than the number.
    case larger(UInt64)
    case smaller(UInt64)
    case uid(SequenceSet)
    case sequence(SequenceSet)
    /// MODSEQ at least (RFC 7162 §3.1.5).
    case modificationSequence(UInt64)
    case not(SearchKey)
    case or(SearchKey, SearchKey)
    case and([SearchKey])

    /// Whether a MODSEQ key is anywhere in it: the response then carries the highest MODSEQ of
    /// what matched (RFC 7162 §3.1.5). The depth is bounded by the parser.
    public var mentionsModseq: Bool {
        switch self {
        case .modificationSequence: true
        case .not(let key): key.mentionsModseq
        case .or(let left, let right): left.mentionsModseq || right.mentionsModseq
        case .and(let keys): keys.contains { $0.mentionsModseq }
        default: false
        }
    }
}

/// `date-text = date-day "-" date-month "-" date-year` (§9), a real calendar date.
public struct SearchDate: Sendable, Hashable {
    public var year: Int
    /// 1 to 12.
    public var month: Int
    public var day: Int

    static let months = IMAPDateTime.monthNames.map { $0.uppercased() }

    /// Parses `date-text` (`1-Feb-2026`, `01-FEB-2026`); nil for anything else or a day the
    /// month does not have.
    public init?(parsing octets: [UInt8]) {
        let fields = octets.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        guard fields.count == 3, (1...2).contains(fields[0].count), fields[0].allSatisfy(IMAPCharacters.isDigit),
            fields[2].count == 4, fields[2].allSatisfy(IMAPCharacters.isDigit)
        else { return nil }
        let monthName = IMAPCharacters.uppercased(fields[1])
        guard let monthIndex = Self.months.firstIndex(of: monthName) else { return nil }
        let day = fields[0].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        let year = fields[2].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        let month = monthIndex + 1
        guard day >= 1, day <= Self.days(in: month, of: year) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    static func days(in month: Int, of year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

extension IMAPCommandParser {
    /// The deepest nesting of NOT, OR and parentheses a search may have: a bound the RFC does not
    /// set, so that a program like `NOT NOT NOT ...` cannot exhaust the stack.
    static let maximumSearchDepth = 100

    /// `search = "SEARCH" [search-return-opts] SP search-program`, after the keyword:
    ///
    ///     search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
    ///     search-program     = ["CHARSET" SP charset SP] search-key *(SP search-key)
    static func search(_ cursor: inout CommandCursor, byUID: Bool) throws(IMAPSyntaxError) -> IMAPCommand.Kind {
        try cursor.space()
        var returnOptions: [String]?
        var charset: String?
        if consumeWord(&cursor, "RETURN") {
            try cursor.space()
            returnOptions = try cursor.list { (item: inout CommandCursor) throws(IMAPSyntaxError) in try item.keyword() }
            try cursor.space()
        }
        if consumeWord(&cursor, "CHARSET") {
            try cursor.space()
            charset = IMAPCharacters.uppercased(try cursor.astring())
            try cursor.space()
        }
        var keys = [try searchKey(&cursor, depth: 0)]
        while cursor.consume(UInt8(ascii: " ")) { keys.append(try searchKey(&cursor, depth: 0)) }
        return .search(byUID: byUID, returnOptions: returnOptions, charset: charset, keys.count == 1 ? keys[0] : .and(keys))
    }

    /// Consumes the atom `word` (any case) when it is next; else consumes nothing.
    private static func consumeWord(_ cursor: inout CommandCursor, _ word: String) -> Bool {
        var lookahead = cursor
        guard let found = try? lookahead.keyword(), found == word else { return false }
        cursor = lookahead
        return true
    }

    private static func searchKey(_ cursor: inout CommandCursor, depth: Int) throws(IMAPSyntaxError) -> SearchKey {
        guard depth < maximumSearchDepth else { throw IMAPSyntaxError("search nested too deeply") }
        if cursor.peek() == UInt8(ascii: "(") {
            let keys = try cursor.list(allowEmpty: false) { (item: inout CommandCursor) throws(IMAPSyntaxError) in
                try searchKey(&item, depth: depth + 1)
            }
            return keys.count == 1 ? keys[0] : .and(keys)
        }
        if let octet = cursor.peek(), IMAPCharacters.isDigit(octet) || octet == UInt8(ascii: "*") || octet == UInt8(ascii: "$") {
            return .sequence(try cursor.sequenceSet())
        }
        let name = try cursor.keyword()
        func argument() throws(IMAPSyntaxError) -> [UInt8] {
            try cursor.space()
            return try cursor.astring()
        }
        func date() throws(IMAPSyntaxError) -> SearchDate {
            // date = date-text / DQUOTE date-text DQUOTE
            try cursor.space()
            let text = cursor.peek() == UInt8(ascii: "\"") ? try cursor.string() : try cursor.atom()
            guard let date = SearchDate(parsing: text) else { throw IMAPSyntaxError("malformed date") }
            return date
        }
        func number() throws(IMAPSyntaxError) -> UInt64 {
            try cursor.space()
            return try cursor.number(maximum: UInt64(Int64.max))
        }
        switch name {
        case "ALL": return .all
        case "ANSWERED": return .flag("\\Answered")
        case "DELETED": return .flag("\\Deleted")
        case "DRAFT": return .flag("\\Draft")
        case "FLAGGED": return .flag("\\Flagged")
        case "SEEN": return .flag("\\Seen")
        case "UNANSWERED": return .noFlag("\\Answered")
        case "UNDELETED": return .noFlag("\\Deleted")
        case "UNDRAFT": return .noFlag("\\Draft")
        case "UNFLAGGED": return .noFlag("\\Flagged")
        case "UNSEEN": return .noFlag("\\Seen")
        case "RECENT": return .recent
        case "NEW": return .and([.recent, .noFlag("\\Seen")])
        case "OLD", "UNRECENT": return .not(.recent)
        case "KEYWORD", "UNKEYWORD":
            try cursor.space()
            let keyword = String(decoding: try cursor.atom(), as: UTF8.self)
            return name == "KEYWORD" ? .flag(keyword) : .noFlag(keyword)
        case "BCC", "CC", "FROM", "SUBJECT", "TO":
            return .header(name: Array(name.utf8), value: try argument())
        case "HEADER":
            let field = try argument()
            return .header(name: field, value: try argument())
        case "BODY": return .body(try argument())
        case "TEXT": return .text(try argument())
        case "BEFORE": return .before(try date())
        case "ON": return .on(try date())
        case "SINCE": return .since(try date())
        case "SENTBEFORE": return .sentBefore(try date())
        case "SENTON": return .sentOn(try date())
        case "SENTSINCE": return .sentSince(try date())
        case "LARGER": return .larger(try number())
        case "SMALLER": return .smaller(try number())
        case "UID":
            try cursor.space()
            return .uid(try cursor.sequenceSet())
        case "MODSEQ":
            // search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer
            try cursor.space()
            if cursor.peek() == UInt8(ascii: "\"") {
                _ = try cursor.string()  // entry name
                try cursor.space()
                _ = try cursor.keyword()  // entry type: priv, shared, all
                try cursor.space()
            }
            return .modificationSequence(try cursor.number(maximum: UInt64(Int64.max)))
        case "NOT":
            try cursor.space()
            return .not(try searchKey(&cursor, depth: depth + 1))
        case "OR":
            try cursor.space()
            let left = try searchKey(&cursor, depth: depth + 1)
            try cursor.space()
            return .or(left, try searchKey(&cursor, depth: depth + 1))
        default:
            throw IMAPSyntaxError("unknown search key")
        }
    }
}
