import Foundation
import NIOPosix
import TernMail

/// A user's mailboxes as IMAP names them (RFC 9051 §5.1): `INBOX` and folders, `/` between the
/// levels of a name (`Archive/2026`). Names are Unicode (the protocol layer converts IMAP4rev1's
/// modified UTF-7). `MaildirFolders` is the embedded backend; a database backend implements the
/// same protocol.
public protocol MailboxFolders: Sendable {
    /// Every mailbox of the user, INBOX first, then by name.
    func list() async throws -> [MailboxFolder]
    /// The mailbox named `name` (`INBOX` or a folder), opened; nil when there is none.
    func open(_ name: String) async throws -> (any Mailbox)?
    /// Makes the folder `name`, and the levels above it that are missing.
    func create(_ name: String) async throws(FolderError)
    /// Removes the folder `name` and its messages (not INBOX).
    func delete(_ name: String) async throws(FolderError)
    /// Renames the folder `name` and the folders below it (RFC 9051 §6.3.6; INBOX is not
    /// renamed here).
    func rename(_ name: String, to newName: String) async throws(FolderError)
    /// Adds `name` to the subscriptions (LSUB, `LIST (SUBSCRIBED)`) or takes it out.
    func subscribe(_ name: String, _ subscribed: Bool) async throws(FolderError)
    /// The subscribed names, whether their mailboxes exist or not (RFC 9051 §6.3.7).
    func subscriptions() async throws -> [String]
    /// What all the user's mailboxes hold together: what a quota is checked against (IMAP's
    /// QUOTA, RFC 9208; the check before a delivery).
    func usage() async throws -> MailboxUsage
}

extension MailboxFolders {
    /// Every mailbox listed and added up; a database backend answers with one query instead.
    public func usage() async throws -> MailboxUsage {
        var usage = MailboxUsage()
        for folder in try await list() {
            guard let mailbox = try await open(folder.name) else { continue }
            for message in try await mailbox.snapshot().messages {
                usage.octets += message.size
                usage.messages += 1
            }
        }
        return usage
    }
}

extension MailboxFolders {
    /// The folder for `use` (RFC 6154), opened: the one the list marks with it (the user may
    /// have renamed it), else a folder of its usual name, made when missing (as Dovecot's
    /// `lda_mailbox_autocreate` makes a folder a delivery files into).
    public func mailbox(for use: SpecialUse) async throws -> (any Mailbox)? {
        if let marked = try await list().first(where: { $0.specialUse == use }) {
            return try await open(marked.name)
        }
        let made: Result<Void, FolderError>
        do {
            try await create(use.folderName)
            made = .success(())
        } catch {
            made = .failure(error)
        }
        // `.exists`: made meanwhile, or there without the mark; either way it is the folder.
        if case .failure(let error) = made, error != .exists { throw error }
        return try await open(use.folderName)
    }
}

/// Octets and messages stored, over one user's mailboxes.
public struct MailboxUsage: Sendable, Hashable {
    public var octets: Int
    public var messages: Int

    public init(octets: Int = 0, messages: Int = 0) {
        self.octets = octets
        self.messages = messages
    }
}

/// One mailbox in a user's list.
public struct MailboxFolder: Sendable, Hashable {
    public var name: String
    /// RFC 6154: what the folder is for, as the client is told.
    public var specialUse: SpecialUse?
    public var subscribed: Bool

    public init(name: String, specialUse: SpecialUse? = nil, subscribed: Bool) {
        self.name = name
        self.specialUse = specialUse
        self.subscribed = subscribed
    }
}

/// RFC 6154 §2: the special uses a folder made at first login is for.
public enum SpecialUse: String, Codable, Sendable, Hashable, CaseIterable {
    case sent = "\\Sent"
    case drafts = "\\Drafts"
    case junk = "\\Junk"
    case trash = "\\Trash"
    case archive = "\\Archive"

    /// The folder each is made as, the names Thunderbird and Dovecot's defaults use.
    public var folderName: String {
        switch self {
        case .sent: "Sent"
        case .drafts: "Drafts"
        case .junk: "Junk"
        case .trash: "Trash"
        case .archive: "Archive"
        }
    }
}

