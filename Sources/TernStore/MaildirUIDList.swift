import TernMail
import TernSystem
import NIOConcurrencyHelpers

/// The UIDs of one Maildir's messages, for IMAP (RFC 9051 §2.3.1.1: UIDs strictly ascending
/// in arrival order, never reused while UIDVALIDITY stays) and POP3's UIDL (RFC 1939 §7).
///
/// Maildir file names change when a reader moves a message to `cur/` or sets a flag
/// (`:2,S`), so a message is known by its *key*: the file name up to the first `,` or `:`
/// (`<arrival>.<QueueID>.<host>` for Tern's deliveries). The list lives in the Maildir, in
/// the file `tern-uidlist`, like Dovecot's `dovecot-uidlist`:
///
///     tern-uidlist 1 V<uidvalidity> N<next uid>
///     <uid> <key>
///     ...
///
/// Delivery appends one line and syncs it (O(1) per message); `rebuild` rewrites the file from
/// what is in `new/` and `cur/`, keeping the UIDs of messages it already knew. The Maildir
/// stays the truth: a message whose line was lost in a crash gets a UID at the next rebuild
/// (`tern repair`). Every access holds an exclusive `flock` on the file, so `tern repair` and a
/// running server never interleave their writes.
///
/// The methods block: call them on a thread pool.
public final class MaildirUIDList: Sendable {
    public static let fileName = "tern-uidlist"

    public struct Entry: Sendable, Hashable {
        public var uid: UInt32
        public var key: String
    }

    public struct RebuildReport: Sendable, Hashable {
        public var messages: Int
        /// Messages that had no UID and got one.
        public var added: Int
        /// UIDs whose message is gone.
        public var removed: Int
        /// The list was missing or unreadable: a new UIDVALIDITY, every message numbered anew.
        public var renumbered: Bool
        public var uidValidity: UInt32
    }

    struct Contents: Sendable {
        var uidValidity: UInt32
        var nextUID: UInt32
        var uids: MaildirKeyTable
        /// What the file looked like when read: a different inode or size means another
        /// process changed it.
        var inode: UInt64
        var size: Int
        /// The octets up to the last complete line; less than `size` after a torn append.
        var validLength: Int = 0
    }

    public let maildir: String
    let path: String
    private let cache = NIOLockedValueBox<Contents?>(nil)

    public init(maildir: String) {
        self.maildir = maildir
        self.path = "\(maildir)/\(Self.fileName)"
    }

    /// The key of a Maildir file name: up to the first `,` (Tern's `,S=size`) or `:` (flags).
    public static func key(ofFileName name: String) -> String {
        // Cut on octets: both are ASCII, so the first either octet ends the key on a scalar
        // boundary (not always a Character's: U+0600 joins the `:` after it, so no String slicing).
        String(decoding: name.utf8.prefix(keyLength(ofFileName: name)), as: UTF8.self)
    }

    /// How many octets of `name` its key is (`key(ofFileName:)`), without making the key.
    static func keyLength(ofFileName name: String) -> Int {
        let ends = { (octet: UInt8) in octet == UInt8(ascii: ",") || octet == UInt8(ascii: ":") }
        return name.utf8.withContiguousStorageIfAvailable { $0.firstIndex(where: ends) ?? $0.count }
            ?? name.utf8.prefix { !ends($0) }.count
    }

    /// Whether `key` can have a line in the list: a file name's start (at most `NAME_MAX`
    /// octets), without the space that ends a line's UID or a line break. A file another
    /// program named so is left out of listings rather than make the list unreadable.
    public static func canNumber(_ key: String) -> Bool { canNumber(key.utf8) }

