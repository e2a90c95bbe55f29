public import NIOCore
public import TernSASL
import TernMail

/// One IMAP connection, server side, without I/O (RFC 9051 §3 states, §6 commands): bytes and
/// decisions in, actions out, like TernSMTPCore's ServerSessionStateMachine.
///
/// The machine frames and parses commands and answers those of the connection itself
/// (CAPABILITY, NOOP outside a mailbox, LOGOUT, STARTTLS, ID, ENABLE, and BAD for what does not
/// parse or is not allowed in the state). It runs the SASL exchanges of AUTHENTICATE (RFC 9051
/// §6.2.2, SASL-IR of RFC 4959) and the DONE of IDLE (RFC 2177). It hands the rest to the
/// driver: credentials to check (`.authenticate`, `.continueAuthentication`), a mailbox command
/// (`.execute`), an IDLE's start and end. While the driver works on one, no further command is
/// read (`commandCompleted()`, `authenticationCompleted`), so responses keep the order of the
/// commands.
///
/// Security notes: LOGIN and AUTHENTICATE are refused before TLS when `loginRequiresTLS`
/// (LOGINDISABLED, §6.2.3; no AUTH= is advertised then); after STARTTLS's OK whatever the client
/// sent in plaintext behind the command is discarded (§6.2.1: the STARTTLS command-injection
/// class), and so is plaintext that arrives before the handshake completes. The literal limits
/// are small before login and larger after it; a SASL response line is bounded too.
public struct IMAPServerSession: Sendable {
    public struct Configuration: Sendable {
        /// The greeting's text after `* OK`.
        public var greeting: String
        /// STARTTLS is offered (a TLS context exists and the connection is not TLS yet).
        public var startTLSAvailable: Bool
        /// The connection is TLS from its start (port 993).
        public var implicitTLS: Bool
        /// LOGIN and AUTHENTICATE only under TLS (the default; a loopback developer catcher may
        /// turn it off).
        public var loginRequiresTLS: Bool
        /// The SASL mechanisms AUTHENTICATE runs (`AUTH=` capabilities): PLAIN, SCRAM-SHA-256.
        public var authenticationMechanisms: [SASLCredentials.Mechanism]
        /// The framer's limits before and after authentication.
        public var unauthenticatedLimits: IMAPCommandFramer.Configuration
        public var authenticatedLimits: IMAPCommandFramer.Configuration
        /// Capabilities the role adds once authenticated (IDLE, MOVE, UIDPLUS, ...).
        public var authenticatedCapabilities: [String]
        /// What ENABLE may turn on (RFC 5161), besides IMAP4rev2 and UTF8=ACCEPT (RFC 9051 §6.3.1).
        public var enableableExtensions: [String]
        /// COMPRESS=DEFLATE (RFC 4978) is offered once authenticated: the driver can compress.
        public var compressionAvailable: Bool

        public init(
            greeting: String = "Tern IMAP ready", startTLSAvailable: Bool = false, implicitTLS: Bool = false,
            loginRequiresTLS: Bool = true, authenticationMechanisms: [SASLCredentials.Mechanism] = [.plain],
            unauthenticatedLimits: IMAPCommandFramer.Configuration = .init(maximumLineLength: 64 * 1024, maximumLiteralSize: 8192),
            authenticatedLimits: IMAPCommandFramer.Configuration = .init(),
            authenticatedCapabilities: [String] = [], enableableExtensions: [String] = [], compressionAvailable: Bool = false
        ) {
            self.greeting = greeting
            self.startTLSAvailable = startTLSAvailable
            self.implicitTLS = implicitTLS
            self.loginRequiresTLS = loginRequiresTLS
            self.authenticationMechanisms = authenticationMechanisms
            self.unauthenticatedLimits = unauthenticatedLimits
            self.authenticatedLimits = authenticatedLimits
            self.authenticatedCapabilities = authenticatedCapabilities
            self.enableableExtensions = enableableExtensions
            self.compressionAvailable = compressionAvailable
        }
    }