/// Why a folder operation was refused (IMAP answers NO with the matching response code).
public enum FolderError: Error, Sendable, Hashable {
    /// `[ALREADYEXISTS]`
    case exists
    /// `[NONEXISTENT]`
    case noSuchFolder
    /// A name the store cannot hold (empty levels, `.`, control characters, too long): `[CANNOT]`.
    case invalidName
    /// INBOX cannot be deleted or renamed here; the dev catcher has no folders: `[CANNOT]`.
    case notPermitted
    /// The disk said no: `[SERVERBUG]`.
    case storage(String)
}

/// A user's folders in Maildir++ (the layout of Dovecot and Courier), beside the user's Maildir:
/// the folder `Archive/2026` is the Maildir `<user>/.Archive.2026/` with its `maildirfolder`
/// marker, each level's name written by `MaildirFolderName` (so a `.` or `/` in a name can never
/// make a path), and the subscriptions in `<user>/tern-subscriptions`, one name per line. The
/// special-use folders are made the first time the folders are listed or a subscription changes.
public final class MaildirFolders: MailboxFolders {
    public let address: String
    let store: MaildirMailboxStore
    let root: String

    /// The levels a name may have, and a bound on the folders listed (a hostile or broken tree
    /// cannot make a LIST unbounded).
    static let maximumDepth = 16
    static let maximumFolders = 10_000
    static let subscriptionsFile = "tern-subscriptions"

    public init?(store: MaildirMailboxStore, address: String) {
        guard let root = store.path(of: address) else { return nil }
        self.store = store
        self.address = address
        self.root = root
    }

    /// The directory of folder `name`, nil for a name it cannot have.
    public static func directory(of name: String) -> String? {
        let levels = name.split(separator: "/", omittingEmptySubsequences: false)
        guard !levels.isEmpty, levels.count <= maximumDepth,
            !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else { return nil }
        var encoded: [String] = []
        for level in levels {
            guard !level.isEmpty, let folder = MaildirFolderName.folder(of: String(level)) else { return nil }
            encoded.append(folder)
        }
        let joined = "." + encoded.joined(separator: ".")
        return joined.utf8.count <= 250 ? joined : nil
    }

    /// The name of a folder directory (`.Archive.2026`), nil for one this store did not make:
    /// only the directory `directory(of:)` gives for the name is that name's, so no name has two
    /// (`.a%2Fb` is not `a/b`, a control character decoded is no name at all).
    public static func name(ofDirectory entry: String) -> String? {
        guard entry.hasPrefix("."), entry != ".", entry != ".." else { return nil }
        var levels: [String] = []
        for level in entry.dropFirst().split(separator: ".", omittingEmptySubsequences: false) {
            guard let name = MaildirFolderName.name(ofFolder: String(level)) else { return nil }
            levels.append(name)
        }
        let name = levels.joined(separator: "/")
        return directory(of: name) == entry ? name : nil
    }

    public func list() async throws -> [MailboxFolder] {
        let (root, now) = (self.root, store.clock.seconds)
        let (names, subscribed) = try await store.sync.pool.runIfActive { () throws -> ([String], Set<String>) in
            var names = try Self.folderNames(root)
            names += try Self.setUpIfNew(root: root, names: names, now: now)
            return (names.sorted(), Self.readSubscriptions(root: root))
        }
        let uses = Dictionary(uniqueKeysWithValues: SpecialUse.allCases.map { ($0.folderName, $0) })
        return [MailboxFolder(name: "INBOX", subscribed: subscribed.contains("INBOX"))]
            + names.map { MailboxFolder(name: $0, specialUse: uses[$0], subscribed: subscribed.contains($0)) }
    }

    public func open(_ name: String) async throws -> (any Mailbox)? {
        if name == "INBOX" { return try await store.mailbox(address) }
        guard let directory = Self.directory(of: name) else { return nil }
        let path = "\(root)/\(directory)"
        // A client may COPY into Trash before it ever lists: the special-use folders are there.
        if !POSIXFile.exists("\(root)/\(Self.subscriptionsFile)") { _ = try await list() }
        guard POSIXFile.exists("\(path)/cur") else { return nil }
        return try await store.folderMailbox(of: address, folder: name, path: path)
    }

