public import NIOCore
public import TernMail

/// The selected mailbox as this session has shown it to the client (RFC 9051 §2.3.1.2, §7.4).
///
/// Message sequence numbers are positions in the client's view, which changes only when the
/// client is told: a message that another session or a delivery adds, flags or expunges is
/// recorded as pending and reported at a point where the protocol allows it
/// (`writeUpdates`), never in the middle of a command that names messages by sequence number
/// (§7.5.1: no EXPUNGE during FETCH, STORE or SEARCH). Recording is idempotent: the mailbox's
/// change feed also reports this session's own changes, which are already in the view.
public struct SelectedMailbox: Sendable {
    public struct Message: Sendable, Hashable {
        public var uid: UInt32
        public var flags: MessageFlags
        public var keywords: [String]
        /// RFC 7162's MODSEQ of its last change.
        public var modseq: UInt64

        public init(uid: UInt32, flags: MessageFlags, keywords: [String] = [], modseq: UInt64 = 0) {
            self.uid = uid
            self.flags = flags
            self.keywords = keywords
            self.modseq = modseq
        }
    }

    /// A change to report.
    public enum Change: Sendable, Hashable {
        case appended([Message])
        /// Messages as they are after the change.
        case flagsChanged([Message])
        case expunged([UInt32])
    }

    public let readOnly: Bool
    public let uidValidity: UInt32
    public private(set) var uidNext: UInt32
    /// The client's view, ascending by UID: the message with sequence number n is at n - 1.
    public private(set) var messages: [Message]
    /// The last `SEARCH RETURN (SAVE)` result, as UIDs so it survives expunges (RFC 5182 §2.1).
    public var savedSearch: [UInt32] = []
    private var pending: [Change] = []

    public init(uidValidity: UInt32, uidNext: UInt32, messages: [Message], readOnly: Bool) {
        self.uidValidity = uidValidity
        self.uidNext = uidNext
        self.messages = messages
        self.readOnly = readOnly
    }

    public var count: Int { messages.count }

    /// Whether changes wait to be reported.
    public var hasPendingChanges: Bool { !pending.isEmpty }

    /// The index of the message with `uid`, by binary search.
    public func index(ofUID uid: UInt32) -> Int? {
        let found = lowerBound(uid)
        return found < messages.count && messages[found].uid == uid ? found : nil
    }

