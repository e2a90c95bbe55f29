public import Logging
public import NIOCore
public import NIOSSL
import NIOTLS
import CoreMetrics

/// The protocol half of a server connection: a sans-IO session (SMTP's, IMAP's, POP3's state
/// machine) and the code that carries out what it asks for. `ServerConnection` feeds it the
/// connection's events and executes its actions through `execute`.
///
/// The session is a struct owned by the driver (a final class), so the events below mutate it
/// in place; each returns the actions the session wants, in order.
public protocol ConnectionDriver: AnyObject {
    associatedtype Action

    /// The greeting, once the connection is admitted (and the greeting delay has passed).
    func greet() -> [Action]
    /// Octets the client sent.
    func bytesReceived(_ bytes: ByteBuffer) -> [Action]
    /// Goes on with input the session kept back (`hasMoreInput`): pipelined commands it
    /// stopped at to let the replies so far go out.
    func resumeProcessing() -> [Action]
    /// The TLS handshake (implicit, or after STARTTLS) completed.
    func tlsEstablished() -> [Action]
    /// No progress within `idleTimeout`.
    func timedOut() -> [Action]
    /// The server is shutting down gracefully.
    func shutdownRequested() -> [Action]
    /// The client went away (or the connection was closed).
    func connectionClosed() -> [Action]

    /// The session holds input it has not processed yet.
    var hasMoreInput: Bool { get }
    var isClosed: Bool { get }
    /// While true, every read counts as progress for the idle timeout (a message streaming in:
    /// RFC 5321 §4.5.3.2.5 times each data block). Otherwise only a reply does, so a client
    /// trickling one octet at a time must still finish its command in time (slowloris).
    var readsAreProgress: Bool { get }
    /// The timeout in force now; it may depend on the session's state.
    var idleTimeout: TimeAmount { get }

    /// Carries out one action, using `connection` for I/O.
    func execute(_ action: Action, on connection: ServerConnection<Self>)

    /// The connection was admitted (`admitted`) or refused for want of a slot; a refused one is
    /// sent `refusal` and closed.
    func connectionOpened(admitted: Bool, connection: ServerConnection<Self>)
    /// What the refused connection is told before it is closed (SMTP's 421, IMAP's BYE).
    func refusal(into buffer: inout ByteBuffer)
    /// Metadata for the "session ended" log line, besides duration and TLS.
    func sessionSummary() -> Logger.Metadata
}

/// One server connection of any line protocol: everything that is not the protocol itself.
///
/// - **Admission**: a slot from the `ConnectionLimiter` (per client address and in total), or
///   the driver's refusal and a close.
/// - **Actions in order**: actions are queued, so an action that completes at once (a policy
///   decided without I/O) never re-enters the loop that is executing the previous ones.
/// - **Batched replies**: replies to a batch of pipelined commands go out together at the end
///   of the read batch (RFC 2920 §3.1); replies caused by anything else are flushed at once.
/// - **Backpressure**: nothing more is read while a decision, a store write or the tarpit is
///   pending (`suspendReading`), while the client does not read its replies (the channel is not
///   writable), or while pipelined input waits for a later event-loop turn.
/// - **Timeouts**: the driver's idle timeout, shortened during a TLS handshake and when the
///   connection slots run short (Postfix's stress mode).
/// - **Tarpit**: replies held back for a delay, and nothing read meanwhile.
/// - **STARTTLS**: TLS is put first in the pipeline after the cleartext reply; octets the client
///   pipelined behind the command are the session's to drop (RFC 3207 §4.2, CVE-2011-0411).
///
/// Lives on the connection's event loop, like every channel handler.
public final class ServerConnection<Driver: ConnectionDriver>: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    public struct Configuration: Sendable {
        /// Wait this long before greeting; zero greets at once.
        public var greetingDelay: TimeAmount
        /// For STARTTLS; nil when the listener offers none.
        public var tls: NIOSSLContext?
        /// The connection starts with a TLS handshake (implicit TLS, RFC 8314).
        public var implicitTLS: Bool
        public var limiter: ConnectionLimiter

