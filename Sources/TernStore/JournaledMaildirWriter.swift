import NIOCore
import NIOPosix

/// A message for a Maildir, made durable by a `MessageJournal` append instead of a synced file
/// of its own: the client's 250 waits for one overwrite and one `fdatasync` shared with every
/// message of the batch. The file is then written into `tmp/` and renamed into `new/` without
/// syncs; the journal's next checkpoint makes it durable, and until then a crash replays it
/// (`Maildir.replay`).
///
/// The message is gathered in memory. One that outgrows `inlineLimit` is handed to an ordinary
/// synced file writer (`Maildir.begin`), so memory per session stays bounded.
final class JournaledMaildirWriter: MessageWriter {
    /// Messages up to this size go through the journal.
    static let inlineLimit = MessageWriterLimits.flushThreshold

    private let maildir: Maildir
    private let message: IncomingMessage
    private let journal: MessageJournal
    private let eventLoop: any EventLoop
    private let stored: @Sendable (String) -> Void
    private let failed: @Sendable (any Error) -> Void
    private var content: ByteBuffer
    /// Where the fields of `commit(adding:)` go: after the prefix.
    private let prefixLength: Int
    private var spilled: (any MessageWriter)?
    private var finished = false

    init(
        maildir: Maildir, message: IncomingMessage, prefix: ByteBuffer, journal: MessageJournal, on eventLoop: any EventLoop,
        stored: @escaping @Sendable (String) -> Void, failed: @escaping @Sendable (any Error) -> Void
    ) {
        self.maildir = maildir
        self.message = message
        self.journal = journal
        self.eventLoop = eventLoop
        self.stored = stored
        self.failed = failed
        content = ByteBufferAllocator().buffer(capacity: 16 * 1024)
        content.writeImmutableBuffer(prefix)
        prefixLength = prefix.readableBytes
    }

    /// The gathered octets are bounded by `inlineLimit`, so they never hold the driver back.
    var bufferedBytes: Int { spilled?.bufferedBytes ?? 0 }

    func append(_ chunk: ByteBuffer) {
        guard !finished else { return }
        if let spilled {
            spilled.append(chunk)
            return
        }
        content.writeImmutableBuffer(chunk)
        if content.readableBytes > Self.inlineLimit {
            spilled = maildir.begin(message, prefix: content, fieldsOffset: prefixLength, on: eventLoop, stored: stored)
            content = ByteBuffer()
        }
    }

    func drained() -> EventLoopFuture<Void> {
        spilled?.drained() ?? eventLoop.makeSucceededVoidFuture()
    }

    /// The message goes into this writer's Maildir whatever `folder` says (it is one already).
    func commit(adding fields: ByteBuffer, folder: SpecialUse?) -> EventLoopFuture<Void> {
        guard !finished else { return eventLoop.makeFailedFuture(StoreError.closed) }
        finished = true
        if let spilled { return spilled.commit(adding: fields, folder: folder) }
        if fields.readableBytes > 0 {
            var whole = content.getSlice(at: content.readerIndex, length: prefixLength) ?? ByteBuffer()
            whole.writeImmutableBuffer(fields)
            whole.writeImmutableBuffer(content.getSlice(at: content.readerIndex + prefixLength, length: content.readableBytes - prefixLength) ?? ByteBuffer())
            content = whole
        }
        let name = "\(maildir.baseName(of: message)),S=\(content.readableBytes)"
        let entry = maildir.journalEntry(name: name, content: content)
        let (maildir, journal, stored, failed, content, eventLoop) = (
            self.maildir, self.journal, self.stored, self.failed, self.content, self.eventLoop
        )
        let appended = journal.append(entry, on: eventLoop)
        appended.whenSuccess { sequence in
            maildir.materialize(
                name: name, content: content, journal: journal, sequence: sequence, on: eventLoop, stored: stored,
                failed: failed)
        }
        return appended.map { _ in }
    }

    func abort() {
        guard !finished else { return }
        finished = true
        spilled?.abort()
        content.clear()
    }
}

/// A journaled message to be put into its Maildir, and what to do once it is (on the pool).
struct Placement: Sendable {
    var name: String
    var content: ByteBuffer
    var done: @Sendable (Result<Void, any Error>) -> Void
}

extension Maildir {
    /// How long a failed write of a journaled message waits before it is tried again.
    static let materializeRetryDelay = TimeAmount.seconds(5)

