import Foundation
public import Logging
public import ServiceLifecycle
public import NIOPosix
import TernMIME
import TernMail
public import TernStore

/// The dev catcher's mail as the web UI and the API see it: the Maildir inboxes of a
/// `CatcherStore`, indexed for listing and search.
///
/// The files are the truth. `synchronize()` brings the index in line with them: files that
/// appeared (a message just stored, an .eml a developer copied in) are parsed and added, rows
/// whose file went are dropped. It runs at start, whenever the store reports a new message,
/// and every `rescanInterval`. Waiters (`/api/v1/wait`) and event listeners hear of each new
/// message once it is indexed.
///
/// Indexing reads at most `MessageSummary.maximumIndexedOctets` of a file (its header and the
/// start of its body): a 48 MB message costs the index 2 MB of memory, as it cost the SMTP path
/// that stored it; the whole file is read only when it is served. Waiters and event listeners
/// are bounded (`Limits`): past the bound, `waitForNext` answers `.busy` and `events()` nil.
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

    /// Starts listening to the store; call once.
    public func start() async {
        store.observe { [weak self] file in
            guard let self else { return }
            Task { await self.indexStored(file) }
        }
        await synchronize()
    }

    /// Rescans every `rescanInterval`, for files that arrive other than through SMTP (a
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
    }

    // MARK: Index upkeep

    /// Brings the index in line with the files. Calls that arrive while one runs make it run
    /// once more afterwards, never twice at once.
    public func synchronize() async {
        if synchronizing {
            synchronizeAgain = true
            return
        }
        synchronizing = true
        defer { synchronizing = false }
        repeat {
            synchronizeAgain = false
            do {
                try await synchronizeOnce()
                try await applyRetention()
            } catch {
                logger.warning("catcher index not updated", metadata: ["error": "\(error)"])
            }
        } while synchronizeAgain
    }

    private func synchronizeOnce() async throws {
        touchedDuringRescan = []
        let store = self.store
        // The rows first, then the files: a row added meanwhile (a message just stored) is not
        // in `indexed`, so it cannot be taken for one whose file went.
        let indexed = try await index.paths()
        let files = try await pool.runIfActive { try store.files() }
        let indexedPaths = Set(indexed.values)
        let filePaths = Set(files.map(\.path))
        // A file renamed behind our back (a mail reader marked it read) is gone under its old
        // path and fresh under its new one: same ID, so the row is replaced.
        let gone = indexed.filter { !filePaths.contains($0.value) }
        let fresh = files.filter { !indexedPaths.contains($0.path) }
        if !gone.isEmpty {
            // A returning row is not removed: the upsert below replaces it, and meanwhile it
            // stays listed (a message marked read by the API while this ran has its new path in
            // the row already; removing it would answer 404 until the batch is parsed).
            let returning = Set(fresh.map(Self.id))
            let removed = gone.keys.filter { !returning.contains($0) && !touchedDuringRescan.contains($0) }
            try await index.remove(ids: removed)
            for id in removed { publish(.deleted(id)) }
        }
        guard !fresh.isEmpty else { return }
        // Parse in batches on the thread pool: a copied-in folder of thousands of files must
        // not hold the actor for long.
        for batch in stride(from: 0, to: fresh.count, by: 200).map({ Array(fresh[$0..<min($0 + 200, fresh.count)]) }) {
            let parsed = try await pool.runIfActive {
                batch.compactMap { file -> IndexedMessage? in
                    guard let (octets, size) = try? store.prefix(of: file, limit: MessageSummary.maximumIndexedOctets) else {
                        return nil
                    }
                    return MessageSummary.indexed(raw: octets, size: size, file: file, id: Self.id(of: file))
                }
            }
            // Parsing took a while: a message marked read (renamed) or deleted meanwhile keeps
            // the row the API gave it.
            let messages = parsed.filter { !touchedDuringRescan.contains($0.id) }
            try await index.upsert(messages)
            for message in messages.sorted(by: { $0.receivedAt < $1.receivedAt }) { publish(.stored(message)) }
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

    /// Indexes one message the SMTP side just stored: O(1), where a rescan is O(messages), so a
    /// burst of mail costs the catcher one parse per message.
    private func indexStored(_ file: CatcherStore.StoredFile) async {
        let store = self.store
        do {
            let id = Self.id(of: file)
            touch([id])
            guard try await index.message(id: id) == nil else { return }
            guard
                let (octets, size) = try? await pool.runIfActive({
                    try store.prefix(of: file, limit: MessageSummary.maximumIndexedOctets)
                })
            else { return }
            let message = MessageSummary.indexed(raw: octets, size: size, file: file, id: id)
            try await index.upsert([message])
            publish(.stored(message))
            // Retention is applied by the next rescan (within `rescanInterval`), not per message.
        } catch {
            logger.warning("catcher index not updated", metadata: ["error": "\(error)"])
        }
    }

    /// A message's ID: the QueueID in a name Tern wrote (`<time>.<QueueID>.<host>`), else a
    /// hash of the file's key, so a copied-in file keeps one ID across rescans.
    static func id(of file: CatcherStore.StoredFile) -> String {
        let fields = file.key.split(separator: ".", maxSplits: 2)
        if fields.count >= 2, fields[1].count == 16, fields[1].allSatisfy({ $0.isASCII && ($0.isNumber || $0.isUppercase) }) {
            return String(fields[1])
        }
        // FNV-1a, 64 bits, as 16 hex digits: stable, and never mistaken for a QueueID.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for octet in "\(file.inbox)/\(file.key)".utf8 {
            hash ^= UInt64(octet)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "x" + String(repeating: "0", count: 16 - hex.count) + hex
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

    /// The raw message of an indexed row (nil when its file went meanwhile).
    public func raw(_ message: IndexedMessage) async throws -> [UInt8]? {
        let store = self.store
        let file = Self.file(of: message)
        return try? await pool.runIfActive { try store.contents(of: file) }
    }

    /// Where a message's file is, for code that reads it itself (release).
    public func absolutePath(_ message: IndexedMessage) -> String? {
        "\(store.root)/\(message.path)"
    }

    public func inboxes() async throws -> [InboxCount] {
        try await index.inboxes()
    }

    // MARK: Changing

    /// Marks messages read or unread: the Maildir seen flag, then the index.
    public func setRead(ids: [String], read: Bool) async throws {
        touch(ids)
        var changed: [IndexedMessage] = []
        for id in ids {
            guard var message = try await index.message(id: id), message.read != read else { continue }
            let store = self.store
            let file = Self.file(of: message)
            guard let moved = try? await pool.runIfActive({ try store.setSeen(file, read) }) else { continue }
            message.path = moved.path
            message.read = read
            changed.append(message)
        }
        try await index.upsert(changed)
        for message in changed { publish(.updated(message)) }
    }

    /// Deletes messages: their files, then their rows.
    public func delete(ids: [String]) async throws {
        touch(ids)
        var removed: [String] = []
        for id in ids {
            guard let message = try await index.message(id: id) else { continue }
            let store = self.store
            let file = Self.file(of: message)
            try await pool.runIfActive { store.remove(file) }
            removed.append(id)
        }
        try await index.remove(ids: removed)
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

    /// Notes that `ids` change now, for a rescan running meanwhile (`touchedDuringRescan`).
    private func touch(_ ids: [String]) {
        if synchronizing { touchedDuringRescan.formUnion(ids) }
    }

    static func file(of message: IndexedMessage) -> CatcherStore.StoredFile {
        let name = message.path.split(separator: "/").last.map(String.init) ?? message.path
        return CatcherStore.StoredFile(
            inbox: message.inbox, path: message.path, key: MaildirUIDList.key(ofFileName: name), seen: message.read)
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
        let token = nextToken
        nextToken += 1
        let (stream, continuation) = AsyncStream<CatcherEvent>.makeStream(bufferingPolicy: .bufferingNewest(1000))
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
