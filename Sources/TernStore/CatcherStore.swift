import Foundation
public import Logging
public import NIOCore
import NIOConcurrencyHelpers
import NIOPosix
import TernMail

/// The dev-mode catcher's mail: one inbox per SMTP user name, so each application (or test
/// suite) that logs in with its own name sees only its own messages; mail sent without a login
/// goes to the default inbox.
///
/// The inboxes are the mailboxes of a `MaildirMailboxStore` in its Maildir++ layout: the
/// default inbox is the Maildir at `root`, the others are folders inside it (`root/.<name>/`,
/// named by `MaildirFolderName`), the layout Dovecot and Courier use, so mutt or any Maildir++
/// reader opens them too. The catcher reads and changes them through the `Mailbox` protocol,
/// as IMAP will.
///
/// A login name is the inbox's name in its canonical form (`inboxName(login:)`: lower case,
/// Unicode NFC), so `App`, `app` and two spellings of `café` share one inbox. Inboxes are
/// made when a login starts its first message, not at the login, and at most
/// `maximumInboxes` (256) exist: any login names one, and the disk is not theirs to fill with
/// folders. Past the limit, or for a name too long for a folder, mail goes to the default
/// inbox.
public final class CatcherStore: MessageStore {
    public let root: String
    /// The inboxes as mailboxes.
    public let mailboxes: MaildirMailboxStore
    private let defaultInbox: any Mailbox
    /// The inboxes besides the default one, by canonical name.
    private let inboxes: NIOLockedValueBox<[String: any Mailbox]>
    private let opened = NIOLockedValueBox<(@Sendable (String, any Mailbox) -> Void)?>(nil)

    /// The API's name of the inbox of mail sent without a login. A login with this name
    /// shares it, so every inbox has one name.
    public static let defaultInboxName = "default"

    /// The most inboxes besides the default one, by default. Each open inbox holds a directory
    /// descriptor, so this also bounds what logins can cost in descriptors.
    public static let defaultMaximumInboxes = 256
    /// The most inboxes besides the default one.
    public let maximumInboxes: Int

    /// The inbox a login name maps to: lower case, then Unicode NFC (canonical composition),
    /// so that names a person would call the same are one inbox.
    public static func inboxName(login: String) -> String {
        login.lowercased().precomposedStringWithCanonicalMapping
    }

    private init(root: String, mailboxes: MaildirMailboxStore, defaultInbox: any Mailbox, inboxes: [String: any Mailbox], maximumInboxes: Int) {
        self.root = root
        self.mailboxes = mailboxes
        self.defaultInbox = defaultInbox
        self.inboxes = NIOLockedValueBox(inboxes)
        self.maximumInboxes = maximumInboxes
    }

    /// Opens the default inbox and every inbox already on disk (start-up).
    public static func open(
        root: String, hostname: String, sync: StoreSync, maximumInboxes: Int = defaultMaximumInboxes,
        logger: Logger = Logger(label: "tern.catcher")
    ) async throws -> CatcherStore {
        let mailboxes = MaildirMailboxStore(
            root: root, hostname: hostname, sync: sync, logger: logger, layout: .folders(inbox: defaultInboxName))
        let defaultInbox = try await mailboxes.mailbox(defaultInboxName)
        let entries = try await sync.pool.runIfActive { try POSIXFile.list(root) }
        var found: [String: any Mailbox] = [:]
        for entry in entries.sorted() where entry.hasPrefix(".") && entry != "." && entry != ".." {
            guard let name = MaildirFolderName.name(ofFolder: String(entry.dropFirst())),
                POSIXFile.exists("\(root)/\(entry)/maildirfolder")
            else { continue }
            // A folder of an earlier version may hold a name in another case or form: it keeps
            // its folder, under its canonical name (the first one found, if two collide).
            let canonical = inboxName(login: name)
            guard found[canonical] == nil, canonical != defaultInboxName, found.count < maximumInboxes else { continue }
            found[canonical] = try await mailboxes.mailbox(name)
        }
        return CatcherStore(
            root: root, mailboxes: mailboxes, defaultInbox: defaultInbox, inboxes: found, maximumInboxes: maximumInboxes)
    }

    public var location: String { root }

    /// The inboxes besides the default one, by name, sorted.
    public var inboxNames: [String] { inboxes.withLockedValue { Array($0.keys).sorted() } }

    /// Every inbox, the default one first.
    public var allInboxes: [(name: String, mailbox: any Mailbox)] {
        [(Self.defaultInboxName, defaultInbox)]
            + inboxes.withLockedValue { $0.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }

    /// The inbox named `name` (canonical), if it exists.
    public func inbox(_ name: String) -> (any Mailbox)? {
        name == Self.defaultInboxName ? defaultInbox : inboxes.withLockedValue { $0[name] }
    }

    /// Whether `login` has no inbox yet and may get one (`openInbox` would make it): cheap, for
    /// the session to ask before each message.
    public func needsInbox(login: String) -> Bool {
        let name = Self.inboxName(login: login)
        guard name != Self.defaultInboxName, MaildirFolderName.folder(of: name) != nil else { return false }
        let maximum = maximumInboxes
        return inboxes.withLockedValue { $0[name] == nil && $0.count < maximum }
    }

    /// Makes sure `login`'s inbox exists, creating its folder on the thread pool. Call it when
    /// the login starts a message, before the message: `begin` never touches the disk. Past
    /// `maximumInboxes` it does nothing, and the mail goes to the default inbox.
    public func openInbox(_ login: String) async throws {
        let name = Self.inboxName(login: login)
        guard needsInbox(login: name) else { return }
        let mailbox = try await mailboxes.mailbox(name)
        let added = inboxes.withLockedValue { inboxes in
            guard inboxes[name] == nil, inboxes.count < maximumInboxes else { return false }
            inboxes[name] = mailbox
            return true
        }
        if added { opened.withLockedValue { $0 }?(name, mailbox) }
    }

    /// Tells `handler` of each inbox made from now on.
    public func observeInboxes(_ handler: @escaping @Sendable (_ name: String, _ mailbox: any Mailbox) -> Void) {
        opened.withLockedValue { $0 = handler }
    }

    public func begin(_ message: IncomingMessage, prefix: ByteBuffer, on eventLoop: any EventLoop) -> any MessageWriter {
        let named = message.trace.authenticatedUser.flatMap { inbox(Self.inboxName(login: $0)) }
        // The catcher is the final delivery: the envelope sender goes in front (RFC 5321 §4.4),
        // where the API's ReturnPath and the checks of `authentication` read it.
        var head = ByteBuffer(string: message.envelope.returnPathField)
        head.writeImmutableBuffer(prefix)
        // The catcher hears of the message from the mailbox's changes, as IMAP IDLE would.
        return (named ?? defaultInbox).beginAppend(message, prefix: head, on: eventLoop) { _ in }
    }

    /// The inboxes were opened (and what interrupted deliveries left in `tmp/` removed) by
    /// `open`; this counts what they hold.
    public func recover() throws -> RecoveryReport {
        var messages = 0
        for (_, mailbox) in allInboxes {
            guard let path = mailboxes.path(of: mailbox.address) else { continue }
            messages += try POSIXFile.list("\(path)/new").count + POSIXFile.list("\(path)/cur").count
        }
        return RecoveryReport(messages: messages, removedTemporaryFiles: 0)
    }
}
