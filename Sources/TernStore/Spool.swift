import Foundation
public import NIOCore
import NIOPosix
import TernMail

/// The queue directory of a serving MTA: `spool/queue/<QueueID>.eml` holds the message as it
/// will be delivered (trace header first), `spool/queue/<QueueID>.json` its envelope and the
/// state of each delivery (`SpoolRecord`).
///
/// The envelope file is renamed into place last, so it marks a complete message: a `.eml`
/// without its `.json` belongs to a transaction that never got its 250 and is removed at start.
/// State changes rewrite the `.json` atomically (write, sync, rename, directory sync: one
/// `StoreSync` publication), so after a crash each file is either the old state or the new one.
public struct Spool: MessageStore {
    public let root: String
    private let sync: StoreSync
    private let queueDirectory: DirectorySync

    public init(root: String, sync: StoreSync) throws {
        self.root = root
        self.sync = sync
        for sub in ["tmp", "queue"] { try POSIXFile.makeDirectories("\(root)/\(sub)") }
        self.queueDirectory = try DirectorySync(path: "\(root)/queue", pool: sync.pool)
    }

    public var location: String { "\(root)/queue" }

    public func begin(_ message: IncomingMessage, prefix: ByteBuffer, on eventLoop: any EventLoop) -> any MessageWriter {
        begin(message, deliveries: [], prefix: prefix, on: eventLoop) { _ in }
    }

    /// Opens a message whose envelope file will list `deliveries`; `committed` runs (on the
    /// event loop) once the message is durable.
    public func begin(
        _ message: IncomingMessage, deliveries: [QueuedDelivery], prefix: ByteBuffer, on eventLoop: any EventLoop,
        committed: @escaping @Sendable (SpoolRecord) -> Void
    ) -> any MessageWriter {
        let (root, id, sync, directory) = (self.root, message.id, self.sync, queueDirectory)
        let messagePath = "\(root)/tmp/\(id).eml"
        let writer = FileMessageWriter(prefix: prefix, temporaryPath: messagePath, sync: sync, eventLoop: eventLoop) {
            size in
            let record = SpoolRecord(message, size: size, deliveries: deliveries)
            let envelopePath = "\(root)/tmp/\(id).json"
            try sync.writeFile(Array(try record.encoded()), to: envelopePath)
            let publication = StoreSync.Publication(files: [messagePath, envelopePath], directory: directory) {
                try Self.publishMessage(id, root: root)
            }
            return (publication, record)
        }
        return SpoolWriter(inner: writer, committed: committed)
    }

    public func recover() throws -> RecoveryReport {
        var removed = 0
        for name in try POSIXFile.list("\(root)/tmp") {
            POSIXFile.remove("\(root)/tmp/\(name)")
            removed += 1
        }
        let names = Set(try POSIXFile.list("\(root)/queue"))
        var messages = 0
        for name in names {
            let (stem, ext) = Self.split(name)
            let complete = names.contains("\(stem).eml") && names.contains("\(stem).json")
            guard ext == "eml" || ext == "json" else { continue }
            if complete {
                if ext == "eml" { messages += 1 }
            } else {
                POSIXFile.remove("\(root)/queue/\(name)")
                removed += 1
            }
        }
        return RecoveryReport(messages: messages, removedTemporaryFiles: removed)
    }

    /// What a spool's queue directory holds: the records it could read, oldest first, and the
    /// queue IDs of those it could not.
    public struct Contents: Sendable {
        public var records: [SpoolRecord]
        /// Queue IDs (file stems) whose record is damaged: not JSON, not a record, or with
        /// values no Tern writes (see `SpoolRecord.problem`), each with why.
        public var unreadable: [(id: String, problem: String)]

        public init(records: [SpoolRecord], unreadable: [(id: String, problem: String)]) {
            self.records = records
            self.unreadable = unreadable
        }
    }

