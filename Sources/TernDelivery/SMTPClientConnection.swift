public import Logging
public import NIOCore
import NIOConcurrencyHelpers
import NIOPosix
public import NIOSSL
import NIOTLS
public import TernMail
public import TernSMTPCore
public import TernStore

/// What became of one message sent on a connection.
public struct ClientTransferResult: Sendable {
    /// One result per recipient of the message, in order.
    public var report: ClientSessionStateMachine.DeliveryReport
    /// Why the session ended, when it ended with this message.
    public var sessionFailure: ClientSessionStateMachine.SessionFailure?
    /// A local failure (the queued message could not be read, the TLS handshake failed and
    /// why), which overrides the report's connection-level replies.
    public var localError: SMTPReply?
    /// The session is set up, idle and open: it can take another message.
    public var reusable: Bool = false
}

/// One outbound SMTP connection (RFC 5321 client side), for the remote delivery agent: it
/// connects, runs `ClientSessionStateMachine` on the channel's event loop, and carries any
/// number of messages one after another until it is finished or breaks.
///
/// The machine decides everything; this driver only moves octets, runs the timer the machine
/// names, adds the TLS handler on `startTLS`, and streams the body from its `MessageSource` in
/// `chunkSize` reads as the machine asks for it (so memory per connection stays bounded).
///
/// The TLS context decides what a server's certificate must be (`ServerCertificateCheck`);
/// the name checked, and sent as SNI, is `hostName` (an IP address is matched against the
/// certificate's IP addresses instead). A failed handshake, after STARTTLS or at once with
/// implicit TLS, ends the session before anything else is written, and its reason becomes
/// the deferral's text (`ClientTransferResult.localError`).
public final class SMTPClientConnection: Sendable {
    /// `mx.example.org[192.0.2.1]:25`, for logs, the queue's history and DSNs.
    public let relay: String
    let channel: any Channel
    private let handler: NIOLoopBound<SMTPClientHandler>

    private init(relay: String, channel: any Channel, handler: NIOLoopBound<SMTPClientHandler>) {
        self.relay = relay
        self.channel = channel
        self.handler = handler
    }

