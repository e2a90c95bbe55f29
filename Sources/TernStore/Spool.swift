import Foundation
public import NIOCore
import NIOPosix
public import TernMail

/// The embedded `QueueStore`, the queue directory of a serving MTA: `spool/queue/<QueueID>.eml`
/// holds the message as it will be delivered (trace header first), `spool/queue/<QueueID>.json`
/// its envelope and the state of each delivery (`SpoolRecord`, the on-disk form of a
/// `QueuedMessage`).
///
/// The envelope file is renamed into place last, so it marks a complete message: a `.eml`
/// without its `.json` belongs to a transaction that never got its 250 and is removed at start.
/// State changes rewrite the `.json` atomically (write, sync, rename, directory sync: one
/// `StoreSync` publication), so after a crash each file is either the old state or the new one.
public struct Spool: QueueStore {
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

    public func begin(
        _ message: IncomingMessage, deliveries: [QueuedDelivery], prefix: ByteBuffer, on eventLoop: any EventLoop,
        committed: @escaping @Sendable (QueuedMessage) -> Void
    ) -> any MessageWriter {
        let (root, id, sync, directory) = (self.root, message.id, self.sync, queueDirectory)
        let messagePath = "\(root)/tmp/\(id).eml"
        let writer = FileMessageWriter(prefix: prefix, temporaryPath: messagePath, sync: sync, eventLoop: eventLoop) {
            size, folder in
            var deliveries = deliveries
            for index in deliveries.indices where deliveries[index].route == .local {
                deliveries[index].folder = folder
            }
            let queued = QueuedMessage(
                id: message.id, envelope: message.envelope, trace: message.trace, size: size, deliveries: deliveries)
            let envelopePath = "\(root)/tmp/\(id).json"
            try sync.writeFile(Array(try SpoolRecord(queued).encoded()), to: envelopePath)
            let publication = StoreSync.Publication(files: [messagePath, envelopePath], directory: directory) {
                try Self.publishMessage(id, root: root)
            }
            return (publication, queued)
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

    /// Every complete message, oldest first. A record that cannot be read (not JSON, not a
    /// record, or with values no Tern writes: `SpoolRecord.problem`) is moved with its message
    /// to `corrupt/`.
    public func load() throws -> QueueContents {
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

    /// The messages of the spool at `root`, oldest first, read without opening the spool or
    /// changing it (for `tern queue`, while a server may be running).
    public static func contents(in root: String) throws -> QueueContents {
        var contents = QueueContents(messages: [], unreadable: [])
        for name in try POSIXFile.list("\(root)/queue") where name.hasSuffix(".json") {
            let id = String(name.dropLast(5))
            // A record removed between listing and reading was just completed.
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: "\(root)/queue/\(name)")) else { continue }
            switch SpoolRecord.message(from: data, expectedID: id) {
            case .success(let message): contents.messages.append(message)
            case .failure(let problem): contents.unreadable.append((id, problem.description))
            }
        }
        contents.messages.sort { $0.id.rawValue < $1.id.rawValue }
        contents.unreadable.sort { $0.id < $1.id }
        return contents
    }

    /// The record file's JSON for `message`, pretty-printed (`tern queue show --json`).
    public static func recordJSON(_ message: QueuedMessage) throws -> String {
        String(decoding: try SpoolRecord(message).encoded(pretty: true), as: UTF8.self)
    }

    /// The record files' JSON for `messages`, as one pretty-printed array (`tern queue list --json`).
    public static func recordJSON(_ messages: [QueuedMessage]) throws -> String {
        String(decoding: try SpoolRecord.encoder(pretty: true).encode(messages.map(SpoolRecord.init)), as: UTF8.self)
    }

    /// The queue IDs of the messages an earlier `load()` moved to `corrupt/`.
    public static func quarantined(in root: String) throws -> [String] {
        guard POSIXFile.exists("\(root)/corrupt") else { return [] }
        return Set(try POSIXFile.list("\(root)/corrupt").map { split($0).0 }).sorted()
    }

    public func enqueue(_ message: IncomingMessage, content: [UInt8], deliveries: [QueuedDelivery]) async throws
        -> QueuedMessage
    {
        let (root, id, sync) = (self.root, message.id, self.sync)
        let queued = QueuedMessage(
            id: message.id, envelope: message.envelope, trace: message.trace, size: content.count,
            deliveries: deliveries)
        let record = SpoolRecord(queued)
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
        return queued
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

    public func contentPrefix(of id: QueueID, limit: Int) async throws -> [UInt8] {
        let path = messagePath(id)
        return try await sync.pool.runIfActive { try POSIXFile.readPrefix(of: path, limit: limit) }
    }

    public func content(of id: QueueID) async throws -> any MessageSource {
        try await MessageFileReader.open(path: messagePath(id), pool: sync.pool)
    }

    private func messagePath(_ id: QueueID) -> String { "\(root)/queue/\(id).eml" }

    public func save(_ message: QueuedMessage) async throws {
        let (root, sync, record) = (self.root, self.sync, SpoolRecord(message))
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
    public func remove(_ id: QueueID) async throws {
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
    private let committed: @Sendable (QueuedMessage) -> Void

    init(inner: FileMessageWriter, committed: @escaping @Sendable (QueuedMessage) -> Void) {
        self.inner = inner
        self.committed = committed
    }

    var bufferedBytes: Int { inner.bufferedBytes }
    func append(_ chunk: ByteBuffer) { inner.append(chunk) }
    func drained() -> EventLoopFuture<Void> { inner.drained() }
    func abort() { inner.abort() }

    func commit(adding fields: ByteBuffer, folder: SpecialUse?) -> EventLoopFuture<Void> {
        let committed = self.committed
        return inner.commitPublishing(adding: fields, folder: folder).map { record in
            if let message = record as? QueuedMessage { committed(message) }
        }
    }
}

/// A queued message as its record file holds it: the envelope file's JSON. Keys are stable:
/// other tools (and the tests) read them. Only the spool sees this form; everything above it
/// works with `QueuedMessage`.
struct SpoolRecord: Codable, Sendable {
    struct Recipient: Codable, Sendable {
        var address: String
        var notify: [String]?
        var orcpt: String?
    }

    var id: String
    /// The reverse path; empty for the null sender.
    var from: String
    var recipients: [Recipient]
    var helo: String
    var peer: String
    var `protocol`: String
    var body: String?
    var smtputf8: Bool
    var ret: String?
    var envid: String?
    var size: Int
    var received_at: String
    /// Seconds since 1970 when the message arrived.
    var arrival: Int64
    var deliveries: [QueuedDelivery]
    var delay_warned: Bool?
    var hold: Bool?
    /// The client authenticated or came from a relay network (`ArrivalTrace.trusted`); nil,
    /// in a record written before this field existed, counts as false.
    var trusted: Bool?
    /// The user the client authenticated as, if it did.
    var auth_user: String?

    init(_ message: QueuedMessage) {
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
        self.size = message.size
        self.arrival = message.trace.receivedAt
        self.received_at = Date(timeIntervalSince1970: TimeInterval(message.trace.receivedAt))
            .formatted(.iso8601)
        self.deliveries = message.deliveries
        self.delay_warned = message.delayWarned ? true : nil
        self.hold = message.hold ? true : nil
        self.trusted = message.trace.trusted
        self.auth_user = message.trace.authenticatedUser
    }

    /// Why a record file cannot be read as a queued message.
    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    /// The queued message that the record file `<expectedID>.json` holds, or why it holds none.
    static func message(from data: Data, expectedID: String) -> Result<QueuedMessage, Problem> {
        let record: SpoolRecord
        do {
            record = try JSONDecoder().decode(SpoolRecord.self, from: data)
        } catch {
            return .failure(Problem(description: "not a queue record: \(error)"))
        }
        if let problem = record.problem(expectedID: expectedID) { return .failure(Problem(description: problem)) }
        return record.message().mapError { Problem(description: $0.description) }
    }

    /// The most attempts a delivery can have made: one a minute for the ten years a
    /// configuration allows a message to stay.
    static let maximumAttempts = 6_000_000
    /// The largest message size a record can state (1 TiB).
    static let maximumSize = 1 << 40

    /// Why the record cannot be the envelope file `<expectedID>.json` Tern wrote, or nil.
    ///
    /// Security: the queue joins `id` into paths and does arithmetic on the times and counts,
    /// so a record whose ID is not its file's (`../../x`), or whose numbers no Tern writes,
    /// is refused here rather than deleting a file elsewhere or overflowing later.
    func problem(expectedID: String) -> String? {
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

    /// The typed message; fails on a value no Tern writes (an unknown BODY or RET, a NOTIFY
    /// keyword RFC 3461 does not define, a malformed ORCPT).
    func message() -> Result<QueuedMessage, Problem> {
        guard let id = QueueID(id) else { return .failure(Problem(description: "its id is not a queue ID")) }
        var envelope = Envelope(sender: from.isEmpty ? nil : MailAddress(storedOrBare: from), smtpUTF8: smtputf8, envelopeID: envid)
        if let body {
            guard let type = BodyType(rawValue: body) else { return .failure(Problem(description: "unknown body \(body)")) }
            envelope.body = type
        }
        if let ret {
            guard let type = DSNReturn(rawValue: ret) else { return .failure(Problem(description: "unknown ret \(ret)")) }
            envelope.dsnReturn = type
        }
        for recipient in recipients {
            var parsed = EnvelopeRecipient(address: MailAddress(storedOrBare: recipient.address))
            if let keywords = recipient.notify {
                guard let notify = DSNNotify(keywords: keywords) else {
                    return .failure(Problem(description: "unknown NOTIFY of \(recipient.address)"))
                }
                parsed.notify = notify
            }
            if let orcpt = recipient.orcpt {
                guard let original = OriginalRecipient(parameterValue: orcpt) else {
                    return .failure(Problem(description: "malformed ORCPT of \(recipient.address)"))
                }
                parsed.originalRecipient = original
            }
            envelope.recipients.append(parsed)
        }
        let trace = ArrivalTrace(
            clientName: helo, clientAddress: peer, receivedProtocol: self.protocol, receivedAt: arrival,
            authenticatedUser: auth_user, trusted: trusted ?? false)
        return .success(
            QueuedMessage(
                id: id, envelope: envelope, trace: trace, size: size, deliveries: deliveries,
                delayWarned: delay_warned == true, hold: hold == true))
    }

    func encoded(pretty: Bool = false) throws -> Data {
        try Self.encoder(pretty: pretty).encode(self)
    }

    static func encoder(pretty: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        if pretty { encoder.outputFormatting.insert(.prettyPrinted) }
        return encoder
    }
}
