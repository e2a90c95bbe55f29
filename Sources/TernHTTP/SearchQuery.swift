import TernMIME
import TernMail
import TernStore

/// The search language of the API and the search box, Mailpit's: words and `"quoted phrases"`
/// match anywhere (subject, addresses, text); `from:`, `to:` (To, Cc, Bcc), `subject:`,
/// `message-id:`, `tag:` and `inbox:` match one field; `is:read`, `is:unread`,
/// `has:attachment`; `before:` and `after:` take a date (`2026-03-02`, RFC 3339, or seconds
/// since 1970). A leading `-` or `!` negates a term. Every term must hold.
///
/// A term that cannot be read as what its prefix names (`before:someday`, `is:nothing`, an
/// empty `from:`) is a word like any other, searched for in the text: it never widens a search,
/// so `DELETE /api/v1/search?query=before:someday` deletes what has those words, not every
/// message.
enum SearchQuery {
    static func parse(_ query: String) -> MessageFilter {
        MessageFilter(terms(query).map(condition))
    }

    /// Splits on white space (Unicode `White_Space`, one scalar at a time) outside double
    /// quotes; quotes are removed (`from:"Alice B"`). A term of nothing but white space (`" "`)
    /// is no term, so a query has a term exactly when it has a character that is neither white
    /// space nor `"` (what docs/openapi.yaml asks of `DELETE /api/v1/search`'s query).
    static func terms(_ query: String) -> [String] {
        var terms: [String] = []
        var current = String.UnicodeScalarView()
        var inQuotes = false
        func endTerm() {
            if current.contains(where: { !$0.properties.isWhitespace }) { terms.append(String(current)) }
            current = String.UnicodeScalarView()
        }
        for scalar in query.unicodeScalars {
            if scalar == "\"" {
                inQuotes.toggle()
            } else if scalar.properties.isWhitespace, !inQuotes {
                endTerm()
            } else {
                current.append(scalar)
            }
        }
        endTerm()
        return terms
    }

    static func condition(_ term: String) -> MessageFilter.Condition {
        var term = Substring(term)
        var negated = false
        if term.count > 1, term.first == "-" || term.first == "!" {
            negated = true
            term = term.dropFirst()
        }
        let parsed = positive(term)
        return negated ? .not(parsed) : parsed
    }

    private static func positive(_ term: Substring) -> MessageFilter.Condition {
        let word = MessageFilter.Condition.contains(.text, String(term))
        guard let colon = term.firstIndex(of: ":") else { return word }
        let key = term[..<colon].lowercased()
        let value = String(term[term.index(after: colon)...])
        switch key {
        case "from": return value.isEmpty ? word : .contains(.from, value)
        case "to": return value.isEmpty ? word : .contains(.to, value)
        case "subject": return value.isEmpty ? word : .contains(.subject, value)
        case "message-id", "messageid": return value.isEmpty ? word : .contains(.messageID, value)
        case "tag": return value.isEmpty ? word : .contains(.tag, value)
        case "inbox": return value.isEmpty ? word : .contains(.inbox, CatcherStore.inboxName(login: value))
        case "is":
            switch value.lowercased() {
            case "read", "seen": return .isRead(true)
            case "unread", "unseen", "new": return .isRead(false)
            default: return word
            }
        case "has":
            switch value.lowercased() {
            case "attachment", "attachments": return .hasAttachment(true)
            default: return word
            }
        case "before": return milliseconds(value).map(MessageFilter.Condition.receivedBefore) ?? word
        case "after", "since": return milliseconds(value).map(MessageFilter.Condition.receivedSince) ?? word
        default: return word  // "http://x": a word with a colon
        }
    }

    /// `2026-03-02` (UTC midnight), `2026-03-02T10:15:00Z` / `+01:00` (RFC 3339 §5.6, seconds
    /// and zone optional), or seconds since 1970; nil for anything else, and for an instant
    /// outside `CalendarBounds`, so no query can push the arithmetic below out of range.
    ///
    ///     full-date = date-fullyear "-" date-month "-" date-mday    ; 4DIGIT "-" 2DIGIT "-" 2DIGIT
    ///     time      = time-hour ":" time-minute [ ":" time-second ] [ "Z" / ( "+" / "-" ) hh ":" mm ]
    static func milliseconds(_ text: String) -> Int64? {
        if let seconds = ASCIIDecimal.parse(text, in: 0...CalendarBounds.latestSecond) { return seconds * 1000 }
        let utf8 = Array(text.utf8)
        func number(_ range: Range<Int>, in bounds: ClosedRange<Int>) -> Int? {
            guard range.upperBound <= utf8.count else { return nil }
            return ASCIIDecimal.parse(String(decoding: utf8[range], as: UTF8.self), in: bounds)
        }
        guard utf8.count >= 10, utf8[4] == UInt8(ascii: "-"), utf8[7] == UInt8(ascii: "-"),
            let year = number(0..<4, in: CalendarBounds.years), let month = number(5..<7, in: 1...12),
            let day = number(8..<10, in: 1...31), let days = CalendarBounds.daysSince1970(year: year, month: month, day: day)
        else { return nil }
        var seconds = days * 86_400
        if utf8.count > 10 {
            guard utf8[10] == UInt8(ascii: "T") || utf8[10] == UInt8(ascii: "t") || utf8[10] == UInt8(ascii: " "),
                utf8.count >= 16, utf8[13] == UInt8(ascii: ":"),
                let hour = number(11..<13, in: 0...23), let minute = number(14..<16, in: 0...59)
            else { return nil }
            var index = 16
            var second = 0
            if index < utf8.count, utf8[index] == UInt8(ascii: ":") {
                guard let parsed = number(17..<19, in: 0...60) else { return nil }
                second = parsed
                index = 19
                // RFC 3339 time-secfrac: fractions of a second do not change the day's second.
                if index < utf8.count, utf8[index] == UInt8(ascii: ".") {
                    index += 1
                    while index < utf8.count, (0x30...0x39).contains(utf8[index]) { index += 1 }
                }
            }
            seconds += Int64(hour * 3600 + minute * 60 + second)
            if index < utf8.count {
                switch utf8[index] {
                case UInt8(ascii: "Z"), UInt8(ascii: "z"):
                    guard index + 1 == utf8.count else { return nil }
                case UInt8(ascii: "+"), UInt8(ascii: "-"):
                    guard index + 6 == utf8.count, utf8[index + 3] == UInt8(ascii: ":"),
                        let hours = number(index + 1..<index + 3, in: 0...23),
                        let minutes = number(index + 4..<index + 6, in: 0...59)
                    else { return nil }
                    let offset = Int64(hours * 3600 + minutes * 60)
                    seconds += utf8[index] == UInt8(ascii: "+") ? -offset : offset
                default:
                    return nil
                }
            }
        }
        guard CalendarBounds.seconds.contains(seconds) else { return nil }
        return seconds * 1000
    }
}
