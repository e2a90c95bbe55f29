import NIOCore
import TernMail
import TernSMTPCore
import TernSASL
import TernTestSupport

/// The SMTP protocol core: what a client sends to Tern's listeners (session, command lines,
/// paths and parameters, message content, SASL) and what a next hop answers Tern's client.
enum SMTPTargets {
    /// A whole server session driven with arbitrary client bytes, the way `SMTPSession`
    /// drives it: commands, pipelining, DATA and BDAT content, AUTH exchanges, STARTTLS.
    ///
    /// Input: `flags`, `read seed`, then the client's octets. Flags choose the listener's
    /// configuration (STARTTLS, implicit TLS, AUTH mechanisms, required AUTH, pipelining
    /// refusal, small limits) and how the driver answers checks, AUTH and commits.
    static let server = FuzzTarget(
        name: "smtp-server",
        summary: "ServerSessionStateMachine fed arbitrary client octets (commands, DATA, BDAT, AUTH)",
        maximumLength: 16 * 1024
    ) { bytes in
        var input = FuzzInput(bytes)
        let flags = input.byte()
        let seed = input.byte()
        var driver = ServerDriver(flags: flags)
        driver.run(driver.machine.greet())
        for read in FuzzInput.reads(input.rest, seed: seed) {
            guard !driver.machine.isClosed else { break }
            driver.run(driver.machine.bytesReceived(ByteBuffer(bytes: read)))
            var rounds = 0
            while driver.machine.hasMoreInput, rounds < 10_000 {
                driver.run(driver.machine.resumeProcessing())
                rounds += 1
            }
        }
        if flags & 0x40 != 0 {
            driver.run(driver.machine.shutdownRequested())
        } else {
            driver.run(driver.machine.timedOut())
        }
        driver.run(driver.machine.connectionClosed())
    }

    /// One command line (without CRLF) through `CommandParser`, and a command it accepts
    /// written back and parsed again: what Tern's client writes must read back as itself.
    static let command = FuzzTarget(
        name: "smtp-command",
        summary: "CommandParser.parse on one command line; accepted commands re-encoded and re-parsed",
        maximumLength: 2048
    ) { bytes in
        parseAndRoundTrip(bytes)
    }

    /// Addresses, paths and ESMTP parameters (PathParser, ParameterParser, xtext): the input
    /// is what follows `MAIL FROM:` and `RCPT TO:`, and is also given to `XText` alone.
    static let path = FuzzTarget(
        name: "smtp-path",
        summary: "MAIL FROM:/RCPT TO: paths and ESMTP parameters (xtext, SIZE, NOTIFY, ORCPT) via CommandParser",
        maximumLength: 1024
    ) { bytes in
        parseAndRoundTrip(Array("MAIL FROM:".utf8) + bytes)
        parseAndRoundTrip(Array("RCPT TO:".utf8) + bytes)
        let text = String(decoding: bytes, as: UTF8.self)
        _ = XText.isValid(text)
        _ = XText.isValid(text, allowingUTF8: true)
        _ = XText.decode(text)
        _ = MailAddress(stored: text)
    }

    /// Message content as the session reads it: dot-unstuffing (DATA) in arbitrary reads with
    /// the hop counter, and dot-stuffing (what Tern sends on) with the stuffed text read back.
    ///
    /// Input: `read seed`, `line limit`, then the content.
    static let data = FuzzTarget(
        name: "smtp-data",
        summary: "DotUnstuffer and HopCounter over DATA content in arbitrary reads; DotStuffer round trip",
        maximumLength: 16 * 1024
    ) { bytes in
        var input = FuzzInput(bytes)
        let seed = input.byte()
        let lineLimit = 8 + Int(input.byte()) * 8
        var unstuffer = DotUnstuffer(textLineLimit: lineLimit)
        var hops = HopCounter()
        var pending = ByteBuffer()
        reads: for read in FuzzInput.reads(input.rest, seed: seed) {
            pending.writeBytes(read)
            if unstuffer.decode(&pending, emit: { hops.scan($0) }) == .endOfData { break reads }
        }
        // What Tern relays: stuffed, then read back as a receiving server would.
        var stuffer = DotStuffer()
        var stuffed = ByteBuffer()
        for read in FuzzInput.reads(input.rest, seed: seed &+ 1) {
            stuffer.encode(ByteBuffer(bytes: read), into: &stuffed)
        }
        stuffer.finish(into: &stuffed)
        var reader = DotUnstuffer(textLineLimit: 0)
        let outcome = reader.decode(&stuffed) { _ in }
        fuzzCheck(outcome == .endOfData, "stuffed content did not end at its terminator")
        fuzzCheck(stuffed.readableBytes == 0, "stuffed content ended early, \(stuffed.readableBytes) octets left")
        fuzzCheck(!reader.sawBareLineEnding, "stuffed content carries a bare CR or LF")
    }

