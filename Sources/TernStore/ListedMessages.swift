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
    /// Where the UID list holds the name's key, when the listing was just numbered: the
    /// listing then keeps only the rest of the name.
    var key: MaildirKeyTable.Ref?

    init(message: MailboxMessage, name: String, inCur: Bool, signature: UInt64? = nil, key: MaildirKeyTable.Ref? = nil) {
        self.message = message
        self.name = name
        self.inCur = inCur
        self.signature = signature ?? MaildirFileName(name).stateSignature
        self.key = key
    }

    /// Relative to the Maildir: `new/<name>` or `cur/<name>`.
    var path: String { (inCur ? "cur/" : "new/") + name }
}

/// The messages of a Maildir as this process last listed them, by UID.
///
/// Held for as long as the mailbox is open, so every octet per message counts: a listing of
/// 100,000 messages is two arrays in UID order (the messages, which snapshots share rather than
/// copy, and 16 octets per file) and one buffer of names end to end, not a dictionary and a
/// heap string per message. A name's key (most of it: `1733412345.K21C6NQAYSCYGRZH.host`) is
/// read from the UID list's storage, which holds it anyway; the buffer keeps the rest
/// (`,S=2092:2,S`). The state a MODSEQ stands for is read from that rest when asked.
struct ListedMessages {
    /// Ascending by UID.
    private(set) var messages: [MailboxMessage] = []
    /// Parallel to `messages`.
    private var files: [File] = []
    private var names = NameBuffer()
    /// The UID list's keys as they were when this listing was numbered.
    private var keys = MaildirKeyTable.Storage()

    /// Where a file's name is: its key in `keys` (none when `keyLength` is 0: the buffer then
    /// holds the whole name), the rest in `names`, and which directory it is in (16 octets).
    private struct File {
        /// In `cur/` (bit 63), the offset in `names` (bits 16 to 62) and length (bits 0 to 15).
        var place: UInt64
        var keyOffset: UInt32
        var keyLength: UInt8

        init(offset: Int, length: Int, inCur: Bool, key: MaildirKeyTable.Ref?) {
            place = (inCur ? 1 << 63 : 0) | UInt64(offset) << 16 | UInt64(length)
            keyOffset = key?.offset ?? 0
            keyLength = key?.length ?? 0
        }

        var inCur: Bool { place >> 63 == 1 }
        var offset: Int { Int(place >> 16 & (1 << 47 - 1)) }
        var length: Int { Int(place & 0xFFFF) }
        var key: MaildirKeyTable.Ref? { keyLength == 0 ? nil : MaildirKeyTable.Ref(offset: keyOffset, length: keyLength) }
    }

    init() {}

    /// `listed`, which must be ascending by UID with no UID twice; the keys their `key`s point
    /// to are in `keys`.
    init(ascending listed: [Listed], keys: MaildirKeyTable.Storage = .init()) {
        self.keys = keys
        messages = listed.map(\.message)
        files.reserveCapacity(listed.count)
        names.reserveCapacity(listed.reduce(0) { $0 + $1.name.utf8.count - Int($1.key?.length ?? 0) })
        for entry in listed { files.append(file(for: entry.name, inCur: entry.inCur, key: entry.key)) }
    }

    var count: Int { messages.count }
    var isEmpty: Bool { messages.isEmpty }
    var uids: [UInt32] { messages.map(\.uid) }

    func contains(_ uid: UInt32) -> Bool { index(of: uid) != nil }

    /// The message with `uid` and the state its MODSEQ stands for, without making its name.
    func state(of uid: UInt32) -> (message: MailboxMessage, signature: UInt64)? {
        index(of: uid).map { (messages[$0], signature(at: $0)) }
    }

    /// Every message's UID, MODSEQ and state signature, ascending by UID.
    var modseqs: [(uid: UInt32, modseq: UInt64, signature: UInt64)] {
        messages.indices.map { (messages[$0].uid, messages[$0].modseq, signature(at: $0)) }
    }

    subscript(uid: UInt32) -> Listed? {
        get { index(of: uid).map { listed(at: $0) } }
        set {
            let position = insertionPoint(of: uid)
            let present = position < messages.count && messages[position].uid == uid
            // A renamed file keeps its key: the old name's key, read where it is, if the new
            // name still starts with it.
            let key = present ? files[position].key.flatMap { key in newValue?.name.utf8.starts(with: keys[key]) == true ? key : nil } : nil
            if present { names.release(files[position].length) }
            switch (newValue, present) {
            case (let listed?, true):
                messages[position] = listed.message
                files[position] = file(for: listed.name, inCur: listed.inCur, key: key)
            case (let listed?, false):
                messages.insert(listed.message, at: position)
                files.insert(file(for: listed.name, inCur: listed.inCur, key: nil), at: position)
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

    /// Stores `name` (what follows `key`, when the name starts with it) and says where it is.
    private mutating func file(for name: String, inCur: Bool, key: MaildirKeyTable.Ref?) -> File {
        var rest = Substring(name).utf8
        var key = key
        if let known = key, rest.starts(with: keys[known]) {
            rest = rest.dropFirst(Int(known.length))
        } else {
            key = nil
        }
        rest = rest.prefix(Int(UInt16.max))
        let offset = names.append(rest)
        return File(offset: offset, length: rest.count, inCur: inCur, key: key)
    }

    /// Writes the buffer anew with only the names still in use, in UID order.
    private mutating func compactNames() {
        var fresh = NameBuffer()
        fresh.reserveCapacity(names.live)
        for position in files.indices {
            let old = files[position]
            let offset = fresh.append(names[old.offset, old.length])
            files[position] = File(offset: offset, length: old.length, inCur: old.inCur, key: old.key)
        }
        names = fresh
    }

    // MARK: Positions

    private func listed(at position: Int) -> Listed {
        let file = files[position]
        var name = file.key.map { String(decoding: keys[$0], as: UTF8.self) } ?? ""
        name += String(decoding: names[file.offset, file.length], as: UTF8.self)
        return Listed(message: messages[position], name: name, inCur: file.inCur)
    }

    /// The state the MODSEQ of the message at `position` stands for, from its name's flags
    /// (after the key, which holds no `:`).
    private func signature(at position: Int) -> UInt64 {
        let file = files[position]
        return MaildirFileName(String(decoding: names[file.offset, file.length], as: UTF8.self)).stateSignature
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
        octets.appendOctets(name)
        return offset
    }

    mutating func release(_ length: Int) { released += length }

    subscript(offset: Int, length: Int) -> ArraySlice<UInt8> { octets[offset..<offset + length] }
}
