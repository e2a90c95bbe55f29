import Synchronization

/// Counters of what the SMTP listeners did since the process started, readable back (the
/// Prometheus counters are write-only): the catcher's `/api/v1/info` reports them as Mailpit's
/// RuntimeStats. Shared by every listener of a server.
public final class SMTPTally: Sendable {
    private let acceptedMessages = Atomic<Int>(0)
    private let acceptedOctets = Atomic<Int>(0)
    private let refusals = Atomic<Int>(0)

    public init() {}

    /// Messages answered 250 at the end of DATA or BDAT.
    public var accepted: Int { acceptedMessages.load(ordering: .relaxed) }
    /// Their sizes added up (saturating).
    public var acceptedSize: Int { acceptedOctets.load(ordering: .relaxed) }
    /// Replies that refused a command, 4yz or 5yz.
    public var refused: Int { refusals.load(ordering: .relaxed) }

    func accept(size: Int) {
        acceptedMessages.add(1, ordering: .relaxed)
        var current = acceptedOctets.load(ordering: .relaxed)
        while true {
            let (sum, overflowed) = current.addingReportingOverflow(max(0, size))
            let (exchanged, original) = acceptedOctets.compareExchange(
                expected: current, desired: overflowed ? .max : sum, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    func refuse() {
        refusals.add(1, ordering: .relaxed)
    }
}