    /// SASL (RFC 4954) as the session runs it: the base64 of a response decoded (and encoded
    /// back), then PLAIN, LOGIN or SCRAM-SHA-256 started and given the responses.
    ///
    /// Input: `mechanism`, then responses separated by CRLF, each base64 (or `=`, `*`).
    static let sasl = FuzzTarget(
        name: "sasl",
        summary: "Base64 decode/encode round trip and SASLServerExchange (PLAIN, LOGIN, SCRAM-SHA-256)",
        maximumLength: 4096
    ) { bytes in
        var input = FuzzInput(bytes)
        let mechanisms = ["PLAIN", "LOGIN", "SCRAM-SHA-256", "CRAM-MD5"]
        let mechanism = mechanisms[Int(input.byte()) % mechanisms.count]
        let lines = input.rest.split(separator: 0x0A, omittingEmptySubsequences: false).map { line in
            line.last == 0x0D ? line.dropLast() : line
        }
        var responses: [[UInt8]?] = []
        for line in lines {
            if let decoded = Base64.decode(line) {
                fuzzCheck(Base64.decode(Array(Base64.encode(decoded).utf8)) == decoded, "base64 round trip changed octets")
                responses.append(decoded)
            } else {
                responses.append(line.elementsEqual("=".utf8) ? [] : nil)
            }
            // Raw octets too: the exchange must refuse them, not trap.
            responses.append(Array(line))
        }
        let initial = responses.first ?? nil
        guard var (exchange, _) = SASLServerExchange.start(mechanism, initialResponse: initial) else { return }
        for response in responses.dropFirst() {
            _ = exchange.respond(response ?? [])
        }
    }

    /// A next hop's replies through `ReplyParser`, in arbitrary reads, with small and default
    /// limits; each parsed reply is written back and parsed again.
    ///
    /// Input: `read seed`, `limits`, then the server's octets.
    static let reply = FuzzTarget(
        name: "smtp-reply",
        summary: "ReplyParser over a hostile next hop's octets in arbitrary reads; replies re-encoded",
        maximumLength: 16 * 1024
    ) { bytes in
        var input = FuzzInput(bytes)
        let seed = input.byte()
        let limitsByte = input.byte()
        let limits =
            limitsByte & 1 == 0
            ? ReplyParser.Limits()
            : ReplyParser.Limits(maximumLineLength: 8 + Int(limitsByte >> 1), maximumLines: 1 + Int(limitsByte & 0x0E))
        var parser = ReplyParser(limits: limits)
        var buffer = ByteBuffer()
        reads: for read in FuzzInput.reads(input.rest, seed: seed) {
            buffer.writeBytes(read)
            while true {
                switch parser.parse(&buffer) {
                case .reply(let reply):
                    _ = ServerCapabilities(ehloReply: reply)
                    var written = ByteBuffer()
                    reply.write(to: &written)
                    var again = ReplyParser()
                    if case .reply(let reparsed) = again.parse(&written) {
                        fuzzCheck(reparsed.code == reply.code, "reply code changed in a round trip")
                    }
                case .needMoreData:
                    continue reads
                case .failure:
                    break reads
                }
            }
        }
    }

    /// Tern's SMTP client (`ClientSessionStateMachine`) talking to a hostile next hop: it sends
    /// one message (two when the first completes) and gets the input as the server's octets.
    ///
    /// Input: `flags`, `read seed`, then the server's octets. Flags choose the TLS policy,
    /// CHUNKING and PIPELINING preferences, credentials and the handshake's outcome.
    static let client = FuzzTarget(
        name: "smtp-client",
        summary: "ClientSessionStateMachine fed a hostile next hop's replies",
        maximumLength: 16 * 1024
    ) { bytes in
        var input = FuzzInput(bytes)
        let flags = input.byte()
        let seed = input.byte()
        var driver = ClientDriver(flags: flags)
        driver.run(driver.machine.connected())
        driver.run(driver.machine.send(message: driver.message))
        for read in FuzzInput.reads(input.rest, seed: seed) {
            guard !driver.machine.isClosed else { break }
            driver.run(driver.machine.bytesReceived(ByteBuffer(bytes: read)))
        }
        if flags & 0x80 != 0 {
            driver.run(driver.machine.finish())
        }
        driver.run(driver.machine.timedOut())
        driver.run(driver.machine.connectionClosed())
    }

