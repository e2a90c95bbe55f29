public import NIOCore
public import TernStore

/// A `MessageSource` over octets in memory: stored content as a database backend would hand it
/// out, for the store contracts.
public struct InMemoryMessageSource: MessageSource {
    private let octets: ByteBuffer

    public init(_ octets: [UInt8]) {
        self.octets = ByteBuffer(bytes: octets)
    }

    public var size: Int { octets.readableBytes }

    public func read(at offset: Int, count: Int, on eventLoop: any EventLoop) -> EventLoopFuture<ByteBuffer> {
        let start = min(max(0, offset), size)
        let length = min(max(0, count), size - start)
        return eventLoop.makeSucceededFuture(octets.getSlice(at: octets.readerIndex + start, length: length) ?? ByteBuffer())
    }
}
