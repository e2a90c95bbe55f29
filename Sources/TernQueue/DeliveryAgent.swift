public import NIOCore
public import TernMail
public import TernStore

/// One delivery attempt the scheduler hands an agent: a queued message and those of its
/// deliveries that share a destination (one local mailbox, or every recipient in one remote
/// domain), so a remote host gets one transaction with all of them (RFC 5321 §3.3 lets one
/// message carry many RCPTs).
public struct DeliveryJob: Sendable {
    /// One delivery of the message, with its position in the message's deliveries.
    public struct Item: Sendable, Hashable {
        /// Index into the message's deliveries.
        public var index: Int
        public var delivery: QueuedDelivery

        public init(index: Int, delivery: QueuedDelivery) {
            self.index = index
            self.delivery = delivery
        }
    }

    /// The message as it was when the job was made: envelope, trace, size.
    public var message: QueuedMessage
    /// What the items have in common: `local:<mailbox>` or `remote:<domain>`. The scheduler
    /// limits the jobs in flight per destination.
    public var destination: String
    public var items: [Item]
    /// Where the content is kept.
    private let store: any QueueStore

    public init(message: QueuedMessage, store: any QueueStore, destination: String, items: [Item]) {
        self.message = message
        self.store = store
        self.destination = destination
        self.items = items
    }

    /// Opens the message's content (trace header first) for reading.
    public func openContent() async throws -> any MessageSource {
        try await store.content(of: message.id)
    }

    public var messageID: QueueID { message.id }
    /// Seconds since 1970 when the message arrived.
    public var arrival: Int64 { message.arrival }

    /// The domain a remote delivery goes to (lower case), the part after the last `@`.
    public static func domain(of address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return "" }
        return address[address.index(after: at)...].lowercased()
    }
}

/// How one attempt ended, with the reply that says why (`250 2.0.0 ...`, `451 4.3.0 ...`).
public enum DeliveryOutcome: Sendable, Hashable {
    case delivered(SMTPReply)
    /// A temporary failure: try again later.
    case deferred(SMTPReply)
    /// A permanent failure: give up (and tell the sender).
    case failed(SMTPReply)

    public var reply: SMTPReply {
        switch self {
        case .delivered(let reply), .deferred(let reply), .failed(let reply): reply
        }
    }
}

/// One item's outcome and where it was decided.
public struct DeliveryResult: Sendable, Hashable {
    public var outcome: DeliveryOutcome
    /// `mx.example.org[192.0.2.1]:25`, `maildir`; nil when no host was reached.
    public var relay: String?
    /// The remote session was encrypted; nil for local delivery.
    public var tls: Bool?
    /// For a remote delivery: the server offered DSN (RFC 3461), so it reports success if
    /// asked; when false, the queue owes NOTIFY=SUCCESS recipients a "relayed" report. Nil for
    /// local delivery.
    public var remoteSupportsDSN: Bool?

    public init(_ outcome: DeliveryOutcome, relay: String? = nil, tls: Bool? = nil, remoteSupportsDSN: Bool? = nil) {
        self.outcome = outcome
        self.relay = relay
        self.tls = tls
        self.remoteSupportsDSN = remoteSupportsDSN
    }
}

/// Something that delivers: the local Maildir agent, the remote SMTP agent. The queue calls
/// it and keeps the state; an agent never touches the queue.
public protocol DeliveryAgent: Sendable {
    /// Attempts every item of `job`; returns one result per item, in the same order.
    func deliver(_ job: DeliveryJob) async -> [DeliveryResult]
}

/// An agent that can take a message while the client is still sending it, so a message whose
/// only destination is one local mailbox is written once, into that mailbox, and acknowledged
/// when it is durable there: one file and one data sync, where the queue would write its
/// message and envelope files, copy the message and then remove both (maddy's local targets
/// work this way; Postfix always queues). Delivery errors then reach the client as the reply to
/// the end of data, never as a bounce.
public protocol DirectDelivering: DeliveryAgent {
    /// A writer straight into `mailbox`, or nil when the agent cannot take the message now (it
    /// is then queued as usual). `delivered` runs once the message is durable in the mailbox,
    /// with the result the queue would have recorded.
    func beginDirect(
        _ message: IncomingMessage, mailbox: String, prefix: ByteBuffer, on eventLoop: any EventLoop,
        delivered: @escaping @Sendable (DeliveryResult) -> Void
    ) -> (any MessageWriter)?
}
