import NIOCore
import NIOPosix

/// A message file written on the thread pool: gathered into large writes, then
/// `fdatasync`ed, published (renamed into place by the store) and made durable by the
/// directory's group commit.
final class FileMessageWriter: MessageWriter {
    /// Moves the synced temporary file into place; runs on the pool. Gets the final size and
    /// returns what the store wants to hand on (the spool's record).
    typealias Publish = @Sendable (_ size: Int) throws -> any Sendable

    private enum State {
        case open
        case committing
        case done
    }

    private let eventLoop: any EventLoop
    private let pool: NIOThreadPool
    private let temporaryPath: String
    private let publish: Publish
    private let directory: DirectorySync
    private let file = FileDescriptorBox()
    private var pending: ByteBuffer
    private var inFlight = 0
    private var size = 0
    private var chain: EventLoopFuture<Void>
    private var state = State.open

    init(
        prefix: ByteBuffer, temporaryPath: String, directory: DirectorySync, pool: NIOThreadPool,
        eventLoop: any EventLoop, publish: @escaping Publish
    ) {
        self.eventLoop = eventLoop
        self.pool = pool
        self.temporaryPath = temporaryPath
        self.directory = directory
        self.publish = publish
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
        if pending.readableBytes >= MessageWriterLimits.flushThreshold { writePending(sync: false) }
    }

    func drained() -> EventLoopFuture<Void> {
        if pending.readableBytes >= MessageWriterLimits.flushThreshold / 2 { writePending(sync: false) }
        let promise = eventLoop.makePromise(of: Void.self)
        chain.whenComplete { _ in promise.succeed() }
        return promise.futureResult
    }

    func commit() -> EventLoopFuture<Void> {
        commitPublishing().map { _ in }
    }

    /// Commits and yields what `publish` returned.
    func commitPublishing() -> EventLoopFuture<any Sendable> {
        guard case .open = state else { return eventLoop.makeFailedFuture(StoreError.closed) }
        state = .committing
        let finalSize = size
        let publish = self.publish
        writePending(sync: true)
        let result = chain.flatMap { [pool, file, eventLoop] in
            pool.runIfActive(eventLoop: eventLoop) { () throws -> any Sendable in
                try file.close()
                return try publish(finalSize)
            }
        }.flatMap { [directory, eventLoop] (published: any Sendable) in
            directory.sync(on: eventLoop).map { published }
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

    /// Hands the gathered octets to the pool; with `sync`, the file is also fdatasync'ed.
    private func writePending(sync: Bool) {
        let data = pending
        let count = data.readableBytes
        pending = ByteBufferAllocator().buffer(capacity: sync ? 0 : MessageWriterLimits.flushThreshold)
        inFlight += count
        let path = temporaryPath
        chain = chain.flatMap { [pool, file, eventLoop] in
            pool.runIfActive(eventLoop: eventLoop) {
                let descriptor = try file.openIfNeeded(path)
                try data.withUnsafeReadableBytes { try POSIXFile.writeAll(descriptor, $0) }
                if sync { try POSIXFile.dataSync(descriptor) }
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
