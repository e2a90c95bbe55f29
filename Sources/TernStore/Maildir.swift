public import NIOCore
public import NIOPosix
import TernMail

/// A Maildir mailbox (https://cr.yp.to/proto/maildir.html): `tmp/`, `new/`, `cur/`. A message
/// is written into `tmp/`, synced, and renamed into `new/`, where any Maildir reader (mutt,
/// Dovecot, a developer's grep) finds it.
///
/// File names are `<seconds>.<QueueID>.<host>,S=<size>`: unique (the QueueID is), sortable by
/// arrival, with the size extension Dovecot and Courier understand.
public struct Maildir: MessageStore {
    public let root: String
    private let hostname: String
    private let pool: NIOThreadPool
    private let newDirectory: DirectorySync

    public init(root: String, hostname: String, pool: NIOThreadPool) throws {
        self.root = root
        self.hostname = Self.safeHostname(hostname)
        self.pool = pool
        for sub in ["tmp", "new", "cur"] { try POSIXFile.makeDirectories("\(root)/\(sub)") }
        self.newDirectory = try DirectorySync(path: "\(root)/new", pool: pool)
    }

    public var location: String { root }

    public func begin(_ message: IncomingMessage, prefix: ByteBuffer, on eventLoop: any EventLoop) -> any MessageWriter {
        begin(message, prefix: prefix, on: eventLoop, stored: nil)
    }

    /// As `begin`, telling `stored` the file's name in `new/` once it is there (on the thread
    /// pool, before the directory is synced and the 250 is sent).
    public func begin(
        _ message: IncomingMessage, prefix: ByteBuffer, on eventLoop: any EventLoop,
        stored: (@Sendable (_ name: String) -> Void)?
    ) -> any MessageWriter {
        let base = "\(message.trace.receivedAt).\(message.id).\(hostname)"
        let temporary = "\(root)/tmp/\(base)"
        let newPath = "\(root)/new/\(base)"
        return FileMessageWriter(
            prefix: prefix, temporaryPath: temporary, directory: newDirectory, pool: pool, eventLoop: eventLoop
        ) { size in
            try POSIXFile.rename(temporary, "\(newPath),S=\(size)")
            stored?("\(base),S=\(size)")
            return size
        }
    }

    /// Delivers a copy of the spooled message at `source`, with `prefix` (Return-Path,
    /// Delivered-To) in front. The file name depends only on the message and this mailbox, so
    /// a delivery repeated after a crash replaces its earlier copy instead of adding one.
    /// Returns the message's key (`MaildirUIDList.key(ofFileName:)`).
    @discardableResult
    public func deliver(copying source: String, prefix: [UInt8], id: String, receivedAt: Int64) async throws
        -> String
    {
        let base = "\(receivedAt).\(id).\(hostname)"
        let temporary = "\(root)/tmp/\(base)"
        let newPath = "\(root)/new/\(base)"
        try await pool.runIfActive {
            POSIXFile.remove(temporary)
            let descriptor = try POSIXFile.create(temporary)
            let size: Int
            do {
                defer { POSIXFile.close(descriptor) }
                try prefix.withUnsafeBytes { try POSIXFile.writeAll(descriptor, $0) }
                size = prefix.count + (try POSIXFile.copyContents(of: source, to: descriptor))
                try POSIXFile.dataSync(descriptor)
            } catch {
                POSIXFile.remove(temporary)
                throw error
            }
            try POSIXFile.rename(temporary, "\(newPath),S=\(size)")
        }
        try await newDirectory.sync()
        return base
    }

    public func recover() throws -> RecoveryReport {
        var removed = 0
        for name in try POSIXFile.list("\(root)/tmp") {
            POSIXFile.remove("\(root)/tmp/\(name)")
            removed += 1
        }
        let stored = try POSIXFile.list("\(root)/new").count + POSIXFile.list("\(root)/cur").count
        return RecoveryReport(messages: stored, removedTemporaryFiles: removed)
    }

    /// The Maildir convention: `/` and `:` in the host name are written `\057` and `\072`.
    static func safeHostname(_ name: String) -> String {
        var result = ""
        for scalar in name.unicodeScalars {
            switch scalar {
            case "/": result += "\\057"
            case ":": result += "\\072"
            case "a"..."z", "A"..."Z", "0"..."9", ".", "-", "_": result.unicodeScalars.append(scalar)
            default: result += "_"
            }
        }
        return result.isEmpty ? "localhost" : result
    }
}
