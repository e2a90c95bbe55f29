import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TernMail

import TernSystem

/// One mailbox of a `MaildirMailboxStore`: a Maildir, its `MaildirUIDList`, and what this
/// process last listed of it.
///
/// The files are the truth. A message is its file in `new/` or `cur/`; its flags are the
/// letters of the file name's info part; its UID is its key's line in the UID list. Listing
/// reads the directories every time, so what another program did (mutt moving a message to
/// `cur/`, a user deleting a file) is seen, and reported to `changes()` subscribers as the
/// difference from the previous listing.
///
/// Operations that move or remove files run one at a time per mailbox (on the thread pool, under
/// `operations`), so two flag changes never race to rename the same file. Appends do not wait
/// for them: a new file has a name of its own.
///
/// Appends are durable before they return (`StoreSync`); so are flag changes and expunges,
/// renames and unlinks followed by a sync of the directories they touched, shared by every
/// change that finished before it started (`DirectorySync`'s group commit).
final class MaildirMailbox: Mailbox {
    let address: String
    let maildir: Maildir
    let list: MaildirUIDList
    private let store: MaildirMailboxStore
    /// Numbers messages appended as they arrive: nothing waits for their UIDs but the delivery's
    /// report, so those arriving in `numberingWindow` share one append and one sync of the list.
    private let arrivalNumbering: GroupCommit<String, UInt32>
    /// Numbers messages for a caller who waits for the UID (IMAP APPEND's APPENDUID).
    private let numbering: GroupCommit<String, UInt32>
    private let operations = NIOLock()
    private let listing = NIOLockedValueBox(Listing())
    private let feed = ChangeFeed()
    /// What readers keep of each message (`cachedFacts`), in `tern-cache`.
    private let factsCache: MaildirMessageCache

    /// How long arriving messages' UIDs are gathered before the list is appended and synced.
    static let numberingWindow = TimeAmount.milliseconds(20)

    /// What the last listing found, with the messages appended since.
    private struct Listing {
        var messages = ListedMessages()
        /// Whether a listing has run: before it, only appends are known, and the first listing
        /// reports nothing (there is nothing to compare it with).
        var listed = false
        /// The UID list's UIDVALIDITY as of the last listing.
        var uidValidity: UInt32?
        /// The first UID no IMAP session has claimed (`tern-recent`; 1 when there is none).
        var firstRecent: UInt32 = 1
        /// The last listing, while nothing changed: returned again (one array every session
        /// shares) as long as `new/` and `cur/` keep the stamps they had when it was made.
        var cached: (stamps: [POSIXFile.ModificationStamp?], snapshot: MailboxSnapshot)?
        /// MODSEQs given and not yet written (`tern-modseq`).
        var modseqs = MaildirModseqs()

        /// Gives the message `listed` a new MODSEQ for its current state.
        mutating func stamp(_ listed: inout Listed, clock: WallClock) {
            listed.message.modseq = modseqs.next(clock: clock)
            modseqs.record(uid: listed.message.uid, modseq: listed.message.modseq, signature: listed.signature)
        }

        /// Takes the MODSEQ records to write (call `MaildirModseqs.write` outside the lock).
        mutating func takeModseqFlush() -> MaildirModseqs.Flush? {
            let messages = self.messages
            return modseqs.takeFlush(count: messages.count) {
                Dictionary(
                    uniqueKeysWithValues: messages.modseqs.map {
                        ($0.uid, MaildirModseqs.Entry(modseq: $0.modseq, signature: $0.signature))
                    })
            }
        }
    }

    /// Where the first unclaimed UID is kept (Dovecot keeps the same in its index).
    static let recentFile = "tern-recent"

