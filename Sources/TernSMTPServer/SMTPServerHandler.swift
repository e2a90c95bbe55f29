#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CoreMetrics
import Logging
import NIOCore
import NIOSSL
import NIOTLS
import TernMIME
import TernMail
import TernNet
import TernSMTPCore
import TernStore

/// Drives one SMTP session: feeds what the channel reads into the state machine and executes
/// the actions it returns, in order. Lives on the connection's event loop.
final class SMTPServerHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let endpoint: SMTPEndpoint
    private var machine: ServerSessionStateMachine
    private var logger: Logger
    private var context: ChannelHandlerContext?
    private var clientAddress = "unknown"
    private var holdsConnectionSlot = false

    // Actions are queued so that an action completing synchronously (a policy decided at
    // once) never re-enters the loop that is executing the previous ones.
    private var actionQueue: [ServerSessionStateMachine.Action] = []
    private var executing = false
    // Replies to a batch of pipelined commands go out together at the end of the read batch
    // (RFC 2920 §3.1); replies caused by anything else are flushed at once.
    private var inReadBatch = false

    private var output: ByteBuffer
    private var writer: (any MessageWriter)?
    private var message: IncomingMessage?
    /// On submission, a message's start is held until its header section is whole, so that
    /// what RFC 6409 §8 allows can be added in front of it and From: can be checked.
    private var held: HeldSubmission?
    /// The From: and Sender: fields of the submitted message being received.
    private var headerOriginators: Result<Originators, Originators.Unreadable> = .failure(.noFrom)
    private var headerTooLong = false
    private var messageSize = 0

    // Reading is paused while any of these holds; `read` calls wait in `pendingRead`.
    private var waitingForWriter = false
    private var waitingForDecision = false
    /// The challenge–response exchange under way (SCRAM-SHA-256), between the client's messages.
    private var saslExchange: (any SASLMechanismServer)?
    private var tarpitTimer: Scheduled<Void>?
    /// Pipelined input left for a later event-loop turn (see `resumeProcessing`).
    private var backlogScheduled = false
    private var backlogWaitsForWritability = false
    private var pendingRead = false

    /// The last sign of progress: a reply sent, or data read during a message.
    private var lastActivity = NIODeadline.now()
    private var idleTimer: Scheduled<Void>?
    private var scheduledTimeout = TimeAmount.zero
    private var greetingTimer: Scheduled<Void>?
    private let sessionStart = NIODeadline.now()
    private var acceptedMessages = 0
    private var tlsVersion: String?
    /// A TLS handshake is under way (implicit TLS, or after STARTTLS); it gets a short deadline.
    private var handshakePending: Bool

    init(endpoint: SMTPEndpoint) {
        self.endpoint = endpoint
        self.machine = ServerSessionStateMachine(configuration: endpoint.configuration.session)
        self.logger = endpoint.logger
        self.output = ByteBuffer()
        self.handshakePending = endpoint.role == .submissions
        self.logger[metadataKey: "tern_session_id"] = "\(String(UInt32.random(in: .min ... .max), radix: 16))"
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        output = context.channel.allocator.buffer(capacity: 512)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        clientAddress = context.channel.remoteAddress?.ipAddress ?? "unknown"
        logger[metadataKey: "tern_peer"] = "\(clientAddress)"
        endpoint.metrics.connections.increment()

        guard endpoint.limiter.acquire(clientAddress) else {
            endpoint.metrics.refusedConnections.increment()
            logger.notice("connection refused: too many connections")
            var buffer = context.channel.allocator.buffer(capacity: 128)
            SMTPReply.tooManyConnections(endpoint.configuration.session.hostname).write(to: &buffer)
            context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
            return
        }
        holdsConnectionSlot = true
        logger.debug("connection opened")

        let delay = endpoint.configuration.greetingDelay
        if delay > .zero {
            greetingTimer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
                greetingTimer = nil
                run(machine.greet())
            }
        } else {
            run(machine.greet())
        }
        scheduleIdleCheck(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        run(machine.connectionClosed())
        idleTimer?.cancel()
        greetingTimer?.cancel()
        tarpitTimer?.cancel()
        if holdsConnectionSlot {
            holdsConnectionSlot = false
            endpoint.limiter.release(clientAddress)
            let seconds = Double((NIODeadline.now() - sessionStart).nanoseconds) / 1e9
            logger.info(
                "session ended",
                metadata: [
                    "tern_duration_s": "\((seconds * 1000).rounded() / 1000)",
                    "tern_messages": "\(acceptedMessages)",
                    "tern_tls": "\(tlsVersion ?? "none")",
                ])
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // While a message streams in, every read is progress (RFC 5321 §4.5.3.2.5 times each
        // data block). Between commands only a reply is: a client trickling one octet at a
        // time still has to finish its command before the timeout (slowloris).
        if machine.isReceivingMessage { lastActivity = .now() }
        inReadBatch = true
        run(machine.bytesReceived(unwrapInboundIn(data)))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inReadBatch = false
        flushOutput()
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            let version = try? context.pipeline.syncOperations.nioSSL_tlsVersion()
            tlsVersion = version?.displayName
            handshakePending = false
            lastActivity = .now()
            run(machine.tlsEstablished())
            logger.debug("TLS established", metadata: ["tern_tls": "\(tlsVersion ?? "unknown")"])
        } else if event is ChannelShouldQuiesceEvent {
            run(machine.shutdownRequested())
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, backlogWaitsForWritability {
            backlogWaitsForWritability = false
            backlogScheduled = false
            scheduleBacklog(context: context)
        }
        if context.channel.isWritable { resumeReadingIfPossible() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Backpressure

    func read(context: ChannelHandlerContext) {
        if waitingForWriter || waitingForDecision || tarpitTimer != nil || backlogScheduled
            || !context.channel.isWritable
        {
            pendingRead = true
        } else {
            context.read()
        }
    }

    private func resumeReadingIfPossible() {
        guard pendingRead, !waitingForWriter, !waitingForDecision, tarpitTimer == nil, !backlogScheduled,
            let context, context.channel.isWritable
        else {
            return
        }
        pendingRead = false
        context.read()
    }

    // MARK: Executing actions

    private func run(_ actions: [ServerSessionStateMachine.Action]) {
        actionQueue.append(contentsOf: actions)
        guard !executing else { return }
        executing = true
        defer { executing = false }
        var index = 0
        while index < actionQueue.count {
            execute(actionQueue[index])
            index += 1
        }
        actionQueue.removeAll(keepingCapacity: true)
        if machine.hasMoreInput, !backlogScheduled, let context { scheduleBacklog(context: context) }
        if !inReadBatch { flushOutput() }
        // Entering or leaving DATA or a handshake changes the timeout in force.
        if let context, idleTimer != nil, currentTimeout != scheduledTimeout, !machine.isClosed {
            idleTimer?.cancel()
            scheduleIdleCheck(context: context)
        }
    }

    private func execute(_ action: ServerSessionStateMachine.Action) {
        guard let context else { return }
        switch action {
        case .sendReply(let reply):
            lastActivity = .now()
            reply.write(to: &output)
            if reply.code.rawValue >= 400 {
                endpoint.metrics.rejection(
                    code: reply.code.rawValue, enhanced: reply.enhancedCode?.description ?? "none")
                if machine.errors > endpoint.configuration.softErrorLimit, !machine.isClosed {
                    startTarpit(context: context)
                }
            }

        case .checkSender(let path, let parameters):
            decide(endpoint.policy.checkSender(path, parameters, session: facts))

        case .checkRecipient(let path, let parameters):
            decide(endpoint.policy.checkRecipient(path, parameters, session: facts))

        case .authenticate(let credentials):
            authenticate(credentials)
        case .continueAuthentication(let mechanism, let response, let isFirst):
            continueAuthentication(mechanism, response, isFirst: isFirst)

        case .beginMessage(let start):
            beginMessage(start, context: context)

        case .appendBody(let chunk):
            if held != nil {
                messageSize += chunk.readableBytes
                return hold(chunk, context: context)
            }
            guard let writer else { return }
            messageSize += chunk.readableBytes
            writer.append(chunk)
            if writer.bufferedBytes >= 2 * MessageWriterLimits.flushThreshold, !waitingForWriter {
                waitingForWriter = true
                writer.drained().assumeIsolated().whenComplete { [self] _ in
                    waitingForWriter = false
                    resumeReadingIfPossible()
                }
            }

        case .commitMessage:
            commitMessage(context: context)

        case .abortMessage:
            writer?.abort()
            writer = nil
            message = nil
            held = nil

        case .startTLS:
            // The 220 goes out in cleartext first; everything after it is TLS. The machine
            // has already dropped any octets pipelined behind STARTTLS.
            flushOutput(evenInTarpit: true)
            guard let tls = endpoint.tls else { return context.close(promise: nil) }
            handshakePending = true
            lastActivity = .now()
            do {
                try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
            } catch {
                logger.error("cannot start TLS", metadata: ["error": "\(error)"])
                context.close(promise: nil)
            }

        case .close:
            flushOutput(evenInTarpit: true)
            context.close(promise: nil)
        }
    }

    private var facts: SessionFacts {
        SessionFacts(
            clientAddress: clientAddress, tlsActive: machine.tlsActive, authenticatedUser: machine.authenticatedUser,
            eventLoop: context?.eventLoop)
    }

    private func authenticate(_ credentials: SASLCredentials) {
        guard let eventLoop = context?.eventLoop else { return }
        awaitAuthentication(
            endpoint.policy.authenticate(credentials, session: facts, on: eventLoop), mechanism: credentials.mechanism,
            username: { credentials.username })
    }

    /// One response of a challenge–response exchange (SCRAM-SHA-256); `isFirst` starts one.
    private func continueAuthentication(_ mechanism: SASLCredentials.Mechanism, _ response: [UInt8], isFirst: Bool) {
        guard let eventLoop = context?.eventLoop else { return }
        if isFirst { saslExchange = endpoint.policy.beginExchange(mechanism, session: facts) }
        guard let exchange = saslExchange else {
            return finishAuthentication(.rejected, mechanism: mechanism, username: nil)
        }
        awaitAuthentication(exchange.respond(response, on: eventLoop), mechanism: mechanism, username: { exchange.username })
    }

    private func awaitAuthentication(
        _ check: AuthenticationCheck, mechanism: SASLCredentials.Mechanism, username: @escaping () -> String?
    ) {
        switch check {
        case .decided(let decision):
            finishAuthentication(decision, mechanism: mechanism, username: username())
        case .pending(let future):
            waitingForDecision = true
            future.assumeIsolated().whenComplete { [self] result in
                waitingForDecision = false
                switch result {
                case .success(let decision): finishAuthentication(decision, mechanism: mechanism, username: username())
                case .failure(let error):
                    logger.warning("authentication check failed", metadata: ["error": "\(error)"])
                    finishAuthentication(.temporaryFailure, mechanism: mechanism, username: username())
                }
                resumeReadingIfPossible()
            }
        }
    }

    /// Logs the outcome (the user name and mechanism, never the password) and tells the machine.
    private func finishAuthentication(
        _ decision: ServerSessionStateMachine.AuthenticationDecision, mechanism: SASLCredentials.Mechanism,
        username: String?
    ) {
        let name = username ?? "-"
        switch decision {
        case .challenge:
            break
        case .accepted(let user):
            saslExchange = nil
            logger.info("authenticated", metadata: ["tern_user": "\(user)", "sasl_method": "\(mechanism.rawValue)"])
        case .rejected, .malformed:
            saslExchange = nil
            logger.notice(
                "authentication failed", metadata: ["sasl_username": "\(name)", "sasl_method": "\(mechanism.rawValue)"])
        case .temporaryFailure:
            saslExchange = nil
            logger.warning("authentication could not be checked", metadata: ["sasl_username": "\(name)"])
        }
        run(machine.authenticationDecided(decision))
    }

    private func decide(_ check: PolicyCheck) {
        switch check {
        case .decided(let decision):
            run(machine.policyDecided(decision))
        case .pending(let future):
            waitingForDecision = true
            future.assumeIsolated().whenComplete { [self] result in
                waitingForDecision = false
                switch result {
                case .success(let decision):
                    run(machine.policyDecided(decision))
                case .failure(let error):
                    logger.warning("policy check failed", metadata: ["error": "\(error)"])
                    run(machine.policyDecided(.reject(.localError)))
                }
                resumeReadingIfPossible()
            }
        }
    }

    private func beginMessage(_ start: ServerSessionStateMachine.MessageStart, context: ChannelHandlerContext) {
        let now = WallClock.now()
        var generator = SystemRandomNumberGenerator()
        let id = QueueID(microsecondsSinceEpoch: now.microseconds, using: &generator)
        let recipients = start.envelope.recipients
        let header = ReceivedHeader(
            clientName: start.clientName,
            clientAddress: clientAddress,
            serverName: endpoint.configuration.session.hostname,
            receivedProtocol: start.receivedProtocol,
            id: id,
            recipient: recipients.count == 1 ? recipients[0].address : nil,
            tlsVersion: machine.tlsActive ? tlsVersion : nil,
            secondsSince1970: now.seconds)
        var prefix = context.channel.allocator.buffer(capacity: 256)
        prefix.writeString(header.rendered)
        let incoming = IncomingMessage(
            id: id, envelope: start.envelope,
            trace: ArrivalTrace(
                clientName: start.clientName, clientAddress: clientAddress,
                receivedProtocol: start.receivedProtocol, receivedAt: now.seconds,
                authenticatedUser: start.authenticatedUser, trusted: endpoint.policy.vouchesForSender(facts)))
        message = incoming
        messageSize = 0
        if endpoint.configuration.fixesSubmittedMessages, endpoint.role != .mx {
            held = HeldSubmission(message: incoming, prefix: prefix, content: context.channel.allocator.buffer(capacity: 0))
        } else {
            writer = endpoint.store.begin(incoming, prefix: prefix, on: context.eventLoop)
        }
    }

    private func hold(_ chunk: ByteBuffer, context: ChannelHandlerContext) {
        held?.content.writeImmutableBuffer(chunk)
        if held?.header.consume(chunk.readableBytesView) != .collecting { openHeldSubmission(context: context) }
    }

    /// The header section is whole (or the message ended, or the header is too long): add
    /// Message-ID and Date when missing (RFC 6409 §8.2-8.3), note From: and Sender:, and open
    /// the message with everything held so far.
    private func openHeldSubmission(context: ChannelHandlerContext) {
        guard var held else { return }
        self.held = nil
        headerTooLong = held.header.finish() == .tooLong
        let fields = held.header.fields
        headerOriginators = Originators.read(headerSection: held.header.bytes)
        var prefix = held.prefix
        if !fields.contains(where: { $0.isNamed("Message-ID") }) {
            prefix.writeString("Message-ID: <\(held.message.id)@\(endpoint.configuration.session.hostname)>\r\n")
        }
        if !fields.contains(where: { $0.isNamed("Date") }) {
            prefix.writeString("Date: \(MessageDate.format(secondsSince1970: held.message.trace.receivedAt))\r\n")
        }
        let writer = endpoint.store.begin(held.message, prefix: prefix, on: context.eventLoop)
        writer.append(held.content)
        self.writer = writer
    }

    /// Why a submitted message is refused after its body: a header too long to check, or a
    /// From:/Sender: the user may not use.
    private func submissionRefusal() -> SMTPReply? {
        guard endpoint.configuration.fixesSubmittedMessages, endpoint.role != .mx else { return nil }
        if headerTooLong { return .submittedHeaderTooLong }
        return endpoint.policy.checkHeaderSenders(headerOriginators, session: facts)
    }

    /// The From: and Sender: addresses for the log (escaped, as an array's description
    /// writes its strings, and truncated), or why they could not be read.
    private var headerOriginatorsDescription: String {
        switch headerOriginators {
        case .success(let originators): String("\(originators.addresses)".prefix(512))
        case .failure(let unreadable): "unreadable: \(unreadable)"
        }
    }

    private func commitMessage(context: ChannelHandlerContext) {
        if held != nil { openHeldSubmission(context: context) }
        guard let writer, let message else {
            run(machine.messageCommitFailed(.localError))
            return
        }
        if let refusal = submissionRefusal() {
            writer.abort()
            self.writer = nil
            self.message = nil
            logger.notice(
                "submitted message refused",
                metadata: [
                    "tern_queue_id": "\(message.id)", "reply": "\(refusal.code)", "from": "\(headerOriginatorsDescription)",
                ])
            run(machine.messageCommitFailed(refusal))
            return
        }
        self.writer = nil
        self.message = nil
        let size = messageSize
        waitingForDecision = true
        writer.commit().assumeIsolated().whenComplete { [self] result in
            waitingForDecision = false
            switch result {
            case .success:
                acceptedMessages += 1
                endpoint.metrics.messages.increment()
                endpoint.metrics.bytes.increment(by: size)
                logger.info(
                    "message accepted",
                    metadata: [
                        "tern_queue_id": "\(message.id)",
                        "from": "<\(message.envelope.sender?.description ?? "")>",
                        "nrcpt": "\(message.envelope.recipients.count)",
                        "size": "\(size)",
                        "tern_tls": "\(machine.tlsActive ? tlsVersion ?? "unknown" : "none")",
                    ])
                run(machine.messageCommitted(message.id))
            case .failure(let error):
                logger.error(
                    "message not stored", metadata: ["tern_queue_id": "\(message.id)", "error": "\(error)"])
                let reply: SMTPReply =
                    (error as? StoreError)?.isOutOfSpace == true ? .insufficientStorage : .localError
                run(machine.messageCommitFailed(reply))
            }
            resumeReadingIfPossible()
        }
    }

    /// Works through pipelined input in later event-loop turns, reading nothing new meanwhile,
    /// and only while the client reads its replies.
    private func scheduleBacklog(context: ChannelHandlerContext) {
        backlogScheduled = true
        context.eventLoop.assumeIsolated().execute { [self] in
            backlogScheduled = false
            guard self.context != nil, !machine.isClosed else { return }
            if let context = self.context, !context.channel.isWritable {
                // Resumed from channelWritabilityChanged once the client has read.
                backlogWaitsForWritability = true
                backlogScheduled = true
                return
            }
            run(machine.resumeProcessing())
            flushOutput()
            resumeReadingIfPossible()
        }
    }

    /// Past the soft error limit every error reply waits `errorDelay` before it is sent, and
    /// nothing more is read meanwhile: a client harvesting addresses or guessing slows down
    /// long before the hard limit ends its session (Postfix's smtpd_soft_error_limit and
    /// smtpd_error_sleep_time).
    private func startTarpit(context: ChannelHandlerContext) {
        guard tarpitTimer == nil else { return }
        tarpitTimer = context.eventLoop.assumeIsolated().scheduleTask(in: endpoint.configuration.errorDelay) { [self] in
            tarpitTimer = nil
            flushOutput()
            resumeReadingIfPossible()
        }
    }

    /// Writes the gathered replies, unless the tarpit holds them (the STARTTLS reply and the
    /// last words before a close are never held).
    private func flushOutput(evenInTarpit: Bool = false) {
        guard tarpitTimer == nil || evenInTarpit || machine.isClosed else { return }
        guard let context, output.readableBytes > 0 else { return }
        let buffer = output
        output = context.channel.allocator.buffer(capacity: 512)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    // MARK: Timeouts (RFC 5321 §4.5.3.2)

    private func scheduleIdleCheck(context: ChannelHandlerContext) {
        let timeout = currentTimeout
        scheduledTimeout = timeout
        let deadline = lastActivity + timeout
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            guard let context = self.context, !machine.isClosed else { return }
            if NIODeadline.now() >= lastActivity + currentTimeout {
                logger.info("session timed out")
                run(machine.timedOut())
            } else {
                scheduleIdleCheck(context: context)
            }
        }
    }

    private var currentTimeout: TimeAmount {
        let configuration = endpoint.configuration
        var timeout = machine.isReceivingMessage ? configuration.dataTimeout : configuration.commandTimeout
        if handshakePending { timeout = min(timeout, Self.handshakeTimeout) }
        if endpoint.limiter.isUnderPressure { timeout = min(timeout, Self.stressTimeout) }
        return timeout
    }

    /// A TLS handshake that is not done in this time is abuse or a broken client.
    static let handshakeTimeout = TimeAmount.seconds(30)
    /// Timeouts under connection pressure (Postfix's stress-mode smtpd_timeout is 10s).
    static let stressTimeout = TimeAmount.seconds(10)
}

/// Wall-clock time for Received headers and queue IDs.
enum WallClock {
    struct Reading {
        var seconds: Int64
        var microseconds: UInt64
    }

    static func now() -> Reading {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Reading(
            seconds: Int64(spec.tv_sec),
            microseconds: UInt64(spec.tv_sec) * 1_000_000 + UInt64(spec.tv_nsec / 1000))
    }
}

/// A submitted message's first octets, held until its header section is whole.
private struct HeldSubmission {
    var message: IncomingMessage
    /// The Received header.
    var prefix: ByteBuffer
    /// The content received so far.
    var content: ByteBuffer
    var header = HeaderSectionCollector()
}

extension SMTPReply {
    // RFC 3463 X.3.4 (message too big for system), like Postfix's header_size_limit.
    static let submittedHeaderTooLong = SMTPReply(
        552, EnhancedStatusCode(5, 3, 4), "Message header section too long")
}
