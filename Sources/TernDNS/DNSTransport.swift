import NIOCore
import NIOPosix
import TernDNSCore

/// One query, one server, one try: over UDP (RFC 1035 §4.2.1) or TCP (§4.2.2). Each try has
/// its own socket and a deadline; the result is the matching response or a `DNSError`
/// (`.timeout`, `.network`, `.malformedResponse`). Retries and server rotation are the
/// resolver's.
enum DNSTransport {
    /// Sends `query` from a fresh connected UDP socket (so the kernel picks a random source port
    /// and drops datagrams from any other peer) and waits until `timeout` for a datagram that
    /// decodes and answers `query` (ID and question). Anything else is ignored: a spoofed or
    /// stale datagram must not end the wait.
    static func udp(
        _ query: DNSMessage,
        to server: SocketAddress,
        timeout: TimeAmount,
        group: any EventLoopGroup
    ) async throws -> DNSMessage {
        let payload = try encode(query)
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: DNSMessage.self)
        let channel: any Channel
        do {
            channel = try await DatagramBootstrap(group: eventLoop)
                // Without EDNS answers are at most 512 octets, but a server may send more; a
                // datagram cut by a small buffer would fail to decode and be ignored.
                .channelOption(ChannelOptions.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_536))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            UDPResponseHandler(query: query, server: server, promise: promise)
                        )
                    }
                }
                .connect(to: server)
                .get()
        } catch {
            let failure = DNSError(.network, "UDP socket to \(server)", underlying: error)
            promise.fail(failure)
            throw failure
        }
        return try await exchange(
            on: channel,
            payload: payload,
            deadline: .now() + timeout,
            promise: promise,
            timeoutError: DNSError(.timeout, "no UDP response from \(server) in \(timeout)")
        )
    }

    /// Sends `query` over a new TCP connection with the two-octet length prefix and reads one
    /// framed response, all within `timeout`. On TCP the connection is ours alone, so a response
    /// that does not match is an error, not something to wait past.
    static func tcp(
        _ query: DNSMessage,
        to server: SocketAddress,
        timeout: TimeAmount,
        group: any EventLoopGroup
    ) async throws -> DNSMessage {
        let encoded = try encode(query)
        var payload = ByteBuffer()
        payload.writeInteger(UInt16(encoded.readableBytes), endianness: .big)
        payload.writeImmutableBuffer(encoded)
        let deadline = NIODeadline.now() + timeout
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: DNSMessage.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            TCPResponseHandler(query: query, server: server, promise: promise)
                        )
                    }
                }
                .connect(to: server)
                .get()
        } catch {
            let failure: DNSError
            if let error = error as? ChannelError, case .connectTimeout = error {
                failure = DNSError(.timeout, "TCP connection to \(server) timed out", underlying: error)
            } else {
                failure = DNSError(.network, "TCP connection to \(server)", underlying: error)
            }
            promise.fail(failure)
            throw failure
        }
        return try await exchange(
            on: channel,
            payload: payload,
            deadline: deadline,
            promise: promise,
            timeoutError: DNSError(.timeout, "no TCP response from \(server) in \(timeout)")
        )
    }

    private static func encode(_ query: DNSMessage) throws -> ByteBuffer {
        switch query.encode() {
        case .success(let buffer): return buffer
        case .failure(let error): throw DNSError(.invalidName, "cannot encode \(query.questions)", underlying: error)
        }
    }

    /// Writes the payload and waits for the promise, which the handler, the deadline, a write
    /// error or the task's cancellation completes, whichever comes first (later completions
    /// are ignored by the promise). The channel is closed in every case.
    private static func exchange(
        on channel: any Channel,
        payload: ByteBuffer,
        deadline: NIODeadline,
        promise: EventLoopPromise<DNSMessage>,
        timeoutError: DNSError
    ) async throws -> DNSMessage {
        let timer = channel.eventLoop.scheduleTask(deadline: deadline) { promise.fail(timeoutError) }
        promise.futureResult.whenComplete { _ in
            timer.cancel()
            channel.close(promise: nil)
        }
        channel.writeAndFlush(payload).whenFailure { error in
            promise.fail(DNSError(.network, "sending the query", underlying: error))
        }
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            promise.fail(CancellationError())
        }
    }
}

/// Completes the promise with the first datagram that is the response to `query`.
final class UDPResponseHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let query: DNSMessage
    private let server: SocketAddress
    private let promise: EventLoopPromise<DNSMessage>

    init(query: DNSMessage, server: SocketAddress, promise: EventLoopPromise<DNSMessage>) {
        self.query = query
        self.server = server
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let datagram = unwrapInboundIn(data).data
        switch DNSMessage.decode(datagram) {
        case .success(let message) where message.isResponse(to: query):
            promise.succeed(message)
        case .failure:
            // A server that truncates (TC) may cut the message anywhere, leaving sections that
            // do not decode; the header and question still tell it is our answer, and TC sends
            // the resolver to TCP.
            if case .success(let partial) = DNSMessage.decodeHeaderAndQuestions(datagram),
                partial.header.isTruncated, partial.isResponse(to: query)
            {
                promise.succeed(partial)
            }
        default:
            break  // not ours: keep waiting (RFC 5452 §9.1)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // On a connected UDP socket an ICMP port unreachable arrives as ECONNREFUSED.
        promise.fail(DNSError(.network, "UDP from \(server)", underlying: error))
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(DNSError(.network, "UDP socket to \(server) closed"))
        context.fireChannelInactive()
    }
}

/// Reassembles one length-prefixed response (RFC 1035 §4.2.2) and completes the promise.
final class TCPResponseHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let query: DNSMessage
    private let server: SocketAddress
    private let promise: EventLoopPromise<DNSMessage>
    private var received = ByteBuffer()

    init(query: DNSMessage, server: SocketAddress, promise: EventLoopPromise<DNSMessage>) {
        self.query = query
        self.server = server
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        received.writeBuffer(&chunk)
        // The prefix caps a message at 65,535 octets, so `received` never grows past that
        // plus one read.
        guard let length = received.getInteger(at: received.readerIndex, endianness: .big, as: UInt16.self),
            received.readableBytes >= 2 + Int(length),
            let message = received.getSlice(at: received.readerIndex + 2, length: Int(length))
        else { return }
        switch DNSMessage.decode(message) {
        case .success(let response) where response.isResponse(to: query):
            promise.succeed(response)
        case .success:
            promise.fail(DNSError(.malformedResponse, "TCP response from \(server) does not match the query"))
        case .failure(let error):
            promise.fail(DNSError(.malformedResponse, "TCP response from \(server)", underlying: error))
        }
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(DNSError(.network, "TCP to \(server)", underlying: error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(DNSError(.network, "TCP connection to \(server) closed before a complete response"))
        context.fireChannelInactive()
    }
}
