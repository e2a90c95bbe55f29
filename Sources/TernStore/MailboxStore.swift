public import NIOCore
public import TernMail

/// Where users' mail lives once it is delivered: the seam between the roles that put mail in
/// or read it (local delivery, IMAP, POP3, the catcher, `tern repair`) and the backend that
/// keeps it. `MaildirMailboxStore` is the embedded backend; a PostgreSQL one implements the same
/// two protocols, and `MailboxStoreContract` (TernTestSupport) is the suite every backend passes.
///
/// The model is IMAP's (RFC 9051 §2.3), which POP3 (RFC 1939) reads a subset of: a mailbox holds
/// messages, each with a UID that ascends in arrival order and is never reused while the
/// mailbox's UIDVALIDITY stays, a set of flags, a size and an internal date. A mailbox is named
/// by the configured address it belongs to (`user@domain`), never by what a client wrote.
public protocol MailboxStore: Sendable {
    /// The mailbox of `address`, opened (and created, on first use) for this process: its
    /// messages numbered, what an interrupted run left behind cleared. Opening once and keeping
    /// it open is the store's business; callers may ask for the same mailbox as often as they
    /// like.
    func mailbox(_ address: String) async throws -> any Mailbox

    /// The mailbox of `address` if this process has opened it already, without waiting: for
    /// callers on an event loop, which must not wait for a first opening's disk work.
    func openedMailbox(_ address: String) -> (any Mailbox)?
}

/// One mailbox. Every method but `beginAppend` and `changes` may touch the disk (or the
/// database) and so is `async`; none blocks an event loop.
public protocol Mailbox: AnyObject, Sendable {
    /// The configured address the mailbox belongs to.
    var address: String { get }

    /// Stores `message` durably: when this returns, the message survives a crash. The result
    /// carries its UID, or nil when the message is stored but numbering failed (it is numbered
    /// when the mailbox is next listed or repaired: the stored message is the truth).
    func append(_ message: NewMessage) async throws -> AppendedMessage

    /// Starts storing a message as it arrives (the SMTP session's hot path, no copy through a
    /// queue): `prefix` and the appended chunks are the message; the writer's `commit` completes
    /// once it is durable. `appended` runs after that, once the message has its UID (nil when
    /// numbering failed).
    func beginAppend(
        _ message: IncomingMessage, prefix: ByteBuffer, on eventLoop: any EventLoop,
        appended: @escaping @Sendable (AppendedMessage) -> Void
    ) -> any MessageWriter

    /// Every message, in UID order, with UIDVALIDITY and UIDNEXT. What changed since the last
    /// listing, here or by another program (a Maildir reader moving files), is also sent to
    /// `changes()` subscribers.
    func snapshot() async throws -> MailboxSnapshot

    /// The keys of the messages with `uids`: each one's name in the mailbox, stable while it
    /// lives there (a Maildir file's base name; a row's key in a database), for a reader that
    /// keeps an index of its own (the catcher). Messages that are gone are left out. Not part
    /// of `MailboxMessage`: a listing of 100,000 messages would carry 100,000 strings to every
    /// session that never asks for them.
    func keys(of uids: [UInt32]) async throws -> [UInt32: String]

    /// At most the first `limit` octets of the message with `uid`, and its whole size; nil when
    /// there is no such message (any more). A partial FETCH (RFC 9051 §6.4.5, `BODY[]<0.n>`) or
    /// an index that reads only the header need not read a 48 MB message.
    func contents(of uid: UInt32, limit: Int) async throws -> (octets: [UInt8], size: Int)?

    /// `contents(of:limit:)` for several messages at once: what a FETCH of a range or a SEARCH
    /// over headers reads, in one trip to the store rather than one per message. Messages that
    /// are gone are left out.
    func contents(of uids: [UInt32], limit: Int) async throws -> [UInt32: StoredPrefix]

    /// The message with `uid` opened for streaming (a release to another server, a large
    /// FETCH): the source reads the message as it was when opened, even if it is flagged or
    /// expunged meanwhile. Nil when there is no such message.
    func source(of uid: UInt32) async throws -> (any MessageSource)?

    /// `source(of:)` for several messages, for a caller on an event loop (POP3's RETR, which
    /// opens the next messages with the one asked for): the store opens them on its threads in
    /// one trip and answers on `eventLoop`, without a task in between. Messages that are gone
    /// are left out.
    func sources(of uids: [UInt32], on eventLoop: any EventLoop) -> EventLoopFuture<[UInt32: any MessageSource]>

