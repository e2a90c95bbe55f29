import NIOConcurrencyHelpers

/// Which maildrops a POP3 session holds (RFC 1939 §8: "the server acquires an exclusive-access
/// lock on the maildrop"): one session per maildrop, `-ERR [IN-USE]` for a second (RFC 2449
/// §8.1.2). Only POP3 takes it: IMAP sessions and deliveries go on meanwhile, and what they add
/// is not in the session's listing.
public final class MaildropLocks: Sendable {
    private let held = NIOLockedValueBox<Set<String>>([])

    public init() {}

    /// Takes the lock of `maildrop`; false when another session holds it.
    public func acquire(_ maildrop: String) -> Bool {
        held.withLockedValue { $0.insert(maildrop).inserted }
    }

    public func release(_ maildrop: String) {
        _ = held.withLockedValue { $0.remove(maildrop) }
    }
}
