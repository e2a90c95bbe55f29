#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
public import NIOCore
public import NIOPosix

/// A queued message opened for sending: the remote delivery agent streams it to the peer
/// chunk by chunk, so a 50 MB message never sits in memory whole.
///
/// Reads are positional (`pread`) and run on the thread pool, never on an event loop; the
/// reader keeps no cursor, so it is safe to share, and the caller says where to read.
public final class MessageFileReader: Sendable {
    /// The size of the file when it was opened, in octets.
    public let size: Int
    private let descriptor: CInt
    private let path: String
    private let pool: NIOThreadPool

    private init(descriptor: CInt, size: Int, path: String, pool: NIOThreadPool) {
        self.descriptor = descriptor
        self.size = size
        self.path = path
        self.pool = pool
    }

    /// Opens the message at `path` (on the pool).
    public static func open(path: String, pool: NIOThreadPool) async throws -> MessageFileReader {
        try await pool.runIfActive {
            let fd = systemOpen(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StoreError.posix("open \(path)", errno: errno) }
            var info = stat()
            guard fstat(fd, &info) == 0 else {
                let error = StoreError.posix("stat \(path)", errno: errno)
                _ = systemClose(fd)
                throw error
            }
            return MessageFileReader(descriptor: fd, size: Int(info.st_size), path: path, pool: pool)
        }
    }

    /// Up to `count` octets from `offset`; an empty buffer at the end of the file.
    public func read(at offset: Int, count: Int, on eventLoop: any EventLoop) -> EventLoopFuture<ByteBuffer> {
        let (descriptor, path) = (self.descriptor, self.path)
        let length = max(0, min(count, size - offset))
        return pool.runIfActive(eventLoop: eventLoop) {
            var buffer = ByteBufferAllocator().buffer(capacity: length)
            var filled = 0
            while filled < length {
                let read = buffer.withUnsafeMutableWritableBytes { bytes in
                    pread(descriptor, bytes.baseAddress! + filled, length - filled, off_t(offset + filled))
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
    }

    deinit {
        _ = systemClose(descriptor)
    }
}

private func systemOpen(_ path: String, _ flags: CInt) -> CInt { open(path, flags) }
private func systemClose(_ fd: CInt) -> CInt { close(fd) }
