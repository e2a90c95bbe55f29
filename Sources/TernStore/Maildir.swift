public import NIOCore
import NIOPosix
import TernMail

/// A Maildir mailbox (https://cr.yp.to/proto/maildir.html): `tmp/`, `new/`, `cur/`. A message
/// is written into `tmp/`, synced, and renamed into `new/` (`StoreSync`), where any Maildir
/// reader (mutt, Dovecot, a developer's grep) finds it.
///
/// File names are `<seconds>.<QueueID>.<host>,S=<size>`: unique (the QueueID is), sortable by
/// arrival, with the size extension Dovecot and Courier understand.
public struct Maildir: MessageStore {
    public let root: String
    private let hostname: String
    let sync: StoreSync
    /// `new/`, synced by the store's `StoreSync` or by a journal checkpoint.
    public let newDirectory: DirectorySync
    /// `cur/`, synced after flag changes and expunges (IMAP's STORE, EXPUNGE and MOVE answer
    /// only once they are durable).
    public let curDirectory: DirectorySync
    /// Journaled messages waiting to be written in (`JournaledMaildirWriter`).
    let placements: GroupCommit<Placement, Void>

    public init(root: String, hostname: String, sync: StoreSync) throws {
        self.root = root
        self.hostname = Self.safeHostname(hostname)
        self.sync = sync
        for sub in ["tmp", "new", "cur"] { try POSIXFile.makeDirectories("\(root)/\(sub)") }
        self.newDirectory = try DirectorySync(path: "\(root)/new", pool: sync.pool)
        self.curDirectory = try DirectorySync(path: "\(root)/cur", pool: sync.pool)
        self.placements = GroupCommit(pool: sync.pool) { [root] batch in Self.place(batch, root: root) }
    }

    public var location: String { root }

    public func begin(_ message: IncomingMessage, prefix: ByteBuffer, on eventLoop: any EventLoop) -> any MessageWriter {
        begin(message, prefix: prefix, on: eventLoop, stored: nil)
    }

    /// As `begin`, telling `stored` the file's name in `new/` once it is there (on the thread
    /// pool, right after the rename, before the directory is synced and the 250 is sent).
    /// `fieldsOffset`, where the prefix given is more than the trace fields: where those end.
    public func begin(
        _ message: IncomingMessage, prefix: ByteBuffer, fieldsOffset: Int? = nil, on eventLoop: any EventLoop,
        stored: (@Sendable (_ name: String) -> Void)?
    ) -> any MessageWriter {
        let base = baseName(of: message)
        let temporary = "\(root)/tmp/\(base)"
        let newPath = "\(root)/new/\(base)"
        let directory = newDirectory
        return FileMessageWriter(
            prefix: prefix, fieldsOffset: fieldsOffset, temporaryPath: temporary, sync: sync, eventLoop: eventLoop
        ) { size, _ in
            let publication = StoreSync.Publication(files: [temporary], directory: directory) {
                try POSIXFile.rename(temporary, "\(newPath),S=\(size)")
                stored?("\(base),S=\(size)")
            }
            return (publication, size)
        }
    }

    /// As `begin`, with the message made durable by `journal` (`JournaledMaildirWriter`):
    /// `stored` learns the file's name once it is in `new/`, after the 250; `failed` learns of
    /// each failed attempt to put it there (it is tried again).
    public func begin(
        _ message: IncomingMessage, prefix: ByteBuffer, on eventLoop: any EventLoop, journal: MessageJournal,
        stored: @escaping @Sendable (_ name: String) -> Void, failed: @escaping @Sendable (any Error) -> Void
    ) -> any MessageWriter {
        JournaledMaildirWriter(
            maildir: self, message: message, prefix: prefix, journal: journal, on: eventLoop, stored: stored,
            failed: failed)
    }

    /// A message's file name in `tmp/` and, with `,S=<size>` added, in `new/`.
    func baseName(of message: IncomingMessage) -> String {
        "\(message.trace.receivedAt).\(message.id).\(hostname)"
    }

    /// Stores a message from `source` with `prefix` (Return-Path, Delivered-To) in front, into
    /// `new/`. The file name depends only on `id`, `receivedAt` and this mailbox, so a delivery
    /// repeated after a crash replaces its earlier copy instead of adding one. Returns the file's
    /// name in `new/` and its size.
    public func deliver(_ source: NewMessage.Source, prefix: [UInt8], id: String, receivedAt: Int64) async throws
        -> (name: String, size: Int)
    {
        let base = "\(receivedAt).\(id).\(hostname)"
        let temporary = "\(root)/tmp/\(base)"
        let newPath = "\(root)/new/\(base)"
        let sync = self.sync
        // A file is copied by reads on the pool thread; other stored content (a database row)
        // is read first, in the source's own chunks.
        let body: (file: MessageFileReader?, octets: [UInt8])
        switch source {
        case .octets(let octets): body = (nil, octets)
        case .stored(let file as MessageFileReader): body = (file, [])
        case .stored(let stored): body = (nil, try await Self.readAll(stored))
        }
        let size = try await sync.pool.runIfActive {
            POSIXFile.remove(temporary)
            let descriptor = try POSIXFile.create(temporary)
            do {
                defer { POSIXFile.close(descriptor) }
                try prefix.withUnsafeBytes { try POSIXFile.writeAll(descriptor, $0) }
                let copied: Int
                if let file = body.file {
                    copied = try file.copyContents(to: descriptor)
                } else {
                    try body.octets.withUnsafeBytes { try POSIXFile.writeAll(descriptor, $0) }
                    copied = body.octets.count
                }
                try sync.finishWriting(descriptor)
                return prefix.count + copied
            } catch {
                POSIXFile.remove(temporary)
                throw error
            }
        }
        do {
            try await sync.publish(
                StoreSync.Publication(files: [temporary], directory: newDirectory) {
                    try POSIXFile.rename(temporary, "\(newPath),S=\(size)")
                })
        } catch {
            try? await sync.pool.runIfActive { POSIXFile.remove(temporary) }
            throw error
        }
        return ("\(base),S=\(size)", size)
    }

    /// The whole content of `source`, read in 256 KiB chunks.
    static func readAll(_ source: any MessageSource) async throws -> [UInt8] {
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        var octets: [UInt8] = []
        octets.reserveCapacity(source.size)
        while octets.count < source.size {
            let chunk = try await source.read(at: octets.count, count: 256 * 1024, on: eventLoop).get()
            guard chunk.readableBytes > 0 else { break }
            octets.append(contentsOf: chunk.readableBytesView)
        }
        return octets
    }

    /// Removes this host's files from `tmp/`: deliveries a crash interrupted before they were
    /// renamed (and so before their 250). Other programs' files there are left alone: a Maildir
    /// may have more than one writer.
    @discardableResult
    public func removeInterruptedDeliveries() throws -> Int {
        var removed = 0
        for name in try POSIXFile.list("\(root)/tmp")
        where name.hasSuffix(".\(hostname)") || name.contains(".\(hostname),S=") {
            POSIXFile.remove("\(root)/tmp/\(name)")
            removed += 1
        }
        return removed
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
