import CompressNIO
public import NIOCore

/// IMAP's COMPRESS=DEFLATE (RFC 4978): once the tagged OK is out, each direction of the
/// connection is one raw DEFLATE stream (RFC 1951, no zlib or gzip wrapper). Sits in front of
/// the connection, behind TLS (§4: compression goes inside TLS).
///
/// Every write is compressed with a sync flush (§6), so a response reaches the client whole
/// rather than waiting in the compressor. Reads are inflated only as fast as the session asks
/// to read: a few compressed octets can stand for megabytes, so what arrives is kept
/// compressed and inflated `chunk` octets per read the connection lets through, and a flood of
/// pipelined commands waits in its compressed form while the session works.
public final class DeflateStream: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Inflated octets handed on per read.
    static let chunk = 64 * 1024

    private let inflater: ZlibDecompressor
    private let deflater: ZlibCompressor
    /// Received and not inflated yet. Never without capacity: zlib is always given a buffer.
    private var received: ByteBuffer
    /// The inflater filled its last output: it may hold more even with no input left.
    private var inflaterFull = false
    private var failed = false

    public init(allocator: ByteBufferAllocator) throws {
        // The client may compress with the largest window; the answer needs no more than 32 KB
        // of history, which keeps a compressed session's memory near 100 KB instead of 300.
        inflater = try ZlibDecompressor(algorithm: .deflate, windowSize: 15)
        deflater = try ZlibCompressor(
            algorithm: .deflate, configuration: ZlibConfiguration(windowSize: .window32k, memoryLevel: .memory32K))
        received = allocator.buffer(capacity: 4096)
    }

    private var hasPending: Bool { inflaterFull || received.readableBytes > 0 }

    // MARK: Reading

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        inflateChunk(context: context)
    }

    public func read(context: ChannelHandlerContext) {
        guard hasPending, !failed else { return context.read() }
        inflateChunk(context: context)
        context.fireChannelReadComplete()
    }

    /// Inflates at most `chunk` octets and hands them on; asks for the next read (through the
    /// connection, which holds it while the session is busy) when more is waiting.
    private func inflateChunk(context: ChannelHandlerContext) {
        guard hasPending, !failed else { return }
        var output = context.channel.allocator.buffer(capacity: Self.chunk)
        let before = received.readerIndex
        do {
            try inflater.inflate(from: &received, to: &output)
            inflaterFull = false
        } catch let error as CompressNIOError where error == .bufferOverflow {
            inflaterFull = true
        } catch let error as CompressNIOError where error == .inputBufferOverflow {
            inflaterFull = false
        } catch {
            return fail(context: context, error)
        }
        if received.readableBytes == 0 {
            received.clear()
        } else if received.readerIndex > 65_536 {
            received.discardReadBytes()
        }
        let progressed = output.readableBytes > 0 || received.readerIndex != before || received.readableBytes == 0
        guard progressed else {
            // Octets after the end of the client's stream (a final block): nothing will read them.
            return fail(context: context, CompressNIOError.corruptData)
        }
        if output.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(output)) }
        if hasPending {
            let channel = context.channel
            context.eventLoop.assumeIsolated().execute { channel.read() }
        }
    }

    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        failed = true
        received.clear()
        inflaterFull = false
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    // MARK: Writing

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var plain = unwrapOutboundIn(data)
        guard plain.readableBytes > 0 else { return context.write(data, promise: promise) }
        var compressed = context.channel.allocator.buffer(capacity: deflater.maxSize(from: plain))
        do {
            try deflater.deflate(from: &plain, to: &compressed, flush: .sync)
        } catch {
            promise?.fail(error)
            return fail(context: context, error)
        }
        context.write(wrapOutboundOut(compressed), promise: promise)
    }
}
