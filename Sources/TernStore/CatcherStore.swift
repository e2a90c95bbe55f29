import Foundation
public import NIOCore
import NIOPosix
import NIOConcurrencyHelpers

/// The dev-mode catcher's mail: one inbox per SMTP user name, so each application (or test
/// suite) that logs in with its own name sees only its own messages; mail sent without a login
/// goes to the default inbox.
///
/// The default inbox is the Maildir at `root`; the others are Maildir++ folders inside it
/// (`root/.<name>/`, with the `maildirfolder` marker), the layout Dovecot and Courier use, so
/// mutt or any Maildir++ reader opens them too. A folder name is the user name with every octet
/// outside `A-Z a-z 0-9 @ _ + - =` written `%XX` (so `.` and `/` can never make a path);
/// names whose folder name would exceed `maximumFolderName` use the default inbox.
///
/// A login name is the inbox's name in its canonical form (`inboxName(login:)`: lower case,
/// Unicode NFC), so `App`, `app` and two spellings of `café` share one inbox. Inboxes are
/// made when a login starts its first message, not at the login, and at most
/// `maximumInboxes` (256) exist: any login names one, and the disk is not theirs to fill with
/// folders. Past the limit, mail goes to the default inbox.
public final class CatcherStore: MessageStore {
    public let root: String
    private let hostname: String
    private let sync: StoreSync
    private let defaultInbox: Maildir
    private let inboxes: NIOLockedValueBox<[String: Maildir]>
    private let observer = NIOLockedValueBox<(@Sendable (StoredFile) -> Void)?>(nil)

    /// The API's name of the inbox of mail sent without a login. A login with this name
    /// shares it, so every inbox has one name.
    public static let defaultInboxName = "default"

    public static let maximumFolderName = 200
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

    /// Opens the default inbox and every inbox already on disk (start-up: blocking is fine).
    public init(root: String, hostname: String, sync: StoreSync, maximumInboxes: Int = defaultMaximumInboxes) throws {
        self.root = root
        self.maximumInboxes = maximumInboxes
        self.hostname = hostname
        self.sync = sync
        defaultInbox = try Maildir(root: root, hostname: hostname, sync: sync)
        var found: [String: Maildir] = [:]
        for entry in try POSIXFile.list(root) where entry.hasPrefix(".") && entry != "." && entry != ".." {
            guard let name = Self.inboxName(folder: String(entry.dropFirst())),
                POSIXFile.exists("\(root)/\(entry)/maildirfolder")
            else { continue }
            // A folder of an earlier version may hold a name in another case or form: it keeps
            // its folder, under its canonical name (the first one found, if two collide).
            let canonical = Self.inboxName(login: name)
            guard found[canonical] == nil else { continue }
            found[canonical] = try Maildir(root: "\(root)/\(entry)", hostname: hostname, sync: sync)
        }
        inboxes = NIOLockedValueBox(found)
    }

    public var location: String { root }

    /// The inboxes on disk, by user name (the default inbox is not listed).
    public var inboxNames: [String] { inboxes.withLockedValue { Array($0.keys).sorted() } }

    /// Whether `login` has no inbox yet and may get one (`openInbox` would make it): cheap, for
    /// the session to ask before each message.
    public func needsInbox(login: String) -> Bool {
        let name = Self.inboxName(login: login)
        guard name != Self.defaultInboxName, Self.folderName(name) != nil else { return false }
        let maximum = maximumInboxes
        return inboxes.withLockedValue { $0[name] == nil && $0.count < maximum }
    }

    /// Makes sure `login`'s inbox exists, creating its folder on the thread pool. Call it when
    /// the login starts a message, before the message: `begin` never touches the disk. Past
    /// `maximumInboxes` it does nothing, and the mail goes to the default inbox.
    public func openInbox(_ login: String) async throws {
        let name = Self.inboxName(login: login)
        guard needsInbox(login: name), let folder = Self.folderName(name) else { return }
        let (root, hostname, sync) = (self.root, self.hostname, self.sync)
        let maildir = try await sync.pool.runIfActive {
            let maildir = try Maildir(root: "\(root)/.\(folder)", hostname: hostname, sync: sync)
            try POSIXFile.touch("\(root)/.\(folder)/maildirfolder")
            return maildir
        }
        inboxes.withLockedValue { inboxes in
            if inboxes[name] == nil, inboxes.count < maximumInboxes { inboxes[name] = maildir }
        }
    }

    public func begin(_ message: IncomingMessage, prefix: ByteBuffer, on eventLoop: any EventLoop) -> any MessageWriter {
        let named = message.trace.authenticatedUser.map(Self.inboxName(login:)).flatMap { name in
            inboxes.withLockedValue { $0[name] }.map { (name, $0) }
        }
        let inbox = named?.0 ?? Self.defaultInboxName
        let folder = named.flatMap { Self.folderName($0.0) }.map { ".\($0)/" } ?? ""
        let observer = self.observer
        return (named?.1 ?? defaultInbox).begin(message, prefix: prefix, on: eventLoop) { name in
            let file = StoredFile(inbox: inbox, path: "\(folder)new/\(name)", key: MaildirUIDList.key(ofFileName: name), seen: false)
            observer.withLockedValue { $0 }?(file)
        }
    }

    /// Tells `handler` of each message stored over SMTP, once its file is in place.
    public func observe(_ handler: @escaping @Sendable (StoredFile) -> Void) {
        observer.withLockedValue { $0 = handler }
    }

    // MARK: Reading the inboxes (blocking: call on a thread pool)