    static func canNumber(_ key: some Collection<UInt8>) -> Bool {
        (1...MaildirKeyTable.longestKey).contains(key.count)
            && !key.contains { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") }
    }

    /// The UID of `key`, assigning the next one (durably) if it has none.
    public func assign(_ key: String, now: Int64) throws -> UInt32 {
        try assign([key], now: now)[0]
    }

    /// The UIDs of `keys`, in order, assigning the next ones to those without: one append and
    /// one sync for all of them (the group commit of `UIDAssigner`).
    public func assign(_ keys: [String], now: Int64) throws -> [UInt32] {
        try number(keys.map(\.utf8), now: now).uids
    }

    /// What a mailbox listing needs from the list in one locked pass.
    public struct Numbering: Sendable {
        public var uidValidity: UInt32
        /// The UID the next new message will get (IMAP's UIDNEXT).
        public var nextUID: UInt32
        /// The UIDs of the keys asked for, in their order.
        public var uids: [UInt32]
        /// Where the list holds each key asked for, in `keys`: a listing reads its names' keys
        /// from there rather than hold them again.
        var keyRefs: [MaildirKeyTable.Ref] = []
        var keys = MaildirKeyTable.Storage()
    }

    /// As `assign`, with the list's UIDVALIDITY and next UID after the assignment.
    ///
    /// UIDs are 32-bit and never reused (RFC 9051 §2.3.1.1): when the next ones would pass
    /// 2^32 - 1 this throws, and `rebuild` starts the list over with a new UIDVALIDITY.
    func number<Key: Collection<UInt8>>(_ keys: [Key], now: Int64) throws -> Numbering {
        try withLockedFile { fd, contents in
            var uids: [UInt32] = []
            uids.reserveCapacity(keys.count)
            var refs: [MaildirKeyTable.Ref] = []
            refs.reserveCapacity(keys.count)
            // A mailbox seen for the first time numbers every message: index them all at once.
            if contents.uids.isEmpty, keys.count >= 1024 {
                contents.uids.reserveCapacity(adding: keys.count, keyOctets: keys.reduce(0) { $0 + $1.count })
            }
            // New keys go into the table as they are numbered, in UID order (the file's), so a
            // key twice in `keys` gets one UID. Should the append below fail, the table is
            // dropped with the rest of `contents` (`withLockedFile` caches it only on success).
            let firstNew = contents.nextUID
            var added: UInt32 = 0
            // The new lines, as octets.
            var line: [UInt8] = []
            for key in keys {
                guard Self.canNumber(key) else {
                    throw StoreError(code: .io, errno: 0, operation: "number \(path): not a Maildir key: \(String(decoding: key, as: UTF8.self).debugDescription)")
                }
                let (candidate, overflowed) = firstNew.addingReportingOverflow(added)
                let entry: (uid: UInt32, key: MaildirKeyTable.Ref, inserted: Bool)
                if overflowed || candidate == .max {
                    guard let found = contents.uids.find(key) else {
                        throw StoreError(code: .io, errno: 0, operation: "number \(path): UIDs exhausted; run tern repair")
                    }
                    entry = (found.uid, found.key, false)
                } else {
                    guard let found = contents.uids.findOrInsert(key, uid: candidate) else {
                        // Past what the table can hold (4 GiB of keys): the next access reads the file.
                        throw StoreError(code: .io, errno: 0, operation: "number \(path): too many messages to hold")
                    }
                    entry = found
                }
                uids.append(entry.uid)
                refs.append(entry.key)
                guard entry.inserted else { continue }
                added += 1
                line.append(contentsOf: String(entry.uid).utf8)
                line.append(UInt8(ascii: " "))
                line.appendOctets(key)
                line.append(UInt8(ascii: "\n"))
            }
            if added > 0 {
                if contents.validLength < contents.size {
                    // Cut a line torn by a crash, so the new one starts on a line of its own.
                    guard ftruncate(fd, off_t(contents.validLength)) == 0 else {
                        throw StoreError.posix("ftruncate \(path)", errno: errno)
                    }
                    contents.size = contents.validLength
                }
                guard lseek(fd, 0, SEEK_END) >= 0 else { throw StoreError.posix("lseek \(path)", errno: errno) }
                try line.withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
                try POSIXFile.dataSync(fd)
                contents.nextUID += added
                contents.size += line.count
                contents.validLength = contents.size
            }
            return Numbering(
                uidValidity: contents.uidValidity, nextUID: contents.nextUID, uids: uids, keyRefs: refs,
                keys: contents.uids.storage)
        } create: {
            Contents(uidValidity: Self.validity(now), nextUID: 1, uids: MaildirKeyTable(), inode: 0, size: 0)
        }
    }

    /// UIDVALIDITY and every message's UID, in UID order.
    public func entries() throws -> (uidValidity: UInt32, entries: [Entry]) {
        try withLockedFile { _, contents in
            var entries: [Entry] = []
            entries.reserveCapacity(contents.uids.count)
            contents.uids.forEach { key, uid in entries.append(Entry(uid: uid, key: key)) }
            return (contents.uidValidity, entries)
        } create: {
            nil
        }
    }

    /// Makes the list match the Maildir: messages keep their UIDs, new ones get the next UIDs
    /// in arrival order (file name order, which starts with the arrival time), vanished ones
    /// are dropped. A missing or damaged list starts over with a new UIDVALIDITY, as IMAP asks
    /// when UIDs cannot be kept (RFC 9051 §2.3.1.1).
    public func rebuild(now: Int64) throws -> RebuildReport {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError.posix("open \(path)", errno: errno) }
        defer { POSIXFile.close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw StoreError.posix("flock \(path)", errno: errno) }
        let existing = try? Self.read(fd, path: path)
        var keys: [String] = []
        for directory in ["new", "cur"] {
            for name in try POSIXFile.list("\(maildir)/\(directory)") where !name.hasPrefix(".") {
                let key = Self.key(ofFileName: name)
                if Self.canNumber(key) { keys.append(key) }
            }
        }
        let present = Set(keys)
        // A list whose UIDs would run out numbers every message anew under a new UIDVALIDITY,
        // as IMAP asks when UIDs cannot be kept (RFC 9051 §2.3.1.1).
        let usable = existing.flatMap { UInt32.max - $0.nextUID > UInt32(clamping: present.count) ? $0 : nil }
        let renumbered = usable == nil
        let old =
            usable
            ?? Contents(
                uidValidity: Self.validity(now, after: existing?.uidValidity), nextUID: 1, uids: MaildirKeyTable(), inode: 0,
                size: 0)
        // The lines kept, in UID order, then the new ones.
        var lines: [(uid: UInt32, key: String)] = []
        lines.reserveCapacity(present.count)
        var removed = 0
        old.uids.forEach { key, uid in
            if present.contains(key) { lines.append((uid, key)) } else { removed += 1 }
        }
        var nextUID = old.nextUID
        var added = 0
        for key in present.sorted() where old.uids.uid(of: key) == nil {
            lines.append((nextUID, key))
            nextUID += 1
            added += 1
        }
        let report = RebuildReport(
            messages: present.count, added: added, removed: removed, renumbered: renumbered, uidValidity: old.uidValidity)
        if !renumbered, added == 0, removed == 0 { return report }
        // Write the new list beside the old one and rename it over: a crash leaves one or
        // the other, never half of each.
        let temporary = "\(path).tmp"
        POSIXFile.remove(temporary)
        var text = Self.header(uidValidity: old.uidValidity, nextUID: nextUID)
        for (uid, key) in lines { text += "\(uid) \(key)\n" }
        let out = try POSIXFile.create(temporary)
        do {
            defer { POSIXFile.close(out) }
            try Array(text.utf8).withUnsafeBytes { try POSIXFile.writeAll(out, $0) }
            try POSIXFile.dataSync(out)
        }
        try POSIXFile.rename(temporary, path)
        let directory = try POSIXFile.openDirectory(maildir)
        defer { POSIXFile.close(directory) }
        try POSIXFile.sync(directory)
        cache.withLockedValue { $0 = nil }
        return report
    }

