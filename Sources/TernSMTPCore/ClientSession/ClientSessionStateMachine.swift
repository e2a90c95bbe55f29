public import NIOCore
import TernMail
import TernSASL

/// The client side of one SMTP connection (RFC 5321 §3, §4.1.4), as the MTA uses it to relay
/// mail to a remote MX host or a smarthost: greeting, EHLO with HELO fallback, STARTTLS
/// (RFC 3207), then any number of messages — each with SIZE (RFC 1870), 8BITMIME (RFC 6152),
/// SMTPUTF8 (RFC 6531), DSN (RFC 3461), PIPELINING (RFC 2920) and DATA or CHUNKING/BINARYMIME
/// (RFC 3030) as the server offers them — and QUIT.
///
/// Events in: `connected()`, `bytesReceived(_:)`, `tlsEstablished()`, `tlsFailed()`,
/// `send(message:)`, `bodyChunk(_:)`, `bodyEnd()`, `timedOut()`, `connectionClosed()`,
/// `finish()`. Actions out (`Action`): write octets, start TLS, ask for the next body chunk,
/// report a message's results, report why the session failed, close. The machine owns the
/// input buffer and the reply parser; it never reads a clock, it names the timeout in force
/// (`timeout`).
///
/// The driver's contract, which makes the machine hard to misuse:
/// - Call `connected()` when the TCP connection is up, then `send(message:)` at any time: a
///   message handed over before the session is ready waits for it.
/// - Every `send(message:)` ends in exactly one `reportDelivery`: one result per recipient.
///   A message handed over while another is in progress, or after the session ended, is
///   reported at once as deferred, never lost.
/// - After a `reportDelivery` the connection can carry the next message (the machine sends
///   RSET first when the server may still hold a transaction) or `finish()` ends it with QUIT.
/// - Answer every `requestBodyChunk` with one `bodyChunk(_:)` or `bodyEnd()`. Calls without an
///   open request are ignored.
/// - After each event, re-arm the timer if `timeout` changed; call `timedOut()` when it fires.
///
/// Outcomes: 2yz after the end of data delivers, a 4yz defers and a 5yz fails, per recipient
/// (RCPT) or for the whole message (MAIL, DATA, end of data, BDAT). A broken session — a
/// timeout, a malformed or unexpected reply, a lost connection, a failed TLS handshake —
/// defers every recipient not yet decided with a local 4yz (`451 4.4.2`, `4.5.0`, `4.7.5`).
///
/// Checks before sending (local, permanent, for every recipient): a message larger than the
/// server's SIZE gets `552 5.3.4`; one that needs SMTPUTF8 when the server lacks it gets
/// `553 5.6.7` (no downgrade); a binary body needs CHUNKING and BINARYMIME or gets
/// `554 5.6.3`; an 8-bit body to a server without 8BITMIME is sent as is and recorded, or
/// refused with `554 5.6.3` (`Configuration.eightBitFallback`). Addresses that would not
/// parse as RFC 5321 paths are refused (`553 5.1.7`, `553 5.1.3`) instead of being written.
///
/// Security notes (hostile-inputs 35, 36):
/// - Replies are bounded in line length and line count (`ReplyParser`); an endless reply, a
///   1 MB line, a bare LF or a code outside 2yz-5yz is a protocol error: the session ends and
///   its messages are deferred, never bounced, and nothing is buffered without bound.
/// - A 2yz counts as delivery only as the reply to the final dot or to BDAT LAST; a reply in
///   the middle of the DATA content is a protocol error.
/// - Octets the server sends after its 220 to STARTTLS and before the handshake are discarded
///   (CVE-2011-0411); after TLS the old EHLO keywords are forgotten (RFC 3207 §4.2).
/// - The body goes through `DotStuffer`, so no message content can end the data early or
///   smuggle a second message; with BDAT, chunk sizes are exact.
/// - No envelope value reaches the wire unchecked: addresses must parse as RFC 5321 paths,
///   ENVID and ORCPT must be valid xtext or are left out.
public struct ClientSessionStateMachine: Sendable {
    enum State: Sendable {
        /// Before `connected()`.
        case connecting
        case awaitingGreeting
        /// EHLO (`extended`) or HELO was sent.
        case awaitingHello(extended: Bool)
        case awaitingStartTLSReply
        case awaitingTLS
        /// AUTH was sent (RFC 4954); the reply to `step` is awaited.
        case awaitingAuthentication(AuthenticationStep)
        /// Set up, no transaction under way.
        case ready
        case awaitingResetReply
        /// MAIL and RCPT sent (all at once with PIPELINING); their replies are being read.
        case envelope
        case awaitingDataReply
        /// The body is being sent (DATA content or BDAT chunks) and its replies read.
        case body
        case awaitingQuitReply
        case closed
    }