    init(address: String, maildir: Maildir, list: MaildirUIDList, store: MaildirMailboxStore) {
        self.address = address
        self.maildir = maildir
        self.list = list
        self.store = store
        factsCache = MaildirMessageCache(root: maildir.root)
        let clock = store.clock
        arrivalNumbering = GroupCommit(pool: store.sync.pool, linger: Self.numberingWindow) { keys in
            try list.assign(keys, now: clock.seconds)
        }
        numbering = GroupCommit(pool: store.sync.pool) { keys in try list.assign(keys, now: clock.seconds) }
    }

    private var pool: NIOThreadPool { store.sync.pool }

    // MARK: Appending

    func append(_ message: NewMessage) async throws -> AppendedMessage {
        var (name, size) = try await maildir.deliver(
            message.source, prefix: message.prefix, id: message.id, receivedAt: message.receivedAt)
        var inCur = false
        var keywords: [String] = []
        let file = MaildirFileName(name)
        if !message.flags.isEmpty || !message.keywords.isEmpty {
            // A message with flags belongs in cur/ (new/ is for messages no reader has seen).
            let (stored, root, flags, wanted) = (name, maildir.root, message.flags, message.keywords)
            do {
                let flagged = try await exclusively { () throws -> (String, [String]) in
                    var table = MaildirKeywords.load(root: root)
                    let (letters, defined) = table.letters(for: wanted)
                    if defined { try table.write(root: root) }
                    let flagged = MaildirFileName(stored).settingFlags(flags, keywords: letters)
                    try POSIXFile.rename("\(root)/new/\(stored)", "\(root)/cur/\(flagged)")
                    return (flagged, table.keywords(of: letters))
                }
                (name, keywords) = flagged
                inCur = true
                // The move to cur/ is what carries the flags: durable before the APPEND's OK.
                try await maildir.curDirectory.sync()
                try await maildir.newDirectory.sync()
            } catch {
                store.logger.warning(
                    "stored a message, but could not set its flags",
                    metadata: ["mailbox": "\(address)", "error": "\(error)"])
            }
        }
        size = file.statedSize ?? size
        let key = file.key
        do {
            let uid = try await numbering.submit(key)
            record(
                Listed(
                    message: MailboxMessage(
                        uid: uid, flags: MaildirFileName(name).flags, keywords: keywords, size: size,
                        internalDate: message.receivedAt, isRecent: true),
                    name: name, inCur: inCur))
            return AppendedMessage(key: key, uid: uid, size: size)
        } catch {
            logUnnumbered(id: message.id, error: error)
            return AppendedMessage(key: key, uid: nil, size: size)
        }
    }

    func beginAppend(
        _ message: IncomingMessage, prefix: ByteBuffer, on eventLoop: any EventLoop,
        appended: @escaping @Sendable (AppendedMessage) -> Void
    ) -> any MessageWriter {
        let receivedAt = message.trace.receivedAt
        let id = message.id.rawValue
        // Once the file is in new/: numbered, recorded, reported.
        let number: @Sendable (_ name: String) -> EventLoopFuture<AppendedMessage> = { [self] name in
            let file = MaildirFileName(name)
            let size = file.statedSize ?? 0
            return arrivalNumbering.submit(file.key, on: eventLoop).map { uid in
                self.record(
                    Listed(
                        message: MailboxMessage(
                            uid: uid, flags: [], size: size, internalDate: receivedAt, isRecent: true),
                        name: name, inCur: false))
                return AppendedMessage(key: file.key, uid: uid, size: size)
            }.recover { error in
                self.logUnnumbered(id: id, error: error)
                return AppendedMessage(key: file.key, uid: nil, size: size)
            }
        }
        if let journal = store.journal, store.sync.mode == .filesystem {
            // Durable in the journal at the 250; the file follows, then its UID and the report.
            let (logger, address) = (store.logger, self.address)
            return maildir.begin(
                message, prefix: prefix, on: eventLoop, journal: journal,
                stored: { name in number(name).whenSuccess(appended) },
                failed: { error in
                    logger.error(
                        "cannot write an acknowledged message into its mailbox; trying again",
                        metadata: ["tern_queue_id": "\(id)", "mailbox": "\(address)", "error": "\(error)"])
                })
        }
        let numbered = NIOLockedValueBox<EventLoopFuture<AppendedMessage>?>(nil)
        let writer = maildir.begin(message, prefix: prefix, on: eventLoop) { name in
            // Once the file is in new/: numbered while its directory is synced.
            let future = number(name)
            numbered.withLockedValue { $0 = future }
        }
        // The Maildir names the file before its commit completes, so the number is on its way.
        return ReportingWriter(writer) {
            numbered.withLockedValue { $0 }?.whenSuccess(appended)
        }
    }