    /// Every complete message's record, oldest first. Call after `recover()`. A record that
    /// cannot be read is moved with its message to `corrupt/` (returned in `unreadable`), so
    /// one damaged file neither stops the server nor is tried again at every start.
    public func load() throws -> Contents {
        let contents = try Self.contents(in: root)
        if !contents.unreadable.isEmpty {
            try POSIXFile.makeDirectories("\(root)/corrupt")
            for (id, _) in contents.unreadable {
                for ext in ["json", "eml"] where POSIXFile.exists("\(root)/queue/\(id).\(ext)") {
                    try POSIXFile.rename("\(root)/queue/\(id).\(ext)", "\(root)/corrupt/\(id).\(ext)")
                }
            }
            // No directory sync: after a crash the record is found damaged and moved again.
        }
        return contents
    }

    /// The records of the spool at `root`, oldest first, read without opening the spool or
    /// changing it (for `tern queue`, while a server may be running).
    public static func contents(in root: String) throws -> Contents {
        let decoder = JSONDecoder()
        var contents = Contents(records: [], unreadable: [])
        for name in try POSIXFile.list("\(root)/queue") where name.hasSuffix(".json") {
            let id = String(name.dropLast(5))
            // A record removed between listing and reading was just completed.
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: "\(root)/queue/\(name)")) else { continue }
            do {
                let record = try decoder.decode(SpoolRecord.self, from: data)
                if let problem = record.problem(expectedID: id) {
                    contents.unreadable.append((id, problem))
                } else {
                    contents.records.append(record)
                }
            } catch {
                contents.unreadable.append((id, "not a queue record: \(error)"))
            }
        }
        contents.records.sort { $0.id < $1.id }
        contents.unreadable.sort { $0.id < $1.id }
        return contents
    }

    /// The queue IDs of the messages an earlier `load()` moved to `corrupt/`.
    public static func quarantined(in root: String) throws -> [String] {
        guard POSIXFile.exists("\(root)/corrupt") else { return [] }
        return Set(try POSIXFile.list("\(root)/corrupt").map { split($0).0 }).sorted()
    }

    /// Queues a message generated here (a DSN): `content` is the whole message. Durable when
    /// this returns, like a message accepted over SMTP.
    public func enqueue(_ message: IncomingMessage, content: [UInt8], deliveries: [QueuedDelivery]) async throws
        -> SpoolRecord
    {
        let (root, id, sync) = (self.root, message.id, self.sync)
        let record = SpoolRecord(message, size: content.count, deliveries: deliveries)
        let messagePath = "\(root)/tmp/\(id).eml"
        let envelopePath = "\(root)/tmp/\(id).json"
        try await sync.pool.runIfActive {
            try sync.writeFile(content, to: messagePath)
            try sync.writeFile(Array(try record.encoded()), to: envelopePath)
        }
        try await sync.publish(
            StoreSync.Publication(files: [messagePath, envelopePath], directory: queueDirectory) {
                try Self.publishMessage(id, root: root)
            })
        return record
    }

    /// Renames a message and then its envelope from tmp/ into queue/: the envelope last, as it
    /// marks the message complete. On failure neither stays in queue/.
    private static func publishMessage(_ id: QueueID, root: String) throws {
        let envelopePath = "\(root)/tmp/\(id).json"
        do {
            try POSIXFile.rename("\(root)/tmp/\(id).eml", "\(root)/queue/\(id).eml")
            try POSIXFile.rename(envelopePath, "\(root)/queue/\(id).json")
        } catch {
            POSIXFile.remove(envelopePath)
            POSIXFile.remove("\(root)/queue/\(id).eml")
            throw error
        }
    }

    /// Up to `limit` octets from the start of a queued message (for DSNs).
    public func readMessage(_ id: String, limit: Int) async throws -> [UInt8] {
        let path = messagePath(id)
        return try await sync.pool.runIfActive { try POSIXFile.readPrefix(of: path, limit: limit) }
    }

    /// Where the message of `id` is, for delivery agents to read.
    public func messagePath(_ id: String) -> String { "\(root)/queue/\(id).eml" }

    /// Replaces the stored record (delivery states) atomically and durably.
    public func save(_ record: SpoolRecord) async throws {
        let (root, sync) = (self.root, self.sync)
        let temporary = "\(root)/tmp/\(record.id).json.update"
        try await sync.pool.runIfActive {
            POSIXFile.remove(temporary)  // left by a save whose sync failed
            try sync.writeFile(Array(try record.encoded()), to: temporary)
        }
        try await sync.publish(
            StoreSync.Publication(files: [temporary], directory: queueDirectory) {
                do {
                    try POSIXFile.rename(temporary, "\(root)/queue/\(record.id).json")
                } catch {
                    POSIXFile.remove(temporary)
                    throw error
                }
            })
    }

    /// Removes a message whose deliveries are all final: the record first, so a crash in
    /// between leaves an orphan `.eml` that the next start removes, never a record without
    /// its message.
    public func remove(_ id: String) async throws {
        let root = self.root
        try await sync.publish(
            StoreSync.Publication(files: [], directory: queueDirectory) {
                POSIXFile.remove("\(root)/queue/\(id).json")
                POSIXFile.remove("\(root)/queue/\(id).eml")
            })
    }

    private static func split(_ name: String) -> (String, String) {
        guard let dot = name.lastIndex(of: ".") else { return (name, "") }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }
}