        public init(greetingDelay: TimeAmount = .zero, tls: NIOSSLContext?, implicitTLS: Bool, limiter: ConnectionLimiter) {
            self.greetingDelay = greetingDelay
            self.tls = tls
            self.implicitTLS = implicitTLS
            self.limiter = limiter
        }
    }

    /// A TLS handshake that is not done in this time is abuse or a broken client.
    public static var handshakeTimeout: TimeAmount { .seconds(30) }
    /// Timeouts under connection pressure (Postfix's stress-mode smtpd_timeout is 10s).
    public static var stressTimeout: TimeAmount { .seconds(10) }

    public let driver: Driver
    private let configuration: Configuration
    public private(set) var logger: Logger
    private var context: ChannelHandlerContext?
    /// The client's IP address, or `unknown`.
    public private(set) var clientAddress = "unknown"
    /// The negotiated TLS version (`TLSv1.3`), once a handshake completed.
    public private(set) var tlsVersion: String?
    private var holdsConnectionSlot = false

    private var actionQueue: [Driver.Action] = []
    private var executing = false
    private var inReadBatch = false
    private var output = ByteBuffer()

    /// Reasons not to read: pending decisions and writes (`suspendReading`).
    private var suspensions = 0
    private var tarpitTimer: Scheduled<Void>?
    private var backlogScheduled = false
    private var backlogWaitsForWritability = false
    private var pendingRead = false
    /// Drivers waiting (`flushed()`) for the client to read before they write more.
    private var writabilityWaiters: [EventLoopPromise<Void>] = []

    /// The last sign of progress: a reply sent, or data read while reads count.
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    private var idleTimer: Scheduled<Void>?
    private var scheduledTimeout = TimeAmount.zero
    private var greetingTimer: Scheduled<Void>?
    private var sessionStart = NIODeadline.uptimeNanoseconds(0)
    private var handshakePending: Bool

    public init(driver: Driver, configuration: Configuration, logger: Logger) {
        self.driver = driver
        self.configuration = configuration
        self.logger = logger
        self.handshakePending = configuration.implicitTLS
        self.logger[metadataKey: "tern_session_id"] = "\(String(UInt32.random(in: .min ... .max), radix: 16))"
    }

    // MARK: What drivers use

    /// The connection's event loop (nil once the handler is removed).
    public var eventLoop: (any EventLoop)? { context?.eventLoop }

    public var allocator: ByteBufferAllocator { context?.channel.allocator ?? ByteBufferAllocator() }

    /// Queues a reply for the client: it goes out at the end of the read batch, or at the end of
    /// the actions being executed, and counts as progress for the idle timeout.
    public func write(_ writeReply: (inout ByteBuffer) -> Void) {
        lastActivity = now
        writeReply(&output)
    }

    /// Runs actions of the driver's session: the entry point for decisions that arrive later.
    public func run(_ actions: [Driver.Action]) {
        actionQueue.append(contentsOf: actions)
        guard !executing else { return }
        executing = true
        defer { executing = false }
        var index = 0
        while index < actionQueue.count {
            driver.execute(actionQueue[index], on: self)
            index += 1
        }
        actionQueue.removeAll(keepingCapacity: true)
        if driver.hasMoreInput, !backlogScheduled, let context { scheduleBacklog(context: context) }
        if !inReadBatch { flushOutput() }
        // Entering or leaving a message or a handshake changes the timeout in force.
        if let context, idleTimer != nil, currentTimeout != scheduledTimeout, !driver.isClosed {
            idleTimer?.cancel()
            scheduleIdleCheck(context: context)
        }
    }

    /// Stops reading until `future` completes; then runs the actions `completion` returns and
    /// reads again. For decisions the session waits on: a policy check, a password, a commit.
    public func suspendReading<Value: Sendable>(
        until future: EventLoopFuture<Value>, then completion: @escaping (Result<Value, any Error>) -> [Driver.Action]
    ) {
        suspensions += 1
        future.assumeIsolated().whenComplete { [self] result in
            suspensions -= 1
            run(completion(result))
            resumeReadingIfPossible()
        }
    }

    /// Writes what is queued, and completes once the client has read enough that more may be
    /// written: for a driver that streams a long answer a chunk at a time (POP3's RETR), so a
    /// slow reader holds one chunk in memory, not the message. Fails when the connection closes;
    /// nil when it has.
    public func flushed() -> EventLoopFuture<Void>? {
        guard let context else { return nil }
        flushOutput()
        if context.channel.isWritable { return context.eventLoop.makeSucceededVoidFuture() }
        let promise = context.eventLoop.makePromise(of: Void.self)
        writabilityWaiters.append(promise)
        return promise.futureResult
    }

    /// Stops reading until `future` completes (a store writer draining its buffer).
    public func suspendReading(until future: EventLoopFuture<Void>) {
        suspensions += 1
        future.assumeIsolated().whenComplete { [self] _ in
            suspensions -= 1
            resumeReadingIfPossible()
        }
    }

    /// Holds replies back for `delay` and reads nothing meanwhile: a client harvesting
    /// addresses or guessing passwords slows down long before a hard limit ends its session
    /// (Postfix's smtpd_soft_error_limit and smtpd_error_sleep_time). No-op while one runs.
    public func startTarpit(_ delay: TimeAmount) {
        guard tarpitTimer == nil, !driver.isClosed, let context else { return }
        tarpitTimer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            tarpitTimer = nil
            flushOutput()
            resumeReadingIfPossible()
        }
    }

    /// Sends the replies so far in cleartext, then puts TLS first in the pipeline: everything
    /// after is TLS. The session must already have dropped what the client pipelined behind the
    /// command. Closes the connection when the listener has no TLS.
    public func startTLS() {
        guard let context else { return }
        flushOutput(evenInTarpit: true)
        guard let tls = configuration.tls else { return context.close(promise: nil) }
        handshakePending = true
        lastActivity = now
        do {
            try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
        } catch {
            logger.error("cannot start TLS", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    /// Sends the replies so far as they are, then puts `transform` right in front of this
    /// connection (behind TLS): everything read and written from now on passes through it
    /// (IMAP's COMPRESS=DEFLATE, RFC 4978). The session must already have dropped what the
    /// client sent behind the command.
    public func insertTransform(_ transform: any ChannelHandler) {
        guard let context else { return }
        flushOutput(evenInTarpit: true)
        do {
            try context.pipeline.syncOperations.addHandler(transform, position: .before(self))
        } catch {
            logger.error("cannot insert a stream transform", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    /// Sends what is queued (even in the tarpit: last words are never held) and closes.
    public func close() {
        guard let context else { return }
        flushOutput(evenInTarpit: true)
        context.close(promise: nil)
    }

    // MARK: Channel events

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        output = context.channel.allocator.buffer(capacity: 512)
        sessionStart = context.eventLoop.now
        lastActivity = sessionStart
    }

    /// The event loop's clock (the clock its timers run on; a test's loop has its own).
    private var now: NIODeadline { context?.eventLoop.now ?? .now() }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        clientAddress = context.channel.remoteAddress?.ipAddress ?? "unknown"
        logger[metadataKey: "tern_peer"] = "\(clientAddress)"
        guard configuration.limiter.acquire(clientAddress) else {
            driver.connectionOpened(admitted: false, connection: self)
            logger.notice("connection refused: too many connections")
            var buffer = context.channel.allocator.buffer(capacity: 128)
            driver.refusal(into: &buffer)
            context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
            return
        }
        holdsConnectionSlot = true
        driver.connectionOpened(admitted: true, connection: self)
        logger.debug("connection opened")
        let delay = configuration.greetingDelay
        if delay > .zero {
            greetingTimer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
                greetingTimer = nil
                run(driver.greet())
            }
        } else {
            run(driver.greet())
        }
        scheduleIdleCheck(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        let waiters = writabilityWaiters
        writabilityWaiters = []
        for waiter in waiters { waiter.fail(ChannelError.ioOnClosedChannel) }
        run(driver.connectionClosed())
        idleTimer?.cancel()
        greetingTimer?.cancel()
        tarpitTimer?.cancel()
        if holdsConnectionSlot {
            holdsConnectionSlot = false
            configuration.limiter.release(clientAddress)
            let milliseconds = (now - sessionStart).nanoseconds / 1_000_000
            var metadata = driver.sessionSummary()
            metadata["tern_duration_s"] = "\(Double(milliseconds) / 1000)"
            metadata["tern_tls"] = "\(tlsVersion ?? "none")"
            logger.info("session ended", metadata: metadata)
        }
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if driver.readsAreProgress { lastActivity = now }
        inReadBatch = true
        run(driver.bytesReceived(unwrapInboundIn(data)))
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        inReadBatch = false
        flushOutput()
        context.fireChannelReadComplete()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            let version = try? context.pipeline.syncOperations.nioSSL_tlsVersion()
            tlsVersion = version?.displayName
            Counter(label: "tern_tls_handshakes_total", dimensions: [("version", tlsVersion ?? "unknown")]).increment()
            handshakePending = false
            lastActivity = now
            run(driver.tlsEstablished())
            logger.debug("TLS established", metadata: ["tern_tls": "\(tlsVersion ?? "unknown")"])
        } else if event is ChannelShouldQuiesceEvent {
            run(driver.shutdownRequested())
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, backlogWaitsForWritability {
            backlogWaitsForWritability = false
            backlogScheduled = false
            scheduleBacklog(context: context)
        }
        if context.channel.isWritable {
            let waiters = writabilityWaiters
            writabilityWaiters = []
            for waiter in waiters { waiter.succeed() }
            resumeReadingIfPossible()
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Backpressure

    public func read(context: ChannelHandlerContext) {
        if suspensions > 0 || tarpitTimer != nil || backlogScheduled || !context.channel.isWritable {
            pendingRead = true
        } else {
            context.read()
        }
    }

    private func resumeReadingIfPossible() {
        guard pendingRead, suspensions == 0, tarpitTimer == nil, !backlogScheduled, let context,
            context.channel.isWritable
        else {
            return
        }
        pendingRead = false
        context.read()
    }

    /// Works through pipelined input in later event-loop turns, reading nothing new meanwhile,
    /// and only while the client reads its replies.
    private func scheduleBacklog(context: ChannelHandlerContext) {
        backlogScheduled = true
        context.eventLoop.assumeIsolated().execute { [self] in
            backlogScheduled = false
            guard let context = self.context, !driver.isClosed else { return }
            if !context.channel.isWritable {
                // Resumed from channelWritabilityChanged once the client has read.
                backlogWaitsForWritability = true
                backlogScheduled = true
                return
            }
            run(driver.resumeProcessing())
            flushOutput()
            resumeReadingIfPossible()
        }
    }

    /// Writes the queued replies, unless the tarpit holds them.
    private func flushOutput(evenInTarpit: Bool = false) {
        guard tarpitTimer == nil || evenInTarpit || driver.isClosed else { return }
        guard let context, output.readableBytes > 0 else { return }
        let buffer = output
        output = context.channel.allocator.buffer(capacity: 512)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    // MARK: Timeouts

    private func scheduleIdleCheck(context: ChannelHandlerContext) {
        let timeout = currentTimeout
        scheduledTimeout = timeout
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: lastActivity + timeout) { [self] in
            guard let context = self.context, !driver.isClosed else { return }
            if now >= lastActivity + currentTimeout {
                logger.info("session timed out")
                run(driver.timedOut())
            } else {
                scheduleIdleCheck(context: context)
            }
        }
    }

    private var currentTimeout: TimeAmount {
        var timeout = driver.idleTimeout
        if handshakePending { timeout = min(timeout, Self.handshakeTimeout) }
        if configuration.limiter.isUnderPressure { timeout = min(timeout, Self.stressTimeout) }
        return timeout
    }
}
