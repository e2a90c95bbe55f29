/// An RFC 3463 enhanced mail system status code: `class.subject.detail`, e.g. `5.1.1`.
///
/// RFC 2034 asks a server that advertises ENHANCEDSTATUSCODES to put one on every reply
/// except the greeting and the EHLO/HELO reply.
public struct EnhancedStatusCode: Hashable, Sendable, CustomStringConvertible {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    public var statusClass: UInt8
    public var subject: UInt16
    public var detail: UInt16

    public init(_ statusClass: UInt8, _ subject: UInt16, _ detail: UInt16) {
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }
}

extension EnhancedStatusCode {
    /// `status-code = class "." subject "." detail`, `class = "2" / "4" / "5"`,
    /// `subject = 1*3digit`, `detail = 1*3digit` (RFC 3463 §2); nil for anything else.
    public init?(parsing text: Substring) {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 1, let statusClass = parts[0].first,
            statusClass == UInt8(ascii: "2") || statusClass == UInt8(ascii: "4") || statusClass == UInt8(ascii: "5"),
            let subject = Self.number(parts[1]), let detail = Self.number(parts[2])
        else { return nil }
        self.init(statusClass - UInt8(ascii: "0"), subject, detail)
    }

    /// One to three digits: at most 999, so always a UInt16.
    private static func number(_ digits: Substring.UTF8View.SubSequence) -> UInt16? {
        guard (1...3).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return digits.reduce(0) { $0 * 10 + UInt16($1 - 0x30) }
    }
}