    private func logUnnumbered(id: String, error: any Error) {
        // The file is in place; the UID list catches up when the mailbox is next listed.
        store.logger.warning(
            "delivered, but the UID list could not be updated; run tern repair",
            metadata: ["tern_queue_id": "\(id)", "mailbox": "\(address)", "error": "\(error)"])
    }

    /// Adds an appended message to the listing and reports it, unless a listing found it first.
    private func record(_ appended: Listed) {
        var appended = appended
        let clock = store.clock
        let isNew = listing.withLockedValue { listing in
            guard !listing.messages.contains(appended.message.uid) else { return false }
            listing.cached = nil
            appended.message.isRecent = appended.message.uid >= listing.firstRecent
            listing.stamp(&appended, clock: clock)
            listing.messages[appended.message.uid] = appended
            return true
        }
        if isNew { feed.send(.appended([appended.message])) }
    }

    // MARK: Listing and reading

    func snapshot() async throws -> MailboxSnapshot {
        let root = maildir.root
        return try await exclusively {
            // A SELECT storm on an unchanged mailbox reads two directory stamps, not every name.
            if let cached = self.listing.withLockedValue({ $0.cached }), cached.stamps == Self.stamps(root: root) {
                return cached.snapshot
            }
            return try self.relist()
        }
    }

    func keys(of uids: [UInt32]) async throws -> [UInt32: String] {
        try await pool.runIfActive { () throws -> [UInt32: String] in
            if !self.listing.withLockedValue({ $0.listed }) { try self.operations.withLock { _ = try self.relist() } }
            return self.listing.withLockedValue { listing in
                var keys: [UInt32: String] = [:]
                for uid in uids {
                    if let listed = listing.messages[uid] { keys[uid] = MaildirUIDList.key(ofFileName: listed.name) }
                }
                return keys
            }
        }
    }

    /// The stamps a listing is current for.
    static func stamps(root: String) -> [POSIXFile.ModificationStamp?] {
        [POSIXFile.modificationStamp("\(root)/new"), POSIXFile.modificationStamp("\(root)/cur"),
         POSIXFile.modificationStamp("\(root)/\(MaildirKeywords.fileName)")]
    }

    func contents(of uid: UInt32, limit: Int) async throws -> (octets: [UInt8], size: Int)? {
        // One way to read a message's start: the batched one, for a batch of one.
        try await contents(of: [uid], limit: limit)[uid].map { ($0.octets, $0.size) }
    }

    func contents(of uids: [UInt32], limit: Int) async throws -> [UInt32: StoredPrefix] {
        return try await pool.runIfActive { () throws -> [UInt32: StoredPrefix] in
            var found: [UInt32: StoredPrefix] = [:]
            var pending = uids
            // A file moved by another reader meanwhile: listed again, once, for those.
            for attempt in 0..<2 where !pending.isEmpty {
                if attempt == 1 || !self.listing.withLockedValue({ $0.listed }) {
                    try self.operations.withLock { _ = try self.relist() }
                }
                let files = self.listing.withLockedValue { listing in pending.map { listing.messages[$0] } }
                var moved: [UInt32] = []
                for (uid, file) in zip(pending, files) {
                    guard let file else { continue }
                    do {
                        let directory = file.inCur ? self.maildir.curDirectory.descriptor : self.maildir.newDirectory.descriptor
                        let (octets, size) = try POSIXFile.readPrefixAndSize(in: directory, name: file.name, limit: limit)
                        found[uid] = StoredPrefix(octets: octets, size: size)
                    } catch let error as StoreError where error.errno == ENOENT {
                        moved.append(uid)
                    }
                }
                pending = moved
            }
            return found
        }
    }

