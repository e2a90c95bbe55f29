public import NIOCore

/// One IMAP connection, server side, without I/O (RFC 9051 §3 states, §6 commands): bytes and
/// decisions in, actions out, like TernSMTPCore's ServerSessionStateMachine.
///
/// The machine frames and parses commands, answers those of the connection itself (CAPABILITY,
/// NOOP, LOGOUT, STARTTLS, LOGIN, ID, and BAD for what does not parse or is not allowed in the
/// state), and hands the rest to the driver: a LOGIN's credentials to check
/// (`.verifyLogin`), a mailbox command once authenticated (`.execute`). While the driver works
/// on one, no further command is read (`commandCompleted()`/`loginCompleted` resume), so
/// responses keep the order of the commands.
///
/// Security notes: LOGIN is refused before TLS when `loginRequiresTLS` (LOGINDISABLED, §6.2.3);
/// after STARTTLS's OK whatever the client sent in plaintext behind the command is discarded
/// (§6.2.1: the STARTTLS command-injection class), and so is plaintext that arrives before the
/// handshake completes; the capability list is sent again only when asked. The literal limits are small before login and larger after it.
public struct IMAPServerSession: Sendable {
    public struct Configuration: Sendable {
        /// The greeting's text after `* OK`.
        public var greeting: String
        /// STARTTLS is offered (a TLS context exists and the connection is not TLS yet).
        public var startTLSAvailable: Bool
        /// The connection is TLS from its start (port 993).
        public var implicitTLS: Bool
        /// LOGIN only under TLS (the default; a loopback developer catcher may turn it off).
        public var loginRequiresTLS: Bool
        /// The framer's limits before and after authentication.
        public var unauthenticatedLimits: IMAPCommandFramer.Configuration
        public var authenticatedLimits: IMAPCommandFramer.Configuration
        /// Capabilities the role adds once authenticated (IDLE, MOVE, UIDPLUS, ...).
        public var authenticatedCapabilities: [String]

        public init(
            greeting: String = "Tern IMAP ready", startTLSAvailable: Bool = false, implicitTLS: Bool = false,
            loginRequiresTLS: Bool = true,
            unauthenticatedLimits: IMAPCommandFramer.Configuration = .init(maximumLineLength: 8192, maximumLiteralSize: 8192),
            authenticatedLimits: IMAPCommandFramer.Configuration = .init(),
            authenticatedCapabilities: [String] = []
        ) {
            self.greeting = greeting
            self.startTLSAvailable = startTLSAvailable
            self.implicitTLS = implicitTLS
            self.loginRequiresTLS = loginRequiresTLS
            self.unauthenticatedLimits = unauthenticatedLimits
            self.authenticatedLimits = authenticatedLimits
            self.authenticatedCapabilities = authenticatedCapabilities
        }
    }

    /// §3: the connection's state.
    public enum State: Sendable, Hashable {
        case notAuthenticated
        case authenticated(user: String)
        case logout
    }

    public enum Action: Sendable, Hashable {
        case send(ByteBuffer)
        /// Start TLS now (the OK was sent just before); call `tlsEstablished()` once it is up.
        case startTLS
        /// Check these credentials; answer with `loginCompleted`.
        case verifyLogin(tag: String, user: [UInt8], password: [UInt8])
        /// A command of the authenticated or selected state, for the role; answer it, then call
        /// `commandCompleted()`.
        case execute(IMAPCommand)
        /// Close the connection (after what was sent).
        case close
    }

    public let configuration: Configuration
    public private(set) var state = State.notAuthenticated
    private var framer: IMAPCommandFramer
    private var input = ByteBuffer()
    private var tlsActive: Bool
    /// A command handed to the driver and not answered yet: nothing more is read meanwhile.
    private var waiting = false
    /// STARTTLS was answered and TLS is not up yet: plaintext that arrives now is dropped.
    private var awaitingTLS = false

    public init(configuration: Configuration) {
        self.configuration = configuration
        tlsActive = configuration.implicitTLS
        framer = IMAPCommandFramer(configuration: configuration.unauthenticatedLimits)
    }

    /// The capabilities of the current state (§7.2.2), IMAP4rev2 first.
    public var capabilities: [String] {
        var list = ["IMAP4rev2", "IMAP4rev1", "LITERAL-", "ID", "ENABLE"]
        switch state {
        case .notAuthenticated:
            if configuration.startTLSAvailable && !tlsActive { list.append("STARTTLS") }
            if configuration.loginRequiresTLS && !tlsActive { list.append("LOGINDISABLED") }
        case .authenticated:
            list += configuration.authenticatedCapabilities
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

    /// TLS is up after STARTTLS: the client starts over (it asks for CAPABILITY again).
    public mutating func tlsEstablished() -> [Action] {
        tlsActive = true
        awaitingTLS = false
        waiting = false
        return process()
    }

    /// The driver checked a LOGIN's credentials: `user` (the account's name) when they were
    /// right, nil when not.
    public mutating func loginCompleted(tag: String, user: String?) -> [Action] {
        waiting = false
        var actions: [Action]
        if let user {
            state = .authenticated(user: user)
            framer.configuration = configuration.authenticatedLimits
            actions = [.send(status(tag: tag, .ok, code: "CAPABILITY " + capabilities.joined(separator: " "), text: "LOGIN completed"))]
        } else {
            actions = [.send(status(tag: tag, .no, code: "AUTHENTICATIONFAILED", text: "Authentication failed"))]
        }
        actions += process()
        return actions
    }

    /// The driver answered an `.execute`d command: read the next one.
    public mutating func commandCompleted() -> [Action] {
        waiting = false
        return process()
    }

    /// Frames and handles commands until input runs out or one waits for the driver.
    private mutating func process() -> [Action] {
        var actions: [Action] = []
        while !waiting, state != .logout {
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
                state = .logout
                actions += [.send(status(tag: nil, .bye, text: text)), .close]
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

    private mutating func handle(_ command: IMAPCommand) -> [Action] {
        let tag = command.tag
        switch command.kind {
        case .capability:
            return [
                .send(untagged("CAPABILITY " + capabilities.joined(separator: " "))),
                .send(status(tag: tag, .ok, text: "CAPABILITY completed")),
            ]
        case .noop:
            guard case .authenticated = state else { return [.send(status(tag: tag, .ok, text: "NOOP completed"))] }
            // In the authenticated states NOOP is also a poll for mailbox updates: the role's.
            waiting = true
            return [.execute(command)]
        case .logout:
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
            waiting = true
            awaitingTLS = true
            return [.send(status(tag: tag, .ok, text: "Begin TLS negotiation now")), .startTLS]
        case .login(let user, let password):
            guard state == .notAuthenticated else { return [.send(status(tag: tag, .bad, text: "Already authenticated"))] }
            guard tlsActive || !configuration.loginRequiresTLS else {
                return [.send(status(tag: tag, .no, code: "PRIVACYREQUIRED", text: "LOGIN is disabled until STARTTLS"))]
            }
            waiting = true
            return [.verifyLogin(tag: tag, user: user, password: password)]
        case .authenticate:
            guard state == .notAuthenticated else { return [.send(status(tag: tag, .bad, text: "Already authenticated"))] }
            // No AUTH= capability is advertised: clients log in with LOGIN.
            return [.send(status(tag: tag, .no, code: "CANNOT", text: "Unsupported authentication mechanism"))]
        default:
            guard case .authenticated = state else {
                return [.send(status(tag: tag, .bad, text: "Log in first"))]
            }
            waiting = true
            return [.execute(command)]
        }
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