    struct Transaction: Sendable {
        let message: OutboundMessage
        var results: [RecipientResult?]
        /// Recipients in RCPT commands, in order (those not refused locally).
        var sent: [Int] = []
        /// Envelope replies read so far: the first answers MAIL, the others `sent` in order.
        var repliesRead = 0
        var mailFailed = false
        var accepted: [Int] = []
        var pipelined = false
        var chunking = false
        var eightBitAsIs = false
        var bodyStarted = false
        var transfer = BodyTransfer()
    }

    struct BodyTransfer: Sendable {
        var stuffer = DotStuffer()
        /// A `requestBodyChunk` is open.
        var requested = false
        /// BDAT: the chunk held back until it is known whether it is the last.
        var held: ByteBuffer?
        /// Replies still to come: one per BDAT, or one for the final dot.
        var outstanding = 0
        /// The end of the body (".", or BDAT LAST) was written.
        var endSent = false
        /// A BDAT chunk was refused; the rest of the body is dropped.
        var failed = false
        /// That refusal answered BDAT LAST, so the server has no transaction left.
        var failureWasFinal = false
    }

    /// Where a SASL exchange stands: PLAIN sends everything with AUTH (RFC 4616, with the
    /// initial response of RFC 4954 §4); LOGIN answers two 334 challenges.
    enum AuthenticationStep: Sendable {
        case plain
        case loginUsername
        case loginPassword
        case loginFinal
    }

    public let configuration: Configuration
    private var state: State = .connecting
    private var authenticated = false
    private var input = ByteBuffer()
    private var parser: ReplyParser
    private var transaction: Transaction?
    private var pending: OutboundMessage?
    private var needsReset = false
    private var finishRequested = false
    private var failure: SessionFailure?
    private var step: UInt64 = 0