    func cachedFacts(of uids: [UInt32]) async -> [UInt32: [UInt8]] {
        let found = try? await pool.runIfActive { () -> [UInt32: [UInt8]] in
            guard let uidValidity = self.listing.withLockedValue({ $0.uidValidity }) else { return [:] }
            return self.factsCache.records(of: uids, uidValidity: uidValidity)
        }
        return found ?? [:]
    }

    func cacheFacts(_ facts: [UInt32: [UInt8]]) async {
        _ = try? await pool.runIfActive {
            guard let uidValidity = self.listing.withLockedValue({ $0.uidValidity }) else { return }
            // Only for messages still here: a record for an expunged UID would only take room.
            let present = self.listing.withLockedValue { listing in facts.filter { listing.messages.contains($0.key) } }
            self.factsCache.keep(present, uidValidity: uidValidity)
        }
    }

    func source(of uid: UInt32) async throws -> (any MessageSource)? {
        try await pool.runIfActive { try self.openSource(of: uid) }
    }

    func sources(of uids: [UInt32], on eventLoop: any EventLoop) -> EventLoopFuture<[UInt32: any MessageSource]> {
        pool.runIfActive(eventLoop: eventLoop) {
            var found: [UInt32: any MessageSource] = [:]
            for uid in uids {
                if let source = try self.openSource(of: uid) { found[uid] = source }
            }
            return found
        }
    }

    /// Opens the file of `uid`; lists the Maildir again, once, when the file moved meanwhile
    /// (another reader flagged it). Nil when there is no such message. Call on the pool.
    private func openSource(of uid: UInt32) throws -> (any MessageSource)? {
        let root = maildir.root
        for attempt in 0..<2 {
            if attempt == 1 || !listing.withLockedValue({ $0.listed }) {
                try operations.withLock { _ = try relist() }
            }
            guard let path = listing.withLockedValue({ $0.messages[uid]?.path }) else { return nil }
            do {
                return try MessageFileReader.openBlocking(path: "\(root)/\(path)", pool: pool)
            } catch let error as StoreError where error.errno == ENOENT {
                continue
            }
        }
        return nil
    }

    /// Reads the Maildir, numbers what has no UID, replaces the listing and reports what changed.
    /// Call under `operations`, on the pool.
    private func relist() throws -> MailboxSnapshot {
        let snapshot = try listAgain()
        // Listing a large mailbox allocates and frees a name, a key and a record per message;
        // the pages they took go back to the system rather than stay resident. Only here, once
        // every one of them is freed: inside `listAgain` they are still live.
        if snapshot.messages.count >= Self.largeListing { tern_release_free_memory() }
        return snapshot
    }

