import TernSystem
public import NIOCore
public import NIOPosix

/// A message file opened for reading: the spool's `MessageSource`. The remote delivery agent
/// streams it to the peer chunk by chunk; a Maildir copies it whole on a pool thread.
///
/// Reads are positional (`pread`) and run on the thread pool, never on an event loop; the
/// reader keeps no cursor, so it is safe to share, and the caller says where to read. The first
/// `prefetch` octets are read when the file is opened, in the same trip to the pool, so a
/// typical message is sent without another one.
public final class MessageFileReader: MessageSource {
    /// The size of the file when it was opened, in octets.
    public let size: Int
    private let descriptor: CInt
    private let path: String
    private let pool: NIOThreadPool
    /// The first octets of the file.
    private let head: ByteBuffer

    private init(descriptor: CInt, size: Int, path: String, pool: NIOThreadPool, head: ByteBuffer) {
        self.descriptor = descriptor
        self.size = size
        self.path = path
        self.pool = pool
        self.head = head
    }

    /// Opens the message at `path` and reads its first `prefetch` octets (on the pool).
    public static func open(path: String, pool: NIOThreadPool, prefetch: Int = 64 * 1024) async throws
        -> MessageFileReader
    {
        try await pool.runIfActive { try openBlocking(path: path, pool: pool, prefetch: prefetch) }
    }

    /// `open`, on the calling thread: for code already on a pool thread.
    static func openBlocking(path: String, pool: NIOThreadPool, prefetch: Int = 64 * 1024) throws
        -> MessageFileReader
    {
        let fd = systemOpen(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.posix("open \(path)", errno: errno) }
        do {
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw StoreError.posix("stat \(path)", errno: errno) }
            let size = Int(info.st_size)
            let head = try Self.pread(fd, path: path, offset: 0, length: min(prefetch, size))
            return MessageFileReader(descriptor: fd, size: size, path: path, pool: pool, head: head)
        } catch {
            _ = systemClose(fd)
            throw error
        }
    }

    /// The file, when the read at opening took all of it.
    public var wholeContent: ByteBuffer? { head.readableBytes == size ? head : nil }

    /// Up to `count` octets from `offset`; an empty buffer at the end of the file.
    public func read(at offset: Int, count: Int, on eventLoop: any EventLoop) -> EventLoopFuture<ByteBuffer> {
        let (descriptor, path) = (self.descriptor, self.path)
        let length = max(0, min(count, size - offset))
        if offset + length <= head.readableBytes, let slice = head.getSlice(at: head.readerIndex + offset, length: length) {
            return eventLoop.makeSucceededFuture(slice)
        }
        return pool.runIfActive(eventLoop: eventLoop) {
            try Self.pread(descriptor, path: path, offset: offset, length: length)
        }
    }

    /// Appends the whole file to `destination`, in 256 KiB reads. Blocks: call on the pool.
    func copyContents(to destination: CInt) throws(StoreError) -> Int {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        var total = 0
        while true {
            let count = systemPread(descriptor, buffer.baseAddress!, buffer.count, off_t(total))
            if count < 0 {
                if errno == EINTR { continue }
                throw .posix("read \(path)", errno: errno)
            }
            if count == 0 { return total }
            try POSIXFile.writeAll(destination, UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            total += count
        }
    }

    private static func pread(_ descriptor: CInt, path: String, offset: Int, length: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        var filled = 0
        while filled < length {
            let read = buffer.withUnsafeMutableWritableBytes { bytes in
                systemPread(descriptor, bytes.baseAddress! + filled, length - filled, off_t(offset + filled))
            }
            if read < 0 {
                if errno == EINTR { continue }
                throw StoreError.posix("read \(path)", errno: errno)
            }
            if read == 0 { break }
            filled += read
        }
        buffer.moveWriterIndex(forwardBy: filled)
        return buffer
    }

    deinit {
        _ = systemClose(descriptor)
    }
}

private func systemOpen(_ path: String, _ flags: CInt) -> CInt { open(path, flags) }
private func systemClose(_ fd: CInt) -> CInt { close(fd) }
private func systemPread(_ fd: CInt, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: off_t) -> Int {
    pread(fd, buffer, count, offset)
}
