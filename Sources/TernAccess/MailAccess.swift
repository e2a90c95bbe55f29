public import TernDirectory
public import TernSASL
public import TernStore

/// Who may log in to read mail (IMAP, POP3), and where their mailboxes are: the one place the
/// access protocols meet the directory and the mailbox store.
public protocol MailAccess: Sendable {
    /// Checks a user name and password from `client`.
    func login(_ credentials: SASLCredentials, client: String) async throws -> MailLoginResult
    /// A SCRAM-SHA-256 exchange, or nil when this access cannot run one.
    func scramLogin(client: String) -> SCRAMLogin?
    /// Whether `scramLogin` runs exchanges (AUTH=SCRAM-SHA-256 is advertised).
    var offersSCRAM: Bool { get }
    /// The mailboxes of a user who logged in.
    func folders(of user: String) async throws -> any MailboxFolders
    /// The most octets the user's mailboxes may hold together (IMAP QUOTA's STORAGE), nil for
    /// no limit. Asked again at each check: an administrator may change it at any time.
    func quota(of user: String) async throws -> Int?
}

public enum MailLoginResult: Sendable {
    /// Logged in as this user (the account's address).
    case accepted(String)
    case rejected
    case unavailable
}

/// Serve mode: the account directory's logins, each account's Maildir with its folders.
public struct DirectoryMailAccess: MailAccess {
    public let authenticator: Authenticator
    public let mailboxes: MaildirMailboxStore

    public init(authenticator: Authenticator, mailboxes: MaildirMailboxStore) {
        self.authenticator = authenticator
        self.mailboxes = mailboxes
    }

    public func login(_ credentials: SASLCredentials, client: String) async throws -> MailLoginResult {
        switch try await authenticator.verify(credentials, client: client) {
        case .accepted(let account): .accepted(account.address)
        case .rejected: .rejected
        case .unavailable: .unavailable
        }
    }

    public func scramLogin(client: String) -> SCRAMLogin? {
        authenticator.scramLogin(client: client)
    }

    public var offersSCRAM: Bool { true }

    public func folders(of user: String) async throws -> any MailboxFolders {
        guard let folders = MaildirFolders(store: mailboxes, address: user) else { throw FolderError.noSuchFolder }
        return folders
    }

    /// The account's `tern user set --quota`.
    public func quota(of user: String) async throws -> Int? {
        try await authenticator.accounts.account(named: user)?.quotaBytes.map { Int(clamping: $0) }
    }
}

/// Dev mode: any credentials; the user name picks the catcher inbox (as for SMTP, made on first
/// use), which is the user's INBOX and only mailbox (and POP3 maildrop). A test reads what its
/// application sent.
public struct CatcherMailAccess: MailAccess {
    public let catcher: CatcherStore

    public init(catcher: CatcherStore) {
        self.catcher = catcher
    }

    public func login(_ credentials: SASLCredentials, client: String) async throws -> MailLoginResult {
        .accepted(CatcherStore.inboxName(login: credentials.username))
    }

    public func scramLogin(client: String) -> SCRAMLogin? { nil }

    public var offersSCRAM: Bool { false }

    public func folders(of user: String) async throws -> any MailboxFolders {
        try await catcher.openInbox(user)
        // Past the inbox cap, or for a name that has no folder, the default inbox.
        let inbox = catcher.inbox(CatcherStore.inboxName(login: user)) ?? catcher.inbox(CatcherStore.defaultInboxName)
        guard let inbox else { throw FolderError.noSuchFolder }
        return InboxOnly(inbox: inbox)
    }

    /// The catcher keeps whatever it is sent.
    public func quota(of user: String) async throws -> Int? { nil }
}

/// One mailbox, INBOX, and no folders (the dev catcher's view for a login).
public struct InboxOnly: MailboxFolders {
    public let inbox: any Mailbox

    public init(inbox: any Mailbox) {
        self.inbox = inbox
    }

    public func list() async throws -> [MailboxFolder] { [MailboxFolder(name: "INBOX", subscribed: true)] }
    public func open(_ name: String) async throws -> (any Mailbox)? { name == "INBOX" ? inbox : nil }
    public func create(_ name: String) async throws(FolderError) { throw name == "INBOX" ? .exists : .notPermitted }
    public func delete(_ name: String) async throws(FolderError) { throw .notPermitted }
    public func rename(_ name: String, to newName: String) async throws(FolderError) { throw .notPermitted }
    public func subscribe(_ name: String, _ subscribed: Bool) async throws(FolderError) {
        guard name == "INBOX" else { throw .noSuchFolder }
    }
    public func subscriptions() async throws -> [String] { ["INBOX"] }
}
