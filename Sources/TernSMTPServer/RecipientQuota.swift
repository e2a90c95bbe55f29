import NIOConcurrencyHelpers
public import TernDirectory
public import TernMail
public import TernStore

/// The mailbox quota (`tern user set --quota`) at RCPT time, so a full mailbox is refused
/// while the sender still holds the message, never bounced by Tern afterwards.
///
/// - A mailbox at or over its quota gets `452 4.2.2` (RFC 5321 §4.2.3's 452, RFC 3463 §3.3's
///   X.2.2 mailbox full): the sender keeps the message and retries while the user makes room.
/// - Once it has stayed full for `grace` (`[mail] quota_grace`), `552 5.2.2`: the sender
///   bounces now rather than retrying for days into a mailbox nobody empties.
/// - A `SIZE=` declared at MAIL (RFC 1870 §6.1) that would not fit in what is left gets
///   `452 4.2.2` too; one larger than the whole quota can never fit: `552 5.2.2`.
/// - The quota is soft: a message without `SIZE=` that arrives while there is room is
///   delivered whole, and the next one is refused.
///
/// Only an address that resolves to one account is checked. A list's members are delivered to
/// even when one of them is full: one member must not refuse mail for the others.
public final class RecipientQuota: Sendable {
    public let accounts: AccountTable
    /// What the user's mailboxes hold together (`MailboxFolders.usage`).
    let usage: @Sendable (String) async throws -> MailboxUsage
    let graceMilliseconds: Int64
    let clock: WallClock
    /// When each account was first seen full; gone once it has room again.
    private let fullSince = NIOLockedValueBox([String: Int64]())

    public init(
        accounts: AccountTable, grace: Duration, clock: WallClock = .system,
        usage: @escaping @Sendable (String) async throws -> MailboxUsage
    ) {
        self.accounts = accounts
        self.usage = usage
        let (seconds, attoseconds) = grace.components
        let (milliseconds, overflowed) = seconds.multipliedReportingOverflow(by: 1000)
        graceMilliseconds = overflowed ? .max : max(0, milliseconds &+ attoseconds / 1_000_000_000_000_000)
        self.clock = clock
    }

    /// The quota of a user who has one, without suspending: the check needs I/O only then.
    public func limit(of address: String) -> Int? {
        guard let bytes = accounts.account(address: address)?.quotaBytes, bytes > 0 else { return nil }
        return Int(clamping: bytes)
    }

    /// The reply refusing `address` a message of `declaredSize` octets under `limit`, or nil to
    /// accept it. A usage that cannot be read accepts: a broken quota must not stop the mail.
    public func check(_ address: String, limit: Int, declaredSize: Int?) async -> SMTPReply? {
        guard let used = try? await usage(address).octets else { return nil }
        let now = clock.milliseconds
        guard used < limit else {
            let since = fullSince.withLockedValue { full in
                if let since = full[address] { return since }
                full[address] = now
                return now
            }
            let (elapsed, overflowed) = now.subtractingReportingOverflow(since)
            return !overflowed && elapsed >= graceMilliseconds ? .mailboxFullForGood : .mailboxFull
        }
        fullSince.withLockedValue { _ = $0.removeValue(forKey: address) }
        guard let declaredSize else { return nil }
        if declaredSize > limit { return .messageExceedsQuota }
        let (total, overflowed) = used.addingReportingOverflow(declaredSize)
        return overflowed || total > limit ? .mailboxFull : nil
    }
}

extension SMTPReply {
    static let mailboxFull = SMTPReply(
        452, EnhancedStatusCode(4, 2, 2), "Mailbox full: the recipient is over quota; try again later")
    static let mailboxFullForGood = SMTPReply(
        552, EnhancedStatusCode(5, 2, 2), "Mailbox full: the recipient has been over quota too long")
    static let messageExceedsQuota = SMTPReply(
        552, EnhancedStatusCode(5, 2, 2), "Message larger than the recipient's whole quota")
}
