import TernMail

/// IMAP's `date-time` (RFC 9051 §9), APPEND's date and FETCH's INTERNALDATE:
///
///     date-time      = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
///     date-day-fixed = (SP DIGIT) / 2DIGIT
///     time           = 2DIGIT ":" 2DIGIT ":" 2DIGIT
///     zone           = ("+" / "-") 4DIGIT
///
/// Read as octets into a bounded value (a date of `CalendarBounds`), never trapping.
public enum IMAPDateTime {
    /// `date-month` as written.
    public static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Seconds since the epoch of a `date-time` without its quotes; nil for anything else.
    public static func parse(_ octets: [UInt8]) -> Int64? {
        // "dd-Mon-yyyy hh:mm:ss +zzzz": 26 octets exactly.
        guard octets.count == 26, octets[11] == UInt8(ascii: " "), octets[14] == UInt8(ascii: ":"),
            octets[17] == UInt8(ascii: ":"), octets[20] == UInt8(ascii: " ")
        else { return nil }
        let dayStart = octets[0] == UInt8(ascii: " ") ? 1 : 0
        guard let date = SearchDate(parsing: Array(octets[dayStart..<11])),
            let days = CalendarBounds.daysSince1970(year: date.year, month: date.month, day: date.day),
            let hour = ASCIIDecimal.parse(octets: octets[12..<14], in: 0...23),
            let minute = ASCIIDecimal.parse(octets: octets[15..<17], in: 0...59),
            let second = ASCIIDecimal.parse(octets: octets[18..<20], in: 0...60),
            octets[21] == UInt8(ascii: "+") || octets[21] == UInt8(ascii: "-"),
            let zoneHours = ASCIIDecimal.parse(octets: octets[22..<24], in: 0...23),
            let zoneMinutes = ASCIIDecimal.parse(octets: octets[24..<26], in: 0...59)
        else { return nil }
        let offset = (zoneHours * 3600 + zoneMinutes * 60) * (octets[21] == UInt8(ascii: "-") ? -1 : 1)
        return CalendarBounds.clamp(seconds: days * 86_400 + hour * 3600 + minute * 60 + second - offset)
    }

    /// `date-time` without its quotes, in UTC: ` 6-Dec-2026 22:19:23 +0000`.
    public static func format(_ seconds: Int64) -> String {
        let seconds = CalendarBounds.clamp(seconds: seconds)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let (year, month, day) = CalendarBounds.civilDate(daysSince1970: days)
        let time = seconds - days * 86_400
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let dayText = day < 10 ? " \(day)" : "\(day)"
        return "\(dayText)-\(monthNames[month - 1])-\(year) \(two(time / 3600)):\(two(time / 60 % 60)):\(two(time % 60)) +0000"
    }
}