    /// §3: the connection's state.
    public enum State: Sendable, Hashable {
        case notAuthenticated
        case authenticated(user: String)
        /// A mailbox is selected; `mailbox` is the name the client used.
        case selected(user: String, mailbox: String, readOnly: Bool)
        case logout
    }

    public enum Action: Sendable, Hashable {
        case send(ByteBuffer)
        /// Start TLS now (the OK was sent just before); call `tlsEstablished()` once it is up.
        case startTLS
        /// Check these credentials (LOGIN, AUTHENTICATE PLAIN); answer with
        /// `authenticationCompleted`.
        case authenticate(SASLCredentials)
        /// A response of a challenge–response mechanism (SCRAM-SHA-256) for the driver's
        /// exchange, the first of a new one when `isFirst`; answer with `authenticationCompleted`.
        case continueAuthentication(SASLCredentials.Mechanism, response: [UInt8], isFirst: Bool)
        /// A command of the authenticated or selected state, for the role; answer it (untagged
        /// data and the tagged status), then call `commandCompleted()`.
        case execute(IMAPCommand)
        /// IDLE began (the continuation request went out): send mailbox updates as they happen.
        case startIdle(tag: String)
        /// IDLE ended: `done` when the client sent DONE, false when it sent something else (the
        /// role answers `BAD`). Send what is pending and the tagged status, then call
        /// `commandCompleted()`.
        case endIdle(tag: String, done: Bool)
        /// Compress everything from here on, both ways, with raw DEFLATE (RFC 4978; the OK went
        /// out just before, uncompressed).
        case startCompression
        /// Close the connection (after what was sent).
        case close
    }

    /// The driver's verdict on credentials, or the next step of an exchange.
    public enum AuthenticationOutcome: Sendable, Hashable {
        /// Logged in as `user` (the account's name).
        case accepted(user: String)
        /// Send this challenge and read the client's next response.
        case challenge([UInt8])
        case rejected
        /// The credentials could not be checked now (`NO [UNAVAILABLE]`).
        case unavailable
        /// The response was not valid for the mechanism.
        case malformed
        /// The credentials are right, but the user has as many sessions as allowed
        /// (`NO [LIMIT]`, RFC 5530 §3); the client may try again once one ends.
        case tooManySessions
    }

    /// The longest SASL response line accepted: a SCRAM client-final message for a 255-octet
    /// name is well under 2 KB in base64.
    public static let maximumAuthenticationLineLength = 8192

    public let configuration: Configuration
    public private(set) var state = State.notAuthenticated
    /// What ENABLE turned on, upper case (IMAP4rev2 selects RFC 9051's responses over RFC 3501's).
    public private(set) var enabled: Set<String> = []
    private var framer: IMAPCommandFramer
    private var input = ByteBuffer()
    public private(set) var tlsActive: Bool
    /// A command handed to the driver and not answered yet: nothing more is read meanwhile.
    private var waiting = false
    /// STARTTLS was answered and TLS is not up yet: plaintext that arrives now is dropped.
    private var awaitingTLS = false
    /// COMPRESS=DEFLATE is on (RFC 4978): a second COMPRESS is refused.
    public private(set) var compressionActive = false
    /// The AUTHENTICATE or LOGIN under way.
    private var login: Login?
    /// The tag of the IDLE under way, while DONE is awaited.
    private var idleTag: String?

    private struct Login: Sendable {
        var tag: String
        /// AUTHENTICATE's SASL exchange; nil for LOGIN.
        var exchange: SASLServerExchange?
        /// The exchange waits for the client's next response line (not the driver).
        var awaitingResponse = false
    }

    public init(configuration: Configuration) {
        self.configuration = configuration
        tlsActive = configuration.implicitTLS
        framer = IMAPCommandFramer(configuration: configuration.unauthenticatedLimits)
    }

    /// The user logged in, if one is.
    public var user: String? {
        switch state {
        case .authenticated(let user), .selected(let user, _, _): user
        case .notAuthenticated, .logout: nil
        }
    }

    /// Whether the client speaks IMAP4rev2 (it ENABLEd it, §6.3.1); IMAP4rev1 otherwise.
    public var isRev2: Bool { enabled.contains("IMAP4REV2") }

