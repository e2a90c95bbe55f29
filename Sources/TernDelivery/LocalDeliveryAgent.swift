public import Logging
import NIOConcurrencyHelpers
public import NIOCore
public import NIOPosix
public import TernQueue
public import TernStore
import TernMail

/// The MDA: delivers a queued message into a local mailbox, a Maildir at
/// `<root>/<domain>/<user>/` (created on first delivery), readable by Dovecot, mutt or
/// Python's `mailbox.Maildir` as it is.
///
/// RFC 5321 §4.4: the final delivery adds `Return-Path:` with the envelope sender; the
/// `Delivered-To:` line (as Postfix and qmail write it) names the mailbox, so loops through
/// forwarding can be seen. The message below them is the spooled one, byte for byte.
///
/// After the file is in `new/`, the message gets its UID in the mailbox's `MaildirUIDList`
/// (for IMAP and POP3). The file is the truth: the delivery counts once the file is durable,
/// and a message whose UID line was lost (a crash, a failed write) gets its UID when the
/// mailbox is next opened (the list is rebuilt then) or from `tern repair`.
///
/// Security notes: the mailbox path is built from the resolved mailbox (a configured
/// address whose local part was checked to be a safe directory name), never from what the
/// client wrote.
public final class LocalDeliveryAgent: DirectDelivering {
    public let root: String
    private let hostname: String
    private let sync: StoreSync
    private let journal: MessageJournal?
    private let logger: Logger
    private let clock: @Sendable () -> Int64
    private let mailboxes = NIOLockedValueBox(Mailboxes())

    /// The mailboxes opened since start, and those being opened: one opening per mailbox, so
    /// no delivery's file in `tmp/` is taken for an interrupted one.
    private struct Mailboxes {
        var open: [String: OpenMailbox] = [:]
        var opening: [String: Task<OpenMailbox, any Error>] = [:]
    }

    /// A mailbox in use: its Maildir and the group commit that numbers its new messages, so
    /// deliveries that finish together share one append and one sync of the UID list.
    private struct OpenMailbox: Sendable {
        var maildir: Maildir
        var uids: GroupCommit<String, UInt32>
    }

    /// With a `journal` and `filesystem` sync, direct deliveries are made durable by journal
    /// appends (`JournaledMaildirWriter`); in either mode, `recoverJournal()` replays what it
    /// holds from an earlier run.
    public init(
        root: String, hostname: String, sync: StoreSync, journal: MessageJournal? = nil,
        logger: Logger = Logger(label: "tern.local"), clock: @escaping @Sendable () -> Int64 = { Int64(time(nil)) }
    ) {
        self.root = root
        self.hostname = hostname
        self.sync = sync
        self.journal = journal
        self.logger = logger
        self.clock = clock
    }

    /// The Maildir of a mailbox address (`user@domain`).
    public func maildirPath(for mailbox: String) -> String {
        let at = mailbox.lastIndex(of: "@") ?? mailbox.endIndex
        let user = mailbox[..<at]
        let domain = at < mailbox.endIndex ? mailbox[mailbox.index(after: at)...] : ""
        return "\(root)/\(domain)/\(user)"
    }

    public func deliver(_ job: DeliveryJob) async -> [DeliveryResult] {
        var results: [DeliveryResult] = []
        for item in job.items {
            results.append(DeliveryResult(await deliver(job, to: item.delivery.recipient), relay: "maildir"))
        }
        return results
    }

