import TernMail

/// RFC 5322 §3.3 `date-time`, e.g. `Sun, 22 Nov 2026 21:13:54 +0000`, for Received and Date.
///
/// Every instant it formats or parses lies in `CalendarBounds` (years 1900 to 9999): a
/// `Date:` field is written by whoever sent the message, and a year of 999999999999 there must
/// mean "no date", never an overflow in the indexer or in a conversion to milliseconds.
public enum MessageDate {
    private static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Formats seconds since 1970 in UTC (zone `+0000`, which RFC 5322 §3.3 allows); an
    /// instant outside `CalendarBounds` is written as the nearest one inside.
    public static func format(secondsSince1970: Int64) -> String {
        let seconds = CalendarBounds.clamp(seconds: secondsSince1970)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = CalendarBounds.civilDate(daysSince1970: days)
        let weekday = weekdays[Int(((days % 7) + 7) % 7)]
        return "\(weekday), \(day) \(months[month - 1]) \(year) "
            + "\(twoDigits(secondOfDay / 3600)):\(twoDigits(secondOfDay / 60 % 60)):\(twoDigits(secondOfDay % 60)) +0000"
    }


    private static func twoDigits(_ value: Int) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }
}

extension MessageDate {
    /// Parses an RFC 5322 §3.3 `date-time`, with the obsolete forms of §4.3 (two- and
    /// three-digit years, zone names such as `GMT` and `EST`, comments, missing seconds);
    /// seconds since 1970, or nil when it is not a date or lies outside `CalendarBounds`.
    ///
    ///     date-time = [ day-of-week "," ] date time [CFWS]
    ///     date      = day month year          ; day = 1*2DIGIT, year = 4*DIGIT (obs: 2*DIGIT)
    ///     time      = hour ":" minute [ ":" second ] FWS zone
    ///     zone      = ( "+" / "-" ) 4DIGIT    ; obs-zone: "UT" / "GMT" / "EST" / ... / military
    public static func parse(_ text: String) -> Int64? {
        parseWithZone(text)?.seconds
    }

    /// `parse`, and the zone's offset from UTC in seconds: the date as its writer saw it is
    /// `seconds + offset` (IMAP's SENTBEFORE, SENTON and SENTSINCE compare that date, RFC 9051
    /// §6.4.4).
    public static func parseWithZone(_ text: String) -> (seconds: Int64, offset: Int)? {
        var cleaned = ""
        var depth = 0
        for character in text {
            if character == "(" { depth += 1 } else if character == ")" { depth = max(0, depth - 1) } else if depth == 0 {
                cleaned.append(character == "," ? " " : character)
            }
        }
        var tokens = cleaned.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" })
        if let first = tokens.first, first.allSatisfy(\.isLetter) { tokens.removeFirst() }  // day of week
        guard tokens.count >= 4, tokens[0].utf8.count <= 2, let day = ASCIIDecimal.parse(tokens[0], in: 1...31),
            let month = months.firstIndex(where: { $0.lowercased() == tokens[1].prefix(3).lowercased() }),
            let year = year(tokens[2])
        else { return nil }
        let time = tokens[3].split(separator: ":", omittingEmptySubsequences: false)
        guard time.count == 2 || time.count == 3, time.allSatisfy({ $0.utf8.count <= 2 }),
            let hour = ASCIIDecimal.parse(time[0], in: 0...23), let minute = ASCIIDecimal.parse(time[1], in: 0...59),
            let second = time.count == 3 ? ASCIIDecimal.parse(time[2], in: 0...60) : 0
        else { return nil }
        guard let offset = tokens.count > 4 ? zoneOffset(tokens[4]) : 0,
            let days = CalendarBounds.daysSince1970(year: year, month: month + 1, day: day)
        else { return nil }
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offset)
        return CalendarBounds.seconds.contains(seconds) ? (seconds, offset) : nil
    }

    /// `4*DIGIT`, or the obsolete two- and three-digit forms of RFC 5322 §4.3 (`49` is 2049,
    /// `50` is 1950, `126` is 2026); nil when outside `CalendarBounds.years`.
    private static func year(_ token: Substring) -> Int? {
        guard token.utf8.count <= 4, let value = ASCIIDecimal.parse(token, in: 0...9999) else { return nil }
        let year =
            switch token.utf8.count {
            case ...2: value + (value < 50 ? 2000 : 1900)
            case 3: value + 1900
            default: value
            }
        return CalendarBounds.years.contains(year) ? year : nil
    }

    /// `+hhmm`/`-hhmm` or an obsolete zone name, in seconds east of UTC; nil for a numeric zone
    /// that is not `4DIGIT` with minutes below 60. A zone name it does not know, like the
    /// military letters, counts as `+0000` (RFC 5322 §4.3).
    static func zoneOffset(_ zone: Substring) -> Int? {
        if let sign = zone.first, sign == "+" || sign == "-" {
            guard zone.utf8.count == 5, let hours = ASCIIDecimal.parse(zone.dropFirst().prefix(2), in: 0...99),
                let minutes = ASCIIDecimal.parse(zone.dropFirst(3), in: 0...59)
            else { return nil }
            let seconds = hours * 3600 + minutes * 60
            return sign == "-" ? -seconds : seconds
        }
        let names: [String: Int] = [
            "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6,
            "PST": -8, "PDT": -7,
        ]
        return (names[zone.uppercased()] ?? 0) * 3600
    }

}
