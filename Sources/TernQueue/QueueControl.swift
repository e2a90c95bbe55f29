/// What the postmaster can ask of the queue (`tern queue retry|hold|release|delete`), like
/// Postfix's `postqueue -i` and `postsuper -h/-H/-d`.
public enum QueueCommand: String, Sendable, CaseIterable {
    /// Try every open delivery now instead of at its scheduled time.
    case retry
    /// Stop trying the message until it is released (state `hold`).
    case hold
    /// End a hold; the message's open deliveries are tried now.
    case release
    /// Remove the message from the queue without delivering it and without a DSN.
    case delete
}

/// Which messages a command applies to.
public enum QueueSelector: Sendable, Hashable {
    case all
    case message(String)

    /// `all` or a queue ID.
    public init(_ text: String) {
        self = text == "all" ? .all : .message(text)
    }
}

/// The error of a failed removal, carried out of a non-throwing serial task.
actor ResultBox {
    private(set) var error: (any Error)?

    func set(_ error: any Error) {
        self.error = error
    }
}

/// How many messages the queue holds, by state (Postfix's queues, roughly): each message
/// counts once, in the first that applies.
public struct QueueDepth: Sendable, Hashable {
    /// Held by the postmaster (`tern queue hold`).
    public var hold = 0
    /// Being delivered now.
    public var active = 0
    /// Waiting for a retry after a temporary failure.
    public var deferred = 0
    /// Not tried yet, or due now.
    public var incoming = 0

    public init() {}

    public var states: [(state: String, count: Int)] {
        [("active", active), ("deferred", deferred), ("hold", hold), ("incoming", incoming)]
    }
}