    /// The server's EHLO keywords (`ServerCapabilities.none` after HELO); nil until the EHLO
    /// reply, and again after STARTTLS until the new one.
    public private(set) var capabilities: ServerCapabilities?
    public private(set) var tlsActive: Bool

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.tlsActive = configuration.implicitTLS
        self.parser = ReplyParser(limits: configuration.replyLimits)
    }

    /// True once the session has ended.
    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// True when the session is set up and no message is in progress: `send(message:)` starts
    /// one at once.
    public var isIdle: Bool {
        if case .ready = state { return transaction == nil && pending == nil }
        return false
    }

    /// The message in progress (for tests and the driver's log).
    var currentMessage: OutboundMessage? { transaction?.message }

    /// Octets read but not yet parsed: at most one reply line (for the hostile-input tests).
    var bufferedInputBytes: Int { input.readableBytes }

    /// The timeout in force (RFC 5321 §4.5.3.2), nil when the machine waits for nobody but
    /// the driver (before `connected()`, between messages, after the end).
    public var timeout: Timeout? {
        let phase: Timeout.Phase
        switch state {
        case .connecting, .ready, .closed: return nil
        case .awaitingGreeting: phase = .greeting
        case .awaitingHello: phase = .hello
        case .awaitingStartTLSReply: phase = .startTLS
        case .awaitingTLS: phase = .tlsHandshake
        case .awaitingAuthentication: phase = .authentication
        case .awaitingResetReply: phase = .reset
        case .envelope: phase = transaction?.repliesRead == 0 ? .mail : .recipient
        case .awaitingDataReply: phase = .dataInitiation
        case .body: phase = transaction?.transfer.endSent == true ? .dataTermination : .dataBlock
        case .awaitingQuitReply: phase = .quit
        }
        return Timeout(phase: phase, duration: configuration.timeouts.duration(of: phase), step: step)
    }

    // MARK: - Events

    /// The TCP (or, with implicit TLS, the TLS) connection is up: the greeting is awaited.
    public mutating func connected() -> [Action] {
        guard case .connecting = state else { return [] }
        state = .awaitingGreeting
        step += 1
        return []
    }

    /// Octets read from the server.
    public mutating func bytesReceived(_ bytes: ByteBuffer) -> [Action] {
        switch state {
        case .closed, .awaitingTLS:
            // After STARTTLS's 220, cleartext is never read (CVE-2011-0411).
            return []
        case .connecting:
            state = .awaitingGreeting
        default:
            break
        }
        if input.readableBytes == 0 {
            input = bytes
        } else {
            var bytes = bytes
            input.writeBuffer(&bytes)
        }
        var actions: [Action] = []
        reading: while true {
            switch state {
            case .closed, .awaitingTLS:
                input.clear()
                break reading
            default:
                break
            }
            switch parser.parse(&input) {
            case .needMoreData:
                break reading
            case .failure(let failure):
                if case .awaitingQuitReply = state {
                    close(&actions)
                } else {
                    failSession(
                        .malformedReply(failure), reply: .remoteProtocolError(failure.description), isLocal: true,
                        &actions)
                }
            case .reply(let reply):
                step += 1
                handle(reply, &actions)
            }
        }
        if input.readableBytes == 0 { input = ByteBuffer() }
        return actions
    }

    /// The TLS handshake after STARTTLS completed: EHLO again, with no memory of the
    /// cleartext session (RFC 3207 §4.2).
    public mutating func tlsEstablished() -> [Action] {
        guard case .awaitingTLS = state else { return [] }
        tlsActive = true
        capabilities = nil
        authenticated = false
        input.clear()
        parser.reset()
        var actions: [Action] = []
        write(.ehlo(configuration.hostname), &actions)
        state = .awaitingHello(extended: true)
        return actions
    }

    /// The TLS handshake after STARTTLS failed; the connection is unusable.
    public mutating func tlsFailed() -> [Action] {
        guard case .awaitingTLS = state else { return [] }
        var actions: [Action] = []
        failSession(
            .tlsHandshakeFailed, reply: .tlsHandshakeFailed, isLocal: true,
            mayRetryWithoutTLS: configuration.tlsPolicy == .opportunistic, &actions)
        return actions
    }

    /// Hands over a message. It starts at once if the session is idle, after the setup if
    /// the session is not ready yet; in any case it ends in one `reportDelivery`.
    public mutating func send(message: OutboundMessage) -> [Action] {
        var actions: [Action] = []
        if isClosed {
            let reply = failure?.reply ?? .sessionClosed
            report(message, everyRecipient: reply, stage: .connection, isLocal: failure?.isLocal ?? true, &actions)
        } else if finishRequested {
            report(message, everyRecipient: .sessionClosed, stage: .connection, isLocal: true, &actions)
        } else if transaction != nil || pending != nil {
            report(message, everyRecipient: .sessionBusy, stage: .connection, isLocal: true, &actions)
        } else {
            pending = message
            advance(&actions)
        }
        return actions
    }

    /// The next chunk of the body, in answer to `requestBodyChunk`. Empty chunks are fine.
    public mutating func bodyChunk(_ chunk: ByteBuffer) -> [Action] {
        guard case .body = state, var current = transaction, current.transfer.requested else { return [] }
        current.transfer.requested = false
        step += 1
        var actions: [Action] = []
        if current.transfer.failed {
            // A refused chunk ended the transfer; this answer to the open request is dropped.
        } else if !current.chunking {
            var output = ByteBuffer()
            current.transfer.stuffer.encode(chunk, into: &output)
            if output.readableBytes > 0 { write(output, &actions) }
            current.transfer.requested = true
            actions.append(.requestBodyChunk)
        } else if chunk.readableBytes == 0 {
            current.transfer.requested = true
            actions.append(.requestBodyChunk)
        } else {
            // The chunk is held until the next call tells whether it is the last (BDAT LAST).
            if let previous = current.transfer.held {
                writeChunk(previous, last: false, &current, &actions)
            }
            current.transfer.held = chunk
            // Without PIPELINING each BDAT waits for its reply (RFC 3030 §4.2).
            if current.pipelined || current.transfer.outstanding == 0 {
                current.transfer.requested = true
                actions.append(.requestBodyChunk)
            }
        }
        transaction = current
        finishBodyStep(&actions)
        return actions
    }

    /// The body is complete, in answer to `requestBodyChunk`.
    public mutating func bodyEnd() -> [Action] {
        guard case .body = state, var current = transaction, current.transfer.requested else { return [] }
        current.transfer.requested = false
        step += 1
        var actions: [Action] = []
        if current.transfer.failed {
            // Dropped, as in `bodyChunk(_:)`.
        } else if current.chunking {
            let held = current.transfer.held ?? ByteBuffer()
            current.transfer.held = nil
            current.transfer.endSent = true
            writeChunk(held, last: true, &current, &actions)
        } else {
            var output = ByteBuffer()
            current.transfer.stuffer.finish(into: &output)
            current.transfer.endSent = true
            current.transfer.outstanding += 1
            write(output, &actions)
        }
        transaction = current
        finishBodyStep(&actions)
        return actions
    }

    /// The timer for `timeout` fired: the step in progress fails as a temporary failure, and
    /// the connection is closed (its replies could no longer be matched to commands).
    public mutating func timedOut() -> [Action] {
        guard let timeout else { return [] }
        var actions: [Action] = []
        if case .awaitingQuitReply = state {
            close(&actions)
        } else {
            // A handshake that never completes is a failed handshake, for the cleartext retry too.
            let handshake = timeout.phase == .tlsHandshake && configuration.tlsPolicy == .opportunistic
            failSession(
                .timedOut(timeout.phase), reply: .clientTimeout(timeout.phase), isLocal: true,
                mayRetryWithoutTLS: handshake, &actions)
        }
        return actions
    }

    /// The connection closed or broke. Unless it was after QUIT, everything not decided is
    /// deferred.
    public mutating func connectionClosed() -> [Action] {
        var actions: [Action] = []
        switch state {
        case .closed:
            return []
        case .awaitingQuitReply, .connecting:
            state = .closed
            reportPendingAfterClose(&actions)
        default:
            failSession(.connectionLost, reply: .connectionLost, isLocal: true, closeConnection: false, &actions)
        }
        input.clear()
        return actions
    }

    /// No more messages: QUIT once the message in progress (if any) is reported.
    public mutating func finish() -> [Action] {
        var actions: [Action] = []
        switch state {
        case .closed, .awaitingQuitReply:
            return []
        case .connecting where pending == nil:
            close(&actions)
            return actions
        default:
            finishRequested = true
            advance(&actions)
            return actions
        }
    }

    // MARK: - Replies

    private mutating func handle(_ reply: SMTPReply, _ actions: inout [Action]) {
        let code = reply.code
        switch state {
        case .connecting, .awaitingTLS, .closed:
            return

        case .awaitingGreeting:
            if code.isPositiveCompletion, greetsAsThisHost(reply) {
                failSession(.loopsBackToThisHost, reply: .loopsBack, isLocal: true, quit: true, &actions)
            } else if code.isPositiveCompletion {
                write(.ehlo(configuration.hostname), &actions)
                state = .awaitingHello(extended: true)
            } else if code.isPositiveIntermediate {
                unexpected(reply, &actions)
            } else {
                // §3.1: 554 means no SMTP service here; the client SHOULD send QUIT.
                failSession(.greetingRefused, reply: reply, isLocal: false, quit: code.rawValue != 421, &actions)
            }

        case .awaitingHello(let extended):
            if code.isPositiveCompletion, greetsAsThisHost(reply) {
                failSession(.loopsBackToThisHost, reply: .loopsBack, isLocal: true, quit: true, &actions)
            } else if code.isPositiveCompletion {
                capabilities = extended ? ServerCapabilities(ehloReply: reply) : .none
                afterHello(&actions)
            } else if extended, code.rawValue == 500 || code.rawValue == 502 {
                // §3.2: a server that does not know EHLO says 500 or 502; fall back to HELO.
                write(.helo(configuration.hostname), &actions)
                state = .awaitingHello(extended: false)
            } else if code.rawValue == 421 {
                serviceClosing(reply, &actions)
            } else if code.isPositiveIntermediate {
                unexpected(reply, &actions)
            } else {
                failSession(.helloRefused, reply: reply, isLocal: false, quit: true, &actions)
            }

        case .awaitingStartTLSReply:
            if code.isPositiveCompletion {
                state = .awaitingTLS
                // Anything after the 220 in this read was sent in cleartext and is dropped.
                input.clear()
                parser.reset()
                actions.append(.startTLS)
            } else if code.rawValue == 421 {
                serviceClosing(reply, &actions)
            } else if code.isPositiveIntermediate {
                unexpected(reply, &actions)
            } else if configuration.tlsPolicy == .required {
                failSession(.tlsUnavailable, reply: .tlsRefused(reply), isLocal: true, quit: true, &actions)
            } else {
                // RFC 3207 §4: after a refused STARTTLS the session goes on without TLS.
                state = .ready
                advance(&actions)
            }

        case .awaitingAuthentication(let step):
            authenticationReply(reply, step: step, &actions)

        case .ready:
            if code.rawValue == 421 {
                serviceClosing(reply, &actions)
            } else {
                unexpected(reply, &actions)
            }

        case .awaitingResetReply:
            if code.isPositiveCompletion {
                needsReset = false
                state = .ready
                advance(&actions)
            } else if code.rawValue == 421 {
                serviceClosing(reply, &actions)
            } else {
                unexpected(reply, &actions)
            }

        case .envelope:
            envelopeReply(reply, &actions)

        case .awaitingDataReply:
            if code.isPositiveIntermediate {
                startBody(&actions)
            } else if code.rawValue == 421 {
                serviceClosing(reply, &actions)
            } else if code.isPositiveCompletion {
                unexpected(reply, &actions)
            } else {
                decideAccepted(reply, stage: .data)
                finishTransaction(needsReset: true, &actions)
            }

        case .body:
            bodyReply(reply, &actions)

        case .awaitingQuitReply:
            close(&actions)
        }
    }

    /// The reply to MAIL or to one RCPT, in the order they were sent.
    private mutating func envelopeReply(_ reply: SMTPReply, _ actions: inout [Action]) {
        guard var current = transaction else { return }
        let code = reply.code
        if code.rawValue == 421 { return serviceClosing(reply, &actions) }
        if code.isPositiveIntermediate { return unexpected(reply, &actions) }
        let position = current.repliesRead
        current.repliesRead += 1
        if position == 0 {
            if !code.isPositiveCompletion {
                // The whole message: 4yz defers, 5yz fails every recipient sent.
                current.mailFailed = true
                for index in current.sent {
                    current.results[index] = result(current, index, RecipientOutcome(reply), .mail, isLocal: false)
                }
            }
        } else if !current.mailFailed {
            let index = current.sent[position - 1]
            if code.isPositiveCompletion {
                current.accepted.append(index)
            } else {
                current.results[index] = result(current, index, RecipientOutcome(reply), .recipient, isLocal: false)
            }
        }
        transaction = current

        let expected = current.sent.count + 1
        if current.repliesRead < expected {
            guard !current.pipelined else { return }
            if current.mailFailed { return finishTransaction(needsReset: false, &actions) }
            write(recipientCommand(current, current.sent[current.repliesRead - 1]), &actions)
            return
        }
        if current.mailFailed {
            finishTransaction(needsReset: false, &actions)
        } else if current.accepted.isEmpty {
            // MAIL opened a transaction that no recipient joined.
            finishTransaction(needsReset: true, &actions)
        } else if current.chunking {
            startBody(&actions)
        } else {
            write(.data, &actions)
            state = .awaitingDataReply
        }
    }

    /// A reply while the body is under way: to a BDAT chunk, or to the final dot.
    private mutating func bodyReply(_ reply: SMTPReply, _ actions: inout [Action]) {
        guard var current = transaction else { return }
        let code = reply.code
        guard current.transfer.outstanding > 0 else {
            // Nothing asked for it: a server talking in the middle of the content.
            return unexpected(reply, &actions)
        }
        if code.rawValue == 421 { return serviceClosing(reply, &actions) }
        if code.isPositiveIntermediate { return unexpected(reply, &actions) }
        current.transfer.outstanding -= 1
        let isFinal = current.transfer.endSent && current.transfer.outstanding == 0
        let stage: Stage = current.chunking ? .bdat : .endOfData
        if !code.isPositiveCompletion, !current.transfer.failed {
            // RFC 3030 §2: after a refused chunk no further chunk may be sent; the ones in
            // the pipeline are answered and ignored.
            current.transfer.failed = true
            current.transfer.failureWasFinal = isFinal
            current.transfer.held = nil
            for index in current.accepted where current.results[index] == nil {
                current.results[index] = result(current, index, RecipientOutcome(reply), stage, isLocal: false)
            }
        } else if code.isPositiveCompletion, isFinal, !current.transfer.failed {
            for index in current.accepted where current.results[index] == nil {
                current.results[index] = result(current, index, .delivered(reply), stage, isLocal: false)
            }
        }
        transaction = current
        if !current.transfer.failed, !current.transfer.endSent, !current.transfer.requested,
            current.transfer.outstanding == 0
        {
            // Without PIPELINING the next chunk waited for this reply.
            transaction?.transfer.requested = true
            actions.append(.requestBodyChunk)
        }
        finishBodyStep(&actions)
    }

    /// Ends the transaction once the body's replies are all in and no chunk request is open.
    private mutating func finishBodyStep(_ actions: inout [Action]) {
        guard case .body = state, let current = transaction else { return }
        let transfer = current.transfer
        guard !transfer.requested, transfer.outstanding == 0, transfer.endSent || transfer.failed else { return }
        finishTransaction(needsReset: transfer.failed && !transfer.failureWasFinal, &actions)
    }

    /// The server names itself with this host's name in its greeting or EHLO reply: the MX
    /// (or relay) is this server, and the mail would go round in circles (Postfix: "mail for
    /// ... loops back to myself").
    private func greetsAsThisHost(_ reply: SMTPReply) -> Bool {
        guard let first = reply.lines.first?.split(separator: " ").first else { return false }
        return first.lowercased() == configuration.hostname.lowercased()
    }

    // MARK: - Session steps

    private mutating func afterHello(_ actions: inout [Action]) {
        let offersTLS = capabilities?.startTLS == true
        if !tlsActive {
            if configuration.tlsPolicy != .none, offersTLS {
                write(.startTLS, &actions)
                state = .awaitingStartTLSReply
                return
            }
            if configuration.tlsPolicy == .required {
                failSession(.tlsUnavailable, reply: .tlsNotOffered, isLocal: true, quit: true, &actions)
                return
            }
        }
        if let credentials = configuration.credentials, !authenticated {
            return startAuthentication(credentials, &actions)
        }
        state = .ready
        advance(&actions)
    }

    /// RFC 4954 §4: AUTH with the first mechanism both sides know, PLAIN before LOGIN; never
    /// in cleartext unless the configuration allows it (the password would be readable).
    private mutating func startAuthentication(_ credentials: Credentials, _ actions: inout [Action]) {
        guard tlsActive || !configuration.authenticationRequiresTLS else {
            return failSession(
                .authenticationUnavailable, reply: .authenticationNeedsTLS, isLocal: true, quit: true, &actions)
        }
        let mechanisms = Set((capabilities?.authenticationMechanisms ?? []).map { $0.uppercased() })
        if mechanisms.contains("PLAIN") {
            let response = Base64.encode([0] + Array(credentials.username.utf8) + [0] + Array(credentials.password.utf8))
            write(.auth(mechanism: "PLAIN", initialResponse: response), &actions)
            state = .awaitingAuthentication(.plain)
        } else if mechanisms.contains("LOGIN") {
            write(.auth(mechanism: "LOGIN", initialResponse: nil), &actions)
            state = .awaitingAuthentication(.loginUsername)
        } else {
            failSession(
                .authenticationUnavailable, reply: .noAuthenticationMechanism, isLocal: true, quit: true, &actions)
        }
    }

    private mutating func authenticationReply(
        _ reply: SMTPReply, step: AuthenticationStep, _ actions: inout [Action]
    ) {
        let code = reply.code
        if code.rawValue == 235, step == .plain || step == .loginFinal {
            authenticated = true
            state = .ready
            return advance(&actions)
        }
        if code.rawValue == 334, let credentials = configuration.credentials {
            switch step {
            case .loginUsername:
                write(ByteBuffer(string: Base64.encode(Array(credentials.username.utf8)) + "\r\n"), &actions)
                state = .awaitingAuthentication(.loginPassword)
                return
            case .loginPassword:
                write(ByteBuffer(string: Base64.encode(Array(credentials.password.utf8)) + "\r\n"), &actions)
                state = .awaitingAuthentication(.loginFinal)
                return
            case .plain, .loginFinal:
                // A challenge after the whole response: cancel the exchange (RFC 4954 §4).
                break
            }
        }
        if code.rawValue == 421 { return serviceClosing(reply, &actions) }
        if code.isPermanentNegative {
            // The relay refused the credentials: the mail waits until the configuration is fixed.
            return failSession(
                .authenticationFailed, reply: .authenticationRefused(reply), isLocal: true, quit: true, &actions)
        }
        if code.isTransientNegative {
            return failSession(.authenticationFailed, reply: reply, isLocal: false, quit: true, &actions)
        }
        unexpected(reply, &actions)
    }

    /// In `.ready`: starts the pending message (after RSET if needed), or QUITs if asked to.
    private mutating func advance(_ actions: inout [Action]) {
        guard case .ready = state else { return }
        if let message = pending {
            if needsReset {
                write(.rset, &actions)
                state = .awaitingResetReply
                return
            }
            pending = nil
            startTransaction(message, &actions)
        } else if finishRequested {
            write(.quit, &actions)
            state = .awaitingQuitReply
        }
    }

    private mutating func startTransaction(_ message: OutboundMessage, _ actions: inout [Action]) {
        let capabilities = self.capabilities ?? .none
        var current = Transaction(
            message: message, results: Array(repeating: nil, count: message.envelope.recipients.count))
        current.pipelined = configuration.usesPipelining && capabilities.pipelining
        current.chunking =
            capabilities.chunking && (message.body == .binaryMIME || configuration.prefersChunking)

        // Checks before anything is sent: what the server cannot take fails every recipient.
        var refusal: SMTPReply?
        if message.requiresSMTPUTF8, !capabilities.smtpUTF8 {
            refusal = .remoteLacksSMTPUTF8
        } else if message.body == .binaryMIME, !(capabilities.chunking && capabilities.binaryMIME) {
            refusal = .remoteLacksBinaryMIME
        } else if let limit = capabilities.maximumMessageSize, message.size > limit {
            refusal = .remoteSizeLimit(limit)
        } else if message.body == .eightBitMIME, !capabilities.eightBitMIME {
            switch configuration.eightBitFallback {
            case .sendAsIs: current.eightBitAsIs = true
            case .refuse: refusal = .remoteLacks8BITMIME
            }
        }
        if refusal == nil, let sender = message.envelope.sender, !Self.isSendable(sender) {
            refusal = .unsendableSender
        }
        for (index, recipient) in message.envelope.recipients.enumerated() {
            if let refusal {
                current.results[index] = result(current, index, RecipientOutcome(refusal), .connection, isLocal: true)
            } else if !Self.isSendable(recipient.address) {
                current.results[index] = result(
                    current, index, .failed(.unsendableRecipient), .recipient, isLocal: true)
            } else {
                current.sent.append(index)
            }
        }
        transaction = current
        guard !current.sent.isEmpty else { return finishTransaction(needsReset: false, &actions) }

        state = .envelope
        var batch = ByteBuffer()
        let parameters = mailParameters(message, capabilities: capabilities)
        SMTPCommand.mail(message.envelope.sender.map { .mailbox($0) } ?? .null, parameters).write(to: &batch)
        if current.pipelined {
            // RFC 2920 §3.1: MAIL and every RCPT in one group; DATA waits for their replies,
            // so a message no recipient takes is never sent.
            for index in current.sent { recipientCommand(current, index).write(to: &batch) }
        }
        write(batch, &actions)
    }

    private func mailParameters(_ message: OutboundMessage, capabilities: ServerCapabilities) -> MailParameters {
        var parameters = MailParameters()
        guard capabilities.extended else { return parameters }  // RFC 1869 §4: none after HELO.
        if capabilities.size { parameters.size = message.size }
        switch message.body {
        case .eightBitMIME where capabilities.eightBitMIME: parameters.body = .eightBitMIME
        case .binaryMIME: parameters.body = .binaryMIME
        default: break
        }
        parameters.smtpUTF8 = message.requiresSMTPUTF8
        if capabilities.dsn {
            parameters.dsnReturn = message.envelope.dsnReturn
            if let id = message.envelope.envelopeID, id.utf8.count <= 100, XText.isValid(id) {
                parameters.envelopeID = id
            }
        }
        return parameters
    }

    private func recipientCommand(_ current: Transaction, _ index: Int) -> SMTPCommand {
        let recipient = current.message.envelope.recipients[index]
        var parameters = RecipientParameters()
        if let capabilities, capabilities.dsn {
            parameters.notify = recipient.notify
            if let original = recipient.originalRecipient,
                ParameterParser.originalRecipient(original.parameterValue) != nil,
                capabilities.smtpUTF8 || original.parameterValue.utf8.allSatisfy({ $0 < 0x80 })
            {
                parameters.originalRecipient = original
            }
        }
        return .rcpt(ForwardPath(mailbox: recipient.address), parameters)
    }

    private mutating func startBody(_ actions: inout [Action]) {
        state = .body
        transaction?.bodyStarted = true
        transaction?.transfer.requested = true
        actions.append(.requestBodyChunk)
    }

    /// `BDAT size [LAST]` and the chunk (RFC 3030 §2), which is written as it came.
    private mutating func writeChunk(
        _ chunk: ByteBuffer, last: Bool, _ current: inout Transaction, _ actions: inout [Action]
    ) {
        var header = ByteBuffer()
        SMTPCommand.bdat(size: chunk.readableBytes, last: last).write(to: &header)
        write(header, &actions)
        if chunk.readableBytes > 0 { write(chunk, &actions) }
        current.transfer.outstanding += 1
    }

    private mutating func finishTransaction(needsReset: Bool, _ actions: inout [Action]) {
        guard let current = transaction else { return }
        transaction = nil
        self.needsReset = self.needsReset || needsReset
        actions.append(.reportDelivery(report(current, undecided: .connectionLost, stage: .connection)))
        state = .ready
        advance(&actions)
    }

    // MARK: - Ending the session

    private mutating func serviceClosing(_ reply: SMTPReply, _ actions: inout [Action]) {
        failSession(.serviceClosing, reply: reply, isLocal: false, &actions)
    }

    private mutating func unexpected(_ reply: SMTPReply, _ actions: inout [Action]) {
        failSession(
            .unexpectedReply, reply: .remoteProtocolError("unexpected reply \(reply.code) to \(currentStage)"),
            isLocal: true, &actions)
    }

    /// Reports every undecided recipient with `reply`, then why, then closes.
    private mutating func failSession(
        _ reason: SessionFailure.Reason, reply: SMTPReply, isLocal: Bool, mayRetryWithoutTLS: Bool = false,
        quit: Bool = false, closeConnection: Bool = true, _ actions: inout [Action]
    ) {
        let stage = currentStage
        if let current = transaction {
            transaction = nil
            actions.append(.reportDelivery(report(current, undecided: reply, stage: stage, isLocal: isLocal)))
        }
        if let message = pending {
            pending = nil
            report(message, everyRecipient: reply, stage: stage, isLocal: isLocal, &actions)
        }
        let failure = SessionFailure(
            reason: reason, reply: reply, isLocal: isLocal, mayRetryWithoutTLS: mayRetryWithoutTLS)
        self.failure = failure
        actions.append(.reportSessionFailure(failure))
        if quit { write(.quit, &actions) }
        state = .closed
        input.clear()
        if closeConnection { actions.append(.close) }
    }

    private mutating func close(_ actions: inout [Action]) {
        state = .closed
        input.clear()
        actions.append(.close)
        reportPendingAfterClose(&actions)
    }

    /// A message handed over while the session was ending normally.
    private mutating func reportPendingAfterClose(_ actions: inout [Action]) {
        if let message = pending {
            pending = nil
            report(message, everyRecipient: .sessionClosed, stage: .connection, isLocal: true, &actions)
        }
    }

    /// The command whose reply is awaited, for results decided by a session failure.
    private var currentStage: Stage {
        switch state {
        case .connecting, .ready, .closed, .awaitingQuitReply: .connection
        case .awaitingGreeting: .greeting
        case .awaitingHello: .hello
        case .awaitingStartTLSReply, .awaitingTLS: .startTLS
        case .awaitingAuthentication: .authentication
        case .awaitingResetReply: .reset
        case .envelope: transaction?.repliesRead == 0 ? .mail : .recipient
        case .awaitingDataReply: .data
        case .body: transaction?.chunking == true ? .bdat : .endOfData
        }
    }

    // MARK: - Results

    private mutating func decideAccepted(_ reply: SMTPReply, stage: Stage) {
        guard var current = transaction else { return }
        for index in current.accepted where current.results[index] == nil {
            current.results[index] = result(current, index, RecipientOutcome(reply), stage, isLocal: false)
        }
        transaction = current
    }

    private func result(
        _ current: Transaction, _ index: Int, _ outcome: RecipientOutcome, _ stage: Stage, isLocal: Bool
    ) -> RecipientResult {
        RecipientResult(
            recipient: current.message.envelope.recipients[index], outcome: outcome, stage: stage, isLocal: isLocal)
    }

    /// The report of a transaction; recipients still undecided get `undecided`.
    private func report(
        _ current: Transaction, undecided: SMTPReply, stage: Stage, isLocal: Bool = true
    ) -> DeliveryReport {
        let results = current.results.indices.map { index in
            current.results[index] ?? result(current, index, RecipientOutcome(undecided), stage, isLocal: isLocal)
        }
        return DeliveryReport(
            recipients: results, tls: tlsActive, remoteSupportsDSN: capabilities?.dsn ?? false,
            sentEightBitWithout8BITMIME: current.eightBitAsIs && current.bodyStarted,
            repairedLineEndings: current.transfer.stuffer.repairedLineEndings)
    }

    private func report(
        _ message: OutboundMessage, everyRecipient reply: SMTPReply, stage: Stage, isLocal: Bool,
        _ actions: inout [Action]
    ) {
        let results = message.envelope.recipients.map {
            RecipientResult(recipient: $0, outcome: RecipientOutcome(reply), stage: stage, isLocal: isLocal)
        }
        actions.append(
            .reportDelivery(
                DeliveryReport(recipients: results, tls: tlsActive, remoteSupportsDSN: capabilities?.dsn ?? false)))
    }

    // MARK: - Output

    private mutating func write(_ command: SMTPCommand, _ actions: inout [Action]) {
        var buffer = ByteBuffer()
        command.write(to: &buffer)
        write(buffer, &actions)
    }

    private mutating func write(_ buffer: ByteBuffer, _ actions: inout [Action]) {
        step += 1
        actions.append(.write(buffer))
    }

    /// True when the address, written between angle brackets, parses as an RFC 5321 path:
    /// nothing from an envelope built elsewhere can inject a line or a parameter.
    static func isSendable(_ address: MailAddress) -> Bool {
        var text = address.description
        guard text.utf8.count + 2 <= Limits.path else { return false }
        return text.withUTF8 { bytes in
            var cursor = ByteCursor(UnsafeRawBufferPointer(bytes))
            guard let parsed = PathParser.mailbox(&cursor), cursor.isAtEnd else { return false }
            return parsed == address
        }
    }
}