    /// Read from the directories, as `tern user show` reads them without a running server.
    public func usage() async throws -> MailboxUsage {
        let root = self.root
        return try await store.sync.pool.runIfActive { Self.usage(ofUserDirectory: root) }
    }

    /// What a user's Maildir and its Maildir++ folders hold in `new/` and `cur/`: each
    /// message's size as its name states it (`,S=`, written by Tern and Dovecot), else as the
    /// file's. A file that goes away meanwhile counts as gone; a directory that cannot be read
    /// counts as empty (there is nothing of it to bound). The sum saturates, never traps.
    public static func usage(ofUserDirectory root: String) -> MailboxUsage {
        var usage = MailboxUsage()
        let folders = ((try? POSIXFile.list(root)) ?? []).filter { name(ofDirectory: $0) != nil }
        for directory in [root] + folders.prefix(maximumFolders).map({ "\(root)/\($0)" }) {
            for part in ["new", "cur"] {
                let path = "\(directory)/\(part)"
                for file in (try? POSIXFile.list(path)) ?? [] where !file.hasPrefix(".") {
                    guard let size = MaildirFileName(file).statedSize ?? POSIXFile.fileSize("\(path)/\(file)") else { continue }
                    let (sum, overflowed) = usage.octets.addingReportingOverflow(size)
                    usage.octets = overflowed ? .max : sum
                    usage.messages += 1
                }
            }
        }
        return usage
    }

    public func create(_ name: String) async throws(FolderError) {
        guard name != "INBOX" else { throw .exists }
        guard let directory = Self.directory(of: name) else { throw .invalidName }
        let (root, now) = (self.root, store.clock.seconds)
        try await run {
            guard !POSIXFile.exists("\(root)/\(directory)/cur") else { throw FolderError.exists }
            // RFC 9051 §6.3.4: the levels above are made too.
            var levels = directory.dropFirst().split(separator: ".").map(String.init)
            while !levels.isEmpty {
                try Self.makeFolder(root: root, directory: "." + levels.joined(separator: "."), now: now)
                levels.removeLast()
            }
        }
    }

    public func delete(_ name: String) async throws(FolderError) {
        guard name != "INBOX" else { throw .notPermitted }
        guard let directory = Self.directory(of: name) else { throw .noSuchFolder }
        let root = self.root
        try await run {
            let path = "\(root)/\(directory)"
            guard POSIXFile.exists("\(path)/cur") else { throw FolderError.noSuchFolder }
            // Moved aside first, so a crash never leaves half a folder that looks whole.
            let doomed = "\(root)/tmp/deleted-\(UInt64.random(in: 0...UInt64.max))"
            try POSIXFile.makeDirectories("\(root)/tmp")
            try POSIXFile.rename(path, doomed)
            try? FileManager.default.removeItem(atPath: doomed)
            // The subscription stays (RFC 3501 §6.3.9: never removed on the server's own).
        }
        store.forgetFolder(of: address, folder: name)
    }

    public func rename(_ name: String, to newName: String) async throws(FolderError) {
        guard name != "INBOX" else { throw .notPermitted }
        guard newName != "INBOX" else { throw .exists }
        guard let from = Self.directory(of: name) else { throw .noSuchFolder }
        guard let to = Self.directory(of: newName) else { throw .invalidName }
        let root = self.root
        let moved = try await run { () throws -> [String] in
            guard POSIXFile.exists("\(root)/\(from)/cur") else { throw FolderError.noSuchFolder }
            guard !POSIXFile.exists("\(root)/\(to)/cur") else { throw FolderError.exists }
            // The folder and every folder below it (`.A` and `.A.*`) move together.
            let children = try POSIXFile.list(root).filter { $0.hasPrefix(from + ".") }
            try POSIXFile.rename("\(root)/\(from)", "\(root)/\(to)")
            for child in children {
                try POSIXFile.rename("\(root)/\(child)", "\(root)/\(to)\(child.dropFirst(from.count))")
            }
            return [name] + children.compactMap { Self.name(ofDirectory: $0) }
        }
        for folder in moved { store.forgetFolder(of: address, folder: folder) }
    }

