/// A set of UIDs held as sorted, disjoint, non-adjacent ranges.
///
/// What is recent to a session (RFC 3501 §2.3.2) is nearly always one run of UIDs, the messages
/// that arrived since a session last selected the mailbox: a first SELECT of a mailbox of
/// 100,000 new messages holds one range here, where a `Set<UInt32>` held a megabyte.
public struct UIDRanges: Sendable, Equatable {
    public private(set) var ranges: [ClosedRange<UInt32>] = []

    public init() {}

    /// The UIDs of `uids`; ascending input appends, so a view's UIDs cost one lookup each.
    public init(_ uids: some Sequence<UInt32>) {
        formUnion(uids)
    }

    public var isEmpty: Bool { ranges.isEmpty }

    /// How many UIDs: at most 2^32, which fits an `Int` on every platform Swift on Linux runs.
    public var count: Int { ranges.reduce(0) { $0 + $1.count } }

    public func contains(_ uid: UInt32) -> Bool {
        let after = firstRange(startingAbove: uid)
        return after > 0 && ranges[after - 1].contains(uid)
    }

    public mutating func insert(_ uid: UInt32) {
        let after = firstRange(startingAbove: uid)
        let joinsNext = after < ranges.count && uid < .max && ranges[after].lowerBound == uid + 1
        if after > 0 {
            let previous = ranges[after - 1]
            if previous.contains(uid) { return }
            if uid > 0 && previous.upperBound == uid - 1 {
                if joinsNext {
                    ranges[after - 1] = previous.lowerBound...ranges[after].upperBound
                    ranges.remove(at: after)
                } else {
                    ranges[after - 1] = previous.lowerBound...uid
                }
                return
            }
        }
        if joinsNext {
            ranges[after] = uid...ranges[after].upperBound
        } else {
            ranges.insert(uid...uid, at: after)
        }
    }

    public mutating func formUnion(_ uids: some Sequence<UInt32>) {
        for uid in uids { insert(uid) }
    }

    /// Keeps the UIDs still present. `isWhole` answers for a whole range where it can (a view in
    /// UID order holds a range whole when both ends are in it, as many places apart as the
    /// range is long), so the common update costs a lookup per range; a range it does not
    /// vouch for is checked UID by UID with `isPresent`.
    public mutating func removeAll(
        keepingWhole isWhole: (ClosedRange<UInt32>) -> Bool, keeping isPresent: (UInt32) -> Bool
    ) {
        guard ranges.contains(where: { !isWhole($0) }) else { return }
        var kept = UIDRanges()
        for range in ranges {
            if isWhole(range) {
                kept.ranges.append(range)
                continue
            }
            for uid in range where isPresent(uid) { kept.insert(uid) }
        }
        self = kept
    }

    /// The index of the first range whose lower bound is above `uid`.
    private func firstRange(startingAbove uid: UInt32) -> Int {
        var low = 0
        var high = ranges.count
        while low < high {
            let middle = low + (high - low) / 2
            if ranges[middle].lowerBound <= uid { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
