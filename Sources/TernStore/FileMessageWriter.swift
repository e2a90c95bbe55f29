import NIOCore
import NIOPosix

/// A message file written on the thread pool: gathered into large writes, ended by the
/// store's `StoreSync` (synced now, or by the batch that publishes it), then published:
/// renamed into place and made durable.
final class FileMessageWriter: MessageWriter {
    /// Runs on the pool once the last octet is written and the file closed: writes whatever
    /// goes beside the message (the spool's envelope), and says how to name it all and what to
    /// hand on (the spool's record). Gets the final size and the folder `commit` was given (a
    /// Maildir's file is in its folder already; the spool records it).
    typealias Finish = @Sendable (_ size: Int, _ folder: SpecialUse?) throws -> (StoreSync.Publication, any Sendable)

    private enum State {
        case open
        case committing
        case done
    }

    private let eventLoop: any EventLoop
    private let pool: NIOThreadPool
    private let temporaryPath: String
    private let finish: Finish
    private let sync: StoreSync
    private let file = FileDescriptorBox()
    private var pending: ByteBuffer
    private var inFlight = 0
    private var size = 0
    private var chain: EventLoopFuture<Void>
    private var state = State.open
    /// Where the fields of `commit(adding:)` go: after the trace fields of the prefix.
    private let fieldsOffset: Int
    /// Some octets were handed to the file: fields to prepend can no longer join `pending`.
    private var startedWriting = false

    init(
        prefix: ByteBuffer, fieldsOffset: Int? = nil, temporaryPath: String, sync: StoreSync, eventLoop: any EventLoop,
        finish: @escaping Finish
    ) {
        self.fieldsOffset = min(max(0, fieldsOffset ?? prefix.readableBytes), prefix.readableBytes)
        self.eventLoop = eventLoop
        self.pool = sync.pool
        self.temporaryPath = temporaryPath
        self.sync = sync
        self.finish = finish
        self.chain = eventLoop.makeSucceededVoidFuture()
        self.pending = ByteBufferAllocator().buffer(capacity: 16 * 1024)
        var prefix = prefix
        self.size = prefix.readableBytes
        self.pending.writeBuffer(&prefix)
    }

    var bufferedBytes: Int { pending.readableBytes + inFlight }

    func append(_ chunk: ByteBuffer) {
        guard case .open = state else { return }
        var chunk = chunk
        size += chunk.readableBytes
        pending.writeBuffer(&chunk)
        if pending.readableBytes >= MessageWriterLimits.flushThreshold { writePending(last: false) }
    }

    func drained() -> EventLoopFuture<Void> {
        if pending.readableBytes >= MessageWriterLimits.flushThreshold / 2 { writePending(last: false) }
        let promise = eventLoop.makePromise(of: Void.self)
        chain.whenComplete { _ in promise.succeed() }
        return promise.futureResult
    }

    func commit(adding fields: ByteBuffer, folder: SpecialUse?) -> EventLoopFuture<Void> {
        commitPublishing(adding: fields, folder: folder).map { _ in }
    }

    /// Commits and yields what `finish` returned.
    ///
    /// `fields` join what is still in memory when nothing has been written yet (a message under
    /// `MessageWriterLimits.flushThreshold`, the common case); otherwise the file is copied once
    /// around them into a new file that takes its place.
    func commitPublishing(adding fields: ByteBuffer, folder: SpecialUse?) -> EventLoopFuture<any Sendable> {
        guard case .open = state else { return eventLoop.makeFailedFuture(StoreError.closed) }
        state = .committing
        let finalSize = size + fields.readableBytes
        let finish = self.finish
        var rewrite: ByteBuffer?
        if fields.readableBytes > 0 {
            if startedWriting {
                rewrite = fields
            } else {
                var whole = pending.readSlice(length: fieldsOffset) ?? ByteBuffer()
                whole.writeImmutableBuffer(fields)
                whole.writeBuffer(&pending)
                pending = whole
            }
        }
        writePending(last: true)
        let result = chain.flatMap { [pool, file, sync, temporaryPath, eventLoop, rewrite, fieldsOffset] in
            pool.runIfActive(eventLoop: eventLoop) { () throws -> (StoreSync.Publication, any Sendable) in
                try file.close()
                if let rewrite { try Self.insert(rewrite, at: fieldsOffset, into: temporaryPath, sync: sync) }
                return try finish(finalSize, folder)
            }
        }.flatMap { [sync, pool, eventLoop] (publication, value) in
            sync.publish(publication, on: eventLoop).map { value }.flatMapError { error in
                // Whatever is still in tmp/ (a failed data sync leaves it all there).
                pool.runIfActive(eventLoop: eventLoop) { for file in publication.files { POSIXFile.remove(file) } }
                    .flatMapThrowing { throw error }
            }
        }
        result.assumeIsolated().whenComplete { result in
            self.state = .done
            if case .failure = result { self.removeTemporaryFile() }
        }
        return result
    }

    func abort() {
        guard case .open = state else { return }
        state = .done
        pending.clear()
        removeTemporaryFile()
    }

    /// Replaces the file at `path` with its first `offset` octets, `fields`, and the rest (on
    /// the pool).
    private static func insert(_ fields: ByteBuffer, at offset: Int, into path: String, sync: StoreSync) throws {
        let joined = "\(path).joined"
        let target = try POSIXFile.create(joined, replacing: true)
        defer { POSIXFile.close(target) }
        do {
            try POSIXFile.copyContent(of: path, splitAt: offset, to: target) { () throws(StoreError) in
                try POSIXFile.writeAll(target, octets: Array(fields.readableBytesView))
            }
            try sync.finishWriting(target)
            try POSIXFile.rename(joined, path)
        } catch {
            POSIXFile.remove(joined)
            throw error
        }
    }

    /// Hands the gathered octets to the pool; the `last` write also ends the file
    /// (`StoreSync.finishWriting`).
    private func writePending(last: Bool) {
        startedWriting = true
        let data = pending
        let count = data.readableBytes
        pending = ByteBufferAllocator().buffer(capacity: last ? 0 : MessageWriterLimits.flushThreshold)
        inFlight += count
        let path = temporaryPath
        chain = chain.flatMap { [pool, file, sync, eventLoop] in
            pool.runIfActive(eventLoop: eventLoop) {
                let descriptor = try file.openIfNeeded(path)
                try data.withUnsafeReadableBytes { try POSIXFile.writeAll(descriptor, $0) }
                if last { try sync.finishWriting(descriptor) }
            }
        }
        chain.assumeIsolated().whenComplete { _ in self.inFlight -= count }
    }

    private func removeTemporaryFile() {
        let path = temporaryPath
        chain.whenComplete { [pool, file] _ in
            pool.submit { _ in
                file.closeQuietly()
                POSIXFile.remove(path)
            }
        }
    }
}

/// The file descriptor of one writer. Only the writer's pool tasks touch it, and they run one
/// after another (each is chained on the previous one's future), so it needs no lock.
final class FileDescriptorBox: @unchecked Sendable {
    private var descriptor: CInt = -1

    func openIfNeeded(_ path: String) throws -> CInt {
        if descriptor < 0 { descriptor = try POSIXFile.create(path) }
        return descriptor
    }

    func close() throws {
        if descriptor >= 0 {
            POSIXFile.close(descriptor)
            descriptor = -1
        }
    }

    func closeQuietly() {
        try? close()
    }
}
