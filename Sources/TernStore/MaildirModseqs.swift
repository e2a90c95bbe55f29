package import TernMail
import TernSystem

/// The MODSEQs (RFC 7162 §3.1.1) of one Maildir's messages, kept in `tern-modseq` beside the
/// UID list so that they survive a restart.
///
/// A MODSEQ only has to grow: each change of a mailbox gets one larger than every MODSEQ given
/// before, and each message keeps the MODSEQ of its last change. The state a MODSEQ stands
/// for is a message's flags and keywords, which live in its file name; the file records, per
/// UID, the MODSEQ and a signature of that state (`MaildirFileName.stateSignature`). A listing
/// that finds a different state (mutt or Dovecot changed the flags, or the change was made
/// here but its record lost) gives the message a new MODSEQ, so a client asking for changes
/// since its last MODSEQ hears of it: the file may lag behind without harm, and is written
/// without a sync.
///
/// A new MODSEQ is the larger of the highest so far plus one and the clock in microseconds,
/// so one given after a crash that lost the end of the file is still larger than any a client
/// saw before it (as long as the clock did not step back across the crash).
///
/// Format, one record per line, the last for a UID wins:
///
///     <uid> <modseq> <signature, hex>      a message's state and its MODSEQ
///     x <modseq>                           an expunge (only the MODSEQ matters)
///
/// When the lines outnumber the messages by far, the file is written anew.
package struct MaildirModseqs: Sendable {
    static let fileName = "tern-modseq"

    package struct Entry: Sendable, Hashable {
        package var modseq: UInt64
        package var signature: UInt64
    }

    /// The largest value RFC 7162 §7 allows (mod-sequence-value is below 2^63).
    package static let largest = UInt64(Int64.max)

    package private(set) var highest: UInt64 = 0
    /// Records not written to the file yet, as the file's octets.
    private var unwritten: [UInt8] = []
    private var unwrittenLines = 0
    /// Lines in the file, to know when to compact it.
    private var lines = 0

    /// The file's records by UID, and the highest MODSEQ it holds. Lines that do not parse
    /// (a torn last line after a crash) are skipped.
    static func load(root: String) -> (entries: [UInt32: Entry], state: MaildirModseqs) {
        guard let octets = try? POSIXFile.readAll("\(root)/\(fileName)") else { return ([:], MaildirModseqs()) }
        return parse(octets)
    }

    /// The records of a `tern-modseq` file's octets; what does not parse is skipped. One pass
    /// over the octets, no allocation per line: the file of a large mailbox has a line per
    /// message, and it is read when the mailbox is first opened.
    package static func parse(_ octets: [UInt8]) -> (entries: [UInt32: Entry], state: MaildirModseqs) {
        var state = MaildirModseqs()
        var entries: [UInt32: Entry] = [:]
        var start = 0
        while start < octets.count {
            let end = octets[start...].firstIndex(of: UInt8(ascii: "\n")) ?? octets.count
            defer { start = end + 1 }
            let line = octets[start..<end]
            guard !line.isEmpty else { continue }
            state.lines += 1
            guard let (first, second, third) = fields(line) else { continue }
            if third == nil, let second, first.elementsEqual("x".utf8),
                let modseq = ASCIIDecimal.parse(octets: second, in: 1...Int64.max)
            {
                state.highest = max(state.highest, UInt64(modseq))
                continue
            }
            guard let second, let third, let uid = ASCIIDecimal.parse(octets: first, in: 1...Int64(UInt32.max)),
                let modseq = ASCIIDecimal.parse(octets: second, in: 1...Int64.max),
                let signature = hexadecimal(third)
            else { continue }
            entries[UInt32(uid)] = Entry(modseq: UInt64(modseq), signature: signature)
            state.highest = max(state.highest, UInt64(modseq))
        }
        return (entries, state)
    }

    /// A line's space-separated fields (nil past the last); nil when there are more than three.
    private static func fields(_ line: ArraySlice<UInt8>) -> (ArraySlice<UInt8>, ArraySlice<UInt8>?, ArraySlice<UInt8>?)? {
        let space = UInt8(ascii: " ")
        guard let firstEnd = line.firstIndex(of: space) else { return (line, nil, nil) }
        let rest = line[(firstEnd + 1)...]
        guard let secondEnd = rest.firstIndex(of: space) else { return (line[..<firstEnd], rest, nil) }
        let third = rest[(secondEnd + 1)...]
        return third.contains(space) ? nil : (line[..<firstEnd], rest[..<secondEnd], third)
    }

    /// 1 to 16 hexadecimal digits.
    private static func hexadecimal(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard (1...16).contains(digits.count) else { return nil }
        var value: UInt64 = 0
        for octet in digits {
            let digit: UInt8
            switch octet {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = octet - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = octet - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = octet - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }

    /// A MODSEQ larger than any given before, now.
    package mutating func next(clock: WallClock) -> UInt64 {
        let following = highest < Self.largest ? highest + 1 : Self.largest
        highest = min(Self.largest, max(following, clock.now().microseconds))
        return highest
    }

    /// Notes that message `uid` has `signature` as of `modseq`.
    package mutating func record(uid: UInt32, modseq: UInt64, signature: UInt64) {
        Self.appendRecord(uid: uid, modseq: modseq, signature: signature, to: &unwritten)
        unwrittenLines += 1
    }

    /// Notes an expunge made as of `modseq`: HIGHESTMODSEQ grows with it (§3.1.2.1).
    mutating func recordExpunge(modseq: UInt64) {
        unwritten.append(contentsOf: "x \(modseq)\n".utf8)
        unwrittenLines += 1
    }

    /// `<uid> <modseq> <signature, hex>` and a line end.
    private static func appendRecord(uid: UInt32, modseq: UInt64, signature: UInt64, to text: inout [UInt8]) {
        text.append(contentsOf: String(uid).utf8)
        text.append(UInt8(ascii: " "))
        text.append(contentsOf: String(modseq).utf8)
        text.append(UInt8(ascii: " "))
        text.append(contentsOf: String(signature, radix: 16).utf8)
        text.append(UInt8(ascii: "\n"))
    }

    /// What to write to the file: the unwritten records appended, or the whole file anew.
    package enum Flush: Sendable {
        case append([UInt8])
        case rewrite([UInt8])
    }

    /// Takes the unwritten records out as one write (cheap; call it under the caller's lock, and
    /// `write` outside it). The file is written anew from `current` (every message's entry, of
    /// `count` messages; asked for only then) when its lines would outnumber the messages by far.
    package mutating func takeFlush(count: Int, current: () -> [UInt32: Entry]) -> Flush? {
        guard !unwritten.isEmpty else { return nil }
        defer {
            unwritten.removeAll()
            unwrittenLines = 0
        }
        guard lines + unwrittenLines > 2 * count + 1024 else {
            lines += unwrittenLines
            return .append(unwritten)
        }
        let entries = current()
        var text = Array("x \(highest)\n".utf8)
        text.reserveCapacity(entries.count * 24)
        for (uid, entry) in entries.sorted(by: { $0.key < $1.key }) {
            Self.appendRecord(uid: uid, modseq: entry.modseq, signature: entry.signature, to: &text)
        }
        lines = entries.count + 1
        return .rewrite(text)
    }

    /// Writes a flush to the Maildir at `root`. Not synced: a record lost in a crash only gives
    /// its message a new MODSEQ at the next listing.
    static func write(_ flush: Flush, root: String) throws {
        let path = "\(root)/\(fileName)"
        switch flush {
        case .append(let text):
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw StoreError.posix("open \(path)", errno: errno) }
            defer { POSIXFile.close(fd) }
            try text.withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
        case .rewrite(let text):
            let temporary = "\(path).\(UInt64.random(in: 0...UInt64.max)).tmp"
            let fd = try POSIXFile.create(temporary)
            defer { POSIXFile.close(fd) }
            try text.withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
            try POSIXFile.rename(temporary, path)
        }
    }

    /// Merges what was loaded from the file into a state that already gave MODSEQs (to messages
    /// appended before the first listing).
    mutating func merge(loaded: MaildirModseqs) {
        highest = max(highest, loaded.highest)
        lines = loaded.lines
    }
}
