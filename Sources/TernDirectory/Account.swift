/// A user who may log in (SMTP AUTH, later IMAP and POP3) and send mail.
public struct Account: Sendable, Hashable {
    /// The login name and the user's own address, lower case (`alice@example.org`).
    public var address: String
    public var displayName: String?
    /// A `PasswordHash` PHC string; never the password.
    public var passwordHash: String
    /// Other addresses the user may send as (RFC 6409 §8: the MSA may check the sender).
    public var sendAs: [String]
    /// A disabled account cannot log in or send; mail to it is still delivered.
    public var enabled: Bool
    /// What all the user's mailboxes may hold, in octets (nil: no limit): checked at IMAP APPEND
    /// and COPY, and at RCPT (`RecipientQuota`).
    public var quotaBytes: Int64?

    public init(
        address: String, displayName: String? = nil, passwordHash: String, sendAs: [String] = [], enabled: Bool = true,
        quotaBytes: Int64? = nil
    ) {
        self.address = address.lowercased()
        self.displayName = displayName
        self.passwordHash = passwordHash
        self.sendAs = sendAs.map { $0.lowercased() }
        self.enabled = enabled
        self.quotaBytes = quotaBytes
    }

    /// The domain of `address`.
    public var domain: String {
        address.lastIndex(of: "@").map { String(address[address.index(after: $0)...]) } ?? ""
    }

    /// Whether the user may use `sender` as MAIL FROM: their own address or one they were
    /// granted, also with a `+tag` (sub-addressing, `delimiter`), in any case. The null sender
    /// (empty) is allowed: it is no one's address, and mail programs use it for their
    /// notifications.
    public func maySend(as sender: String, delimiter: Character?) -> Bool {
        guard !sender.isEmpty else { return true }
        let lowered = sender.lowercased()
        let allowed = Set([address] + sendAs)
        if allowed.contains(lowered) { return true }
        guard let delimiter, let at = lowered.lastIndex(of: "@") else { return false }
        let local = lowered[..<at]
        guard let cut = local.firstIndex(of: delimiter) else { return false }
        return allowed.contains(String(local[..<cut]) + lowered[at...])
    }
}