/// Hands the committed record to the queue once the message is durable.
final class SpoolWriter: MessageWriter {
    private let inner: FileMessageWriter
    private let committed: @Sendable (SpoolRecord) -> Void

    init(inner: FileMessageWriter, committed: @escaping @Sendable (SpoolRecord) -> Void) {
        self.inner = inner
        self.committed = committed
    }

    var bufferedBytes: Int { inner.bufferedBytes }
    func append(_ chunk: ByteBuffer) { inner.append(chunk) }
    func drained() -> EventLoopFuture<Void> { inner.drained() }
    func abort() { inner.abort() }

    func commit() -> EventLoopFuture<Void> {
        let committed = self.committed
        return inner.commitPublishing().map { record in
            if let record = record as? SpoolRecord { committed(record) }
        }
    }
}

/// One delivery of a queued message: a final destination (a local mailbox or a remote
/// address, after alias expansion) and where it stands.
public struct QueuedDelivery: Codable, Sendable, Hashable {
    public enum Route: String, Codable, Sendable {
        case local
        case remote
    }

    public enum Status: String, Codable, Sendable {
        case pending
        case deferred
        case delivered
        case failed

        /// Delivered or failed: nothing more will be tried.
        public var isFinal: Bool { self == .delivered || self == .failed }
    }

    /// The destination: a mailbox address for `local`, the recipient for `remote`.
    public var recipient: String
    /// The envelope recipient (RCPT TO) this delivery came from.
    public var original: String
    public var route: Route
    public var status: Status
    public var attempts: Int
    /// Seconds since 1970 of the next try, for deferred deliveries.
    public var nextAttempt: Int64?
    /// The last reply, e.g. `451 4.3.0 ...`, for `tern queue show` and DSNs.
    public var lastReply: String?
    /// The most recent attempts, oldest first (at most `historyLimit`), for `tern queue show`.
    public var history: [DeliveryAttempt]?
    /// Set when delivered to a remote server: whether it offered DSN and so took over success
    /// reports (RFC 3461 §6.2.2).
    public var remoteDSN: Bool?

    /// How many attempts `history` keeps.
    public static let historyLimit = 20

    public init(recipient: String, original: String, route: Route) {
        self.recipient = recipient
        self.original = original
        self.route = route
        self.status = .pending
        self.attempts = 0
    }

    enum CodingKeys: String, CodingKey {
        case recipient, original, route, status, attempts
        case nextAttempt = "next_attempt"
        case lastReply = "last_reply"
        case history
        case remoteDSN = "remote_dsn"
    }

    /// Appends an attempt to `history`, dropping the oldest beyond `historyLimit`.
    public mutating func record(_ attempt: DeliveryAttempt) {
        var attempts = history ?? []
        attempts.append(attempt)
        if attempts.count > Self.historyLimit { attempts.removeFirst(attempts.count - Self.historyLimit) }
        history = attempts
    }
}