    public func subscribe(_ name: String, _ subscribed: Bool) async throws(FolderError) {
        guard name == "INBOX" || Self.directory(of: name) != nil else { throw .invalidName }
        let (root, now) = (self.root, store.clock.seconds)
        try await run {
            _ = try Self.setUpIfNew(root: root, names: try Self.folderNames(root), now: now)
            var subscriptions = Self.readSubscriptions(root: root)
            if subscribed { subscriptions.insert(name) } else { subscriptions.remove(name) }
            try Self.writeSubscriptions(subscriptions, root: root)
        }
    }

    public func subscriptions() async throws -> [String] {
        let root = self.root
        // The first listing makes the default subscriptions.
        if !POSIXFile.exists("\(root)/\(Self.subscriptionsFile)") { _ = try await list() }
        return try await store.sync.pool.runIfActive { Self.readSubscriptions(root: root).sorted() }
    }

    /// Runs blocking folder work on the store's pool; errors become `FolderError`s.
    private func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws(FolderError) -> T {
        do {
            return try await store.sync.pool.runIfActive(body)
        } catch let error as FolderError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }

    /// The first use of a user's folders (no `tern-subscriptions` yet): the special-use folders
    /// made, and subscribed with INBOX. Returns the folders it made.
    static func setUpIfNew(root: String, names: [String], now: Int64) throws -> [String] {
        guard !POSIXFile.exists("\(root)/\(subscriptionsFile)") else { return [] }
        var made: [String] = []
        for use in SpecialUse.allCases where !names.contains(use.folderName) {
            try makeFolder(root: root, directory: "." + use.folderName, now: now)
            made.append(use.folderName)
        }
        try writeSubscriptions(Set(["INBOX"] + SpecialUse.allCases.map(\.folderName)), root: root)
        return made
    }

    static func folderNames(_ root: String) throws -> [String] {
        try POSIXFile.makeDirectories(root)
        var names: [String] = []
        for entry in try POSIXFile.list(root) where POSIXFile.exists("\(root)/\(entry)/cur") {
            guard let name = name(ofDirectory: entry) else { continue }
            names.append(name)
            if names.count >= maximumFolders { break }
        }
        return names
    }

    static func makeFolder(root: String, directory: String, now: Int64) throws {
        let path = "\(root)/\(directory)"
        guard !POSIXFile.exists("\(path)/cur") else { return }
        for sub in ["tmp", "new", "cur"] { try POSIXFile.makeDirectories("\(path)/\(sub)") }
        try POSIXFile.touch("\(path)/maildirfolder")
        try MaildirUIDList.begin(maildir: path, uidValidity: try nextUIDValidity(root: root, now: now))
    }

    /// The user's UIDVALIDITY sequence (`tern-uidvalidity`, like Dovecot's
    /// `dovecot-uidvalidity`): from the clock, and above every one given before, so a folder
    /// deleted and made again within a second still gets a new one.
    static func nextUIDValidity(root: String, now: Int64) throws -> UInt32 {
        let path = "\(root)/tern-uidvalidity"
        let last = (try? POSIXFile.readPrefix(of: path, limit: 32)).flatMap {
            ASCIIDecimal.parse(octets: $0.prefix { $0 != UInt8(ascii: "\n") }, in: 1...Int64(UInt32.max))
        }
        let next = MaildirUIDList.validity(now, after: last.map { UInt32($0) })
        let temporary = "\(path).\(UInt64.random(in: 0...UInt64.max)).tmp"
        try Data("\(next)\n".utf8).write(to: URL(fileURLWithPath: temporary))
        try POSIXFile.rename(temporary, path)
        return next
    }

    static func readSubscriptions(root: String) -> Set<String> {
        guard let octets = try? POSIXFile.readAll("\(root)/\(subscriptionsFile)") else { return [] }
        return Set(String(decoding: octets, as: UTF8.self).split(separator: "\n").map(String.init).prefix(maximumFolders))
    }

    static func writeSubscriptions(_ names: Set<String>, root: String) throws {
        let text = names.sorted().joined(separator: "\n") + "\n"
        // A name of its own: two sessions' first listings may write at once.
        let temporary = "\(root)/\(subscriptionsFile).\(UInt64.random(in: 0...UInt64.max)).tmp"
        try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        try POSIXFile.rename(temporary, "\(root)/\(subscriptionsFile)")
    }
}
