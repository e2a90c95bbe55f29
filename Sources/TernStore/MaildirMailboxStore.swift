import Foundation
public import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
public import TernMail

/// The embedded `MailboxStore`: one Maildir per mailbox, where its `Layout` says, readable by
/// Dovecot, mutt or Python's `mailbox.Maildir` as it is, with the UIDs in its `MaildirUIDList`
/// and the flags in the file names.
///
/// A mailbox is opened once per process, on its first use: its Maildir is created, what an
/// interrupted run left in `tmp/` removed, and its UID list brought in line with its files (the
/// files are the truth; a message whose UID line was lost gets one then). Opening creates
/// directories, so it runs on the thread pool, and `openedMailbox` lets an event loop take a
/// mailbox only once it is open.
///
/// With a `journal` and `filesystem` sync, messages appended as they arrive (`beginAppend`) are
/// durable by a journal append (`JournaledMaildirWriter`); `recoverJournal()` replays what an
/// earlier run acknowledged but had not yet written into its mailbox.
///
/// Security notes: a mailbox's path is built from the configured address it belongs to, whose
/// local part was checked to be a safe directory name, never from what a client wrote.
public final class MaildirMailboxStore: MailboxStore {
    public let root: String
    let hostname: String
    let sync: StoreSync
    let journal: MessageJournal?
    let logger: Logger
    let clock: WallClock
    public let layout: Layout
    private let mailboxes = NIOLockedValueBox(Registry())

    /// Where each mailbox's Maildir is.
    public enum Layout: Sendable, Hashable {
        /// `user@domain` → `<root>/<domain>/<user>`: a Maildir per account (serve mode).
        case domains
        /// Maildir++, the layout of Dovecot and Courier: the mailbox named `inbox` is the Maildir
        /// at `<root>`, every other one the folder `<root>/.<folder name>/` with its
        /// `maildirfolder` marker (`MaildirFolderName`). The catcher's inboxes.
        case folders(inbox: String)
    }

    /// The mailboxes this process has open, and those being opened: one instance and one
    /// opening per mailbox, so no append's file in `tmp/` is taken for an interrupted one and
    /// no two listings of one Maildir disagree.
    ///
    /// The `keptOpen` most recently used are held here; the others only as long as someone else
    /// holds them (a selected IMAP session, a delivery under way), and are found again while
    /// they are. A server with many users so holds what they use, not every mailbox any of them
    /// ever opened (each open Maildir holds two directory descriptors and its listing).
    private struct Registry {
        var open: [String: MaildirMailbox] = [:]
        /// When each held mailbox was last asked for.
        var lastUse: [String: UInt64] = [:]
        var clock: UInt64 = 0
        var released: [String: WeakMailbox] = [:]
        var opening: [String: Task<MaildirMailbox, any Error>] = [:]

        /// The open mailbox `key`, held again if it had been released and is still alive.
        mutating func find(_ key: String) -> MaildirMailbox? {
            if let mailbox = open[key] ?? released[key]?.mailbox {
                hold(key, mailbox)
                return mailbox
            }
            released[key] = nil
            return nil
        }

        /// Holds `mailbox` as the most recently used; past `capacity`, releases the least recently
        /// used tenth (to the weak table, where the dead are swept at the same time).
        mutating func hold(_ key: String, _ mailbox: MaildirMailbox, capacity: Int = .max) {
            clock += 1
            open[key] = mailbox
            lastUse[key] = clock
            released[key] = nil
            guard open.count > capacity else { return }
            released = released.filter { $0.value.mailbox != nil }
            for (oldest, _) in lastUse.sorted(by: { $0.value < $1.value }).prefix(max(1, capacity / 10)) {
                if let mailbox = open.removeValue(forKey: oldest) { released[oldest] = WeakMailbox(mailbox: mailbox) }
                lastUse[oldest] = nil
            }
        }

        mutating func forget(_ key: String) {
            open[key] = nil
            lastUse[key] = nil
            released[key] = nil
        }
    }

    private struct WeakMailbox {
        weak var mailbox: MaildirMailbox?
    }

    /// How many mailboxes are held open though nobody uses them (`Registry`).
    let keptOpen: Int
    /// The default of `keptOpen`: two thousand directory descriptors.
    public static let defaultKeptOpen = 1000

    public init(
        root: String, hostname: String, sync: StoreSync, journal: MessageJournal? = nil,
        logger: Logger = Logger(label: "tern.mailboxes"),
        clock: WallClock = .system, layout: Layout = .domains, keptOpen: Int = MaildirMailboxStore.defaultKeptOpen
    ) {
        self.keptOpen = max(1, keptOpen)
        self.layout = layout
        self.root = root
        self.hostname = hostname
        self.sync = sync
        self.journal = journal
        self.logger = logger
        self.clock = clock
    }

    /// The Maildir of a mailbox (`user@domain` → `<root>/domain/user`, or a Maildir++ folder);
    /// nil for a name the layout has no folder for.
    public func path(of address: String) -> String? {
        switch layout {
        case .domains:
            let at = address.lastIndex(of: "@") ?? address.endIndex
            let user = address[..<at]
            let domain = at < address.endIndex ? address[address.index(after: at)...] : ""
            return "\(root)/\(domain)/\(user)"
        case .folders(let inbox):
            if address == inbox { return root }
            return MaildirFolderName.folder(of: address).map { "\(root)/.\($0)" }
        }
    }

    public func openedMailbox(_ address: String) -> (any Mailbox)? {
        mailboxes.withLockedValue { $0.find(address) }
    }

    public func mailbox(_ address: String) async throws -> any Mailbox {
        guard let path = self.path(of: address) else { throw StoreError.noSuchMailbox(address) }
        return try await maildirMailbox(key: address, address: address, path: path, isFolder: path != root && layout != .domains)
    }