    private func listAgain() throws -> MailboxSnapshot {
        let root = maildir.root
        // Taken before reading: a change made while the names are read makes the next listing read again.
        let stamps = Self.stamps(root: root)
        let (inNew, inCur) = (try POSIXFile.list("\(root)/new"), try POSIXFile.list("\(root)/cur"))
        // Each name with how much of it is its key: the keys are compared and numbered where
        // they are, in the names, not copied out (a large mailbox's listing makes no string per key).
        var files: [FoundFile] = []
        files.reserveCapacity(inNew.count + inCur.count)
        for (names, inCur) in [(inNew, false), (inCur, true)] {
            for name in names where name.utf8.first != UInt8(ascii: ".") {
                let file = FoundFile(name: name, inCur: inCur)
                if MaildirUIDList.canNumber(file.key) { files.append(file) }
            }
        }
        // Keys in octet order, which for Tern's names is arrival order: new UIDs ascend with it.
        // Mid-move by another reader a message may show in both: cur/ (sorted after) is the later.
        files.sort { a, b in FoundFile.sameKey(a, b) ? !a.inCur && b.inCur : FoundFile.keyPrecedes(a, b) }
        var found: [FoundFile] = []
        found.reserveCapacity(files.count)
        for file in files {
            if let last = found.last, FoundFile.sameKey(last, file) { found[found.count - 1] = file } else { found.append(file) }
        }
        files = []
        let numbering = try list.number(found.map(\.key), now: store.clock.seconds)
        let keywords = MaildirKeywords.load(root: root)
        let firstRecent = Self.firstRecent(root: root)
        // The MODSEQs of the last run, read once: the first listing compares with them.
        let loaded = listing.withLockedValue { $0.listed } ? nil : MaildirModseqs.load(root: root)
        var built: [Listed] = []
        built.reserveCapacity(found.count)
        // The listing keeps only the rest of each name: the key is read where the UID list holds it.
        for ((entry, uid), key) in zip(zip(found, numbering.uids), numbering.keyRefs) {
            let file = MaildirFileName(entry.name)
            let facts = file.facts
            let path = { "\(root)/\(entry.inCur ? "cur" : "new")/\(entry.name)" }
            let size = facts.statedSize ?? POSIXFile.fileSize(path()) ?? 0
            let internalDate = file.arrival ?? POSIXFile.modificationTime(path()) ?? 0
            built.append(
                Listed(
                    message: MailboxMessage(
                        uid: uid, flags: facts.flags,
                        keywords: facts.keywordBits == 0 ? [] : keywords.keywords(of: facts.keywordLetters), size: size,
                        internalDate: internalDate, isRecent: uid >= firstRecent),
                    name: entry.name, inCur: entry.inCur, signature: facts.stateSignature, key: key))
        }
        built.sort { $0.message.uid < $1.message.uid }
        let clock = store.clock
        let (changes, flush, listed, highestModseq) = listing.withLockedValue {
            listing -> ([MailboxChange], MaildirModseqs.Flush?, [MailboxMessage], UInt64) in
            if let loaded { listing.modseqs.merge(loaded: loaded.state) }
            // A message keeps its MODSEQ while its flags and keywords are the ones it had when it
            // got it (as this process last listed it, or as the file says); else it gets a new one.
            for index in built.indices {
                let (uid, signature) = (built[index].message.uid, built[index].signature)
                if let before = listing.messages.state(of: uid) {
                    if before.signature == signature {
                        built[index].message.modseq = before.message.modseq
                    } else {
                        listing.stamp(&built[index], clock: clock)
                    }
                } else if let entry = loaded?.entries[uid], entry.signature == signature {
                    built[index].message.modseq = entry.modseq
                } else {
                    listing.stamp(&built[index], clock: clock)
                }
            }
            let messages = ListedMessages(ascending: built, keys: numbering.keys)
            var changes: [MailboxChange] = []
            var gone = false
            if listing.listed {
                let (expunged, appended, flagged) = messages.changes(since: listing.messages)
                if !expunged.isEmpty { changes.append(.expunged(expunged)) }
                if !appended.isEmpty { changes.append(.appended(appended)) }
                if !flagged.isEmpty { changes.append(.flagsChanged(flagged)) }
                gone = !expunged.isEmpty
            } else if let loaded {
                gone = loaded.entries.keys.contains { !messages.contains($0) }
            }
            // An expunge (here, or by another program) raises HIGHESTMODSEQ (RFC 7162 §3.1.2.1).
            if gone { listing.modseqs.recordExpunge(modseq: listing.modseqs.next(clock: clock)) }
            listing = Listing(
                messages: messages, listed: true, uidValidity: numbering.uidValidity, firstRecent: firstRecent,
                modseqs: listing.modseqs)
            return (changes, listing.takeModseqFlush(), messages.messages, listing.modseqs.highest)
        }
        if let flush { try? MaildirModseqs.write(flush, root: root) }
        for change in changes {
            if case .expunged(let uids) = change { factsCache.forget(uids) }
            feed.send(change)
        }
        // The listing's own array: shared with every snapshot until the next change.
        let snapshot = MailboxSnapshot(
            uidValidity: numbering.uidValidity, uidNext: numbering.nextUID, messages: listed, keywords: keywords.defined,
            acceptsNewKeywords: !keywords.isFull, highestModseq: highestModseq)
        listing.withLockedValue { $0.cached = (stamps, snapshot) }
        return snapshot
    }