    /// Whether mailbox names and quoted strings may carry UTF-8 (IMAP4rev2, RFC 9051 §6.3.1;
    /// UTF8=ACCEPT, RFC 6855).
    public var acceptsUTF8: Bool { isRev2 || enabled.contains("UTF8=ACCEPT") }

    public var isClosed: Bool { state == .logout }

    private var mayLogIn: Bool { tlsActive || !configuration.loginRequiresTLS }

    /// The capabilities of the current state (§7.2.2), IMAP4rev2 first.
    public var capabilities: [String] {
        var list = ["IMAP4rev2", "IMAP4rev1", "LITERAL-", "ID", "ENABLE"]
        switch state {
        case .notAuthenticated:
            if configuration.startTLSAvailable && !tlsActive { list.append("STARTTLS") }
            if mayLogIn {
                list += configuration.authenticationMechanisms.map { "AUTH=" + $0.rawValue }
                list.append("SASL-IR")
            } else {
                list.append("LOGINDISABLED")
            }
        case .authenticated, .selected:
            list += configuration.authenticatedCapabilities
            if configuration.compressionAvailable { list.append("COMPRESS=DEFLATE") }
        case .logout:
            break
        }
        return list
    }

    /// `greeting = "*" SP (resp-cond-auth / resp-cond-bye) CRLF`, with the capabilities.
    public mutating func greet() -> [Action] {
        [.send(status(tag: nil, .ok, code: "CAPABILITY " + capabilities.joined(separator: " "), text: configuration.greeting))]
    }

    /// Octets from the client.
    public mutating func bytesReceived(_ bytes: ByteBuffer) -> [Action] {
        guard !awaitingTLS, state != .logout else { return [] }
        var bytes = bytes
        input.writeBuffer(&bytes)
        return process()
    }

    /// Goes on with input kept back.
    public mutating func resumeProcessing() -> [Action] { process() }

    /// TLS is up after STARTTLS: the client starts over (it asks for CAPABILITY again).
    public mutating func tlsEstablished() -> [Action] {
        tlsActive = true
        awaitingTLS = false
        waiting = false
        return process()
    }

    /// The driver's answer to `.authenticate` or `.continueAuthentication`.
    public mutating func authenticationCompleted(_ outcome: AuthenticationOutcome) -> [Action] {
        guard var login else { return process() }
        waiting = false
        var actions: [Action] = []
        switch outcome {
        case .accepted(let user):
            self.login = nil
            state = .authenticated(user: user)
            framer.configuration = configuration.authenticatedLimits
            let text = login.exchange == nil ? "LOGIN completed" : "AUTHENTICATE completed"
            actions.append(.send(status(tag: login.tag, .ok, code: "CAPABILITY " + capabilities.joined(separator: " "), text: text)))
        case .challenge(let challenge) where login.exchange != nil:
            login.awaitingResponse = true
            self.login = login
            var buffer = ByteBuffer(string: "+ ")
            buffer.writeString(Base64.encode(challenge))
            buffer.writeStaticString("\r\n")
            actions.append(.send(buffer))
        case .challenge, .rejected:
            self.login = nil
            actions.append(.send(status(tag: login.tag, .no, code: "AUTHENTICATIONFAILED", text: "Authentication failed")))
        case .unavailable:
            self.login = nil
            actions.append(.send(status(tag: login.tag, .no, code: "UNAVAILABLE", text: "Temporary authentication failure")))
        case .malformed:
            self.login = nil
            actions.append(.send(status(tag: login.tag, .bad, text: "Malformed authentication response")))
        case .tooManySessions:
            self.login = nil
            actions.append(.send(status(tag: login.tag, .no, code: "LIMIT", text: "Too many connections for this user")))
        }
        return actions + process()
    }

    /// The driver answered an `.execute`d command or an `.endIdle`: read the next command.
    public mutating func commandCompleted() -> [Action] {
        waiting = false
        return process()
    }

    /// The driver selected a mailbox (SELECT or EXAMINE succeeded): the selected state (§3.3).
    public mutating func mailboxSelected(_ mailbox: String, readOnly: Bool) {
        guard let user else { return }
        state = .selected(user: user, mailbox: mailbox, readOnly: readOnly)
    }