    /// The first index whose UID is not below `uid`.
    private func lowerBound(_ uid: UInt32) -> Int {
        var low = 0
        var high = messages.count
        while low < high {
            let middle = low + (high - low) / 2
            if messages[middle].uid < uid { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The indices a set names, ascending, each once. For UIDs, numbers without a message are
    /// skipped (§6.4.8); for sequence numbers, one beyond the view is an error (nil; the
    /// caller answers BAD), except where `*` stands for the last. Costs the size of the answer
    /// plus a binary search per range, never the size of the ranges.
    public func resolve(_ set: SequenceSet, byUID: Bool) -> [Int]? {
        if case .savedResult = set {
            return savedSearch.compactMap { index(ofUID: $0) }
        }
        var indices: [Int] = []
        if byUID {
            let largest = messages.last?.uid ?? 0
            for range in set.ranges(largest: largest) {
                var position = lowerBound(range.lowerBound)
                while position < messages.count, messages[position].uid <= range.upperBound {
                    indices.append(position)
                    position += 1
                }
            }
        } else {
            let largest = UInt32(clamping: messages.count)
            for range in set.ranges(largest: largest) {
                guard range.upperBound <= largest else { return nil }
                guard range.lowerBound >= 1 else { continue }
                indices.append(contentsOf: Int(range.lowerBound - 1)...Int(range.upperBound - 1))
            }
        }
        return indices
    }

    /// Records a change of the mailbox, to report later.
    public mutating func record(_ change: Change) {
        pending.append(change)
    }

    /// Applies the pending changes to the view and writes what the client must be told:
    /// `* n EXPUNGE` (or one `* VANISHED` when `vanished`, RFC 7162 §3.2.10), `* n EXISTS`,
    /// and `* n FETCH (UID u FLAGS (...))` for flags that changed, with `MODSEQ (m)` when
    /// `modseq` (CONDSTORE is on, §3.1.4). When expunges may not be sent now, nothing is (EXISTS
    /// must count what the client still sees).
    public mutating func writeUpdates(
        expungesAllowed: Bool, vanished: Bool = false, modseq: Bool = false, to buffer: inout ByteBuffer
    ) {
        guard !pending.isEmpty else { return }
        if !expungesAllowed, pending.contains(where: { if case .expunged = $0 { true } else { false } }) { return }
        let changes = pending
        pending.removeAll()
        var appended = false
        var changedFlags: Set<UInt32> = []
        for change in changes {
            switch change {
            case .expunged(let uids):
                // The client must count the messages added so far before an EXPUNGE numbers
                // them: an EXPUNGE past the EXISTS it knows is a protocol error.
                if appended {
                    buffer.writeString("* \(messages.count) EXISTS\r\n")
                    appended = false
                }
                expunge(uids, vanished: vanished, to: &buffer)
            case .appended(let added):
                // UIDs ascend and are never reused: one below UIDNEXT was shown already (and may
                // have been expunged since), so only the ones from UIDNEXT up are new.
                for message in added where message.uid >= uidNext {
                    messages.append(message)
                    uidNext = max(uidNext, message.uid &+ 1)
                    appended = true
                }
            case .flagsChanged(let changed):
                for message in changed {
                    guard let position = index(ofUID: message.uid) else { continue }
                    // A change older than what the view shows (another session's, reported
                    // after this session's own later STORE) must not undo it: MODSEQs order them.
                    guard message.modseq >= messages[position].modseq || message.modseq == 0 else { continue }
                    messages[position].modseq = max(messages[position].modseq, message.modseq)
                    guard messages[position].flags != message.flags || messages[position].keywords != message.keywords
                    else { continue }
                    messages[position].flags = message.flags
                    messages[position].keywords = message.keywords
                    changedFlags.insert(message.uid)
                }
            }
        }
        if appended { buffer.writeString("* \(messages.count) EXISTS\r\n") }
        for uid in changedFlags.sorted() {
            guard let position = index(ofUID: uid) else { continue }
            writeFlags(at: position, modseq: modseq, to: &buffer)
        }
    }

    /// Removes the messages with `uids` from the view (an EXPUNGE of this session or another's)
    /// and writes their EXPUNGE responses, highest sequence number first so each number is
    /// right when the client reads it.
    public mutating func expunge(_ uids: [UInt32], vanished: Bool = false, to buffer: inout ByteBuffer) {
        let positions = uids.compactMap { index(ofUID: $0) }.sorted(by: >)
        guard !positions.isEmpty else { return }
        if vanished {
            let removed = positions.map { messages[$0].uid }.sorted()
            buffer.writeString("* VANISHED \(Self.compress(removed))\r\n")
        } else {
            for position in positions { buffer.writeString("* \(position + 1) EXPUNGE\r\n") }
        }
        for position in positions { messages.remove(at: position) }
    }

    /// Sets the flags of messages this session changed (STORE), as the store reports them.
    /// Returns the indices whose flags the client has not seen yet.
    public mutating func setFlags(_ changed: [Message]) -> [Int] {
        var indices: [Int] = []
        for message in changed {
            guard let position = index(ofUID: message.uid) else { continue }
            messages[position].flags = message.flags
            messages[position].keywords = message.keywords
            messages[position].modseq = max(messages[position].modseq, message.modseq)
            indices.append(position)
        }
        return indices
    }

    /// Adds messages this session appended or copied into the selected mailbox.
    public mutating func add(_ added: [Message]) {
        record(.appended(added))
    }

    /// `* n FETCH (UID u FLAGS (...))`, and ` MODSEQ (m)` with `modseq`; without `flags`, only
    /// the UID and MODSEQ (a STORE .SILENT under CONDSTORE, RFC 7162 §3.1.3).
    public func writeFlags(at position: Int, modseq: Bool = false, flags: Bool = true, to buffer: inout ByteBuffer) {
        let message = messages[position]
        buffer.writeString("* \(position + 1) FETCH (UID \(message.uid)")
        if flags {
            buffer.writeStaticString(" FLAGS ")
            message.flags.writeIMAP(keywords: message.keywords, to: &buffer)
        }
        if modseq { buffer.writeString(" MODSEQ (\(message.modseq))") }
        buffer.writeStaticString(")\r\n")
    }

    /// The UIDs of `set` below UIDNEXT that are not in the view, as a compressed set: what
    /// QRESYNC's `VANISHED (EARLIER)` reports (RFC 7162 §3.2.5.1 lets it name expunged UIDs the
    /// client never saw). Costs the view and the set's ranges, never the ranges' sizes.
    public func missing(from set: SequenceSet?) -> String {
        guard uidNext > 1 else { return "" }
        let last = uidNext - 1
        var parts: [String] = []
        for range in set?.ranges(largest: last) ?? [1...last] where range.lowerBound <= last {
            let upper = min(range.upperBound, last)
            // `next` is the first UID of the range not yet accounted for.
            var next = range.lowerBound
            var position = lowerBound(next)
            while next <= upper {
                guard position < messages.count, messages[position].uid <= upper else {
                    parts.append(next == upper ? "\(next)" : "\(next):\(upper)")
                    break
                }
                let present = messages[position].uid
                if present > next { parts.append(present - 1 == next ? "\(next)" : "\(next):\(present - 1)") }
                next = present + 1  // present <= last < UInt32.max
                position += 1
            }
        }
        return parts.joined(separator: ",")
    }

    /// Ascending numbers as a sequence set with ranges: `1:3,7,9:10`.
    public static func compress(_ numbers: [UInt32]) -> String {
        var parts: [String] = []
        var index = 0
        while index < numbers.count {
            var end = index
            while end + 1 < numbers.count, numbers[end + 1] == numbers[end] &+ 1 { end += 1 }
            parts.append(end == index ? "\(numbers[index])" : "\(numbers[index]):\(numbers[end])")
            index = end + 1
        }
        return parts.joined(separator: ",")
    }
}