    /// A file a listing found: its name, how many of its first octets are its key, and where.
    private struct FoundFile {
        var name: String
        /// The key's first 16 octets as two big-endian numbers, zero past the end of a shorter
        /// key (no file name holds a NUL): keys mostly differ there, so sorting 100,000 of them
        /// compares numbers and seldom reads a name.
        var head: UInt64 = 0
        var tail: UInt64 = 0
        var keyLength: Int
        var inCur: Bool

        init(name: String, inCur: Bool) {
            self.name = name
            self.inCur = inCur
            keyLength = MaildirUIDList.keyLength(ofFileName: name)
            for (index, octet) in name.utf8.prefix(Swift.min(keyLength, 16)).enumerated() {
                if index < 8 { head |= UInt64(octet) << (56 - 8 * index) } else { tail |= UInt64(octet) << (120 - 8 * index) }
            }
        }

        var key: Substring.UTF8View { name.utf8.prefix(keyLength) }

        /// Whether the key of `a` sorts before that of `b`, octet by octet.
        static func keyPrecedes(_ a: FoundFile, _ b: FoundFile) -> Bool {
            if a.head != b.head { return a.head < b.head }
            if a.tail != b.tail { return a.tail < b.tail }
            return (a.keyLength > 16 || b.keyLength > 16) && a.key.lexicographicallyPrecedes(b.key)
        }

        static func sameKey(_ a: FoundFile, _ b: FoundFile) -> Bool {
            a.head == b.head && a.tail == b.tail && a.keyLength == b.keyLength && (a.keyLength <= 16 || a.key.elementsEqual(b.key))
        }
    }

    /// Messages from which a listing is large enough to return its free memory after it.
    static let largeListing = 10_000

    // MARK: Changing

    func updateFlags(_ uids: [UInt32], _ update: FlagUpdate, unchangedSince: UInt64?) async throws -> FlagUpdateResult {
        let (result, movedFromNew) = try await renameForFlags(uids, update, unchangedSince: unchangedSince)
        if !result.changed.isEmpty {
            try await maildir.curDirectory.sync()
            if movedFromNew { try await maildir.newDirectory.sync() }
        }
        return result
    }