    /// What a reader derived from the messages with `uids` and asked the mailbox to keep
    /// (`cacheFacts`): octets the store returns without interpreting them, while the message
    /// is there and UIDVALIDITY stays. A cache: any record may be missing (it is then made
    /// again), none is ever another message's.
    func cachedFacts(of uids: [UInt32]) async -> [UInt32: [UInt8]]

    /// Keeps `facts` for the messages with their UIDs (IMAP keeps each message's ENVELOPE,
    /// BODYSTRUCTURE and header length, as Dovecot keeps them in its cache file), replacing
    /// what was kept. Best effort: a store that cannot keep them is only slower.
    func cacheFacts(_ facts: [UInt32: [UInt8]]) async

    /// Changes the flags and keywords of the messages with `uids` (IMAP STORE, RFC 9051 §6.4.6)
    /// whose MODSEQ is not above `unchangedSince` (RFC 7162 §3.1.3; nil: every one). Returns
    /// the messages whose flags or keywords changed, as they are now (each with its new
    /// MODSEQ), and the UIDs left alone because they changed since. UIDs of messages that are
    /// gone are skipped; a keyword the mailbox has no room for is not set
    /// (`MailboxSnapshot.acceptsNewKeywords`).
    func updateFlags(_ uids: [UInt32], _ update: FlagUpdate, unchangedSince: UInt64?) async throws -> FlagUpdateResult

    /// Claims the recent messages for the calling session (a read-write SELECT, RFC 3501 §2.3.2):
    /// returns their UIDs, and no later claim returns them again, also after a restart (the
    /// first unclaimed UID is kept with the mailbox, as Dovecot keeps it in its index).
    func claimRecent() async throws -> [UInt32]

    /// Removes the messages with `uids` for good (IMAP EXPUNGE, POP3's UPDATE state); returns
    /// the UIDs removed, ascending.
    func expunge(_ uids: [UInt32]) async throws -> [UInt32]

    /// Every change made from now on: appends, flag changes and expunges, in the order they
    /// happened, for as long as the stream is iterated (IMAP IDLE, the catcher's live view).
    func changes() -> AsyncStream<MailboxChange>
}

/// The first octets of a stored message, and its whole size.
public struct StoredPrefix: Sendable, Hashable {
    public var octets: [UInt8]
    public var size: Int

    public init(octets: [UInt8], size: Int) {
        self.octets = octets
        self.size = size
    }

    /// Whether the octets are the whole message.
    public var isWhole: Bool { octets.count >= size }
}

extension Mailbox {
    /// One message at a time: for a backend without a cheaper way.
    public func contents(of uids: [UInt32], limit: Int) async throws -> [UInt32: StoredPrefix] {
        var found: [UInt32: StoredPrefix] = [:]
        for uid in uids {
            if let (octets, size) = try await contents(of: uid, limit: limit) { found[uid] = StoredPrefix(octets: octets, size: size) }
        }
        return found
    }

    /// Through a task, one at a time: for a backend without a cheaper way.
    public func sources(of uids: [UInt32], on eventLoop: any EventLoop) -> EventLoopFuture<[UInt32: any MessageSource]> {
        eventLoop.makeFutureWithTask {
            var found: [UInt32: any MessageSource] = [:]
            for uid in uids {
                if let source = try await self.source(of: uid) { found[uid] = source }
            }
            return found
        }
    }

    /// Keeps nothing: for a backend without a cache.
    public func cachedFacts(of uids: [UInt32]) async -> [UInt32: [UInt8]] { [:] }
    public func cacheFacts(_ facts: [UInt32: [UInt8]]) async {}

    /// `updateFlags` without a condition: the messages whose flags or keywords changed.
    public func updateFlags(_ uids: [UInt32], _ update: FlagUpdate) async throws -> [MailboxMessage] {
        try await updateFlags(uids, update, unchangedSince: nil).changed
    }

    /// The stored octets of the message with `uid`; nil when there is no such message (any
    /// more).
    public func contents(of uid: UInt32) async throws -> [UInt8]? {
        try await contents(of: uid, limit: .max)?.octets
    }
}