    /// The driver closed the selected mailbox (CLOSE, UNSELECT, a failed SELECT): back to the
    /// authenticated state.
    public mutating func mailboxClosed() {
        guard let user else { return }
        state = .authenticated(user: user)
    }

    /// The server ends the session (a timeout, a shutdown): `* BYE` and close.
    public mutating func end(_ text: String) -> [Action] {
        guard state != .logout else { return [] }
        state = .logout
        return [.send(status(tag: nil, .bye, text: text)), .close]
    }

    /// Frames and handles commands until input runs out or one waits for the driver.
    private mutating func process() -> [Action] {
        var actions: [Action] = []
        while !waiting, !awaitingTLS, state != .logout {
            if login?.awaitingResponse == true || idleTag != nil {
                guard let line = readResponseLine(&actions) else { return actions }
                actions += idleTag != nil ? idleLine(line) : authenticationResponse(line)
                continue
            }
            switch framer.next(&input) {
            case .needMoreData:
                return actions
            case .continuationRequested:
                actions.append(.send(continuation("Ready for literal data")))
            case .literalRefused(let tag, _):
                actions.append(.send(status(tag: tag, .bad, code: "TOOBIG", text: "Literal too large")))
            case .fatal(let reason):
                let text =
                    switch reason {
                    case .lineTooLong: "Command line too long"
                    case .literalTooLarge: "Literal too large"
                    case .commandTooLarge: "Command too large"
                    }
                actions += end(text)
            case .command(let octets):
                do {
                    actions += handle(try IMAPCommandParser.parse(octets))
                } catch {
                    actions.append(.send(status(tag: error.tag, .bad, text: error.reason.description)))
                }
            }
        }
        return actions
    }

    /// One line of an AUTHENTICATE exchange or IDLE, without its CRLF; nil while it is
    /// incomplete. A line over the limit ends the session.
    private mutating func readResponseLine(_ actions: inout [Action]) -> [UInt8]? {
        let limit = Self.maximumAuthenticationLineLength
        let found = input.withUnsafeReadableBytes { LineEnd.find(in: $0, limit: limit) }
        guard let found else {
            if input.readableBytes >= limit { actions += end("Line too long") }
            return nil
        }
        let line = input.readBytes(length: found.end) ?? []
        input.moveReaderIndex(forwardBy: 2)
        return line
    }

    /// RFC 2177 §3: the client ends IDLE with `DONE`.
    private mutating func idleLine(_ line: [UInt8]) -> [Action] {
        guard let tag = idleTag else { return [] }
        idleTag = nil
        waiting = true
        return [.endIdle(tag: tag, done: IMAPCharacters.uppercased(line) == "DONE")]
    }

    /// RFC 9051 §6.2.2: each response is a base64 line, `*` cancels the exchange.
    private mutating func authenticationResponse(_ line: [UInt8]) -> [Action] {
        guard var login, var exchange = login.exchange else { return [] }
        login.awaitingResponse = false
        self.login = login
        if line == [UInt8(ascii: "*")] {
            self.login = nil
            return [.send(status(tag: login.tag, .bad, text: "AUTHENTICATE cancelled"))]
        }
        guard let response = Base64.decode(line) else {
            self.login = nil
            return [.send(status(tag: login.tag, .bad, text: "Invalid base64 in the response"))]
        }
        let step = exchange.respond(response)
        return sasl(step, exchange, tag: login.tag)
    }

    /// Acts on what the SASL exchange says: a challenge, credentials to check, a response for
    /// the driver's exchange, or a refusal.
    private mutating func sasl(_ step: SASLServerExchange.Step, _ exchange: SASLServerExchange, tag: String) -> [Action] {
        login = Login(tag: tag, exchange: exchange)
        switch step {
        case .challenge(let challenge):
            login?.awaitingResponse = true
            return [.send(ByteBuffer(string: "+ " + Base64.encode(challenge) + "\r\n"))]
        case .credentials(let credentials):
            waiting = true
            return [.authenticate(credentials)]
        case .exchange(let mechanism, let response, let isFirst):
            waiting = true
            return [.continueAuthentication(mechanism, response: response, isFirst: isFirst)]
        case .malformed:
            login = nil
            return [.send(status(tag: tag, .bad, text: "Malformed authentication response"))]
        }
    }