    /// The renames of `updateFlags`, under `operations`; whether a file left `new/`.
    private func renameForFlags(_ uids: [UInt32], _ update: FlagUpdate, unchangedSince: UInt64?) async throws
        -> (FlagUpdateResult, movedFromNew: Bool)
    {
        let (root, clock) = (maildir.root, store.clock)
        return try await exclusively {
            var movedFromNew = false
            if !self.listing.withLockedValue({ $0.listed }) { _ = try self.relist() }
            var changed: [MailboxMessage] = []
            var modified: [UInt32] = []
            var vanished: [UInt32] = []
            var table = MaildirKeywords.load(root: root)
            for uid in Set(uids).sorted() {
                guard let listed = self.listing.withLockedValue({ $0.messages[uid] }) else { continue }
                // RFC 7162 §3.1.3: changed since the client's MODSEQ, so left alone.
                if let unchangedSince, listed.message.modseq > unchangedSince {
                    modified.append(uid)
                    continue
                }
                let flags = update.applied(to: listed.message.flags)
                let (letters, defined) = table.letters(for: update.applied(toKeywords: listed.message.keywords))
                let keywords = table.keywords(of: letters)
                guard flags != listed.message.flags || keywords != listed.message.keywords else { continue }
                // The table first: a name never carries a letter the table does not define.
                if defined { try table.write(root: root) }
                let file = MaildirFileName(listed.name)
                let name = file.settingFlags(flags, keywords: letters.union(table.undefined(file.keywordLetters)))
                do {
                    try POSIXFile.rename("\(root)/\(listed.path)", "\(root)/cur/\(name)")
                    if !listed.inCur { movedFromNew = true }
                } catch let error as StoreError where error.errno == ENOENT {
                    vanished.append(uid)
                    continue
                }
                var now = listed
                now.message.flags = flags
                now.message.keywords = keywords
                now.name = name
                now.inCur = true
                now.signature = MaildirFileName(name).stateSignature
                self.listing.withLockedValue {
                    $0.stamp(&now, clock: clock)
                    $0.messages[uid] = now
                    $0.cached = nil
                }
                changed.append(now.message)
            }
            let flush = self.listing.withLockedValue { listing -> MaildirModseqs.Flush? in
                if !vanished.isEmpty {
                    // Removed by another reader: gone for good, as an expunge.
                    for uid in vanished { listing.messages[uid] = nil }
                    listing.modseqs.recordExpunge(modseq: listing.modseqs.next(clock: clock))
                    listing.cached = nil
                }
                return listing.takeModseqFlush()
            }
            if let flush { try? MaildirModseqs.write(flush, root: root) }
            if !vanished.isEmpty { self.feed.send(.expunged(vanished)) }
            if !changed.isEmpty { self.feed.send(.flagsChanged(changed)) }
            return (FlagUpdateResult(changed: changed, modified: modified), movedFromNew)
        }
    }

    func claimRecent() async throws -> [UInt32] {
        let root = maildir.root
        return try await exclusively {
            if !self.listing.withLockedValue({ $0.listed }) { _ = try self.relist() }
            // Another process may have claimed since the listing: the file is the truth.
            let first = max(Self.firstRecent(root: root), self.listing.withLockedValue { $0.firstRecent })
            let claimed = self.listing.withLockedValue { $0.messages.uids.filter { $0 >= first } }
            guard let last = claimed.last else { return [] }
            let next = last < .max ? last + 1 : last
            // Not synced: a claim lost in a crash only makes messages recent once more.
            let temporary = "\(root)/\(Self.recentFile).tmp"
            let file = try POSIXFile.create(temporary, replacing: true)
            defer { POSIXFile.close(file) }
            try Array("\(next)\n".utf8).withUnsafeBytes { try POSIXFile.writeAll(file, $0) }
            try POSIXFile.rename(temporary, "\(root)/\(Self.recentFile)")
            self.listing.withLockedValue { listing in
                listing.firstRecent = next
                listing.messages.clearRecent(claimed)
                listing.cached = nil
            }
            return claimed
        }
    }

    /// The first unclaimed UID as the file says; 1 when there is no file or it holds no number.
    static func firstRecent(root: String) -> UInt32 {
        guard let octets = try? POSIXFile.readPrefix(of: "\(root)/\(recentFile)", limit: 16),
            let value = ASCIIDecimal.parse(octets: octets.prefix { $0 != UInt8(ascii: "\n") }, in: 1...Int64(UInt32.max))
        else { return 1 }
        return UInt32(value)
    }

    func expunge(_ uids: [UInt32]) async throws -> [UInt32] {
        let (removed, directories) = try await unlinkForExpunge(uids)
        if directories.cur { try await maildir.curDirectory.sync() }
        if directories.new { try await maildir.newDirectory.sync() }
        return removed
    }

