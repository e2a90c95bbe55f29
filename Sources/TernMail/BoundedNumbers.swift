/// Numbers that come from outside Tern: headers, query strings, SMTP parameters, configuration,
/// file names and files on disk, DNS.
///
/// Security: a Swift trap (overflow, a Double that does not fit an Int) ends every session and
/// every transaction of the process at once, and a stored file that traps the indexer traps it
/// again at every start. So such a number is parsed here into a range its later arithmetic can
/// never leave, or refused; nothing from outside goes through `Int(_:)` (which takes `+5`) or
/// `Double(_:)` (which takes `inf`, `nan` and `1e300`) and then into `*` or `+`.
public enum ASCIIDecimal {
    /// `1*DIGIT` in ASCII (no sign, no white space, no other script's digits) whose value lies
    /// in `range`; nil for anything else, including a value too large for `Int64`. Leading
    /// zeros are allowed, as in SMTP's `SIZE=000123`.
    /// Inlinable: it reads numbers in hot loops (a listing's file names) of other modules, and
    /// unspecialised it walks the octets through a generic iterator.
    @inlinable
    public static func parse<Octets: Sequence<UInt8>>(octets: Octets, in range: ClosedRange<Int64>) -> Int64? {
        var value: Int64 = 0
        var sawDigit = false
        for octet in octets {
            guard octet >= UInt8(ascii: "0"), octet <= UInt8(ascii: "9") else { return nil }
            let (shifted, overflowed) = value.multipliedReportingOverflow(by: 10)
            let (sum, carried) = shifted.addingReportingOverflow(Int64(octet &- UInt8(ascii: "0")))
            guard !overflowed, !carried else { return nil }
            value = sum
            sawDigit = true
        }
        guard sawDigit, range.contains(value) else { return nil }
        return value
    }

    /// `1*DIGIT` of `text`, in `range`.
    public static func parse(_ text: some StringProtocol, in range: ClosedRange<Int64>) -> Int64? {
        parse(octets: text.utf8, in: range)
    }

    /// `1*DIGIT` of `text`, in `range`, as an `Int`.
    public static func parse(_ text: some StringProtocol, in range: ClosedRange<Int>) -> Int? {
        parse(octets: text.utf8, in: Int64(range.lowerBound)...Int64(range.upperBound)).map { Int($0) }
    }
}

/// The span of time Tern reasons about: 1900-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
///
/// RFC 5322 §3.3 writes a year with four digits and requires 1900 or later, so no date in mail
/// lies outside it. Every time taken from outside is checked against it or clamped into it,
/// which keeps later conversions (to milliseconds, to a calendar date) far from overflow.
public enum CalendarBounds {
    /// 1900-01-01T00:00:00Z in seconds since 1970.
    public static let earliestSecond: Int64 = -2_208_988_800
    /// 9999-12-31T23:59:59Z in seconds since 1970.
    public static let latestSecond: Int64 = 253_402_300_799
    /// Every second Tern can represent, in seconds since 1970.
    public static let seconds = earliestSecond...latestSecond
    /// The years of `seconds`.
    public static let years = 1900...9999

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

    /// `seconds` moved into `CalendarBounds.seconds`.
    public static func clamp(seconds value: Int64) -> Int64 {
        min(max(value, earliestSecond), latestSecond)
    }

    /// `seconds` in milliseconds; a value outside the bounds is clamped first, so this never traps.
    public static func milliseconds(seconds value: Int64) -> Int64 {
        clamp(seconds: value) * 1000
    }

    /// `milliseconds` moved into the bounds.
    public static func clamp(milliseconds value: Int64) -> Int64 {
        min(max(value, earliestSecond * 1000), latestSecond * 1000 + 999)
    }
}
