/// A set of message sequence numbers or UIDs as a command names it (RFC 9051 §9):
///
///     sequence-set = (seq-number / seq-range) ["," sequence-set]
///                  / "$"                          ; the saved search result (RFC 5182)
///     seq-range    = seq-number ":" seq-number    ; either order: 4:2 is 2:4
///     seq-number   = nz-number / "*"              ; "*": the largest number in use
///     nz-number    = digit-nz *DIGIT              ; 0 < n < 4,294,967,296
///
/// It is kept as the ranges written and resolved against a mailbox's largest number
/// (`ranges(largest:)`) into ascending, disjoint ranges: `1:4294967295` is one range, never four
/// billion numbers.
public enum SequenceSet: Sendable, Hashable {
    case ranges([Range])
    /// `$`: the result of the last SEARCH with `RETURN (SAVE)`.
    case savedResult

    /// One seq-number or seq-range.
    public struct Range: Sendable, Hashable {
        public var first: Bound
        public var last: Bound

        public init(_ first: Bound, _ last: Bound) {
            self.first = first
            self.last = last
        }
    }

    public enum Bound: Sendable, Hashable {
        case number(UInt32)
        /// `*`.
        case largest

        func resolved(largest: UInt32) -> UInt32 {
            switch self {
            case .number(let number): number
            case .largest: largest
            }
        }
    }

    /// Parses a whole sequence-set; nil when the octets are not one.
    public init?(parsing octets: some Collection<UInt8>) {
        if octets.elementsEqual("$".utf8) {
            self = .savedResult
            return
        }
        var ranges: [Range] = []
        for item in octets.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            let bounds = item.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            guard bounds.count == 1 || bounds.count == 2, let first = Self.bound(bounds[0]) else { return nil }
            guard let last = bounds.count == 2 ? Self.bound(bounds[1]) : first else { return nil }
            ranges.append(Range(first, last))
        }
        self = .ranges(ranges)
    }

    /// `seq-number`: "*" or a nonzero number that fits in 32 bits, without leading zeros.
    private static func bound(_ octets: some Collection<UInt8>) -> Bound? {
        if octets.elementsEqual("*".utf8) { return .largest }
        guard let first = octets.first, first != UInt8(ascii: "0"), octets.count <= 10,
            octets.allSatisfy(IMAPCharacters.isDigit)
        else { return nil }
        let value = octets.reduce(UInt64(0)) { $0 * 10 + UInt64($1 - UInt8(ascii: "0")) }
        guard value <= UInt64(UInt32.max) else { return nil }
        return .number(UInt32(value))
    }

    /// The numbers named, ascending and merged, in a mailbox whose largest number in use is
    /// `largest` (the message count for sequence numbers, the highest UID for UIDs; 0 when
    /// empty). `*` is `largest`, so `n:*` with n above it names `largest:n` (RFC 9051 §9,
    /// seq-range); the caller intersects with the numbers that exist. `$` names nothing here:
    /// the session substitutes the saved result.
    public func ranges(largest: UInt32) -> [ClosedRange<UInt32>] {
        guard case .ranges(let written) = self else { return [] }
        var resolved = written.compactMap { range -> ClosedRange<UInt32>? in
            let a = range.first.resolved(largest: largest)
            let b = range.last.resolved(largest: largest)
            let lower = max(1, min(a, b))
            let upper = max(a, b)
            return lower <= upper ? lower...upper : nil
        }
        resolved.sort { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<UInt32>] = []
        for range in resolved {
            if let previous = merged.last, range.lowerBound <= previous.upperBound || range.lowerBound - 1 == previous.upperBound {
                merged[merged.count - 1] = previous.lowerBound...max(previous.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        return merged
    }

    /// Whether `number` is named, in a mailbox whose largest number in use is `largest`.
    public func contains(_ number: UInt32, largest: UInt32) -> Bool {
        ranges(largest: largest).contains { $0.contains(number) }
    }
}

extension SequenceSet: CustomStringConvertible {
    /// The set as written on the wire.
    public var description: String {
        guard case .ranges(let ranges) = self else { return "$" }
        func text(_ bound: Bound) -> String {
            switch bound {
            case .number(let number): String(number)
            case .largest: "*"
            }
        }
        return ranges.map { $0.first == $0.last ? text($0.first) : "\(text($0.first)):\(text($0.last))" }
            .joined(separator: ",")
    }
}
