/// One message of a Maildir as this process last listed it: what a snapshot reports, and
/// where its file is.
struct Listed {
    var message: MailboxMessage
    var file: ListedFile

    init(message: MailboxMessage, name: String, inCur: Bool, signature: UInt64? = nil) {
        self.message = message
        file = ListedFile(
            name: name, key: message.key, inCur: inCur, signature: signature ?? MaildirFileName(name).stateSignature)
    }

    init(message: MailboxMessage, file: ListedFile) {
        self.message = message
        self.file = file
    }

    /// The file's name, in `cur/` or `new/`.
    var name: String {
        get { file.name(key: message.key) }
        set { file = ListedFile(name: newValue, key: message.key, inCur: file.inCur, signature: file.signature) }
    }

    /// In `cur/`, else in `new/`.
    var inCur: Bool {
        get { file.inCur }
        set { file.inCur = newValue }
    }

    /// The state its MODSEQ stands for (flags and keyword letters of the name).
    var signature: UInt64 {
        get { file.signature }
        set { file.signature = newValue }
    }

    /// Relative to the Maildir: `new/<name>` or `cur/<name>`.
    var path: String { (inCur ? "cur/" : "new/") + name }
}

/// Where a listed message's file is, without the message's key (32 octets).
struct ListedFile {
    /// The file's name after the message's key (`,S=2092:2,S`): short enough that the string
    /// holds it inline, without an allocation of its own. The whole name when it does not start
    /// with the key (no name Tern or another reader makes).
    private var suffix: String
    private var suffixIsName: Bool
    var inCur: Bool
    var signature: UInt64

    init(name: String, key: String, inCur: Bool, signature: UInt64) {
        self.inCur = inCur
        self.signature = signature
        if name.utf8.starts(with: key.utf8) {
            suffix = String(Substring(name.utf8.dropFirst(key.utf8.count)))
            suffixIsName = false
        } else {
            suffix = name
            suffixIsName = true
        }
    }

    func name(key: String) -> String { suffixIsName ? suffix : key + suffix }
}

/// The messages of a Maildir as this process last listed them, by UID.
///
/// Two arrays in UID order rather than a dictionary: a listing of 100,000 messages is held for
/// as long as the mailbox is open, and every octet per message counts. The messages array is
/// the one snapshots return, shared with them (copy on write), not a second copy.
struct ListedMessages {
    /// Ascending by UID.
    private(set) var messages: [MailboxMessage] = []
    /// Parallel to `messages`.
    private var files: [ListedFile] = []

    init() {}

    /// `listed`, which must be ascending by UID with no UID twice.
    init(ascending listed: [Listed]) {
        messages = listed.map(\.message)
        files = listed.map(\.file)
    }

    var count: Int { messages.count }
    var isEmpty: Bool { messages.isEmpty }
    var uids: [UInt32] { messages.map(\.uid) }

    func contains(_ uid: UInt32) -> Bool { index(of: uid) != nil }

    /// Every message with its file, ascending by UID.
    var all: [Listed] { messages.indices.map { listed(at: $0) } }

    subscript(uid: UInt32) -> Listed? {
        get { index(of: uid).map { listed(at: $0) } }
        set {
            let position = insertionPoint(of: uid)
            let present = position < messages.count && messages[position].uid == uid
            switch (newValue, present) {
            case (let listed?, true):
                messages[position] = listed.message
                files[position] = listed.file
            case (let listed?, false):
                messages.insert(listed.message, at: position)
                files.insert(listed.file, at: position)
            case (nil, true):
                messages.remove(at: position)
                files.remove(at: position)
            case (nil, false):
                break
            }
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

    // MARK: Positions

    private func listed(at position: Int) -> Listed {
        Listed(message: messages[position], file: files[position])
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
