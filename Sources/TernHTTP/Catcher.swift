import Foundation
public import Logging
public import ServiceLifecycle
public import NIOPosix
import TernMIME
import TernMail
public import TernStore

/// The dev catcher's mail as the web UI and the API see it: the inboxes of a `CatcherStore`,
/// indexed for listing and search.
///
/// The mailboxes are the truth, read and changed through the `Mailbox` protocol as IMAP reads
/// them. The catcher follows each inbox's `changes()`: a message stored over SMTP is indexed
/// when its mailbox reports it (one parse per message, however much mail there is).
/// `synchronize()` brings the whole index in line with the mailboxes: messages that appeared
/// other than over SMTP (an .eml a developer copied in) are parsed and added, rows whose
/// message went are dropped, read flags another program changed are taken over. It runs at
/// start and every `rescanInterval`. Waiters (`/api/v1/wait`) and event listeners hear of each
/// new message once it is indexed.
///
/// Indexing reads at most `MessageSummary.maximumIndexedOctets` of a message (its header and
/// the start of its body): a 48 MB message costs the index 2 MB of memory, as it cost the SMTP
/// path that stored it; the whole message is read only when it is served. Waiters and event
/// listeners are bounded (`Limits`): past the bound, `waitForNext` answers `.busy` and
/// `events()` nil.
public actor Catcher: Service {
    public let store: CatcherStore
    public let index: any MessageIndex
    private let pool: NIOThreadPool
    private let logger: Logger
    private let rescanInterval: Duration
    private let retention: Retention
    public let limits: Limits
    private var waiters: [Int: (filter: MessageFilter, continuation: CheckedContinuation<IndexedMessage?, Never>)] = [:]
    private var listeners: [Int: AsyncStream<CatcherEvent>.Continuation] = [:]
    private var nextToken = 0
    private var synchronizing = false
    /// Messages the API or the SMTP side changed while a rescan ran: what the rescan read of
    /// them is older than their rows, so it neither removes nor replaces those rows.
    private var touchedDuringRescan: Set<String> = []
    private var synchronizeAgain = false
    /// Messages the mailboxes reported while a rescan ran: indexed after it (unless it did).
    private var arrivedDuringRescan: [(inbox: String, message: MailboxMessage)] = []
    /// The UID of each message, by inbox and key: the API names a message by its id, its
    /// mailbox by its UID.
    private var uids: [String: [String: UInt32]] = [:]
    /// A message of an inbox, with its key (what its row's id is made from).
    private typealias Listed = (inbox: String, message: MailboxMessage, key: String)
    /// The task that follows each inbox's changes.
    private var watchers: [String: Task<Void, Never>] = [:]
    /// Messages deleted through the API since the start (Mailpit's MessagesDeleted).
    public private(set) var deletedCount = 0

    /// How much mail the catcher keeps: at most `maximumMessages`, none older than
    /// `maximumAge`; the oldest go first. Nil or zero: no limit.
    public struct Retention: Sendable {
        public var maximumMessages: Int?
        public var maximumAge: Duration?

        public init(maximumMessages: Int? = 10_000, maximumAge: Duration? = nil) {
            self.maximumMessages = maximumMessages
            self.maximumAge = maximumAge
        }
    }

    /// How many clients may wait at once: each holds a connection and a timer, so a page that
    /// fires `wait` or `events` requests in a loop must not hold them without bound.
    public struct Limits: Sendable {
        /// `/api/v1/wait` requests waiting at once.
        public var waiters: Int
        /// `/api/v1/events` streams open at once.
        public var listeners: Int

        public init(waiters: Int = 64, listeners: Int = 32) {
            self.waiters = waiters
            self.listeners = listeners
        }
    }

    public init(
        store: CatcherStore, index: any MessageIndex, pool: NIOThreadPool, rescanInterval: Duration = .seconds(2),
        retention: Retention = Retention(), limits: Limits = Limits(), logger: Logger
    ) {
        self.rescanInterval = rescanInterval
        self.retention = retention
        self.limits = limits
        self.store = store
        self.index = index
        self.pool = pool
        self.logger = logger
    }

    /// Starts following the inboxes, and indexes what they hold; call once.
    public func start() async {
        store.observeInboxes { [weak self] name, mailbox in
            guard let self else { return }
            Task { await self.inboxOpened(name, mailbox) }
        }
        await synchronize()
    }

    /// Rescans every `rescanInterval`, for messages that arrive other than through SMTP (a
    /// developer copying .eml files in, another tool marking one read).
    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    try await Task.sleep(for: self.rescanInterval)
                    await self.synchronize()
                }
            }
        } catch is CancellationError {}
        for watcher in watchers.values { watcher.cancel() }
        watchers = [:]
    }

    // MARK: Following the inboxes

    /// Follows `mailbox`'s changes, once per inbox.
    private func watch(_ inbox: String, _ mailbox: any Mailbox) {
        guard watchers[inbox] == nil else { return }
        let changes = mailbox.changes()
        watchers[inbox] = Task { [weak self] in
            for await change in changes {
                guard let self else { return }
                // Flag changes and expunges are the API's own (applied already) or another
                // program's, which the next rescan takes over.
                if case .appended(let messages) = change { await self.arrived(messages, in: inbox) }
            }
            // The stream ends early only when this watcher fell `ChangeFeed.bufferLimit`
            // changes behind: follow anew, and rescan for what was missed.
            guard !Task.isCancelled, let self else { return }
            await self.rewatch(inbox, mailbox)
        }
    }

    private func rewatch(_ inbox: String, _ mailbox: any Mailbox) async {
        watchers[inbox] = nil
        watch(inbox, mailbox)
        await synchronize()
    }

    private func inboxOpened(_ inbox: String, _ mailbox: any Mailbox) async {
        watch(inbox, mailbox)
        // What arrived before the watch began is found by a rescan.
        await synchronize()
    }

    /// Indexes messages a mailbox reports as new: O(messages reported), where a rescan is
    /// O(messages), so a burst of mail costs the catcher one parse per message.
    private func arrived(_ messages: [MailboxMessage], in inbox: String) async {
        if synchronizing {
            arrivedDuringRescan += messages.map { (inbox, $0) }
            return
        }
        do {
            guard let mailbox = store.inbox(inbox) else { return }
            let keys = try await mailbox.keys(of: messages.map(\.uid))
            var fresh: [Listed] = []
            for message in messages {
                guard let key = keys[message.uid] else { continue }  // gone already
                uids[inbox, default: [:]][key] = message.uid
                if try await index.message(id: Self.id(inbox: inbox, key: key)) == nil { fresh.append((inbox, message, key)) }
            }
            touch(fresh.map { Self.id(inbox: $0.inbox, key: $0.key) })
            let indexed = try await summaries(of: fresh)
            try await index.upsert(indexed)
            for message in indexed { publish(.stored(message)) }
            // Retention is applied by the next rescan (within `rescanInterval`), not per message.
        } catch {
            logger.warning("catcher index not updated", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Index upkeep

    /// Brings the index in line with the mailboxes. Calls that arrive while one runs make it
    /// run once more afterwards, never twice at once.
    public func synchronize() async {
        if synchronizing {
            synchronizeAgain = true
            return
        }
        synchronizing = true
        repeat {
            synchronizeAgain = false
            do {
                try await synchronizeOnce()
                try await applyRetention()
            } catch {
                logger.warning("catcher index not updated", metadata: ["error": "\(error)"])
            }
        } while synchronizeAgain
        synchronizing = false
        let arrivals = arrivedDuringRescan
        arrivedDuringRescan = []
        for (inbox, message) in arrivals { await arrived([message], in: inbox) }
    }

    private func synchronizeOnce() async throws {
        touchedDuringRescan = []
        // The rows first, then the mailboxes: a row added meanwhile (a message just stored) is
        // not in `indexed`, so it cannot be taken for one whose message went.
        let indexed = try await index.entries()
        var listed: [String: Listed] = [:]
        for (inbox, mailbox) in store.allInboxes {
            watch(inbox, mailbox)
            let snapshot = try await mailbox.snapshot()
            let keys = try await mailbox.keys(of: snapshot.messages.map(\.uid))
            uids[inbox] = Dictionary(keys.map { ($1, $0) }, uniquingKeysWith: { _, last in last })
            for message in snapshot.messages {
                guard let key = keys[message.uid] else { continue }
                listed[Self.id(inbox: inbox, key: key)] = (inbox, message, key)
            }
        }
        let gone = indexed.keys.filter { listed[$0] == nil && !touchedDuringRescan.contains($0) }
        if !gone.isEmpty {
            try await index.remove(ids: gone)
            for id in gone { publish(.deleted(id)) }
        }
        // Marked read or unread by another program (a mail reader renamed the file).
        for (id, entry) in indexed {
            guard let found = listed[id], found.message.flags.contains(.seen) != entry.read,
                !touchedDuringRescan.contains(id), var message = try await index.message(id: id)
            else { continue }
            message.read = found.message.flags.contains(.seen)
            try await index.upsert([message])
            publish(.updated(message))
        }
        let fresh = listed.filter { indexed[$0.key] == nil }.values.sorted { $0.message.internalDate < $1.message.internalDate }
        // In batches: a copied-in folder of thousands of files must not hold the actor for long.
        for start in stride(from: 0, to: fresh.count, by: 200) {
            let parsed = try await summaries(of: Array(fresh[start..<min(start + 200, fresh.count)]))
            // Parsing took a while: a message marked read or deleted meanwhile keeps the row
            // the API gave it.
            let messages = parsed.filter { !touchedDuringRescan.contains($0.id) }
            try await index.upsert(messages)
            for message in messages.sorted(by: { $0.receivedAt < $1.receivedAt }) { publish(.stored(message)) }
        }
    }

    /// The index rows of `messages`, each from a bounded read, parsed on the thread pool. A
    /// message that went meanwhile is skipped.
    private func summaries(of messages: [Listed]) async throws -> [IndexedMessage] {
        var read: [(listed: Listed, octets: [UInt8], size: Int)] = []
        for listed in messages {
            guard let mailbox = store.inbox(listed.inbox),
                let (octets, size) = try? await mailbox.contents(
                    of: listed.message.uid, limit: MessageSummary.maximumIndexedOctets)
            else { continue }
            read.append((listed, octets, size))
        }
        guard !read.isEmpty else { return [] }
        return try await pool.runIfActive { [read] in
            read.map { item in
                MessageSummary.indexed(
                    raw: item.octets, size: item.size, inbox: item.listed.inbox, message: item.listed.message,
                    key: item.listed.key, id: Self.id(inbox: item.listed.inbox, key: item.listed.key))
            }
        }
    }

    /// Deletes what the retention limits no longer allow, oldest first.
    private func applyRetention() async throws {
        if let age = retention.maximumAge, age > .zero {
            let (seconds, attoseconds) = age.components
            let cutoff = WallClock.system.milliseconds - (seconds * 1000 + attoseconds / 1_000_000_000_000_000)
            let removed = try await delete(matching: MessageFilter([.receivedBefore(cutoff)]))
            if removed > 0 { logger.info("old messages deleted", metadata: ["count": "\(removed)"]) }
        }
        if let maximum = retention.maximumMessages, maximum > 0 {
            while true {
                let beyond = try await index.search(MessageFilter(), offset: maximum, limit: 500).messages
                guard !beyond.isEmpty else { break }
                try await delete(ids: beyond.map(\.id))
                logger.info("oldest messages deleted (retention)", metadata: ["count": "\(beyond.count)", "kept": "\(maximum)"])
            }
        }
    }

    /// A message's ID: the QueueID in a name Tern wrote (`<time>.<QueueID>.<host>`), else a
    /// hash of its inbox and key, so a copied-in file keeps one ID across rescans.
    static func id(inbox: String, key: String) -> String {
        let fields = key.split(separator: ".", maxSplits: 2)
        if fields.count >= 2, fields[1].count == 16, fields[1].allSatisfy({ $0.isASCII && ($0.isNumber || $0.isUppercase) }) {
            return String(fields[1])
        }
        // FNV-1a, 64 bits, as 16 hex digits: stable, and never mistaken for a QueueID.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for octet in "\(inbox)/\(key)".utf8 {
            hash ^= UInt64(octet)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "x" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The mailbox and UID of an indexed message; nil when its inbox or the message went.
    private func locate(_ message: IndexedMessage) async -> (mailbox: any Mailbox, uid: UInt32)? {
        guard let mailbox = store.inbox(message.inbox) else { return nil }
        if let uid = uids[message.inbox]?[message.key] { return (mailbox, uid) }
        // Not seen since start (stored since the last rescan, by another program): list it.
        guard let snapshot = try? await mailbox.snapshot(),
            let keys = try? await mailbox.keys(of: snapshot.messages.map(\.uid))
        else { return nil }
        uids[message.inbox] = Dictionary(keys.map { ($1, $0) }, uniquingKeysWith: { _, last in last })
        return uids[message.inbox]?[message.key].map { (mailbox, $0) }
    }

    // MARK: Reading

    public func search(_ filter: MessageFilter, offset: Int, limit: Int) async throws -> MessagePage {
        try await index.search(filter, offset: offset, limit: limit)
    }

    public func latest(_ filter: MessageFilter = MessageFilter()) async throws -> IndexedMessage? {
        try await index.search(filter, offset: 0, limit: 1).messages.first
    }

    public func message(id: String) async throws -> IndexedMessage? {
        try await index.message(id: id)
    }

    /// The raw message of an indexed row (nil when it went meanwhile).
    public func raw(_ message: IndexedMessage) async throws -> [UInt8]? {
        guard let (mailbox, uid) = await locate(message) else { return nil }
        return try? await mailbox.contents(of: uid)
    }

    /// The message of an indexed row opened for streaming (release); nil when it went.
    public func source(_ message: IndexedMessage) async -> (any MessageSource)? {
        guard let (mailbox, uid) = await locate(message) else { return nil }
        return try? await mailbox.source(of: uid)
    }

    public func inboxes() async throws -> [InboxCount] {
        try await index.inboxes()
    }

    public func tagCounts() async throws -> [String: Int] {
        try await index.tagCounts()
    }

    // MARK: Changing

    /// Marks messages read or unread: the mailbox's `\Seen` flag (Maildir `S`), then the index.
    public func setRead(ids: [String], read: Bool) async throws {
        touch(ids)
        var changed: [IndexedMessage] = []
        for id in ids {
            guard var message = try await index.message(id: id), message.read != read,
                let (mailbox, uid) = await locate(message),
                let updated = try? await mailbox.updateFlags([uid], read ? .add(.seen) : .remove(.seen)),
                !updated.isEmpty
            else { continue }
            message.read = read
            changed.append(message)
        }
        try await index.upsert(changed)
        for message in changed { publish(.updated(message)) }
    }

    /// Deletes messages: from their mailboxes, then their rows.
    public func delete(ids: [String]) async throws {
        touch(ids)
        var removed: [String] = []
        var expunging: [String: (mailbox: any Mailbox, uids: [UInt32])] = [:]
        for id in ids {
            guard let message = try await index.message(id: id) else { continue }
            removed.append(id)
            // A row whose message went already is only removed.
            guard let (mailbox, uid) = await locate(message) else { continue }
            expunging[message.inbox, default: (mailbox, [])].uids.append(uid)
            uids[message.inbox]?[message.key] = nil
        }
        for (mailbox, uids) in expunging.values { _ = try await mailbox.expunge(uids) }
        try await index.remove(ids: removed)
        deletedCount += removed.count
        for id in removed { publish(.deleted(id)) }
    }

    /// Deletes every message matching `filter` (all of them for an empty filter).
    public func delete(matching filter: MessageFilter) async throws -> Int {
        var count = 0
        while true {
            let page = try await index.search(filter, offset: 0, limit: 500)
            guard !page.messages.isEmpty else { return count }
            try await delete(ids: page.messages.map(\.id))
            count += page.messages.count
        }
    }

    /// Stores a message made here (the send API) in the default inbox as the SMTP side would,
    /// with the envelope sender's Return-Path in front, and returns its ID once it is indexed
    /// (within a few seconds; after that the ID is returned all the same).
    public func inject(_ octets: [UInt8], sender: String, id: String, receivedAt: Int64) async throws -> String {
        guard let inbox = store.inbox(CatcherStore.defaultInboxName) else { throw NoDefaultInbox() }
        let content = Array("Return-Path: <\(sender)>\r\n".utf8) + octets
        let appended = try await inbox.append(NewMessage(source: .octets(content), id: id, receivedAt: receivedAt))
        let messageID = Self.id(inbox: CatcherStore.defaultInboxName, key: appended.key)
        var waited = 0
        while waited < 500, try await index.message(id: messageID) == nil {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        return messageID
    }

    private struct NoDefaultInbox: Error {}

    /// Notes that `ids` change now, for a rescan running meanwhile (`touchedDuringRescan`).
    private func touch(_ ids: [String]) {
        if synchronizing { touchedDuringRescan.formUnion(ids) }
    }

    // MARK: Waiting and events

    /// What a wait came to.
    public enum WaitResult: Sendable, Equatable {
        /// The next matching message.
        case arrived(IndexedMessage)
        /// None within the timeout (or the wait was cancelled).
        case timedOut
        /// `Limits.waiters` clients wait already: this one was not admitted.
        case busy
    }

    /// The newest message matching `filter` that arrives within `timeout`. A message already
    /// there does not count: the wait is for the next one.
    public func waitForNext(_ filter: MessageFilter, timeout: Duration) async -> WaitResult {
        guard waiters.count < limits.waiters else { return .busy }
        let token = nextToken
        nextToken += 1
        let timer = Task {
            try await Task.sleep(for: timeout)
            self.resume(token, with: nil)
        }
        defer { timer.cancel() }
        let message = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                waiters[token] = (filter, continuation)
            }
        } onCancel: {
            Task { await self.resume(token, with: nil) }
        }
        return message.map(WaitResult.arrived) ?? .timedOut
    }

    /// How many clients wait and listen now.
    public var clients: (waiters: Int, listeners: Int) { (waiters.count, listeners.count) }

    private func resume(_ token: Int, with message: IndexedMessage?) {
        waiters.removeValue(forKey: token)?.continuation.resume(returning: message)
    }

    /// Every change from now on, until the stream is dropped; nil when `Limits.listeners`
    /// streams are open already.
    public func events() -> AsyncStream<CatcherEvent>? {
        guard listeners.count < limits.listeners else { return nil }
        return subscribe(bufferingNewest: 1000)
    }

    /// Every change from now on, for the server's own followers (the webhook), outside
    /// `Limits.listeners`; past `bufferingNewest` unread events the oldest are dropped.
    public func subscribe(bufferingNewest: Int) -> AsyncStream<CatcherEvent> {
        let token = nextToken
        nextToken += 1
        let (stream, continuation) = AsyncStream<CatcherEvent>.makeStream(bufferingPolicy: .bufferingNewest(bufferingNewest))
        listeners[token] = continuation
        continuation.onTermination = { _ in Task { await self.removeListener(token) } }
        return stream
    }

    private func removeListener(_ token: Int) {
        listeners[token] = nil
    }

    private func publish(_ event: CatcherEvent) {
        for continuation in listeners.values { continuation.yield(event) }
        guard case .stored(let message) = event else { return }
        for (token, waiter) in waiters where MessageMatcher.matches(message, waiter.filter) {
            resume(token, with: message)
        }
    }
}

/// What changed in the catcher.
public enum CatcherEvent: Sendable {
    case stored(IndexedMessage)
    case updated(IndexedMessage)
    case deleted(String)
}

/// A filter applied to one message in memory (for waiters), with the index's semantics.
enum MessageMatcher {
    static func matches(_ message: IndexedMessage, _ filter: MessageFilter) -> Bool {
        filter.conditions.allSatisfy { holds($0, message) }
    }

    static func holds(_ condition: MessageFilter.Condition, _ message: IndexedMessage) -> Bool {
        func contains(_ haystack: [String], _ needle: String) -> Bool {
            haystack.contains { $0.lowercased().contains(needle.lowercased()) }
        }
        func names(_ addresses: [IndexedAddress]) -> [String] { addresses.map { "\($0.name) \($0.address)" } }
        switch condition {
        case .contains(let field, let text):
            switch field {
            case .inbox: return message.inbox == text
            case .tag: return message.tags.contains { $0.lowercased() == text.lowercased() }
            case .from: return contains(names(message.from.map { [$0] } ?? []), text)
            case .to: return contains(names(message.to + message.cc + message.bcc), text)
            case .subject: return contains([message.subject], text)
            case .messageID: return contains([message.messageID], text)
            case .text:
                return contains(
                    [message.subject, message.searchText] + names(message.from.map { [$0] } ?? [])
                        + names(message.to + message.cc + message.bcc), text)
            }
        case .isRead(let read): return message.read == read
        case .hasAttachment(let has): return (message.attachments > 0) == has
        case .receivedBefore(let milliseconds): return message.receivedAt < milliseconds
        case .receivedSince(let milliseconds): return message.receivedAt >= milliseconds
        case .not(let inner): return !holds(inner, message)
        }
    }
}