    /// Writes the message into the mailbox as it arrives, with the same header lines and file
    /// name as a queued delivery. Only a mailbox already opened since start is taken: opening
    /// one creates directories, which must not block the event loop, so a mailbox's first
    /// message goes through the queue, whose delivery opens it.
    public func beginDirect(
        _ message: IncomingMessage, mailbox: String, prefix: ByteBuffer, on eventLoop: any EventLoop,
        delivered: @escaping @Sendable (DeliveryResult) -> Void
    ) -> (any MessageWriter)? {
        guard let open = mailboxes.withLockedValue({ $0.open[mailbox] }) else { return nil }
        var head = ByteBuffer(string: Self.deliveryHeader(sender: message.envelope.sender?.description ?? "", mailbox: mailbox))
        head.writeImmutableBuffer(prefix)
        let (logger, id) = (self.logger, message.id.rawValue)
        // The delivery is reported once the file has its UID; the 250 waits for neither.
        let report: @Sendable (EventLoopFuture<UInt32>?) -> Void = { uid in
            guard let uid else {
                delivered(DeliveryResult(.delivered("250 2.0.0 delivered to maildir"), relay: "maildir"))
                return
            }
            uid.map { "250 2.0.0 delivered to maildir (uid \($0))" }.recover { error in
                // The file is in new/; the UID list catches up when the mailbox is next opened.
                logger.warning(
                    "delivered, but the UID list could not be updated; run tern repair",
                    metadata: ["tern_queue_id": "\(id)", "mailbox": "\(mailbox)", "error": "\(error)"])
                return "250 2.0.0 delivered to maildir"
            }.whenSuccess { reply in delivered(DeliveryResult(.delivered(reply), relay: "maildir")) }
        }
        if let journal, sync.mode == .filesystem {
            // Durable in the journal at the 250; the file follows, then its UID and the report.
            return open.maildir.begin(
                message, prefix: head, on: eventLoop, journal: journal,
                stored: { name in report(open.uids.submit(MaildirUIDList.key(ofFileName: name), on: eventLoop)) },
                failed: { error in
                    logger.error(
                        "cannot write an acknowledged message into its mailbox; trying again",
                        metadata: ["tern_queue_id": "\(id)", "mailbox": "\(mailbox)", "error": "\(error)"])
                })
        }
        let numbering = NIOLockedValueBox<EventLoopFuture<UInt32>?>(nil)
        let writer = open.maildir.begin(message, prefix: head, on: eventLoop) { name in
            // Once the file is in new/: numbered while its directory is synced.
            let uid = open.uids.submit(MaildirUIDList.key(ofFileName: name), on: eventLoop)
            numbering.withLockedValue { $0 = uid }
        }
        // The Maildir names the file before its commit completes, so the number is on its way.
        return DirectDeliveryWriter(writer) { report(numbering.withLockedValue { $0 }) }
    }

    /// Puts the messages an earlier run acknowledged through the journal, but had not yet made
    /// durable in their mailboxes, into them; then checkpoints, so the journal starts empty.
    /// Call at start, before accepting mail. Returns how many were replayed.
    public func recoverJournal() async throws -> Int {
        guard let journal else { return 0 }
        let pool = sync.pool
        let entries = try await pool.runIfActive { try journal.unretired() }
        guard !entries.isEmpty else { return 0 }
        try await pool.runIfActive {
            var known: [String: Set<String>] = [:]
            var directories: [String: DirectorySync] = [:]
            for entry in entries {
                let root = try Maildir.replay(entry.payload, known: &known)
                let directory = try directories[root] ?? DirectorySync(path: "\(root)/new", pool: pool)
                directories[root] = directory
                journal.applied(entry.sequence, syncing: directory)
            }
        }
        try await journal.checkpoint()
        return entries.count
    }

    /// How long new messages' UIDs are gathered before the list is appended and synced.
    static let numberingWindow = TimeAmount.milliseconds(20)

    /// RFC 5321 §4.4's Return-Path and the Delivered-To line, in front of every delivered copy.
    static func deliveryHeader(sender: String, mailbox: String) -> String {
        "Return-Path: <\(sender)>\r\nDelivered-To: \(mailbox)\r\n"
    }

