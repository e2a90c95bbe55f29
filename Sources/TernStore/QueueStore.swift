public import NIOCore
public import TernMail

/// Where accepted mail waits for delivery: the seam between the queue manager (TernQueue), which
/// decides what to try when, and the backend that keeps messages and their delivery states
/// durable. `Spool` is the embedded backend (one message file and one record file per message);
/// a PostgreSQL one implements the same protocol, and `QueueStoreContract` (TernTestSupport) is
/// the suite every backend passes.
///
/// The queue manager owns the states: it loads them once at start, changes them in memory and
/// hands each change to `save`, one message at a time and in order. The store keeps what it is
/// given and never decides anything itself.
public protocol QueueStore: MessageStore {
    /// Opens a message that will be queued with `deliveries`; `committed` runs (on the event
    /// loop) once the message and its record are durable, before the client's 250.
    func begin(
        _ message: IncomingMessage, deliveries: [QueuedDelivery], prefix: ByteBuffer, on eventLoop: any EventLoop,
        committed: @escaping @Sendable (QueuedMessage) -> Void
    ) -> any MessageWriter

    /// Queues a message made here (a DSN) whose whole content is `content`; durable when this
    /// returns.
    func enqueue(_ message: IncomingMessage, content: [UInt8], deliveries: [QueuedDelivery]) async throws
        -> QueuedMessage

    /// Every queued message, oldest first. Call once at start, after `recover()`. A record the
    /// store cannot read is set aside (and named in `unreadable`), so one damaged message
    /// neither stops the server nor is tried at every start.
    func load() async throws -> QueueContents

    /// Replaces the stored state of `message` (its deliveries, hold, delay warning) atomically
    /// and durably.
    func save(_ message: QueuedMessage) async throws

    /// Removes a message and its record for good.
    func remove(_ id: QueueID) async throws

    /// The message's content (trace header first), to stream to a delivery agent.
    func content(of id: QueueID) async throws -> any MessageSource

    /// Up to `limit` octets from the start of the message's content (what a DSN returns).
    func contentPrefix(of id: QueueID, limit: Int) async throws -> [UInt8]
}

/// What a queue store holds: the messages it could read, oldest first, and why it could not
/// read the others.
public struct QueueContents: Sendable {
    public var messages: [QueuedMessage]
    /// Queue IDs (as the store names them) whose record is damaged, each with why.
    public var unreadable: [(id: String, problem: String)]

    public init(messages: [QueuedMessage], unreadable: [(id: String, problem: String)]) {
        self.messages = messages
        self.unreadable = unreadable
    }
}

/// A message in the queue: how it arrived (its envelope and trace, as accepted) and where each
/// of its deliveries stands.
public struct QueuedMessage: Sendable, Hashable {
    public var id: QueueID
    public var envelope: Envelope
    public var trace: ArrivalTrace
    /// The content's size in octets (trace header included).
    public var size: Int
    /// One per final destination, after alias expansion.
    public var deliveries: [QueuedDelivery]
    /// The sender was told that delivery is delayed (one warning per message).
    public var delayWarned: Bool
    /// Put on hold by the postmaster (`tern queue hold`): nothing is tried until released.
    public var hold: Bool

    public init(
        id: QueueID, envelope: Envelope, trace: ArrivalTrace, size: Int, deliveries: [QueuedDelivery],
        delayWarned: Bool = false, hold: Bool = false
    ) {
        self.id = id
        self.envelope = envelope
        self.trace = trace
        self.size = size
        self.deliveries = deliveries
        self.delayWarned = delayWarned
        self.hold = hold
    }

    /// Seconds since 1970 when the message arrived (for delays and expiry).
    public var arrival: Int64 { trace.receivedAt }

    /// True when every delivery is delivered or failed.
    public var isComplete: Bool { deliveries.allSatisfy(\.status.isFinal) }

    /// The envelope recipient a delivery came from (its NOTIFY and ORCPT), by its `original`.
    public func envelopeRecipient(of delivery: QueuedDelivery) -> EnvelopeRecipient? {
        envelope.recipients.first { $0.address.description == delivery.original }
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
    /// The last reply, for `tern queue show` and DSNs.
    public var lastReply: SMTPReply?
    /// The most recent attempts, oldest first (at most `historyLimit`), for `tern queue show`.
    public var history: [DeliveryAttempt]?
    /// Set when delivered to a remote server: whether it offered DSN and so took over success
    /// reports (RFC 3461 §6.2.2).
    public var remoteDSN: Bool?
    /// For a local delivery, the special-use folder it goes into instead of INBOX (a message
    /// that DMARC quarantines goes to Junk); nil for INBOX.
    public var folder: SpecialUse?

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
        case folder
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
    public var reply: SMTPReply

    public init(at: Int64, relay: String?, tls: Bool?, reply: SMTPReply) {
        self.at = at
        self.relay = relay
        self.tls = tls
        self.reply = reply
    }
}

/// A stored message's content, read where it lies (a queue file, a database row) in chunks,
/// so a 50 MB message never sits in memory whole.
public protocol MessageSource: Sendable {
    /// The content's size in octets.
    var size: Int { get }
    /// Up to `count` octets from `offset`; an empty buffer at the end. Never blocks the event
    /// loop.
    func read(at offset: Int, count: Int, on eventLoop: any EventLoop) -> EventLoopFuture<ByteBuffer>
    /// The whole content when the source already holds it in memory (a small file read when it
    /// was opened), for a caller that can then send it at once; nil otherwise.
    var wholeContent: ByteBuffer? { get }
}

extension MessageSource {
    public var wholeContent: ByteBuffer? { nil }
}

/// A message's content with octets in front of it instead of its first `skipped` octets: header
/// fields made after the content was stored, such as the DKIM-Signature of a message released
/// from the catcher, in place of one that must not go on (the catcher's Return-Path).
public struct PrefixedMessageSource: MessageSource {
    public let prefix: ByteBuffer
    public let content: any MessageSource
    public let skipped: Int

    public init(prefix: ByteBuffer, content: any MessageSource, skipping skipped: Int = 0) {
        self.prefix = prefix
        self.content = content
        self.skipped = min(max(0, skipped), content.size)
    }

    public var size: Int { prefix.readableBytes + content.size - skipped }

    /// The prefix's octets up to its end, then the content's: a read never spans both.
    public func read(at offset: Int, count: Int, on eventLoop: any EventLoop) -> EventLoopFuture<ByteBuffer> {
        let prefixLength = prefix.readableBytes
        guard offset >= prefixLength else {
            let length = max(0, min(count, prefixLength - max(0, offset)))
            return eventLoop.makeSucceededFuture(prefix.getSlice(at: prefix.readerIndex + max(0, offset), length: length) ?? ByteBuffer())
        }
        let (position, overflowed) = (offset - prefixLength).addingReportingOverflow(skipped)
        guard !overflowed else { return eventLoop.makeSucceededFuture(ByteBuffer()) }
        return content.read(at: position, count: count, on: eventLoop)
    }
}