/// One try at a delivery: when, where to, over TLS or not, and what the other side said.
public struct DeliveryAttempt: Codable, Sendable, Hashable {
    /// Seconds since 1970.
    public var at: Int64
    /// Who answered: `mx.example.org[192.0.2.1]:25` for a remote host, `maildir` locally; nil
    /// when no host was reached (a DNS failure).
    public var relay: String?
    /// The session was encrypted (remote deliveries).
    public var tls: Bool?
    public var reply: String

    public init(at: Int64, relay: String?, tls: Bool?, reply: String) {
        self.at = at
        self.relay = relay
        self.tls = tls
        self.reply = reply
    }
}

/// The envelope file's JSON. Keys are stable: other tools (and the tests) read them.
public struct SpoolRecord: Codable, Sendable {
    public struct Recipient: Codable, Sendable {
        public var address: String
        public var notify: [String]?
        public var orcpt: String?
    }

    public var id: String
    /// The reverse path; empty for the null sender.
    public var from: String
    public var recipients: [Recipient]
    public var helo: String
    public var peer: String
    public var `protocol`: String
    public var body: String?
    public var smtputf8: Bool
    public var ret: String?
    public var envid: String?
    public var size: Int
    public var received_at: String
    /// Seconds since 1970 when the message arrived (for delays and expiry).
    public var arrival: Int64
    public var deliveries: [QueuedDelivery]
    /// Set once the sender was told that delivery is delayed (one warning per message).
    public var delay_warned: Bool?
    /// Put on hold by the postmaster (`tern queue hold`): nothing is tried until released.
    public var hold: Bool?
    /// The client authenticated or came from a relay network (`ArrivalTrace.trusted`); nil,
    /// in a record written before this field existed, counts as false.
    public var trusted: Bool?

    init(_ message: IncomingMessage, size: Int, deliveries: [QueuedDelivery]) {
        let envelope = message.envelope
        self.id = message.id.rawValue
        self.from = envelope.sender?.description ?? ""
        self.recipients = envelope.recipients.map {
            Recipient(
                address: $0.address.description, notify: $0.notify?.keywords,
                orcpt: $0.originalRecipient?.parameterValue)
        }
        self.helo = message.trace.clientName
        self.peer = message.trace.clientAddress
        self.protocol = message.trace.receivedProtocol
        self.body = envelope.body?.rawValue
        self.smtputf8 = envelope.smtpUTF8
        self.ret = envelope.dsnReturn?.rawValue
        self.envid = envelope.envelopeID
        self.size = size
        self.arrival = message.trace.receivedAt
        self.received_at = Date(timeIntervalSince1970: TimeInterval(message.trace.receivedAt))
            .formatted(.iso8601)
        self.deliveries = deliveries
        self.trusted = message.trace.trusted
    }

    /// True when every delivery is delivered or failed.
    public var isComplete: Bool { deliveries.allSatisfy(\.status.isFinal) }

    /// The most attempts a delivery can have made: one a minute for the ten years a
    /// configuration allows a message to stay.
    public static let maximumAttempts = 6_000_000
    /// The largest message size a record can state (1 TiB).
    public static let maximumSize = 1 << 40

    /// Why the record cannot be the envelope file `<expectedID>.json` Tern wrote, or nil.
    ///
    /// Security: the queue joins `id` into paths and does arithmetic on the times and counts,
    /// so a record whose ID is not its file's (`../../x`), or whose numbers no Tern writes,
    /// is refused here rather than deleting a file elsewhere or overflowing later.
    public func problem(expectedID: String) -> String? {
        guard QueueID(id) != nil, id == expectedID else { return "its id is not the queue ID of its file" }
        guard CalendarBounds.seconds.contains(arrival) else { return "arrival out of range" }
        guard (0...Self.maximumSize).contains(size) else { return "size out of range" }
        for delivery in deliveries {
            guard (0...Self.maximumAttempts).contains(delivery.attempts) else { return "attempts out of range" }
            if let next = delivery.nextAttempt, !CalendarBounds.seconds.contains(next) {
                return "next_attempt out of range"
            }
            for attempt in delivery.history ?? [] where !CalendarBounds.seconds.contains(attempt.at) {
                return "an attempt's time is out of range"
            }
        }
        return nil
    }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
