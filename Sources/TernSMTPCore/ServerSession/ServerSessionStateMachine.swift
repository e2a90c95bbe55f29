public import NIOCore
public import TernMail
import TernSASL

/// The server side of one SMTP session (RFC 5321 §4.1.4 command order, §4.3.2 replies), with
/// PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531),
/// ENHANCEDSTATUSCODES (RFC 2034, RFC 3463), CHUNKING and BINARYMIME (RFC 3030), DSN
/// (RFC 3461) and STARTTLS (RFC 3207).
///
/// Events in (`greet`, `bytesReceived`, `policyDecided`, `messageCommitted`, `tlsEstablished`,
/// `shutdownRequested`, `timedOut`, `connectionClosed`), actions out. The machine owns the
/// input buffer: it frames command lines, holds pipelined input while a check or a commit is
/// pending, and hands body octets to the driver as slices of what was read.
///
/// Security notes:
/// - Input that arrives before the greeting closes the session (early talker).
/// - Input read after STARTTLS and before the handshake is discarded (CVE-2011-0411).
/// - DATA content that arrived before the 354 reply is a synchronization error (RFC 2920 §3.1
///   puts DATA last in a group): it is refused and the session closed, never stored.
/// - Every limit (line, size, recipients, errors, idle commands) has a reply and keeps the
///   session sane; the error limit ends it with 421.
public struct ServerSessionStateMachine: Sendable {
    enum State: Sendable {
        case awaitingGreeting
        case command
        /// A line over its limit is being skipped; then `reply` answers it.
        case discardingLongLine(reply: SMTPReply)
        case awaitingSenderCheck(ReversePath, MailParameters)
        case awaitingRecipientCheck(ForwardPath, RecipientParameters)
        case data(DotUnstuffer)
        case bdatChunk(size: Int, remaining: Int, last: Bool, failure: SMTPReply?)
        case awaitingCommit
        case awaitingTLS
        /// AUTH is under way: the next line is a SASL response (RFC 4954 §4).
        case authenticating(SASLServerExchange)
        /// `authenticate` or `continueAuthentication` was asked; the decision is awaited. The
        /// exchange goes on if the decision is a challenge.
        case awaitingAuthentication(SASLServerExchange)
        case closed
    }

    struct Greeting: Sendable {
        var clientName: String
        var extended: Bool
    }

    struct Transaction: Sendable {
        var envelope: Envelope
        var messageBegun = false
        var usesBDAT = false
        var bodySize = 0
        var hops = HopCounter()
        /// RCPTs refused with 452 because the recipient limit was reached.
        var recipientOvershoot = 0
    }

    /// How many RCPTs past the recipient limit one transaction may send before each further 452
    /// counts as an error (Postfix's `smtpd_recipient_overshoot_limit`). RFC 5321 §4.5.3.1.10:
    /// a client pipelining a long list is answered 452 for the extras and sends them in a later
    /// transaction, which is no abuse; counting them toward the 421 limit would end that session
    /// before its message, and lose the recipients that were accepted.
    static let recipientOvershootLimit = 1000

