/// Forward searches over the UTF-8 octets of message content for ASCII patterns: the building
/// block of the catcher's content scans (links, URLs, codes, `cid:` references, `<head>`).
///
/// Why octets and not Foundation's `range(of:)`: on Linux, `range(of:)` on a `Substring` copies
/// the substring before searching, so a loop that searches the rest of a body once per match is
/// quadratic (hostile-inputs 47). Here every search costs what it looks at, and `inspected`
/// counts it, so a test can show that a scan looked at each octet a bounded number of times
/// (linear) without timing it.
struct OctetScanner {
    let octets: [UInt8]
    /// Octets looked at by the searches so far (a needle of k octets counts k per position).
    private(set) var inspected = 0

    init(_ octets: [UInt8]) {
        self.octets = octets
    }

    init(_ text: String) {
        octets = Array(text.utf8)
    }

    var count: Int { octets.count }

    /// The first position in `start..<end` where `needle` begins, ASCII letters compared in any
    /// case. `needle` is lower-case ASCII and short (it costs up to its length per position).
    mutating func find(_ needle: [UInt8], from start: Int, to end: Int? = nil) -> Int? {
        let end = min(end ?? octets.count, octets.count)
        guard let first = needle.first, start >= 0, end - start >= needle.count else { return nil }
        var position = start
        let last = end - needle.count
        while position <= last {
            inspected += 1
            if Self.lowered(octets[position]) == first {
                var matched = 1
                while matched < needle.count, Self.lowered(octets[position + matched]) == needle[matched] { matched += 1 }
                inspected += matched - 1
                if matched == needle.count { return position }
            }
            position += 1
        }
        return nil
    }

    /// The first position in `start..<end` whose octet satisfies `predicate`.
    mutating func firstIndex(from start: Int, to end: Int? = nil, where predicate: (UInt8) -> Bool) -> Int? {
        let end = min(end ?? octets.count, octets.count)
        var position = max(start, 0)
        while position < end {
            inspected += 1
            if predicate(octets[position]) { return position }
            position += 1
        }
        return nil
    }

    /// The first position in `start..<end` of `octet`.
    mutating func find(_ octet: UInt8, from start: Int, to end: Int? = nil) -> Int? {
        firstIndex(from: start, to: end) { $0 == octet }
    }

    /// The text of `range`, invalid UTF-8 replaced (its octets count as inspected).
    mutating func text(_ range: Range<Int>) -> String {
        inspected += range.count
        return String(decoding: octets[range], as: UTF8.self)
    }

    /// `limit` moved back to the start of the UTF-8 sequence it falls in (never before
    /// `floor`), so a prefix cut there keeps its last character whole.
    func characterBoundary(atOrBefore limit: Int, notBefore floor: Int) -> Int {
        var cut = min(limit, octets.count)
        while cut > floor, cut < octets.count, octets[cut] & 0xC0 == 0x80 { cut -= 1 }
        return cut
    }

    static func lowered(_ octet: UInt8) -> UInt8 {
        (0x41...0x5A).contains(octet) ? octet | 0x20 : octet
    }

    /// HTML's ASCII white space (tab, LF, FF, CR, space).
    static func isHTMLSpace(_ octet: UInt8) -> Bool {
        octet == 0x20 || octet == 0x09 || octet == 0x0A || octet == 0x0C || octet == 0x0D
    }
}