    /// The journal entry of a message for this Maildir:
    /// `1 | root length u16 | root | name length u16 | name | content`.
    func journalEntry(name: String, content: ByteBuffer) -> ByteBuffer {
        var entry = ByteBufferAllocator().buffer(capacity: 5 + root.utf8.count + name.utf8.count + content.readableBytes)
        entry.writeInteger(UInt8(1))
        entry.writeInteger(UInt16(root.utf8.count), endianness: .little)
        entry.writeString(root)
        entry.writeInteger(UInt16(name.utf8.count), endianness: .little)
        entry.writeString(name)
        entry.writeImmutableBuffer(content)
        return entry
    }

    /// What a journal entry holds: the Maildir, the file name in `new/`, the message.
    public static func parseJournalEntry(_ payload: [UInt8]) -> (root: String, name: String, content: ArraySlice<UInt8>)? {
        var buffer = ByteBuffer(bytes: payload)
        guard buffer.readInteger(as: UInt8.self) == 1,
            let rootLength = buffer.readInteger(endianness: .little, as: UInt16.self),
            let root = buffer.readString(length: Int(rootLength)),
            let nameLength = buffer.readInteger(endianness: .little, as: UInt16.self),
            let name = buffer.readString(length: Int(nameLength)),
            !name.isEmpty, !name.contains("/"), name != ".", name != ".."
        else { return nil }
        return (root, name, payload[buffer.readerIndex...])
    }

    /// Writes a journaled message into `tmp/` and renames it into `new/`, without syncs (the
    /// journal holds it until a checkpoint), then tells `stored` and the journal. A failure is
    /// reported and tried again later: the message is acknowledged and must land.
    func materialize(
        name: String, content: ByteBuffer, journal: MessageJournal, sequence: UInt64, on eventLoop: any EventLoop,
        stored: @escaping @Sendable (String) -> Void, failed: @escaping @Sendable (any Error) -> Void
    ) {
        let directory = newDirectory
        let placement = Placement(name: name, content: content) { result in
            switch result {
            case .success:
                stored(name)
                journal.applied(sequence, syncing: directory)
            case .failure(let error):
                failed(error)
                eventLoop.scheduleTask(in: Self.materializeRetryDelay) {
                    self.materialize(
                        name: name, content: content, journal: journal, sequence: sequence, on: eventLoop,
                        stored: stored, failed: failed)
                }
            }
        }
        _ = placements.submit(placement, on: eventLoop)
    }

    /// The work of `placements`: the messages of a batch written one after the other by one
    /// thread, instead of each on a thread of its own contending for the directories' locks.
    static func place(_ batch: [Placement], root: String) -> [Void] {
        for placement in batch {
            placement.done(
                Result {
                    try place(name: placement.name, root: root) { descriptor in
                        try placement.content.withUnsafeReadableBytes { try POSIXFile.writeAll(descriptor, $0) }
                    }
                })
        }
        return batch.map { _ in () }
    }

    /// Puts a journal entry's message in place after a crash, unless it already is (in `new/`,
    /// or moved to `cur/` by a reader). Blocking. `known` caches each Maildir's message keys
    /// across calls. Returns the Maildir's root.
    public static func replay(_ payload: [UInt8], known: inout [String: Set<String>]) throws -> String {
        guard let entry = parseJournalEntry(payload) else {
            throw StoreError(code: .io, errno: 0, operation: "journal entry is not a Maildir message")
        }
        if known[entry.root] == nil {
            for sub in ["tmp", "new", "cur"] { try POSIXFile.makeDirectories("\(entry.root)/\(sub)") }
            var keys = Set<String>()
            for sub in ["new", "cur"] {
                for name in try POSIXFile.list("\(entry.root)/\(sub)") { keys.insert(MaildirUIDList.key(ofFileName: name)) }
            }
            known[entry.root] = keys
        }
        let key = MaildirUIDList.key(ofFileName: entry.name)
        guard known[entry.root]?.contains(key) != true else { return entry.root }
        try place(name: entry.name, root: entry.root) { descriptor in
            try entry.content.withUnsafeBytes { try POSIXFile.writeAll(descriptor, $0) }
        }
        known[entry.root]?.insert(key)
        return entry.root
    }

    /// `tmp/<name>` written by `write`, then renamed to `new/<name>`.
    private static func place(name: String, root: String, write: (CInt) throws -> Void) throws {
        let temporary = "\(root)/tmp/\(name)"
        // A file of that name can only be one a failed try or a crash left: it is replaced.
        let descriptor = try POSIXFile.create(temporary, replacing: true)
        do {
            defer { POSIXFile.close(descriptor) }
            try write(descriptor)
            try POSIXFile.rename(temporary, "\(root)/new/\(name)")
        } catch {
            POSIXFile.remove(temporary)
            throw error
        }
    }
}