    /// Opens a TCP connection to `address` (`hostName` is the name it was found under: the
    /// TLS server name and the first part of `relay`).
    public static func connect(
        to address: SocketAddress, hostName: String, configuration: ClientSessionStateMachine.Configuration,
        tls: NIOSSLContext?, group: any EventLoopGroup, connectTimeout: TimeAmount, logger: Logger
    ) async throws -> SMTPClientConnection {
        // Implicit TLS without a context would be a cleartext session that believes it is
        // encrypted (and would log in over it).
        guard !configuration.implicitTLS || tls != nil else { throw ChannelError.inappropriateOperationForState }
        let serverName = Self.isIPLiteral(hostName) ? nil : hostName
        let relay = "\(hostName)[\(address.ipAddress ?? "?")]:\(address.port ?? 0)"
        var logger = logger
        logger[metadataKey: "relay"] = "\(relay)"
        let connectionLogger = logger
        // The handler is kept as it is made: a session that ends before `connect` returns (an
        // implicit-TLS handshake that fails at once) leaves no pipeline to look it up in, and
        // its machine still has to report the message and why.
        let created = NIOLockedValueBox<NIOLoopBound<SMTPClientHandler>?>(nil)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if configuration.implicitTLS, let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    let handler = SMTPClientHandler(
                        configuration: configuration, tls: tls, serverName: serverName, displayName: hostName,
                        logger: connectionLogger)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    created.withLockedValue { $0 = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
                }
            }
        let channel = try await bootstrap.connect(to: address).get()
        guard let handler = created.withLockedValue({ $0 }) else {
            channel.close(promise: nil)
            throw ChannelPipelineError.notFound
        }
        return SMTPClientConnection(relay: relay, channel: channel, handler: handler)
    }

    /// Sends one message, its body read from `body`; returns when the server has answered for
    /// every recipient (or the session broke, which defers those not yet decided).
    public func send(_ message: OutboundMessage, body: any MessageSource) async -> ClientTransferResult {
        let promise = channel.eventLoop.makePromise(of: ClientTransferResult.self)
        channel.eventLoop.execute { [handler] in
            handler.value.send(message, body: body, promise: promise)
        }
        do {
            return try await promise.futureResult.get()
        } catch {
            // Only a torn-down pipeline gets here; the machine itself always reports.
            let recipients = message.envelope.recipients.map {
                ClientSessionStateMachine.RecipientResult(
                    recipient: $0, outcome: .deferred(SMTPReply(451, EnhancedStatusCode(4, 4, 2), "Lost connection")),
                    stage: .connection, isLocal: true)
            }
            return ClientTransferResult(report: .init(recipients: recipients), sessionFailure: nil, localError: nil)
        }
    }

    /// Ends the session politely (QUIT) and closes the connection.
    public func finish() {
        channel.eventLoop.execute { [handler] in handler.value.finish() }
    }

    /// Closes the connection at once.
    public func close() {
        channel.close(promise: nil)
    }

    static func isIPLiteral(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

/// Executes a `ClientSessionStateMachine`'s actions on one channel. Confined to the channel's
/// event loop.
final class SMTPClientHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Octets read from the spool file per body chunk.
    static let chunkSize = 64 * 1024

    private var machine: ClientSessionStateMachine
    private let tls: NIOSSLContext?
    private let serverName: String?
    /// The server's name or address, for the text of a failed handshake.
    private let displayName: String
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var timer: Scheduled<Void>?
    private var armed: ClientSessionStateMachine.Timeout?
    /// A TLS handshake is under way: after STARTTLS (`startTLS`), or from the first octet.
    private var handshakePending: Handshake?
    /// Why the handshake failed, as the deferral's text; kept for the session's every message.
    private var handshakeFailure: SMTPReply?
    private var needsFlush = false
    private var running = false
    private var queued: [ClientSessionStateMachine.Action] = []

    private var body: (any MessageSource)?
    private var bodyOffset = 0
    private var promise: EventLoopPromise<ClientTransferResult>?
    private var report: ClientSessionStateMachine.DeliveryReport?
    private var sessionFailure: ClientSessionStateMachine.SessionFailure?
    private var localError: SMTPReply?

    enum Handshake {
        case startTLS
        case implicitTLS
    }

    init(
        configuration: ClientSessionStateMachine.Configuration, tls: NIOSSLContext?, serverName: String?,
        displayName: String, logger: Logger
    ) {
        self.machine = ClientSessionStateMachine(configuration: configuration)
        self.tls = tls
        self.serverName = serverName
        self.displayName = displayName
        self.logger = logger
        self.handshakePending = configuration.implicitTLS && tls != nil ? .implicitTLS : nil
    }

    var isReusable: Bool {
        machine.isIdle && sessionFailure == nil && context?.channel.isActive == true
    }

    func send(_ message: OutboundMessage, body: any MessageSource, promise: EventLoopPromise<ClientTransferResult>) {
        guard self.promise == nil else {
            promise.fail(ChannelError.inappropriateOperationForState)
            return
        }
        self.promise = promise
        self.body = body
        self.bodyOffset = 0
        self.report = nil
        self.localError = nil
        run(machine.send(message: message))
    }

    func finish() {
        run(machine.finish())
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { run(machine.connected()) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        self.context = nil
        // The machine reports every message; this only guards against a leaked promise.
        promise?.fail(ChannelError.ioOnClosedChannel)
        promise = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        run(machine.connected())
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        run(machine.bytesReceived(unwrapInboundIn(data)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        run(machine.connectionClosed())
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent,
            let handshake = handshakePending
        {
            handshakePending = nil
            // With implicit TLS the machine began in TLS; only STARTTLS has a step to finish.
            if handshake == .startTLS { run(machine.tlsEstablished()) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let handshake = handshakePending {
            handshakePending = nil
            // A handshake cut short by the session's own end (a timeout) failed for that reason.
            guard !machine.isClosed else {
                context.close(promise: nil)
                return
            }
            let reason = ServerCertificateCheck.describe(handshakeError: error, serverName: displayName)
            handshakeFailure = .tlsHandshakeFailed(with: displayName, reason: reason)
            logger.debug("TLS handshake failed", metadata: ["error": "\(error)"])
            if handshake == .startTLS { run(machine.tlsFailed()) }
        } else {
            logger.debug("connection error", metadata: ["error": "\(error)"])
        }
        context.close(promise: nil)
    }

    // MARK: Actions

    /// Executes actions in order. An event raised while actions run (a body chunk read
    /// synchronously, a close) is queued behind them, so the order the machine gave holds.
    private func run(_ actions: [ClientSessionStateMachine.Action]) {
        queued.append(contentsOf: actions)
        guard !running else { return }
        running = true
        while !queued.isEmpty {
            let action = queued.removeFirst()
            execute(action)
        }
        running = false
        flush()
        rearmTimer()
        completeIfReported()
    }

    private func execute(_ action: ClientSessionStateMachine.Action) {
        switch action {
        case .write(let bytes):
            guard let context else { return }
            context.write(wrapOutboundOut(bytes), promise: nil)
            needsFlush = true

        case .startTLS:
            flush()
            guard let context, let tls else {
                queued.append(contentsOf: machine.tlsFailed())
                return
            }
            handshakePending = .startTLS
            do {
                try context.pipeline.syncOperations.addHandler(
                    NIOSSLClientHandler(context: tls, serverHostname: serverName), position: .first)
            } catch {
                handshakePending = nil
                logger.debug("cannot start TLS", metadata: ["error": "\(error)"])
                queued.append(contentsOf: machine.tlsFailed())
            }

        case .requestBodyChunk:
            readBodyChunk()

        case .reportDelivery(let report):
            self.report = report

        case .reportSessionFailure(let failure):
            sessionFailure = failure
            logger.debug("session failed", metadata: ["reason": "\(failure.reason)", "reply": "\(failure.reply)"])

        case .close:
            flush()
            context?.close(promise: nil)
        }
    }

    private func readBodyChunk() {
        guard let context, let body else {
            queued.append(contentsOf: machine.bodyEnd())
            return
        }
        body.read(at: bodyOffset, count: Self.chunkSize, on: context.eventLoop).assumeIsolated().whenComplete {
            [self] result in
            switch result {
            case .success(let chunk) where chunk.readableBytes == 0:
                run(machine.bodyEnd())
            case .success(let chunk):
                bodyOffset += chunk.readableBytes
                run(machine.bodyChunk(chunk))
            case .failure(let error):
                // The spool file went bad under us: end the session so the machine reports the
                // message (deferred), and say why.
                localError = .cannotReadQueuedMessage(error)
                self.context?.close(promise: nil)
            }
        }
    }

    private func flush() {
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }

    private func rearmTimer() {
        let timeout = machine.timeout
        guard timeout != armed else { return }
        armed = timeout
        timer?.cancel()
        timer = nil
        guard let timeout, let context else { return }
        let nanoseconds = timeout.duration.components.seconds * 1_000_000_000
            + timeout.duration.components.attoseconds / 1_000_000_000
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(nanoseconds)) { [self] in
            guard armed == timeout else { return }
            run(machine.timedOut())
        }
    }

    private func completeIfReported() {
        guard var report, let promise else { return }
        // With implicit TLS the machine counts the session as encrypted from the start; a
        // handshake that failed encrypted nothing.
        if handshakeFailure != nil { report.tls = false }
        self.report = nil
        self.promise = nil
        self.body = nil
        promise.succeed(
            ClientTransferResult(
                report: report, sessionFailure: sessionFailure, localError: localError ?? handshakeFailure,
                reusable: isReusable))
    }
}