    // MARK: The file

    /// Runs `body` with the file open and locked and its contents current (re-read when
    /// another process changed it). A missing file is created with `create()`'s contents, or,
    /// when that is nil, is an error.
    private func withLockedFile<T>(
        _ body: (CInt, inout Contents) throws -> T, create: () -> Contents?
    ) throws -> T {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        if fd < 0, errno == ENOENT {
            guard let fresh = create() else { throw StoreError.posix("open \(path)", errno: ENOENT) }
            try createFile(fresh)
            return try withLockedFile(body, create: { nil })
        }
        guard fd >= 0 else { throw StoreError.posix("open \(path)", errno: errno) }
        defer { POSIXFile.close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw StoreError.posix("flock \(path)", errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw StoreError.posix("fstat \(path)", errno: errno) }
        // Taken out of the cache, not copied: the body's changes then reach the dictionary in
        // place instead of copying all of it per batch. The flock serialises every user, and
        // one that finds the cache empty after a failure reads the file.
        var contents: Contents
        if let cached = cache.withLockedValue({ cache in defer { cache = nil }; return cache }),
            cached.inode == UInt64(info.st_ino), cached.size == Int(info.st_size)
        {
            contents = cached
        } else {
            contents = try Self.read(fd, path: path)
        }
        let result = try body(fd, &contents)
        cache.withLockedValue { $0 = contents }
        return result
    }

    /// Creates the file with its header (if no other process did first).
    private func createFile(_ contents: Contents) throws {
        // Unique per call: deliveries to one mailbox may race to create the list.
        let temporary = "\(path).new.\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        let fd = try POSIXFile.create(temporary)
        do {
            defer { POSIXFile.close(fd) }
            let header = Array("tern-uidlist 1 V\(contents.uidValidity) N\(contents.nextUID)\n".utf8)
            try header.withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
            try POSIXFile.dataSync(fd)
        }
        // link(2) fails if the file appeared meanwhile; the other process's file wins.
        if link(temporary, path) != 0, errno != EEXIST {
            let error = StoreError.posix("link \(path)", errno: errno)
            POSIXFile.remove(temporary)
            throw error
        }
        POSIXFile.remove(temporary)
        let directory = try POSIXFile.openDirectory(maildir)
        defer { POSIXFile.close(directory) }
        try POSIXFile.sync(directory)
    }

    /// Parses the whole file. A torn last line (a crash during an append) is ignored; any other
    /// damage is an error, and `rebuild` starts over.
    static func read(_ fd: CInt, path: String) throws -> Contents {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw StoreError.posix("fstat \(path)", errno: errno) }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, $0.count - filled, off_t(filled)) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            filled += count
        }
        guard let contents = parse(bytes[..<filled]) else {
            throw StoreError(code: .io, errno: 0, operation: "parse \(path): damaged UID list")
        }
        var result = contents
        result.inode = UInt64(info.st_ino)
        result.size = filled
        result.validLength = (bytes[..<filled].lastIndex(of: UInt8(ascii: "\n")) ?? -1) + 1
        return result
    }

    /// The header and complete lines of `bytes`; nil when they are not a UID list. One pass, no
    /// allocation per line but the key's own: a large mailbox has a line per message.
    static func parse(_ bytes: ArraySlice<UInt8>) -> Contents? {
        let newline = UInt8(ascii: "\n")
        // The part after the last newline is empty, or a line torn by a crash.
        guard let headerEnd = bytes.firstIndex(of: newline) else { return nil }
        let fields = String(decoding: bytes[..<headerEnd], as: UTF8.self).split(separator: " ")
        guard fields.count == 4, fields[0] == "tern-uidlist", fields[1] == "1", fields[2].hasPrefix("V"),
            fields[3].hasPrefix("N"), let validity = UInt32(fields[2].dropFirst()), validity > 0,
            var next = UInt32(fields[3].dropFirst()), next > 0
        else { return nil }
        // Sized exactly (the table is kept as long as the mailbox is open): a first pass counts
        // the lines and their keys' octets.
        var (lines, keyOctets) = (0, 0)
        var scan = headerEnd + 1
        while let end = bytes[scan...].firstIndex(of: newline) {
            let space = bytes[scan..<end].firstIndex(of: UInt8(ascii: " ")) ?? end
            (lines, keyOctets) = (lines + 1, keyOctets + max(0, end - space - 1))
            scan = end + 1
        }
        var uids = MaildirKeyTable()
        uids.reserveCapacity(adding: lines, keyOctets: keyOctets)
        var last: UInt32 = 0
        var start = headerEnd + 1
        while let end = bytes[start...].firstIndex(of: newline) {
            let line = bytes[start..<end]
            start = end + 1
            guard let space = line.firstIndex(of: UInt8(ascii: " ")),
                let uid = ASCIIDecimal.parse(octets: line[..<space], in: 1...Int64(UInt32.max)).map(UInt32.init), uid > last
            else { return nil }
            let key = line[(space + 1)...]
            // A key twice, a space in one, or one no file name could start with: damage.
            guard !key.contains(UInt8(ascii: " ")), uids.insert(key, uid: uid) != nil else { return nil }
            last = uid
        }
        // The largest UID leaves no next one: the list must start over (`rebuild`).
        guard last < .max else { return nil }
        next = max(next, last + 1)
        return Contents(uidValidity: validity, nextUID: next, uids: uids, inode: 0, size: 0)
    }

    /// The first line of the file.
    static func header(uidValidity: UInt32, nextUID: UInt32) -> String {
        "tern-uidlist 1 V\(uidValidity) N\(nextUID)\n"
    }

    /// Starts the empty list of a new Maildir with `uidValidity` (a folder IMAP CREATE made: a
    /// folder made again under an earlier one's name must not reuse its UIDVALIDITY, RFC 9051
    /// §2.3.1.1). Does nothing when the Maildir has a list. Blocks.
    public static func begin(maildir: String, uidValidity: UInt32) throws {
        let path = "\(maildir)/\(fileName)"
        let out: CInt
        do {
            out = try POSIXFile.create(path)
        } catch {
            guard error.errno == EEXIST else { throw error }
            return  // made already, by an earlier or a concurrent CREATE
        }
        defer { POSIXFile.close(out) }
        try Array(header(uidValidity: uidValidity, nextUID: 1).utf8).withUnsafeBytes { try POSIXFile.writeAll(out, $0) }
        try POSIXFile.dataSync(out)
    }

    /// A UIDVALIDITY from the clock (seconds), as Dovecot does: a list made later gets a
    /// larger one.
    static func validity(_ now: Int64, after previous: UInt32? = nil) -> UInt32 {
        let fromClock = UInt32(clamping: max(now, 1))
        // Starting over within the same second must still change UIDVALIDITY.
        guard let previous, fromClock <= previous else { return fromClock }
        return previous < .max ? previous + 1 : 1
    }
}