    private static func parseAndRoundTrip(_ line: [UInt8]) {
        guard case .command(let command) = line.withUnsafeBytes({ CommandParser.parse($0) }) else { return }
        // `RCPT TO:<Postmaster>` (no domain, RFC 5321 §4.1.1.3) is for this server only: Tern's
        // client never sends it on, and `MailAddress` writes it as `Postmaster@`.
        if case .rcpt(let path, _) = command, path.mailbox.domain.isEmpty { return }
        // A line with a bare CR or LF is refused by the session before it is parsed
        // (`CommandLineFramer`'s `hasBareLineEnding`), so it is never a command to write.
        if line.contains(0x0A) || line.contains(0x0D) { return }
        var written = ByteBuffer()
        command.write(to: &written)
        // `write` ends the line with CRLF; the parser takes the line without it.
        let view = written.readableBytesView
        fuzzCheck(view.suffix(2).elementsEqual([0x0D, 0x0A]), "encoded command does not end in CRLF")
        let encoded = Array(view.dropLast(2))
        fuzzCheck(!encoded.contains(0x0D) && !encoded.contains(0x0A), "encoded command carries CR or LF")
        // The written form is canonical (a source route is dropped, RFC 5321 §4.1.1.3), so it is
        // the written form that must survive: parsed again and written again, the same octets.
        let text = String(decoding: encoded, as: UTF8.self)
        guard case .command(let reparsed) = encoded.withUnsafeBytes({ CommandParser.parse($0) }) else {
            fuzzCheck(false, "an encoded command is refused: \(text)")
            return
        }
        var rewritten = ByteBuffer()
        reparsed.write(to: &rewritten)
        fuzzCheck(rewritten == written, "command changed in a round trip: \(command) -> \(text) -> \(reparsed)")
    }
}

/// Answers the server machine's actions as `SMTPSession` does, with decisions taken from
/// the input's flags.
private struct ServerDriver {
    var machine: ServerSessionStateMachine
    let flags: UInt8
    private var checks = 0
    private var commits = 0
    private var exchangeStep = 0
    private var generator = SplitMix64(seed: 1)

    init(flags: UInt8) {
        self.flags = flags
        var configuration = ServerSessionStateMachine.Configuration(
            hostname: "mx.fuzz.test", startTLSAvailable: flags & 0x01 != 0, implicitTLS: flags & 0x02 != 0)
        if flags & 0x04 != 0 {
            configuration.authenticationMechanisms = [.plain, .login, .scramSHA256]
            configuration.authenticationRequiresTLS = flags & 0x01 != 0
        }
        configuration.requiresAuthentication = flags & 0x08 != 0
        configuration.forbidsPipeliningAfterGreeting = flags & 0x10 != 0
        if flags & 0x20 != 0 {
            // Small limits, so short inputs reach every limit.
            configuration.maximumMessageSize = 64
            configuration.maximumRecipients = 3
            configuration.commandLineLimit = 64
            configuration.textLineLimit = 32
            configuration.maximumErrors = 4
            configuration.maximumCommandsWithoutTransaction = 6
            configuration.maximumHops = 2
        }
        machine = ServerSessionStateMachine(configuration: configuration)
    }