    /// The Maildir++ folder `folder` of `address`'s mailbox (serve mode's IMAP folders): opened
    /// like the mailbox itself, once per process. The caller (`MaildirFolders`) made the path.
    func folderMailbox(of address: String, folder: String, path: String) async throws -> any Mailbox {
        try await maildirMailbox(key: "\(address)/\(folder)", address: address, path: path, isFolder: true)
    }

    /// Forgets an opened folder (it was deleted or renamed): the next opening starts afresh.
    func forgetFolder(of address: String, folder: String) {
        mailboxes.withLockedValue { $0.forget("\(address)/\(folder)") }
    }

    private func maildirMailbox(key: String, address: String, path: String, isFolder: Bool) async throws -> MaildirMailbox {
        enum Found {
            case open(MaildirMailbox)
            case opening(Task<MaildirMailbox, any Error>)
        }
        let found = mailboxes.withLockedValue { registry -> Found in
            if let open = registry.find(key) { return .open(open) }
            if let task = registry.opening[key] { return .opening(task) }
            let task = Task { try await self.open(address, path: path, isFolder: isFolder) }
            registry.opening[key] = task
            return .opening(task)
        }
        let opening: Task<MaildirMailbox, any Error>
        switch found {
        case .open(let open): return open
        case .opening(let task): opening = task
        }
        let result = await opening.result
        return try mailboxes.withLockedValue { registry in
            registry.opening[key] = nil
            if case .success(let opened) = result { registry.hold(key, opened, capacity: keptOpen) }
            return try result.get()
        }
    }

    private func open(_ address: String, path: String, isFolder: Bool) async throws -> MaildirMailbox {
        let (hostname, sync, clock, logger) = (self.hostname, self.sync, self.clock, self.logger)
        let list = MaildirUIDList(maildir: path)
        let maildir = try await sync.pool.runIfActive {
            let maildir = try Maildir(root: path, hostname: hostname, sync: sync)
            if isFolder { try POSIXFile.touch("\(path)/maildirfolder") }
            let removed = try maildir.removeInterruptedDeliveries()
            if removed > 0 {
                logger.info(
                    "removed what interrupted deliveries left in tmp/",
                    metadata: ["mailbox": "\(address)", "files": "\(removed)"])
            }
            // A Maildir without a UID list yet is numbered by its first listing, which reads the
            // directories anyway; one with a list is checked against the files here.
            do {
                guard POSIXFile.exists(list.path) else { return maildir }
                let report = try list.rebuild(now: clock.seconds)
                if report.added > 0 {
                    logger.info(
                        "numbered messages the UID list had missed",
                        metadata: ["mailbox": "\(address)", "messages": "\(report.added)"])
                }
            } catch {
                logger.warning(
                    "cannot bring the UID list up to date; run tern repair",
                    metadata: ["mailbox": "\(address)", "error": "\(error)"])
            }
            return maildir
        }
        return MaildirMailbox(address: address, maildir: maildir, list: list, store: self)
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

    // MARK: Repair

    /// What `repair` did to one mailbox.
    public struct RepairReport: Sendable {
        /// The Maildir, relative to the store's root (`example.test/alice`).
        public var mailbox: String
        public var uids: MaildirUIDList.RebuildReport
    }

    /// `tern repair`: brings every mailbox's UID list in line with its files. Messages keep
    /// their UIDs, messages without one (a lost append, files copied in by hand) get the next
    /// ones, vanished messages are dropped, and a missing or damaged list is made anew with a new
    /// UIDVALIDITY. Safe while a server runs (the lists are locked while they change). Blocks:
    /// for the command line or a thread pool.
    public static func repair(root: String, now: Int64) throws -> [RepairReport] {
        try maildirs(under: root).map { relative in
            let list = MaildirUIDList(maildir: "\(root)/\(relative)")
            let report = RepairReport(mailbox: relative, uids: try list.rebuild(now: now))
            // Derived from the files: made again as clients read the messages.
            MaildirMessageCache.remove(root: "\(root)/\(relative)")
            return report
        }
    }

    /// Directories below `root` (at most three levels: `<domain>/<user>`, `catch-all`) that are
    /// Maildirs: they have `new` and `cur`.
    static func maildirs(under root: String) throws -> [String] {
        let files = FileManager.default
        guard files.fileExists(atPath: root) else { return [] }
        var found: [String] = []
        func visit(_ relative: String, depth: Int) throws {
            let path = relative.isEmpty ? root : "\(root)/\(relative)"
            var isDirectory: ObjCBool = false
            if files.fileExists(atPath: "\(path)/new", isDirectory: &isDirectory), isDirectory.boolValue,
                files.fileExists(atPath: "\(path)/cur")
            {
                found.append(relative)
                // Its Maildir++ folders (IMAP's, `.Sent`, `.Archive.2026`) are Maildirs too.
                guard depth <= 3 else { return }
                let folders = try files.contentsOfDirectory(atPath: path).sorted().filter {
                    $0.hasPrefix(".") && $0 != "." && $0 != ".." && files.fileExists(atPath: "\(path)/\($0)/cur")
                }
                for name in folders { found.append(relative.isEmpty ? name : "\(relative)/\(name)") }
                return
            }
            guard depth < 3 else { return }
            for name in try files.contentsOfDirectory(atPath: path).sorted() where !name.hasPrefix(".") {
                var child: ObjCBool = false
                let childPath = "\(path)/\(name)"
                if files.fileExists(atPath: childPath, isDirectory: &child), child.boolValue {
                    try visit(relative.isEmpty ? name : "\(relative)/\(name)", depth: depth + 1)
                }
            }
        }
        try visit("", depth: 0)
        return found
    }
}
