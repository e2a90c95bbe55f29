public import Logging
public import NIOCore
import NIOExtras
import NIOConcurrencyHelpers
import NIOPosix
public import ServiceLifecycle

/// One listening socket as a Service: bound before the service group starts (so a port in
/// use is reported at once and the real port of `port = 0` is known), serving until graceful
/// shutdown, then quiescing: the socket closes, every connection receives
/// `ChannelShouldQuiesceEvent` and may finish its work for up to `shutdownGrace`.
public final class Listener: Service, Sendable {
    public struct BindError: Error, CustomStringConvertible {
        public let address: String
        public let underlying: any Error
        public var description: String {
            let text = "\(underlying)"
            if text.contains("Address already in use") || text.contains("EADDRINUSE") {
                return "cannot listen on \(address): address already in use"
            }
            return "cannot listen on \(address): \(text)"
        }
    }

    public let name: String
    public let localAddress: SocketAddress
    private let serverChannel: any Channel
    private let quiescing: ServerQuiescingHelper
    private let shutdownGrace: TimeAmount
    private let logger: Logger

    private init(
        name: String, localAddress: SocketAddress, serverChannel: any Channel, quiescing: ServerQuiescingHelper,
        shutdownGrace: TimeAmount, logger: Logger
    ) {
        self.name = name
        self.localAddress = localAddress
        self.serverChannel = serverChannel
        self.quiescing = quiescing
        self.shutdownGrace = shutdownGrace
        self.logger = logger
    }

    /// Binds `host:port` and starts accepting; `childInitializer` sets up each connection.
    public static func bind(
        name: String,
        host: String,
        port: Int,
        group: any EventLoopGroup,
        shutdownGrace: TimeAmount,
        logger: Logger,
        childInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> Listener {
        let quiescing = ServerQuiescingHelper(group: group)
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            quiescing.makeServerChannelHandler(channel: channel))
                    }
                }
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 4)
                .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 64 * 1024))
                .childChannelOption(.allowRemoteHalfClosure, value: false)
                .childChannelInitializer(childInitializer)
                .bind(host: host, port: port)
                .get()
        } catch {
            throw BindError(address: "\(host):\(port)", underlying: error)
        }
        guard let localAddress = channel.localAddress else {
            throw BindError(address: "\(host):\(port)", underlying: ChannelError.inappropriateOperationForState)
        }
        return Listener(
            name: name, localAddress: localAddress, serverChannel: channel, quiescing: quiescing,
            shutdownGrace: shutdownGrace, logger: logger)
    }

    public func run() async throws {
        // Serve until the group asks us to stop (SIGTERM, SIGINT, or another service ending).
        try? await gracefulShutdown()
        logger.info("listener quiescing", metadata: ["tern_listener": "\(name)"])
        let done = serverChannel.eventLoop.makePromise(of: Void.self)
        quiescing.initiateShutdown(promise: done)
        let eventLoop = serverChannel.eventLoop
        let grace = shutdownGrace
        let finished = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let resumed = NIOLockedValueBox(false)
            let resume: @Sendable (Bool) -> Void = { value in
                let first = resumed.withLockedValue { alreadyResumed in
                    defer { alreadyResumed = true }
                    return !alreadyResumed
                }
                if first { continuation.resume(returning: value) }
            }
            done.futureResult.whenComplete { _ in resume(true) }
            eventLoop.scheduleTask(in: grace) { resume(false) }
        }
        if !finished {
            logger.warning(
                "shutdown grace expired; closing the remaining connections", metadata: ["tern_listener": "\(name)"])
        }
    }
}
