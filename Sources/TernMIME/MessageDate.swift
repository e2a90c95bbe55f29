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
        let (year, month, day) = civilDate(daysSince1970: days)
        let weekday = weekdays[Int(((days % 7) + 7) % 7)]
        return "\(weekday), \(day) \(months[month - 1]) \(year) "
            + "\(twoDigits(secondOfDay / 3600)):\(twoDigits(secondOfDay / 60 % 60)):\(twoDigits(secondOfDay % 60)) +0000"
    }

    /// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar); days outside
    /// `CalendarBounds` are clamped into it.
    public static func civilDate(daysSince1970 unclamped: Int64) -> (year: Int, month: Int, day: Int) {
        let daysSince1970 = min(
            max(unclamped, CalendarBounds.earliestSecond / 86_400), CalendarBounds.latestSecond / 86_400)
        let z = daysSince1970 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
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
            let days = daysSince1970(year: year, month: month + 1, day: day)
        else { return nil }
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offset)
        return CalendarBounds.seconds.contains(seconds) ? seconds : nil
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

    /// Days from 1970-01-01 to a date of `CalendarBounds.years` (Howard Hinnant's
    /// days-from-civil); nil for a year, month or day out of range.
    public static func daysSince1970(year: Int, month: Int, day: Int) -> Int64? {
        guard CalendarBounds.years.contains(year), (1...12).contains(month), (1...31).contains(day) else { return nil }
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