    public let configuration: Configuration
    private var state: State = .awaitingGreeting
    private var input = ByteBuffer()
    private var greeting: Greeting?
    private var transaction: Transaction?
    private var framer: CommandLineFramer
    public private(set) var tlsActive: Bool
    /// Error replies sent so far; the driver slows down a client past a soft limit.
    public private(set) var errors = 0
    private var commandsWithoutTransaction = 0
    private var closeAfterTransaction = false
    /// The user the client authenticated as; nil until a successful AUTH.
    public private(set) var authenticatedUser: String?
    /// The open transaction's `SIZE=` (RFC 1870 §4), for the recipient checks that weigh it.
    public var declaredSize: Int? { transaction?.envelope.declaredSize }
    /// SASL responses may be far longer than commands (RFC 4954 §4: at least 12288 octets).
    private let responseFramer = CommandLineFramer(maximumLength: Limits.saslResponse + 2)

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.tlsActive = configuration.implicitTLS
        self.framer = CommandLineFramer(maximumLength: configuration.commandLineLimit + Limits.commandLineExtension)
    }

    /// Octets read but not yet processed (for the hostile-input tests).
    var bufferedInputForTests: Int { input.readableBytes }

    /// True once the session has ended; the driver closes the connection.
    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// True while a message is being received (DATA content, a BDAT chunk, or its commit).
    public var isReceivingMessage: Bool {
        switch state {
        case .data, .bdatChunk, .awaitingCommit: true
        default: false
        }
    }

    // MARK: - Events

    /// The driver is ready to send the greeting (after any greeting delay).
    public mutating func greet() -> [Action] {
        guard case .awaitingGreeting = state else { return [] }
        state = .command
        var actions: [Action] = [.sendReply(SMTPReply(220, nil, "\(configuration.hostname) ESMTP Tern"))]
        process(&actions)
        return actions
    }

    /// Octets read from the client.
    public mutating func bytesReceived(_ bytes: ByteBuffer) -> [Action] {
        switch state {
        case .closed:
            return []
        case .awaitingTLS:
            // Plaintext that follows STARTTLS before the handshake: never executed.
            return []
        case .awaitingGreeting:
            // RFC 5321 §4.3.1: the client waits for the greeting. One that talks first is
            // a spam engine or an attack; nothing it sent may start a transaction.
            state = .closed
            input.clear()
            return [.sendReply(.earlyTalker), .close]
        default:
            if input.readableBytes == 0 {
                input = bytes
            } else {
                var bytes = bytes
                input.writeBuffer(&bytes)
            }
            var actions: [Action] = []
            process(&actions)
            return actions
        }
    }

    /// The answer to the pending `checkSender` or `checkRecipient`.
    public mutating func policyDecided(_ decision: PolicyDecision) -> [Action] {
        var actions: [Action] = []
        switch state {
        case .awaitingSenderCheck(let path, let parameters):
            state = .command
            switch decision {
            case .accept:
                transaction = Transaction(
                    envelope: Envelope(
                        sender: path.mailbox,
                        body: parameters.body,
                        smtpUTF8: parameters.smtpUTF8,
                        dsnReturn: parameters.dsnReturn,
                        envelopeID: parameters.envelopeID,
                        declaredSize: parameters.size))
                commandsWithoutTransaction = 0
                reply(.senderOK, &actions)
            case .reject(let rejection):
                reply(rejection, &actions)
            case .disconnect:
                drop(&actions)
            }
        case .awaitingRecipientCheck(let path, let parameters):
            state = .command
            switch decision {
            case .accept:
                transaction?.envelope.recipients.append(
                    EnvelopeRecipient(
                        address: path.mailbox, notify: parameters.notify,
                        originalRecipient: parameters.originalRecipient))
                reply(.recipientOK, &actions)
            case .reject(let rejection):
                reply(rejection, &actions)
            case .disconnect:
                drop(&actions)
            }
        default:
            return []
        }
        process(&actions)
        return actions
    }

    /// The answer to the pending `authenticate` or `continueAuthentication`.
    public mutating func authenticationDecided(_ decision: AuthenticationDecision) -> [Action] {
        guard case .awaitingAuthentication(let exchange) = state else { return [] }
        state = .command
        var actions: [Action] = []
        switch decision {
        case .challenge(let challenge):
            state = .authenticating(exchange)
            actions.append(.sendReply(SMTPReply(334, nil, Base64.encode(challenge))))
        case .malformed:
            reply(.saslMalformed, &actions)
        case .accepted(let user):
            authenticatedUser = user
            reply(.authenticationSucceeded, &actions)
        case .rejected:
            reply(.authenticationFailed, &actions)
        case .temporaryFailure:
            reply(.authenticationTemporaryFailure, &actions)
        }
        process(&actions)
        return actions
    }

    /// The message is durable under this identifier: now, and only now, 250 may be sent.
    public mutating func messageCommitted(_ id: QueueID) -> [Action] {
        finishCommit(with: .queued(as: id))
    }

    /// The message could not be made durable; `failure` is a 4yz or 5yz reply.
    public mutating func messageCommitFailed(_ failure: SMTPReply) -> [Action] {
        finishCommit(with: failure)
    }

    /// The message is not taken and the connection closes without a reply (the catcher's
    /// failure injection at the end of DATA).
    public mutating func messageDropped() -> [Action] {
        guard case .awaitingCommit = state else { return [] }
        var actions: [Action] = []
        drop(&actions)
        return actions
    }

    /// The TLS handshake after STARTTLS completed. RFC 3207 §4.2: the server must discard
    /// any knowledge obtained from the client before TLS, so EHLO is required again.
    public mutating func tlsEstablished() -> [Action] {
        guard case .awaitingTLS = state else { return [] }
        tlsActive = true
        greeting = nil
        transaction = nil
        authenticatedUser = nil
        input.clear()
        state = .command
        return []
    }

    /// The server is stopping: sessions between transactions get 421 now; a message being
    /// received may finish, and then the session gets 421.
    public mutating func shutdownRequested() -> [Action] {
        switch state {
        case .closed:
            return []
        case .data, .bdatChunk, .awaitingCommit:
            closeAfterTransaction = true
            return []
        default:
            var actions: [Action] = []
            closeSession(with: .shutdownRequested(configuration.hostname), &actions)
            return actions
        }
    }

    /// The client was silent for longer than the driver's timeout (RFC 5321 §4.5.3.2).
    public mutating func timedOut() -> [Action] {
        guard !isClosed else { return [] }
        var actions: [Action] = []
        closeSession(with: .timeout(configuration.hostname), &actions)
        return actions
    }

    /// The connection is gone; an open message is abandoned.
    public mutating func connectionClosed() -> [Action] {
        var actions: [Action] = []
        abortTransaction(&actions)
        state = .closed
        return actions
    }

    // MARK: - Processing input

    private mutating func process(_ actions: inout [Action]) {
        var units = 0
        hasMoreInput = false
        while processNext(&actions) {
            units += 1
            if units >= Self.unitsPerBatch, input.readableBytes > 0 {
                // A client that pipelines thousands of commands in one write gets them answered
                // in batches, so one connection cannot hold its event loop (and every other
                // session on it) for long. The driver calls `resumeProcessing()` later.
                hasMoreInput = true
                break
            }
        }
        if input.readableBytes == 0 {
            input = ByteBuffer()
        }
    }

    /// Input units (command lines, data slices) handled per event before yielding.
    static let unitsPerBatch = 256

    /// True when input is waiting that the last event left for `resumeProcessing()`.
    public private(set) var hasMoreInput = false

    /// Goes on with input left over by the batch limit.
    public mutating func resumeProcessing() -> [Action] {
        var actions: [Action] = []
        process(&actions)
        return actions
    }

    /// Handles one unit of input; false when more input (or an event) is needed.
    private mutating func processNext(_ actions: inout [Action]) -> Bool {
        switch state {
        case .command:
            switch framer.nextLine(&input) {
            case .needMoreData:
                return false
            case .tooLong:
                state = .discardingLongLine(reply: .lineTooLong)
                return true
            case .line(let line, let hasBareLineEnding):
                if hasBareLineEnding {
                    reply(.bareLineEnding, &actions)
                } else if line.readableBytes + 2 > commandLimit(for: line) {
                    reply(.lineTooLong, &actions)
                } else {
                    let parsed = CommandParser.parse(line)
                    execute(parsed, &actions)
                    if input.readableBytes > 0, case .command = state,
                        greeting?.extended == false || isGreeting(parsed) && forbidsPipeliningNow
                    {
                        // RFC 2920 §3.1: without PIPELINING (a HELO client) every command
                        // waits for its reply, and EHLO is the last command of any group.
                        // Input already here was written blind.
                        closeSession(with: .protocolSynchronization, &actions)
                    }
                }
                return !isClosed
            }
        case .discardingLongLine(let lineReply):
            guard framer.discardLine(&input) else { return false }
            state = .command
            reply(lineReply, &actions)
            return !isClosed
        case .data(var unstuffer):
            let messageIsOpen = transaction?.messageBegun == true
            var size = transaction?.bodySize ?? 0
            var hops = transaction?.hops ?? HopCounter()
            let outcome = unstuffer.decode(&input) { chunk in
                size += chunk.readableBytes
                if messageIsOpen {
                    hops.scan(chunk)
                    actions.append(.appendBody(chunk))
                }
            }
            transaction?.bodySize = size
            transaction?.hops = hops
            state = .data(unstuffer)
            if messageIsOpen,
                unstuffer.sawBareLineEnding || unstuffer.sawNUL || unstuffer.sawLongLine
                    || size > configuration.maximumMessageSize
            {
                // Refused whatever follows: stop writing it and drop what was written.
                actions.append(.abortMessage)
                transaction?.messageBegun = false
            }
            guard outcome == .endOfData else { return false }
            finishData(unstuffer, size: size, &actions)
            return !isClosed
        case .bdatChunk(let size, let remaining, let last, let failure):
            let take = min(remaining, input.readableBytes)
            if take > 0, let chunk = input.readSlice(length: take), failure == nil {
                actions.append(.appendBody(chunk))
                transaction?.bodySize += take
                transaction?.hops.scan(chunk)
            }
            let left = remaining - take
            guard left == 0 else {
                state = .bdatChunk(size: size, remaining: left, last: last, failure: failure)
                return false
            }
            state = .command
            if let failure {
                reply(failure, &actions)
            } else if last {
                if let loop = loopFailure() {
                    abortTransaction(&actions)
                    reply(loop, &actions)
                    return !isClosed
                }
                actions.append(.commitMessage)
                state = .awaitingCommit
                return false
            } else {
                reply(.chunkReceived(octets: size), &actions)
                if closeAfterTransaction { closeSession(with: .shutdownRequested(configuration.hostname), &actions) }
            }
            return !isClosed
        case .authenticating(var exchange):
            switch responseFramer.nextLine(&input) {
            case .needMoreData:
                return false
            case .tooLong:
                // The exchange is over; the rest of the line is discarded like a long command.
                state = .discardingLongLine(reply: .saslLineTooLong)
                return true
            case .line(let line, let hasBareLineEnding):
                state = .command
                if hasBareLineEnding { return replyAndContinue(.bareLineEnding, &actions) }
                if line.readableBytesView.elementsEqual("*".utf8) {
                    // RFC 4954 §4: the client cancels the exchange.
                    return replyAndContinue(.saslCancelled, &actions)
                }
                guard let response = Base64.decode(line.readableBytesView) else {
                    return replyAndContinue(.saslBadBase64, &actions)
                }
                let step = exchange.respond(response)
                authenticationStep(step, exchange, &actions)
                return !isClosed && !isWaitingForAuthentication
            }
        case .awaitingGreeting, .awaitingSenderCheck, .awaitingRecipientCheck, .awaitingCommit, .awaitingTLS,
            .awaitingAuthentication, .closed:
            return false
        }
    }

    private func isGreeting(_ parsed: CommandParseResult) -> Bool {
        switch parsed {
        case .command(.ehlo), .command(.helo): true
        default: false
        }
    }

    private var forbidsPipeliningNow: Bool {
        configuration.forbidsPipeliningAfterGreeting && authenticatedUser == nil
    }

    private var isWaitingForAuthentication: Bool {
        if case .awaitingAuthentication = state { return true }
        return false
    }

    private mutating func replyAndContinue(_ reply: SMTPReply, _ actions: inout [Action]) -> Bool {
        self.reply(reply, &actions)
        return !isClosed
    }

    /// MAIL and RCPT may be longer than other commands by the room their ESMTP parameters
    /// need (RFC 1869 §4.1.2, RFC 3461 §5).
    private func commandLimit(for line: ByteBuffer) -> Int {
        let extended = line.withUnsafeReadableBytes { bytes -> Bool in
            guard bytes.count >= 4 else { return false }
            var word: UInt32 = 0
            for index in 0..<4 { word = word << 8 | UInt32(ByteCursor.asciiUppercased(bytes[index])) }
            return word == UInt32(CommandParser.Verb.mail) || word == UInt32(CommandParser.Verb.rcpt)
        }
        return configuration.commandLineLimit + (extended ? Limits.commandLineExtension : 0)
    }

    private mutating func finishData(_ unstuffer: DotUnstuffer, size: Int, _ actions: inout [Action]) {
        state = .command
        let failure: SMTPReply? =
            if unstuffer.sawBareLineEnding {
                .bareLineEndingInData
            } else if unstuffer.sawNUL {
                .nulInData
            } else if unstuffer.sawLongLine {
                .textLineTooLong(limit: unstuffer.textLineLimit)
            } else if size > configuration.maximumMessageSize {
                .messageTooBig
            } else {
                loopFailure()
            }
        if let failure {
            abortTransaction(&actions)
            reply(failure, &actions)
            if closeAfterTransaction { closeSession(with: .shutdownRequested(configuration.hostname), &actions) }
        } else {
            actions.append(.commitMessage)
            state = .awaitingCommit
        }
    }

    /// RFC 5321 §6.3: too many Received fields means a mail loop.
    private func loopFailure() -> SMTPReply? {
        guard let hops = transaction?.hops.count, hops > configuration.maximumHops else { return nil }
        return .tooManyHops
    }

    private mutating func finishCommit(with result: SMTPReply) -> [Action] {
        guard case .awaitingCommit = state else { return [] }
        state = .command
        transaction = nil
        var actions: [Action] = []
        reply(result, &actions)
        if closeAfterTransaction, !isClosed {
            closeSession(with: .shutdownRequested(configuration.hostname), &actions)
        }
        process(&actions)
        return actions
    }

    // MARK: - Commands

    private mutating func execute(_ parsed: CommandParseResult, _ actions: inout [Action]) {
        if transaction == nil {
            commandsWithoutTransaction += 1
            if commandsWithoutTransaction > configuration.maximumCommandsWithoutTransaction {
                closeSession(with: .tooManyCommands(configuration.hostname), &actions)
                return
            }
        }
        let command: SMTPCommand
        switch parsed {
        case .rejected(let rejection):
            reply(rejection, &actions)
            return
        case .command(let parsedCommand):
            command = parsedCommand
        }

        switch command {
        case .ehlo(let name), .helo(let name):
            // §4.1.4: EHLO or HELO in a transaction resets it, as RSET would.
            abortTransaction(&actions)
            let extended = if case .ehlo = command { true } else { false }
            greeting = Greeting(clientName: name, extended: extended)
            reply(extended ? ehloReply() : SMTPReply(250, nil, configuration.hostname), &actions)

        case .mail(let path, let parameters):
            guard let greeting else { return reply(.needHelo, &actions) }
            guard transaction == nil else { return reply(.nestedMail, &actions) }
            if configuration.requiresTLS, !tlsActive { return reply(.startTLSRequired, &actions) }
            if configuration.requiresAuthentication, authenticatedUser == nil {
                return reply(.authenticationRequired, &actions)
            }
            // RFC 1869 §4: ESMTP parameters exist only after EHLO.
            guard greeting.extended || parameters == MailParameters() else {
                return reply(.unknownParameter, &actions)
            }
            if let size = parameters.size, size > configuration.maximumMessageSize {
                return reply(.messageTooBig, &actions)
            }
            if !parameters.smtpUTF8, path.mailbox?.isInternationalized == true {
                return reply(.internationalizedAddressNeedsSMTPUTF8, &actions)
            }
            state = .awaitingSenderCheck(path, parameters)
            actions.append(.checkSender(path, parameters))

        case .rcpt(var path, let parameters):
            guard let current = transaction else { return reply(.needMail, &actions) }
            guard greeting?.extended == true || parameters == RecipientParameters() else {
                return reply(.unknownParameter, &actions)
            }
            guard !current.usesBDAT else { return reply(.recipientAfterBDAT, &actions) }
            guard current.envelope.recipients.count < configuration.maximumRecipients else {
                transaction?.recipientOvershoot += 1
                if current.recipientOvershoot < Self.recipientOvershootLimit {
                    actions.append(.sendReply(.tooManyRecipients))
                    return
                }
                return reply(.tooManyRecipients, &actions)
            }
            if !current.envelope.smtpUTF8, path.mailbox.isInternationalized {
                return reply(.internationalizedAddressNeedsSMTPUTF8, &actions)
            }
            if path.isUnqualifiedPostmaster { path.mailbox.domain = configuration.hostname }
            state = .awaitingRecipientCheck(path, parameters)
            actions.append(.checkRecipient(path, parameters))

        case .data:
            guard let current = transaction else { return reply(.needMail, &actions) }
            guard !current.usesBDAT else { return reply(.dataAfterBDAT, &actions) }
            guard !current.envelope.recipients.isEmpty else { return reply(.needRecipient, &actions) }
            guard current.envelope.body != .binaryMIME else { return reply(.binaryNeedsBDAT, &actions) }
            guard input.readableBytes == 0 else {
                // The content came before our 354: it was written blind, and a server that
                // took it would be one half of a smuggling pair.
                transaction = nil
                closeSession(with: .protocolSynchronization, &actions)
                return
            }
            beginMessage(&actions)
            reply(.startData, &actions)
            state = .data(DotUnstuffer(textLineLimit: configuration.textLineLimit))

        case .bdat(let size, let last):
            // RFC 3030 §2: the chunk is read whatever the reply, so its octets are never
            // mistaken for commands.
            var failure: SMTPReply?
            if greeting?.extended == false {
                failure = .chunkingNeedsEHLO
            } else if let current = transaction {
                if current.envelope.recipients.isEmpty {
                    failure = .needRecipient
                } else if current.bodySize + size > configuration.maximumMessageSize {
                    failure = .messageTooBig
                    abortTransaction(&actions)
                } else if !current.usesBDAT {
                    transaction?.usesBDAT = true
                    beginMessage(&actions)
                }
            } else {
                failure = .needMail
            }
            state = .bdatChunk(size: size, remaining: size, last: last, failure: failure)

        case .rset:
            abortTransaction(&actions)
            reply(.ok, &actions)

        case .noop:
            reply(.ok, &actions)

        case .vrfy:
            reply(.cannotVerify, &actions)

        case .expn:
            reply(.notImplemented, &actions)

        case .help:
            reply(.help, &actions)

        case .quit:
            abortTransaction(&actions)
            actions.append(.sendReply(.closing(configuration.hostname)))
            actions.append(.close)
            state = .closed
            input.clear()

        case .auth(let mechanismName, let initialResponse):
            guard greeting?.extended == true else { return reply(.needHelo, &actions) }
            guard !configuration.authenticationMechanisms.isEmpty else { return reply(.authenticationNotOffered, &actions) }
            guard authenticatedUser == nil else { return reply(.alreadyAuthenticated, &actions) }
            guard transaction == nil else { return reply(.authenticationInTransaction, &actions) }
            guard tlsActive || !configuration.authenticationRequiresTLS else {
                return reply(.authenticationNeedsEncryption, &actions)
            }
            guard let mechanism = SASLCredentials.Mechanism(rawValue: mechanismName),
                configuration.authenticationMechanisms.contains(mechanism)
            else { return reply(.unknownMechanism, &actions) }
            var response: [UInt8]?
            if let initialResponse {
                // RFC 4954 §4: "=" is an initial response of zero length.
                guard let decoded = initialResponse == "=" ? [] : Base64.decode(initialResponse.utf8) else {
                    return reply(.saslBadBase64, &actions)
                }
                response = decoded
            }
            guard let (exchange, step) = SASLServerExchange.start(mechanism.rawValue, initialResponse: response) else {
                return reply(.unknownMechanism, &actions)
            }
            authenticationStep(step, exchange, &actions)

        case .startTLS:
            guard greeting != nil else { return reply(.needHelo, &actions) }
            guard !tlsActive else { return reply(.tlsAlreadyActive, &actions) }
            guard configuration.startTLSAvailable else { return reply(.tlsNotAvailable, &actions) }
            abortTransaction(&actions)
            actions.append(.sendReply(.readyToStartTLS))
            actions.append(.startTLS)
            state = .awaitingTLS
            // Whatever the client pipelined after STARTTLS was sent in cleartext.
            input.clear()
        }
    }

    /// Acts on what the SASL exchange says: a challenge, a check, or a refusal.
    private mutating func authenticationStep(
        _ step: SASLServerExchange.Step, _ exchange: SASLServerExchange, _ actions: inout [Action]
    ) {
        switch step {
        case .challenge(let challenge):
            state = .authenticating(exchange)
            // 334 carries base64 only, never an enhanced code (RFC 4954 §4).
            actions.append(.sendReply(SMTPReply(334, nil, Base64.encode(challenge))))
        case .credentials(let credentials):
            state = .awaitingAuthentication(exchange)
            actions.append(.authenticate(credentials))
        case .exchange(let mechanism, let response, let isFirst):
            state = .awaitingAuthentication(exchange)
            actions.append(.continueAuthentication(mechanism, response, isFirst: isFirst))
        case .malformed:
            state = .command
            reply(.saslMalformed, &actions)
        }
    }

    /// AUTH is offered when mechanisms are configured and the session is encrypted (or the
    /// configuration allows cleartext), and not again once the client has authenticated.
    private var offersAuthentication: Bool {
        !configuration.authenticationMechanisms.isEmpty && authenticatedUser == nil
            && (tlsActive || !configuration.authenticationRequiresTLS)
    }

    /// `ehlo-ok-rsp` (§4.1.1.1): the host name, then one keyword per line.
    private func ehloReply() -> SMTPReply {
        var lines = [
            configuration.hostname,
            "PIPELINING",
            "SIZE \(configuration.maximumMessageSize)",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            "CHUNKING",
            "BINARYMIME",
            "DSN",
        ]
        if configuration.startTLSAvailable, !tlsActive { lines.append("STARTTLS") }
        if offersAuthentication {
            lines.append((["AUTH"] + configuration.authenticationMechanisms.map(\.rawValue)).joined(separator: " "))
        }
        return SMTPReply(250, nil, lines)
    }

    private mutating func beginMessage(_ actions: inout [Action]) {
        guard let current = transaction, let greeting else { return }
        transaction?.messageBegun = true
        actions.append(
            .beginMessage(
                MessageStart(
                    envelope: current.envelope,
                    clientName: greeting.clientName,
                    receivedProtocol: receivedProtocol(greeting: greeting, smtpUTF8: current.envelope.smtpUTF8),
                    authenticatedUser: authenticatedUser)))
    }

    /// The `with` protocol of the Received header: RFC 3848 (ESMTPS, ESMTPA, ESMTPSA) and
    /// RFC 6531 §3.7.3 (UTF8SMTP, UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA).
    private func receivedProtocol(greeting: Greeting, smtpUTF8: Bool) -> String {
        guard greeting.extended else { return "SMTP" }
        return (smtpUTF8 ? "UTF8SMTP" : "ESMTP") + (tlsActive ? "S" : "") + (authenticatedUser != nil ? "A" : "")
    }

    private mutating func abortTransaction(_ actions: inout [Action]) {
        if transaction?.messageBegun == true { actions.append(.abortMessage) }
        transaction = nil
    }

    /// Sends a reply, counting errors; past the error limit the session ends with 421. A 421
    /// ends the session itself: the server is closing the channel (RFC 5321 §3.8, §4.2.3).
    private mutating func reply(_ reply: SMTPReply, _ actions: inout [Action]) {
        guard reply.code.rawValue != 421 else { return closeSession(with: reply, &actions) }
        actions.append(.sendReply(reply))
        guard reply.code.rawValue >= 400 else { return }
        errors += 1
        if errors > configuration.maximumErrors {
            closeSession(with: .tooManyErrors(configuration.hostname), &actions)
        }
    }

    /// Closes without another word: the transaction is dropped, nothing more is read.
    private mutating func drop(_ actions: inout [Action]) {
        abortTransaction(&actions)
        actions.append(.close)
        state = .closed
        input.clear()
    }

    private mutating func closeSession(with finalReply: SMTPReply, _ actions: inout [Action]) {
        abortTransaction(&actions)
        actions.append(.sendReply(finalReply))
        actions.append(.close)
        state = .closed
        input.clear()
    }
}

extension SMTPReply {
    static func shutdownRequested(_ hostname: String) -> SMTPReply { .shuttingDown(hostname) }
    static let chunkingNeedsEHLO = SMTPReply(
        503, EnhancedStatusCode(5, 5, 1), "Error: BDAT requires EHLO (CHUNKING, RFC 3030)")
    static let tooManyHops = SMTPReply(
        554, EnhancedStatusCode(5, 4, 6), "Error: too many hops (Received headers); mail loop?")
    static let recipientAfterBDAT = SMTPReply(
        503, EnhancedStatusCode(5, 5, 1), "Error: RCPT not allowed after BDAT; send BDAT LAST or RSET")
}
