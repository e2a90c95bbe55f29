/// The directory as the configuration file declares it: `[mail]`, `[[mailbox]]`, `[[user]]` and
/// `[[alias]]`. `LiveDirectory` merges it with the directory database; where both name the same
/// account, this wins.
public struct DirectoryConfiguration: Sendable {
    /// Local domains (lower case).
    public var domains: [String] = []
    /// Mailbox addresses (lower case), each one Maildir under `<data>/mailboxes/<domain>/<user>`.
    public var mailboxes: [String] = []
    /// Alias address (or `@domain` for a catch-all) → target addresses.
    public var aliases: [(address: String, targets: [String])] = []
    /// `+` makes `user+tag@domain` reach `user@domain`; empty disables it.
    public var recipientDelimiter: String = "+"
    /// Clients in these networks may relay to any domain (CIDR).
    public var relayNetworks: [String] = []
    /// `quota_grace`: how long a full mailbox is answered `452 4.2.2` before `552 5.2.2`.
    public var quotaGrace: Duration = .seconds(86_400)
    /// `[[user]]`: accounts that may log in (SMTP AUTH) and send; each is also a mailbox.
    public var users: [Account] = []

    public init() {}
}