    private func deliver(_ job: DeliveryJob, to mailbox: String) async -> DeliveryOutcome {
        do {
            let open = try await self.mailbox(mailbox)
            let prefix = Self.deliveryHeader(sender: job.sender, mailbox: mailbox)
            let key = try await open.maildir.deliver(
                copying: job.messagePath, prefix: Array(prefix.utf8), id: job.messageID, receivedAt: job.arrival)
            do {
                let uid = try await open.uids.submit(key)
                return .delivered("250 2.0.0 delivered to maildir (uid \(uid))")
            } catch {
                logger.warning(
                    "delivered, but the UID list could not be updated; run tern repair",
                    metadata: ["tern_queue_id": "\(job.messageID)", "mailbox": "\(mailbox)", "error": "\(error)"])
                return .delivered("250 2.0.0 delivered to maildir")
            }
        } catch let error as StoreError where error.isOutOfSpace {
            return .deferred("452 4.3.1 insufficient system storage")
        } catch {
            return .deferred("451 4.3.0 local delivery failed: \(error)")
        }
    }

    /// Opens a mailbox on its first delivery since start: creates its Maildir, removes what an
    /// interrupted run left in its `tmp/`, and brings its UID list in line with it, numbering
    /// messages whose line an earlier run did not write.
    private func mailbox(_ mailbox: String) async throws -> OpenMailbox {
        enum Found {
            case open(OpenMailbox)
            case opening(Task<OpenMailbox, any Error>)
        }
        let found = mailboxes.withLockedValue { state -> Found in
            if let open = state.open[mailbox] { return .open(open) }
            if let task = state.opening[mailbox] { return .opening(task) }
            let task = Task { try await self.open(mailbox) }
            state.opening[mailbox] = task
            return .opening(task)
        }
        let opening: Task<OpenMailbox, any Error>
        switch found {
        case .open(let open): return open
        case .opening(let task): opening = task
        }
        let result = await opening.result
        return try mailboxes.withLockedValue { state in
            state.opening[mailbox] = nil
            if case .success(let opened) = result { state.open[mailbox] = opened }
            return try result.get()
        }
    }

    private func open(_ mailbox: String) async throws -> OpenMailbox {
        let path = maildirPath(for: mailbox)
        let (hostname, sync, clock, logger) = (self.hostname, self.sync, self.clock, self.logger)
        let list = MaildirUIDList(maildir: path)
        let maildir = try await sync.pool.runIfActive {
            let maildir = try Maildir(root: path, hostname: hostname, sync: sync)
            try maildir.removeInterruptedDeliveries()
            do {
                let report = try list.rebuild(now: clock())
                if report.added > 0 {
                    logger.info("numbered messages the UID list had missed", metadata: [
                        "mailbox": "\(mailbox)", "messages": "\(report.added)",
                    ])
                }
            } catch {
                logger.warning("cannot bring the UID list up to date; run tern repair", metadata: [
                    "mailbox": "\(mailbox)", "error": "\(error)",
                ])
            }
            return maildir
        }
        // Nothing waits for a UID but the delivery's report, so numbering gathers what arrives in
        // 20 ms into one append and one sync of the list.
        return OpenMailbox(
            maildir: maildir,
            uids: GroupCommit(pool: sync.pool, linger: Self.numberingWindow) { keys in try list.assign(keys, now: clock()) })
    }
}

/// A Maildir writer that reports the delivery once the message is durable.
private final class DirectDeliveryWriter: MessageWriter {
    private let inner: any MessageWriter
    private let delivered: @Sendable () -> Void

    init(_ inner: any MessageWriter, delivered: @escaping @Sendable () -> Void) {
        self.inner = inner
        self.delivered = delivered
    }

    var bufferedBytes: Int { inner.bufferedBytes }
    func append(_ chunk: ByteBuffer) { inner.append(chunk) }
    func drained() -> EventLoopFuture<Void> { inner.drained() }
    func abort() { inner.abort() }

    /// Completes once the file is durable in `new/`; the report follows when its UID is known.
    func commit() -> EventLoopFuture<Void> {
        let committed = inner.commit()
        let delivered = self.delivered
        committed.whenSuccess { delivered() }
        return committed
    }
}
