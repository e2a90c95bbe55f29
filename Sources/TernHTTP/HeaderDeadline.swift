import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore

/// The catcher's HTTP/1 channel with the WebSocket upgrade, and a deadline on its first request
/// header.
///
/// Hummingbird's idle timeout guards a connection only once its first request head has been
/// read when the WebSocket upgrade is in the pipeline (the upgrader holds the head first), so a
/// client trickling its first header (slowloris) would hold a connection for ever. Until the
/// first header section ends (the empty line), `FirstHeaderDeadline` closes the connection when
/// `idleTimeout` passes; then it leaves, and Hummingbird's idle timeout takes over.
struct CatcherChildChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value

    let inner: HTTP1WebSocketUpgradeChannel
    let idleTimeout: TimeAmount

    static func builder(
        idleTimeout: TimeAmount,
        shouldUpgrade: @escaping @Sendable (HTTPRequest, any Channel, Logger) async throws -> CatcherWebSocket.Upgrade
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            CatcherChildChannel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: responder, configuration: .init(http1: .init(idleTimeout: idleTimeout)),
                    shouldUpgrade: shouldUpgrade),
                idleTimeout: idleTimeout)
        }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let added = channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(FirstHeaderDeadline(timeout: idleTimeout), position: .first)
        }
        return added.flatMap { inner.setup(channel: channel, logger: logger) }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// Closes the connection unless the first request's header section ends (CRLF CRLF) within
/// `timeout`; removes itself once it has.
final class FirstHeaderDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    /// The last octets seen, for an end split across reads.
    private var tail: [UInt8] = []

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) { loopBound.value.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if timer != nil {
            let octets = tail + buffer.readableBytesView.prefix(64 * 1024)
            if Self.containsHeaderEnd(octets) {
                timer?.cancel()
                timer = nil
                context.fireChannelRead(data)
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                return
            }
            tail = Array(octets.suffix(3))
        }
        context.fireChannelRead(data)
    }

    static func containsHeaderEnd(_ octets: [UInt8]) -> Bool {
        guard octets.count >= 4 else { return false }
        for index in 0...(octets.count - 4)
        where octets[index] == 13 && octets[index + 1] == 10 && octets[index + 2] == 13 && octets[index + 3] == 10 {
            return true
        }
        return false
    }
}