    mutating func run(_ actions: [ServerSessionStateMachine.Action]) {
        ActionLoop.run(actions) { action, queue in
            switch action {
            case .sendReply(let reply):
                var buffer = ByteBuffer()
                reply.write(to: &buffer)
            case .checkSender, .checkRecipient:
                checks += 1
                // With flag 0x80, every third check is refused.
                let decision: ServerSessionStateMachine.PolicyDecision =
                    flags & 0x80 != 0 && checks % 3 == 0
                    ? .reject(SMTPReply(550, EnhancedStatusCode(5, 7, 1), "refused")) : .accept
                queue += machine.policyDecided(decision)
            case .beginMessage, .appendBody, .abortMessage:
                break
            case .commitMessage:
                commits += 1
                if flags & 0x80 != 0, commits % 2 == 0 {
                    queue += machine.messageCommitFailed(.localError)
                } else {
                    let id = QueueID(microsecondsSinceEpoch: UInt64(commits), using: &generator)
                    queue += machine.messageCommitted(id)
                }
            case .authenticate(let credentials):
                let decision: ServerSessionStateMachine.AuthenticationDecision
                switch (credentials.username, credentials.password) {
                case ("alice", "secret"): decision = .accepted(user: "alice")
                case (_, "later"): decision = .temporaryFailure
                default: decision = .rejected
                }
                queue += machine.authenticationDecided(decision)
            case .continueAuthentication(_, let response, let isFirst):
                if isFirst { exchangeStep = 0 }
                exchangeStep += 1
                let decision: ServerSessionStateMachine.AuthenticationDecision =
                    switch exchangeStep {
                    case 1: .challenge(Array("r=nonce,s=c2FsdA==,i=4096".utf8))
                    case 2: response.first == UInt8(ascii: "c") ? .challenge(Array("v=proof".utf8)) : .malformed
                    default: response.isEmpty ? .accepted(user: "alice") : .rejected
                    }
                queue += machine.authenticationDecided(decision)
            case .startTLS:
                // The handshake succeeds, unless flag 0x40 says the peer vanished during it.
                if flags & 0x40 == 0 {
                    queue += machine.tlsEstablished()
                } else {
                    queue += machine.connectionClosed()
                }
            case .close:
                break
            }
        }
    }
}

/// Answers the client machine's actions as the outbound driver does.
private struct ClientDriver {
    var machine: ClientSessionStateMachine
    let flags: UInt8
    let message: OutboundMessage
    private var bodyChunks = 0
    private var messagesSent = 1

    init(flags: UInt8) {
        self.flags = flags
        let policies: [ClientSessionStateMachine.TLSPolicy] = [.none, .opportunistic, .required, .opportunistic]
        let configuration = ClientSessionStateMachine.Configuration(
            hostname: "client.fuzz.test",
            tlsPolicy: policies[Int(flags & 0x03)],
            eightBitFallback: flags & 0x04 != 0 ? .refuse : .sendAsIs,
            prefersChunking: flags & 0x08 != 0,
            usesPipelining: flags & 0x10 != 0,
            replyLimits: flags & 0x20 != 0 ? ReplyParser.Limits(maximumLineLength: 64, maximumLines: 4) : .init(),
            credentials: flags & 0x20 != 0 ? .init(username: "user", password: "password") : nil,
            authenticationRequiresTLS: flags & 0x01 != 0)
        machine = ClientSessionStateMachine(configuration: configuration)
        let envelope = Envelope(
            sender: MailAddress(localPart: "sender", domain: "fuzz.test"),
            recipients: [
                EnvelopeRecipient(address: MailAddress(localPart: "a", domain: "next.test"), notify: DSNNotify(failure: true)),
                EnvelopeRecipient(address: MailAddress(localPart: "b", domain: "next.test")),
            ],
            body: flags & 0x04 != 0 ? .eightBitMIME : nil,
            dsnReturn: .headers,
            envelopeID: "fuzz+2Bid")
        message = OutboundMessage(envelope: envelope, size: 40)
    }

    mutating func run(_ actions: [ClientSessionStateMachine.Action]) {
        ActionLoop.run(actions) { action, queue in
            switch action {
            case .write:
                break
            case .startTLS:
                queue += flags & 0x40 != 0 ? machine.tlsFailed() : machine.tlsEstablished()
            case .requestBodyChunk:
                bodyChunks += 1
                if bodyChunks % 3 == 0 {
                    queue += machine.bodyEnd()
                } else {
                    queue += machine.bodyChunk(ByteBuffer(string: "Subject: x\r\n\r\n.line\r\nend\r"))
                }
            case .reportDelivery:
                // One more message on the same connection, as the connection cache would.
                if messagesSent < 2 {
                    messagesSent += 1
                    queue += machine.send(message: message)
                }
            case .reportSessionFailure, .close:
                break
            }
        }
    }
}
