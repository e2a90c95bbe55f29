import TernMIME
import TernStore

/// The search language of the API and the search box, Mailpit's: words and `"quoted phrases"`
/// match anywhere (subject, addresses, text); `from:`, `to:` (To, Cc, Bcc), `subject:`,
/// `message-id:`, `tag:` and `inbox:` match one field; `is:read`, `is:unread`,
/// `has:attachment`; `before:` and `after:` take a date (`2026-03-02`, RFC 3339, or seconds
/// since 1970). A leading `-` or `!` negates a term. Every term must hold.
enum SearchQuery {
    static func parse(_ query: String) -> MessageFilter {
        MessageFilter(terms(query).compactMap(condition))
    }

    /// Splits on white space outside double quotes; quotes are removed (`from:"Alice B"`).
    static func terms(_ query: String) -> [String] {
        var terms: [String] = []
        var current = ""
        var inQuotes = false
        for character in query {
            if character == "\"" {
                inQuotes.toggle()
            } else if character.isWhitespace, !inQuotes {
                if !current.isEmpty { terms.append(current) }
                current = ""
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { terms.append(current) }
        return terms
    }

    static func condition(_ term: String) -> MessageFilter.Condition? {
        var term = Substring(term)
        var negated = false
        if term.count > 1, term.first == "-" || term.first == "!" {
            negated = true
            term = term.dropFirst()
        }
        guard let parsed = positive(term) else { return nil }
        return negated ? .not(parsed) : parsed
    }

    private static func positive(_ term: Substring) -> MessageFilter.Condition? {
        guard let colon = term.firstIndex(of: ":") else { return .contains(.text, String(term)) }
        let key = term[..<colon].lowercased()
        let value = String(term[term.index(after: colon)...])
        switch key {
        case "from": return value.isEmpty ? nil : .contains(.from, value)
        case "to": return value.isEmpty ? nil : .contains(.to, value)
        case "subject": return value.isEmpty ? nil : .contains(.subject, value)
        case "message-id", "messageid": return value.isEmpty ? nil : .contains(.messageID, value)
        case "tag": return value.isEmpty ? nil : .contains(.tag, value)
        case "inbox": return value.isEmpty ? nil : .contains(.inbox, value)
        case "is":
            switch value.lowercased() {
            case "read", "seen": return .isRead(true)
            case "unread", "unseen", "new": return .isRead(false)
            default: return nil
            }
        case "has":
            switch value.lowercased() {
            case "attachment", "attachments": return .hasAttachment(true)
            default: return nil
            }
        case "before": return milliseconds(value).map(MessageFilter.Condition.receivedBefore)
        case "after", "since": return milliseconds(value).map(MessageFilter.Condition.receivedSince)
        default: return .contains(.text, String(term))  // "http://x": a word with a colon
        }
    }

    /// `2026-03-02` (UTC midnight), `2026-03-02T10:15:00Z` / `+01:00`, or seconds since 1970.
    static func milliseconds(_ text: String) -> Int64? {
        if let seconds = Int64(text) { return seconds * 1000 }
        let date = text.prefix(10).split(separator: "-").compactMap { Int($0) }
        guard date.count == 3, (1...12).contains(date[1]), (1...31).contains(date[2]) else { return nil }
        var seconds = MessageDate.daysSince1970(year: date[0], month: date[1], day: date[2]) * 86_400
        let rest = text.dropFirst(10)
        if rest.first == "T" || rest.first == " " {
            let time = rest.dropFirst()
            let clock = time.prefix(8).split(separator: ":").compactMap { Int($0) }
            guard clock.count >= 2 else { return nil }
            seconds += Int64(clock[0] * 3600 + clock[1] * 60 + (clock.count > 2 ? clock[2] : 0))
            if let sign = time.lastIndex(where: { $0 == "+" || $0 == "-" }), time.distance(from: time.startIndex, to: sign) >= 5 {
                let zone = time[time.index(after: sign)...].split(separator: ":").compactMap { Int($0) }
                if zone.count == 2 {
                    let offset = Int64(zone[0] * 3600 + zone[1] * 60)
                    seconds += time[sign] == "+" ? -offset : offset
                }
            }
        }
        return seconds * 1000
    }
}