/// One message of a mailbox.
public struct MailboxMessage: Sendable, Hashable {
    // The small fields first: a listing holds one of these per message (40 octets).
    public var uid: UInt32
    public var flags: MessageFlags
    /// No IMAP session has claimed it yet (IMAP4rev1's `\Recent`, RFC 3501 §2.3.2; in a
    /// Maildir, a message still in `new/`).
    public var isRecent: Bool
    /// The keywords set on it, in the order the mailbox defined them.
    public var keywords: [String]
    /// Octets as stored (IMAP's RFC822.SIZE, POP3's LIST).
    public var size: Int
    /// When it arrived, in seconds since the epoch (IMAP's INTERNALDATE).
    public var internalDate: Int64
    /// The mailbox's modification sequence when the message last changed (RFC 7162 §3.1.1):
    /// arriving, or a change of its flags or keywords.
    public var modseq: UInt64

    public init(
        uid: UInt32, flags: MessageFlags, keywords: [String] = [], size: Int, internalDate: Int64,
        isRecent: Bool = false, modseq: UInt64 = 0
    ) {
        self.isRecent = isRecent
        self.modseq = modseq
        self.uid = uid
        self.flags = flags
        self.keywords = keywords
        self.size = size
        self.internalDate = internalDate
    }
}

/// A mailbox as listed at one moment.
public struct MailboxSnapshot: Sendable, Hashable {
    /// RFC 9051 §2.3.1.1: UIDs are only comparable between listings with the same value.
    public var uidValidity: UInt32
    /// A UID larger than any message's, and no larger than the next new message's.
    public var uidNext: UInt32
    /// Ascending by UID.
    public var messages: [MailboxMessage]
    /// The keywords the mailbox has defined (IMAP's FLAGS response lists them).
    public var keywords: [String]
    /// Whether a keyword not yet defined can be set (IMAP's `\*` in PERMANENTFLAGS).
    public var acceptsNewKeywords: Bool
    /// The largest MODSEQ given in the mailbox, expunges included (RFC 7162 §3.1.2.1): no
    /// message's is larger, and any later change gets a larger one.
    public var highestModseq: UInt64

    public init(
        uidValidity: UInt32, uidNext: UInt32, messages: [MailboxMessage], keywords: [String] = [],
        acceptsNewKeywords: Bool = true, highestModseq: UInt64 = 0
    ) {
        self.highestModseq = highestModseq
        self.uidValidity = uidValidity
        self.uidNext = uidNext
        self.messages = messages
        self.keywords = keywords
        self.acceptsNewKeywords = acceptsNewKeywords
    }
}

/// What `updateFlags` did.
public struct FlagUpdateResult: Sendable, Hashable {
    /// The messages whose flags or keywords changed, as they are now.
    public var changed: [MailboxMessage]
    /// The UIDs not changed because their MODSEQ was above `unchangedSince` (IMAP's
    /// `[MODIFIED]`), ascending.
    public var modified: [UInt32]

    public init(changed: [MailboxMessage], modified: [UInt32] = []) {
        self.changed = changed
        self.modified = modified
    }
}

/// A change to a mailbox, as `changes()` reports it.
public enum MailboxChange: Sendable, Hashable {
    case appended([MailboxMessage])
    /// The messages as they are after the change.
    case flagsChanged([MailboxMessage])
    /// The UIDs removed, ascending.
    case expunged([UInt32])
}

/// A message to store with `Mailbox.append`.
public struct NewMessage: Sendable {
    /// Where its octets are.
    public enum Source: Sendable {
        /// Stored content to copy (a queued message).
        case stored(any MessageSource)
        /// Octets in memory (IMAP APPEND's literal).
        case octets([UInt8])
    }

    public var source: Source
    /// Octets stored in front of the source's (local delivery's Return-Path and Delivered-To).
    public var prefix: [UInt8]
    /// Names the stored message together with `receivedAt`: appending the same id and time
    /// again (a delivery repeated after a crash) replaces the earlier copy, never adds one.
    public var id: String
    /// Seconds since the epoch: the internal date.
    public var receivedAt: Int64
    public var flags: MessageFlags
    public var keywords: [String]

    public init(
        source: Source, prefix: [UInt8] = [], id: String, receivedAt: Int64, flags: MessageFlags = [], keywords: [String] = []
    ) {
        self.source = source
        self.prefix = prefix
        self.id = id
        self.receivedAt = receivedAt
        self.flags = flags
        self.keywords = keywords
    }
}

/// What `append` stored.
public struct AppendedMessage: Sendable, Hashable {
    public var key: String
    /// Nil when the message is stored but could not be numbered yet.
    public var uid: UInt32?
    public var size: Int

    public init(key: String, uid: UInt32?, size: Int) {
        self.key = key
        self.uid = uid
        self.size = size
    }
}
