/// The catcher's index: one row per message of its inboxes, with what the list and the search
/// need, so neither reads a message. The mailboxes are the truth; the index is rebuilt from them
/// when it is missing or stale. SQLite is the embedded implementation (TernStoreSQLite).
public protocol MessageIndex: Sendable {
    /// Adds or replaces rows (by `id`).
    func upsert(_ messages: [IndexedMessage]) async throws
    func remove(ids: [String]) async throws
    /// Where every row's message is, by id, to compare with the mailboxes.
    func entries() async throws -> [String: IndexEntry]
    func message(id: String) async throws -> IndexedMessage?
    /// The newest first, filtered.
    func search(_ filter: MessageFilter, offset: Int, limit: Int) async throws -> MessagePage
    /// Message and unread counts per inbox.
    func inboxes() async throws -> [InboxCount]
    /// How many messages carry each tag.
    func tagCounts() async throws -> [String: Int]
}

/// Where an indexed message is, and what the index knows of its flags.
public struct IndexEntry: Hashable, Sendable {
    public var inbox: String
    public var key: String
    public var read: Bool

    public init(inbox: String, key: String, read: Bool) {
        self.inbox = inbox
        self.key = key
        self.read = read
    }
}

/// An address as the API shows it.
public struct IndexedAddress: Hashable, Sendable, Codable {
    public var name: String
    public var address: String

    public init(name: String, address: String) {
        self.name = name
        self.address = address
    }
}

/// One message in the index.
public struct IndexedMessage: Hashable, Sendable, Codable {
    /// The message's QueueID (from its file name), or a hash of a foreign file's name.
    public var id: String
    public var inbox: String
    /// The message's key in its inbox's mailbox (`MailboxMessage.key`).
    public var key: String
    /// When Tern received it, in milliseconds since 1970 (the file's arrival time).
    public var receivedAt: Int64
    public var size: Int
    public var read: Bool
    public var subject: String
    public var from: IndexedAddress?
    public var to: [IndexedAddress]
    public var cc: [IndexedAddress]
    public var bcc: [IndexedAddress]
    public var replyTo: [IndexedAddress]
    /// How many addresses the message's To, Cc, Bcc and Reply-To fields hold. The lists above
    /// may hold only the first of them (the catcher keeps a bounded number per field, so a
    /// message with 100,000 To lines does not weigh on every list that shows it).
    public var toCount: Int
    public var ccCount: Int
    public var bccCount: Int
    public var replyToCount: Int
    public var messageID: String
    /// The Date field in seconds since 1970, when it parses.
    public var date: Int64?
    public var snippet: String
    public var attachments: Int
    public var tags: [String]
    /// Lower-case text for free-text search: subject, addresses, the text (or HTML's text).
    public var searchText: String

    public init(
        id: String, inbox: String, key: String, receivedAt: Int64, size: Int, read: Bool, subject: String,
        from: IndexedAddress?, to: [IndexedAddress], cc: [IndexedAddress], bcc: [IndexedAddress],
        replyTo: [IndexedAddress], messageID: String, date: Int64?, snippet: String, attachments: Int, tags: [String],
        searchText: String, toCount: Int? = nil, ccCount: Int? = nil, bccCount: Int? = nil, replyToCount: Int? = nil
    ) {
        self.id = id
        self.inbox = inbox
        self.key = key
        self.receivedAt = receivedAt
        self.size = size
        self.read = read
        self.subject = subject
        self.from = from
        self.to = to
        self.cc = cc
        self.bcc = bcc
        self.replyTo = replyTo
        self.toCount = max(toCount ?? 0, to.count)
        self.ccCount = max(ccCount ?? 0, cc.count)
        self.bccCount = max(bccCount ?? 0, bcc.count)
        self.replyToCount = max(replyToCount ?? 0, replyTo.count)
        self.messageID = messageID
        self.date = date
        self.snippet = snippet
        self.attachments = attachments
        self.tags = tags
        self.searchText = searchText
    }
}

/// What a search asks for; every condition must hold. Texts compare case-insensitively as
/// substrings. Each condition may be negated (`-from:x`).
public struct MessageFilter: Hashable, Sendable {
    public enum Field: Hashable, Sendable {
        /// Subject, addresses and body text.
        case text
        case from
        /// To, Cc and Bcc.
        case to
        case subject
        case messageID
        case tag
        case inbox
    }

    public enum Condition: Hashable, Sendable {
        case contains(Field, String)
        case isRead(Bool)
        case hasAttachment(Bool)
        /// Received before / at or after, in milliseconds since 1970.
        case receivedBefore(Int64)
        case receivedSince(Int64)
        indirect case not(Condition)
    }

    public var conditions: [Condition]

    public init(_ conditions: [Condition] = []) {
        self.conditions = conditions
    }
}

/// One page of a search.
public struct MessagePage: Hashable, Sendable {
    /// All messages, and all unread, in the index.
    public var total: Int
    public var unread: Int
    /// Those matching the filter.
    public var matched: Int
    public var matchedUnread: Int
    public var messages: [IndexedMessage]

    public init(total: Int, unread: Int, matched: Int, matchedUnread: Int, messages: [IndexedMessage]) {
        self.total = total
        self.unread = unread
        self.matched = matched
        self.matchedUnread = matchedUnread
        self.messages = messages
    }
}

public struct InboxCount: Hashable, Sendable, Codable {
    public var name: String
    public var total: Int
    public var unread: Int

    public init(name: String, total: Int, unread: Int) {
        self.name = name
        self.total = total
        self.unread = unread
    }
}