    /// A message file of an inbox.
    public struct StoredFile: Hashable, Sendable {
        public var inbox: String
        /// Relative to `root`: `new/<name>`, `cur/<name>:2,S`, `.alice/new/<name>`.
        public var path: String
        /// The Maildir base name (`<time>.<QueueID>.<host>`), without size or flags.
        public var key: String
        /// The Maildir `S` (seen) flag: in `cur/` with `S` among the flags.
        public var seen: Bool

        public init(inbox: String, path: String, key: String, seen: Bool) {
            self.inbox = inbox
            self.path = path
            self.key = key
            self.seen = seen
        }
    }

    /// Every message file of every inbox (new/ and cur/).
    public func files() throws -> [StoredFile] {
        var result: [StoredFile] = []
        let inboxes = [(Self.defaultInboxName, "")]
            + self.inboxes.withLockedValue { $0.keys.compactMap { name in Self.folderName(name).map { (name, ".\($0)/") } } }
        for (inbox, prefix) in inboxes {
            for directory in ["new", "cur"] {
                let names = (try? POSIXFile.list("\(root)/\(prefix)\(directory)")) ?? []
                for name in names where !name.hasPrefix(".") {
                    result.append(
                        StoredFile(
                            inbox: inbox, path: "\(prefix)\(directory)/\(name)", key: MaildirUIDList.key(ofFileName: name),
                            seen: directory == "cur" && Self.flags(of: name).contains("S")))
                }
            }
        }
        return result
    }

    public func contents(of file: StoredFile) throws -> [UInt8] {
        try POSIXFile.readAll("\(root)/\(file.path)")
    }

    /// At most the first `limit` octets of a message file, and the file's whole size: what the
    /// catcher's index reads, so indexing a 48 MB message costs `limit` octets of memory, not
    /// 48 MB. The buffer is sized to the file, not to `limit`, for the many small ones.
    public func prefix(of file: StoredFile, limit: Int) throws -> (octets: [UInt8], size: Int) {
        let path = "\(root)/\(file.path)"
        let size = POSIXFile.fileSize(path)
        let octets = try POSIXFile.readPrefix(of: path, limit: max(0, min(limit, size ?? limit)))
        return (octets, max(size ?? 0, octets.count))
    }

    /// Sets or clears the seen flag the Maildir way: the file moves to `cur/` with `:2,S` (or
    /// without the S). Returns the file as it is now.
    public func setSeen(_ file: StoredFile, _ seen: Bool) throws -> StoredFile {
        guard file.seen != seen else { return file }
        let components = file.path.split(separator: "/")
        let folder = components.count == 3 ? "\(components[0])/" : ""
        let name = String(components.last ?? "")
        let base = name.split(separator: ":", maxSplits: 1).first.map(String.init) ?? name
        var flags = Self.flags(of: name).filter { $0 != "S" }
        if seen { flags.append("S") }
        let newPath = "\(folder)cur/\(base):2,\(String(flags.sorted()))"
        try POSIXFile.rename("\(root)/\(file.path)", "\(root)/\(newPath)")
        var moved = file
        moved.path = newPath
        moved.seen = seen
        return moved
    }

    public func remove(_ file: StoredFile) {
        POSIXFile.remove("\(root)/\(file.path)")
    }

    /// The Maildir info flags of a file name (`...:2,FS` → `FS`).
    static func flags(of name: String) -> [Character] {
        guard let colon = name.lastIndex(of: ":") else { return [] }
        let info = name[name.index(after: colon)...]
        guard info.hasPrefix("2,") else { return [] }
        return Array(info.dropFirst(2))
    }

    public func recover() throws -> RecoveryReport {
        var report = try defaultInbox.recover()
        for inbox in inboxes.withLockedValue({ Array($0.values) }) {
            let found = try inbox.recover()
            report.messages += found.messages
            report.removedTemporaryFiles += found.removedTemporaryFiles
        }
        return report
    }

    /// `alice@example.test` → `alice@example%2Etest`; nil when too long.
    public static func folderName(_ name: String) -> String? {
        var folder = ""
        for octet in name.utf8 {
            if isKept(octet) {
                folder.unicodeScalars.append(Unicode.Scalar(octet))
            } else {
                let digits = Array("0123456789ABCDEF".unicodeScalars)
                folder.unicodeScalars.append("%")
                folder.unicodeScalars.append(digits[Int(octet >> 4)])
                folder.unicodeScalars.append(digits[Int(octet & 0x0F)])
            }
        }
        guard !folder.isEmpty, folder.utf8.count <= maximumFolderName else { return nil }
        return folder
    }

    /// The inverse of `folderName`; nil for a folder name it would not have made.
    public static func inboxName(folder: String) -> String? {
        var octets: [UInt8] = []
        var iterator = folder.utf8.makeIterator()
        while let octet = iterator.next() {
            if octet == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                let decoded = high << 4 | low
                guard !isKept(decoded) else { return nil }
                octets.append(decoded)
            } else {
                guard isKept(octet) else { return nil }
                octets.append(octet)
            }
        }
        guard !octets.isEmpty else { return nil }
        return String(validating: octets, as: UTF8.self)
    }

    private static func isKept(_ octet: UInt8) -> Bool {
        switch octet {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "@"), UInt8(ascii: "_"), UInt8(ascii: "+"),
            UInt8(ascii: "-"), UInt8(ascii: "="):
            true
        default: false
        }
    }

    private static func hexValue(_ octet: UInt8) -> UInt8? {
        switch octet {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): octet - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): octet - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
