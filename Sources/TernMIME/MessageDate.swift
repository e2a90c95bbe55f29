/// RFC 5322 §3.3 `date-time`, e.g. `Sun, 22 Nov 2026 21:13:54 +0000`, for Received and Date.
public enum MessageDate {
    private static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Formats seconds since 1970 in UTC (zone `+0000`, which RFC 5322 §3.3 allows).
    public static func format(secondsSince1970 seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = civilDate(daysSince1970: days)
        let weekday = weekdays[Int(((days % 7) + 7) % 7)]
        return "\(weekday), \(day) \(months[month - 1]) \(year) "
            + "\(twoDigits(secondOfDay / 3600)):\(twoDigits(secondOfDay / 60 % 60)):\(twoDigits(secondOfDay % 60)) +0000"
    }

    /// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    public static func civilDate(daysSince1970: Int64) -> (year: Int, month: Int, day: Int) {
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
    /// Parses an RFC 5322 §3.3 `date-time`, with the obsolete forms of §4.3 (two-digit
    /// years, zone names such as `GMT` and `EST`, comments, missing seconds); seconds since
    /// 1970, or nil when it is not a date.
    public static func parse(_ text: String) -> Int64? {
        var cleaned = ""
        var depth = 0
        for character in text {
            if character == "(" { depth += 1 } else if character == ")" { depth = max(0, depth - 1) } else if depth == 0 {
                cleaned.append(character == "," ? " " : character)
            }
        }
        var tokens = cleaned.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }).map(String.init)
        if let first = tokens.first, first.allSatisfy(\.isLetter) { tokens.removeFirst() }  // day of week
        guard tokens.count >= 4, let day = Int(tokens[0]), (1...31).contains(day),
            let month = months.firstIndex(where: { $0.lowercased() == tokens[1].prefix(3).lowercased() }),
            var year = Int(tokens[2])
        else { return nil }
        if tokens[2].count <= 2 { year += year < 50 ? 2000 : 1900 } else if tokens[2].count == 3 { year += 1900 }
        let time = tokens[3].split(separator: ":").map { Int($0) }
        guard time.count >= 2, time.count <= 3, let hour = time[0], let minute = time[1], (0...23).contains(hour),
            (0...59).contains(minute)
        else { return nil }
        let second = time.count == 3 ? (time[2] ?? -1) : 0
        guard (0...60).contains(second) else { return nil }
        let offset = tokens.count > 4 ? zoneOffset(tokens[4]) : 0
        let days = daysSince1970(year: year, month: month + 1, day: day)
        return days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offset ?? 0)
    }

    /// `+hhmm`/`-hhmm` or an obsolete zone name, in seconds east of UTC.
    static func zoneOffset(_ zone: String) -> Int? {
        if let sign = zone.first, sign == "+" || sign == "-", zone.count == 5, let value = Int(zone.dropFirst()) {
            let seconds = (value / 100) * 3600 + (value % 100) * 60
            return sign == "-" ? -seconds : seconds
        }
        let names: [String: Int] = [
            "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6,
            "PST": -8, "PDT": -7,
        ]
        return names[zone.uppercased()].map { $0 * 3600 } ?? 0  // military zones: RFC 5322 §4.3 says treat as +0000
    }

    /// Days from 1970-01-01 (Howard Hinnant's days-from-civil).
    public static func daysSince1970(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
