public import TernStore

/// One delivery to attempt: a queued message and one of its destinations.
public struct DeliveryJob: Sendable, Hashable {
    public var messageID: String
    /// The spooled message file (trace header first).
    public var messagePath: String
    /// The envelope sender; empty for the null sender.
    public var sender: String
    /// Index into the record's deliveries.
    public var index: Int
    public var delivery: QueuedDelivery
    /// Seconds since 1970 when the message arrived.
    public var arrival: Int64

    public init(
        messageID: String, messagePath: String, sender: String, index: Int, delivery: QueuedDelivery, arrival: Int64
    ) {
        self.messageID = messageID
        self.messagePath = messagePath
        self.sender = sender
        self.index = index
        self.delivery = delivery
        self.arrival = arrival
    }
}

/// How one attempt ended, with the reply that says why (`250 2.0.0 ...`, `451 4.3.0 ...`).
public enum DeliveryOutcome: Sendable, Hashable {
    case delivered(String)
    /// A temporary failure: try again later.
    case deferred(String)
    /// A permanent failure: give up (and tell the sender).
    case failed(String)
}

/// Something that delivers: the local Maildir agent, the remote SMTP agent. The queue calls
/// it and keeps the state; an agent never touches the queue.
public protocol DeliveryAgent: Sendable {
    func deliver(_ job: DeliveryJob) async -> DeliveryOutcome
}