    private mutating func handle(_ command: IMAPCommand) -> [Action] {
        let tag = command.tag
        switch command.kind {
        case .capability:
            return [
                .send(untagged("CAPABILITY " + capabilities.joined(separator: " "))),
                .send(status(tag: tag, .ok, text: "CAPABILITY completed")),
            ]
        case .noop:
            guard case .selected = state else { return [.send(status(tag: tag, .ok, text: "NOOP completed"))] }
            // With a mailbox selected, NOOP is also a poll for its updates (§6.1.2): the role's.
            waiting = true
            return [.execute(command)]
        case .logout:
            // §6.1.3: BYE, then the tagged OK, then the server closes.
            state = .logout
            return [.send(status(tag: nil, .bye, text: "Logging out")), .send(status(tag: tag, .ok, text: "LOGOUT completed")), .close]
        case .id:
            // RFC 2971 §3.1: the server answers with its own (short) identification.
            return [.send(untagged("ID (\"name\" \"Tern\")")), .send(status(tag: tag, .ok, text: "ID completed"))]
        case .startTLS:
            guard state == .notAuthenticated, configuration.startTLSAvailable, !tlsActive else {
                return [.send(status(tag: tag, .bad, text: "STARTTLS is not available now"))]
            }
            // Whatever followed STARTTLS in plaintext must not be read as sent over TLS.
            input.clear()
            framer = IMAPCommandFramer(configuration: configuration.unauthenticatedLimits)
            awaitingTLS = true
            return [.send(status(tag: tag, .ok, text: "Begin TLS negotiation now")), .startTLS]
        case .login(let user, let password):
            guard state == .notAuthenticated else { return [.send(status(tag: tag, .bad, text: "Already authenticated"))] }
            guard mayLogIn else {
                return [.send(status(tag: tag, .no, code: "PRIVACYREQUIRED", text: "LOGIN is disabled until STARTTLS"))]
            }
            guard let name = SASLPlain.field(user, allowEmpty: false), let secret = SASLPlain.field(password, allowEmpty: false) else {
                return [.send(status(tag: tag, .no, code: "AUTHENTICATIONFAILED", text: "Authentication failed"))]
            }
            login = Login(tag: tag)
            waiting = true
            return [.authenticate(SASLCredentials(mechanism: .login, username: name, password: secret))]
        case .authenticate(let name, let initialResponse):
            return authenticate(tag: tag, mechanism: name, initialResponse: initialResponse)
        case .enable(let extensions):
            guard case .authenticated = state else {
                return [.send(status(tag: tag, .bad, text: "ENABLE is allowed only before SELECT, after login"))]
            }
            // RFC 5161 §3.1: only what was not enabled before is listed in ENABLED.
            let known = Set(["IMAP4REV2", "UTF8=ACCEPT"] + configuration.enableableExtensions.map { IMAPCharacters.uppercased(Array($0.utf8)) })
            var newly: [String] = []
            for name in extensions where known.contains(name) && !enabled.contains(name) {
                enabled.insert(name)
                newly.append(name)
            }
            // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
            if enabled.contains("QRESYNC") { enabled.insert("CONDSTORE") }
            let listed = newly.map { $0 == "IMAP4REV2" ? "IMAP4rev2" : $0 }
            return [
                .send(untagged((["ENABLED"] + listed).joined(separator: " "))),
                .send(status(tag: tag, .ok, text: "ENABLE completed")),
            ]
        case .compress(let algorithm):
            guard user != nil else { return [.send(status(tag: tag, .bad, text: "Log in first"))] }
            guard !compressionActive else {
                return [.send(status(tag: tag, .no, code: "COMPRESSIONACTIVE", text: "DEFLATE active via COMPRESS"))]
            }
            guard algorithm == "DEFLATE", configuration.compressionAvailable else {
                return [.send(status(tag: tag, .bad, text: "Unknown compression algorithm \(algorithm)"))]
            }
            // RFC 4978 §3: compression starts right after the OK. What the client sent behind the
            // command before reading the OK cannot have been compressed by it: dropped.
            input.clear()
            compressionActive = true
            return [.send(status(tag: tag, .ok, text: "DEFLATE active")), .startCompression]
        case .idle:
            guard user != nil else { return [.send(status(tag: tag, .bad, text: "Log in first"))] }
            idleTag = tag
            return [.send(continuation("idling")), .startIdle(tag: tag)]
        case .check, .close, .unselect, .expunge, .search, .fetch, .store, .copy, .move:
            guard case .selected = state else {
                return [.send(status(tag: tag, .bad, text: user == nil ? "Log in first" : "No mailbox selected"))]
            }
            if case .fetch(_, _, _, let changedSince, true) = command.kind {
                // RFC 7162 §3.2.6: VANISHED needs CHANGEDSINCE and QRESYNC enabled.
                guard changedSince != nil, enabled.contains("QRESYNC") else {
                    return [.send(status(tag: tag, .bad, text: "VANISHED needs CHANGEDSINCE and ENABLE QRESYNC"))]
                }
            }
            if command.kind.enablesCondstore { enabled.insert("CONDSTORE") }
            waiting = true
            return [.execute(command)]
        case .select(_, _, let parameters) where parameters.qresync != nil && !enabled.contains("QRESYNC"):
            // RFC 7162 §3.2.5: QRESYNC only after ENABLE QRESYNC.
            guard user != nil else { return [.send(status(tag: tag, .bad, text: "Log in first"))] }
            return [.send(status(tag: tag, .bad, text: "QRESYNC parameter needs ENABLE QRESYNC first"))]
        case .select, .create, .delete, .rename, .subscribe, .unsubscribe, .list, .lsub, .namespace, .status, .append,
            .getQuota, .getQuotaRoot, .setQuota:
            guard user != nil else { return [.send(status(tag: tag, .bad, text: "Log in first"))] }
            if command.kind.enablesCondstore { enabled.insert("CONDSTORE") }
            waiting = true
            return [.execute(command)]
        }
    }

