/// One message of a Maildir as this process last listed it: what a snapshot reports, and
/// where its file is.
struct Listed {
    var message: MailboxMessage
    /// The file's name, in `cur/` or `new/`.
    var name: String
    /// In `cur/`, else in `new/`.
    var inCur: Bool
    /// The state its MODSEQ stands for (flags and keyword letters of the name).
    var signature: UInt64

    init(message: MailboxMessage, name: String, inCur: Bool, signature: UInt64? = nil) {
        self.message = message
        self.name = name
        self.inCur = inCur
        self.signature = signature ?? MaildirFileName(name).stateSignature
    }

    /// Relative to the Maildir: `new/<name>` or `cur/<name>`.
    var path: String { (inCur ? "cur/" : "new/") + name }
}

/// The messages of a Maildir as this process last listed them, by UID.
///
/// Held for as long as the mailbox is open, so every octet per message counts: a listing of
/// 100,000 messages is two arrays in UID order (the messages, which snapshots share rather than
/// copy, and 16 octets per file) and one buffer of file names end to end, not a dictionary and
/// a heap string per message.
struct ListedMessages {
    /// Ascending by UID.
    private(set) var messages: [MailboxMessage] = []
    /// Parallel to `messages`.
    private var files: [File] = []
    private var names = NameBuffer()

    /// Where a file's name is in `names`, and which directory it is in (16 octets).
    private struct File {
        /// In `cur/` (bit 63), the name's offset (bits 16 to 62) and length (bits 0 to 15).
        var place: UInt64
        var signature: UInt64

        init(offset: Int, length: Int, inCur: Bool, signature: UInt64) {
            place = (inCur ? 1 << 63 : 0) | UInt64(offset) << 16 | UInt64(length)
            self.signature = signature
        }

        var inCur: Bool { place >> 63 == 1 }
        var offset: Int { Int(place >> 16 & (1 << 47 - 1)) }
        var length: Int { Int(place & 0xFFFF) }
    }

    init() {}

    /// `listed`, which must be ascending by UID with no UID twice.
    init(ascending listed: [Listed]) {
        messages = listed.map(\.message)
        files.reserveCapacity(listed.count)
        names.reserveCapacity(listed.reduce(0) { $0 + $1.name.utf8.count })
        for entry in listed { files.append(file(for: entry)) }
    }

    var count: Int { messages.count }
    var isEmpty: Bool { messages.isEmpty }
    var uids: [UInt32] { messages.map(\.uid) }

    func contains(_ uid: UInt32) -> Bool { index(of: uid) != nil }

    /// The message with `uid` and the state its MODSEQ stands for, without making its name.
    func state(of uid: UInt32) -> (message: MailboxMessage, signature: UInt64)? {
        index(of: uid).map { (messages[$0], files[$0].signature) }
    }

    /// Every message's UID, MODSEQ and state signature, ascending by UID.
    var modseqs: [(uid: UInt32, modseq: UInt64, signature: UInt64)] {
        zip(messages, files).map { ($0.uid, $0.modseq, $1.signature) }
    }

    subscript(uid: UInt32) -> Listed? {
        get { index(of: uid).map { listed(at: $0) } }
        set {
            let position = insertionPoint(of: uid)
            let present = position < messages.count && messages[position].uid == uid
            if present { names.release(files[position].length) }
            switch (newValue, present) {
            case (let listed?, true):
                messages[position] = listed.message
                files[position] = file(for: listed)
            case (let listed?, false):
                messages.insert(listed.message, at: position)
                files.insert(file(for: listed), at: position)
            case (nil, true):
                messages.remove(at: position)
                files.remove(at: position)
            case (nil, false):
                break
            }
            if names.isMostlyReleased { compactNames() }
        }
    }

    mutating func removeValue(forKey uid: UInt32) -> Listed? {
        guard let listed = self[uid] else { return nil }
        self[uid] = nil
        return listed
    }

    /// Sets `isRecent` off for every message.
    mutating func clearRecent(_ uids: [UInt32]) {
        for uid in uids {
            if let position = index(of: uid) { messages[position].isRecent = false }
        }
    }

    /// What changed from `old` to this listing: UIDs gone, messages new, and messages whose
    /// flags or keywords differ, each ascending (one walk over both, in UID order).
    func changes(since old: ListedMessages) -> (expunged: [UInt32], appended: [MailboxMessage], flagged: [MailboxMessage]) {
        var (expunged, appended, flagged) = ([UInt32](), [MailboxMessage](), [MailboxMessage]())
        var (i, j) = (0, 0)
        let (before, after) = (old.messages, messages)
        while i < before.count || j < after.count {
            if j == after.count || (i < before.count && before[i].uid < after[j].uid) {
                expunged.append(before[i].uid)
                i += 1
            } else if i == before.count || after[j].uid < before[i].uid {
                appended.append(after[j])
                j += 1
            } else {
                if before[i].flags != after[j].flags || before[i].keywords != after[j].keywords { flagged.append(after[j]) }
                i += 1
                j += 1
            }
        }
        return (expunged, appended, flagged)
    }

    // MARK: Names

    /// Stores `listed`'s name and says where it is.
    private mutating func file(for listed: Listed) -> File {
        let name = listed.name.utf8.prefix(Int(UInt16.max))
        let offset = names.append(name)
        return File(offset: offset, length: name.count, inCur: listed.inCur, signature: listed.signature)
    }

    /// Writes the buffer anew with only the names still in use, in UID order.
    private mutating func compactNames() {
        var fresh = NameBuffer()
        fresh.reserveCapacity(names.live)
        for position in files.indices {
            let old = files[position]
            let offset = fresh.append(names[old.offset, old.length])
            files[position] = File(offset: offset, length: old.length, inCur: old.inCur, signature: old.signature)
        }
        names = fresh
    }

    // MARK: Positions

    private func listed(at position: Int) -> Listed {
        let file = files[position]
        return Listed(
            message: messages[position], name: String(decoding: names[file.offset, file.length], as: UTF8.self),
            inCur: file.inCur, signature: file.signature)
    }

    private func index(of uid: UInt32) -> Int? {
        let position = insertionPoint(of: uid)
        return position < messages.count && messages[position].uid == uid ? position : nil
    }

    /// The first position whose UID is not below `uid`.
    private func insertionPoint(of uid: UInt32) -> Int {
        // Appends come in UID order: the end is the usual answer.
        if let last = messages.last, last.uid < uid { return messages.count }
        var (low, high) = (0, messages.count)
        while low < high {
            let middle = low + (high - low) / 2
            if messages[middle].uid < uid { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// File names end to end in one buffer. A name replaced (a message renamed for its flags) or
/// removed stays until most of the buffer is such names; then the listing writes it anew.
private struct NameBuffer {
    private var octets: [UInt8] = []
    /// Octets of names no longer in use.
    private var released = 0

    var live: Int { octets.count - released }
    var isMostlyReleased: Bool { released > 64 * 1024 && released > live }

    mutating func reserveCapacity(_ count: Int) { octets.reserveCapacity(count) }

    /// Adds `name` and returns its offset.
    mutating func append(_ name: some Collection<UInt8>) -> Int {
        let offset = octets.count
        octets.append(contentsOf: name)
        return offset
    }

    mutating func release(_ length: Int) { released += length }

    subscript(offset: Int, length: Int) -> ArraySlice<UInt8> { octets[offset..<offset + length] }
}