    /// The unlinks of `expunge`, under `operations`; which directories lost a file.
    private func unlinkForExpunge(_ uids: [UInt32]) async throws -> ([UInt32], (cur: Bool, new: Bool)) {
        let (root, clock) = (maildir.root, store.clock)
        return try await exclusively {
            if !self.listing.withLockedValue({ $0.listed }) { _ = try self.relist() }
            var touched = (cur: false, new: false)
            var removed: [UInt32] = []
            for uid in Set(uids).sorted() {
                guard
                    let listed = self.listing.withLockedValue({ listing in
                        listing.cached = nil
                        return listing.messages.removeValue(forKey: uid)
                    })
                else { continue }
                // A file another reader removed first is as expunged as one removed here.
                if unlink("\(root)/\(listed.path)") != 0, errno != ENOENT {
                    let error = StoreError.posix("unlink \(root)/\(listed.path)", errno: errno)
                    self.listing.withLockedValue { $0.messages[uid] = listed }
                    if !removed.isEmpty {
                        self.noteExpunge(root: root, clock: clock)
                        self.feed.send(.expunged(removed))
                    }
                    throw error
                }
                removed.append(uid)
                if listed.inCur { touched.cur = true } else { touched.new = true }
            }
            if !removed.isEmpty {
                self.noteExpunge(root: root, clock: clock)
                self.factsCache.forget(removed)
                self.feed.send(.expunged(removed))
            }
            return (removed, touched)
        }
    }

    /// An expunge raises HIGHESTMODSEQ (RFC 7162 §3.1.2.1). Call under `operations`.
    private func noteExpunge(root: String, clock: WallClock) {
        let flush = listing.withLockedValue { listing -> MaildirModseqs.Flush? in
            listing.modseqs.recordExpunge(modseq: listing.modseqs.next(clock: clock))
            listing.cached = nil
            return listing.takeModseqFlush()
        }
        if let flush { try? MaildirModseqs.write(flush, root: root) }
    }

    func changes() -> AsyncStream<MailboxChange> {
        feed.subscribe()
    }

    /// Runs `body` on the pool, alone among this mailbox's listings and changes.
    private func exclusively<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive { try self.operations.withLock { try body() } }
    }
}

/// A writer that runs `committed` once its message is durable.
private final class ReportingWriter: MessageWriter {
    private let inner: any MessageWriter
    private let committed: @Sendable () -> Void

    init(_ inner: any MessageWriter, committed: @escaping @Sendable () -> Void) {
        self.inner = inner
        self.committed = committed
    }

    var bufferedBytes: Int { inner.bufferedBytes }
    func append(_ chunk: ByteBuffer) { inner.append(chunk) }
    func drained() -> EventLoopFuture<Void> { inner.drained() }
    func abort() { inner.abort() }

    func commit(adding fields: ByteBuffer, folder: SpecialUse?) -> EventLoopFuture<Void> {
        let result = inner.commit(adding: fields, folder: folder)
        result.whenSuccess { [committed] in committed() }
        return result
    }
}

/// The subscribers of one mailbox's changes.
///
/// Each subscriber has a buffer of `bufferLimit` changes; one that falls that far behind (it
/// stopped reading) has its stream finished rather than memory grow without bound, and learns
/// of what it missed from its next snapshot.
final class ChangeFeed: Sendable {
    static let bufferLimit = 10_000

    private let subscribers = NIOLockedValueBox<(next: Int, continuations: [Int: AsyncStream<MailboxChange>.Continuation])>(
        (0, [:]))

    func subscribe() -> AsyncStream<MailboxChange> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: MailboxChange.self, bufferingPolicy: .bufferingOldest(Self.bufferLimit))
        let id = subscribers.withLockedValue { state in
            defer { state.next += 1 }
            state.continuations[state.next] = continuation
            return state.next
        }
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLockedValue { _ = $0.continuations.removeValue(forKey: id) }
        }
        return stream
    }

    func send(_ change: MailboxChange) {
        let continuations = subscribers.withLockedValue { Array($0.continuations.values) }
        for continuation in continuations {
            if case .dropped = continuation.yield(change) { continuation.finish() }
        }
    }
}