    /// `authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp] *(CRLF base64)`.
    private mutating func authenticate(tag: String, mechanism name: String, initialResponse: [UInt8]?) -> [Action] {
        guard state == .notAuthenticated else { return [.send(status(tag: tag, .bad, text: "Already authenticated"))] }
        guard mayLogIn else {
            return [.send(status(tag: tag, .no, code: "PRIVACYREQUIRED", text: "AUTHENTICATE is disabled until STARTTLS"))]
        }
        guard let mechanism = SASLCredentials.Mechanism(rawValue: name), mechanism != .login,
            configuration.authenticationMechanisms.contains(mechanism)
        else {
            return [.send(status(tag: tag, .no, code: "CANNOT", text: "Unsupported authentication mechanism"))]
        }
        // RFC 4959 §3: `=` is an empty initial response.
        var response: [UInt8]?
        if let initialResponse {
            response = initialResponse == [UInt8(ascii: "=")] ? [] : Base64.decode(initialResponse)
            guard response != nil else {
                return [.send(status(tag: tag, .bad, text: "Invalid base64 in the initial response"))]
            }
        }
        // Both mechanisms are client-first: without an initial response, an empty challenge.
        guard let (exchange, step) = SASLServerExchange.start(mechanism.rawValue, initialResponse: response) else {
            return [.send(status(tag: tag, .no, code: "CANNOT", text: "Unsupported authentication mechanism"))]
        }
        return sasl(step, exchange, tag: tag)
    }

    private func status(tag: String?, _ status: ResponseWriter.Status, code: String? = nil, text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        ResponseWriter.writeStatus(tag: tag, status, code: code, text: text, to: &buffer)
        return buffer
    }

    private func untagged(_ data: String) -> ByteBuffer {
        var buffer = ByteBuffer(string: "* ")
        ResponseWriter.writeText(data, to: &buffer)
        buffer.writeStaticString("\r\n")
        return buffer
    }

    private func continuation(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        ResponseWriter.writeContinuation(text, to: &buffer)
        return buffer
    }
}
