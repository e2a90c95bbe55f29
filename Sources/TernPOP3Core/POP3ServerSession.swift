public import NIOCore
public import TernSASL
import TernMail

/// One POP3 connection, server side, without I/O (RFC 1939 §3–§6): bytes and decisions in,
/// actions out, like TernIMAPCore's `IMAPServerSession`.
///
/// The machine reads command lines and answers what it can alone: CAPA (RFC 2449), STLS
/// (RFC 2595), and in the TRANSACTION state STAT, LIST, UIDL, DELE, RSET and NOOP from the
/// maildrop's listing, which the driver hands over once (`maildropOpened`): message numbers and
/// sizes are fixed for the session (§5), deletions are only marks. It hands the driver what
/// needs the world: credentials (`.authenticate`, `.continueAuthentication` for SCRAM), the
/// maildrop to open and lock (`.openMaildrop`), a message to send (`.retrieve`, for RETR and
/// TOP), and at QUIT the deletions to make durable (`.update`, §6) before `+OK`. A dropped
/// connection never reaches the UPDATE state, so it deletes nothing. While the driver works on
/// one of these, no further command is read, so replies keep the order of the commands
/// (PIPELINING, RFC 2449 §6.6).
///
/// Security notes: USER, PASS and AUTH are refused before TLS when `loginRequiresTLS` (and
/// neither USER nor SASL is advertised then); after STLS's `+OK` whatever the client sent in
/// plaintext behind it is discarded (RFC 2595 §4, the command-injection class of CVE-2011-0411),
/// and so is plaintext arriving before the handshake completes. A line over the limit ends the
/// session; message numbers are bounded before they index anything.
public struct POP3ServerSession: Sendable {
    public struct Configuration: Sendable {
        /// The greeting's text after `+OK`.
        public var greeting: String
        /// STLS is offered (a TLS context exists and the connection is not TLS yet).
        public var startTLSAvailable: Bool
        /// The connection is TLS from its start (port 995).
        public var implicitTLS: Bool
        /// USER/PASS and AUTH only under TLS (the default; a loopback catcher may turn it off).
        public var loginRequiresTLS: Bool
        /// The SASL mechanisms AUTH runs: PLAIN, SCRAM-SHA-256.
        public var authenticationMechanisms: [SASLCredentials.Mechanism]
        /// The longest command line, CRLF included. RFC 2449 §4 allows 255 octets; a SASL
        /// response line is allowed more (`maximumAuthenticationLineLength`).
        public var maximumLineLength: Int

        public init(
            greeting: String = "Tern POP3 ready", startTLSAvailable: Bool = false, implicitTLS: Bool = false,
            loginRequiresTLS: Bool = true, authenticationMechanisms: [SASLCredentials.Mechanism] = [.plain],
            maximumLineLength: Int = 1024
        ) {
            self.greeting = greeting
            self.startTLSAvailable = startTLSAvailable
            self.implicitTLS = implicitTLS
            self.loginRequiresTLS = loginRequiresTLS
            self.authenticationMechanisms = authenticationMechanisms
            self.maximumLineLength = maximumLineLength
        }
    }

    /// RFC 1939 §3: the session's state.
    public enum State: Sendable, Hashable {
        case authorization
        case transaction(user: String)
        /// After QUIT in the TRANSACTION state, while the deletions are made.
        case update
        case closed
    }

    /// A message of the maildrop as the session numbers it (its number is its position + 1).
    public struct Message: Sendable, Hashable {
        public var uid: UInt32
        /// Octets as RETR sends them (CRLF line ends; before byte-stuffing), RFC 1939 §5.
        public var size: Int

        public init(uid: UInt32, size: Int) {
            self.uid = uid
            self.size = size
        }
    }

    public enum Action: Sendable, Hashable {
        case send(ByteBuffer)
        /// Start TLS now (the `+OK` was sent just before); call `tlsEstablished()` once it is up.
        case startTLS
        /// Check these credentials (USER/PASS, AUTH PLAIN); answer with `authenticationCompleted`.
        case authenticate(SASLCredentials)
        /// A response of SCRAM-SHA-256 for the driver's exchange, the first of a new one when
        /// `isFirst`; answer with `authenticationCompleted`.
        case continueAuthentication(SASLCredentials.Mechanism, response: [UInt8], isFirst: Bool)
        /// Open and lock `user`'s maildrop; answer with `maildropOpened` or `maildropRefused`.
        case openMaildrop(user: String)
        /// Send `status` (`+OK ...`), then the message with `uid` byte-stuffed and ended with
        /// `.` (RFC 1939 §3): all of it for RETR, the header, the empty line and `bodyLines`
        /// lines of the body for TOP. Call `retrievalCompleted(sent:)`: false when the
        /// message is gone (nothing was sent).
        case retrieve(uid: UInt32, bodyLines: Int?, status: ByteBuffer)
        /// RFC 1939 §6: remove the messages with these UIDs for good, then call
        /// `updateCompleted(_:)`; `+OK` goes out only once they are gone.
        case update(deleting: [UInt32])
        /// Close the connection (after what was sent).
        case close
    }

    /// The driver's verdict on credentials, or the next step of an exchange.
    public enum AuthenticationOutcome: Sendable, Hashable {
        case accepted(user: String)
        case challenge([UInt8])
        case rejected
        /// The credentials could not be checked now (`-ERR [SYS/TEMP]`).
        case unavailable
        case malformed
        /// The user has as many sessions as allowed (`-ERR [IN-USE]`).
        case tooManySessions
    }

    /// Why a maildrop could not be opened.
    public enum MaildropRefusal: Sendable, Hashable {
        /// Another POP3 session holds it (RFC 2449 §8.1.2 `[IN-USE]`).
        case inUse
        /// It could not be read now (`[SYS/TEMP]`).
        case unavailable
    }

    /// A SCRAM client-final message for a 255-octet name is well under 2 KB in base64.
    public static let maximumAuthenticationLineLength = 8192

    public let configuration: Configuration
    public private(set) var state = State.authorization
    public private(set) var tlsActive: Bool
    private var input = ByteBuffer()
    /// A command handed to the driver and not answered yet: nothing more is read meanwhile.
    private var waiting = false
    /// STLS was answered and TLS is not up yet: plaintext that arrives now is dropped.
    private var awaitingTLS = false
    /// The name a USER command gave, for the PASS that follows.
    private var pendingUser: String?
    /// The login under way (USER/PASS or AUTH).
    private var login: Login?
    /// The user whose maildrop is being opened.
    private var opening: String?
    private var messages: [Message] = []
    private var deleted: Set<Int> = []

    private struct Login: Sendable {
        /// AUTH's SASL exchange; nil for USER/PASS.
        var exchange: SASLServerExchange?
        /// The exchange waits for the client's next response line (not the driver).
        var awaitingResponse = false
    }

    public init(configuration: Configuration) {
        self.configuration = configuration
        tlsActive = configuration.implicitTLS
    }

    public var isClosed: Bool { state == .closed }

    /// The user logged in, once the maildrop is open.
    public var user: String? {
        if case .transaction(let user) = state { return user }
        return nil
    }

    private var mayLogIn: Bool { tlsActive || !configuration.loginRequiresTLS }

    /// RFC 2449 §5: the capabilities of the current state.
    public var capabilities: [String] {
        var list = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER"]
        if state == .authorization {
            if mayLogIn {
                list.append("USER")
                if !configuration.authenticationMechanisms.isEmpty {
                    list.append("SASL " + configuration.authenticationMechanisms.map(\.rawValue).joined(separator: " "))
                }
            }
            if configuration.startTLSAvailable && !tlsActive { list.append("STLS") }
        }
        list.append("IMPLEMENTATION Tern")
        return list
    }

    /// §4: the greeting.
    public mutating func greet() -> [Action] {
        [.send(Self.ok(configuration.greeting))]
    }

    /// Octets from the client.
    public mutating func bytesReceived(_ bytes: ByteBuffer) -> [Action] {
        guard !awaitingTLS, state != .closed else { return [] }
        var bytes = bytes
        input.writeBuffer(&bytes)
        return process()
    }

    /// Goes on with input kept back.
    public mutating func resumeProcessing() -> [Action] { process() }

    /// TLS is up after STLS: the client starts over (it asks for CAPA again).
    public mutating func tlsEstablished() -> [Action] {
        tlsActive = true
        awaitingTLS = false
        waiting = false
        return process()
    }

    /// The server ends the session (a timeout, a shutdown): `-ERR` and close, deleting nothing.
    public mutating func end(_ text: String) -> [Action] {
        guard state != .closed else { return [] }
        state = .closed
        return [.send(Self.error(text)), .close]
    }

    // MARK: The driver's answers

    /// The driver's answer to `.authenticate` or `.continueAuthentication`.
    public mutating func authenticationCompleted(_ outcome: AuthenticationOutcome) -> [Action] {
        guard var current = login else { return finish([]) }
        login = nil
        switch outcome {
        case .accepted(let user):
            opening = user
            // Logged in: the maildrop is opened (and locked) before the +OK (§4).
            return [.openMaildrop(user: user)]
        case .challenge(let challenge) where current.exchange != nil:
            current.awaitingResponse = true
            login = current
            var buffer = ByteBuffer(string: "+ ")
            buffer.writeString(Base64.encode(challenge))
            buffer.writeStaticString("\r\n")
            return finish([.send(buffer)])
        case .challenge, .rejected:
            return finish([.send(Self.error("Authentication failed", code: "AUTH"))])
        case .unavailable:
            return finish([.send(Self.error("Temporary authentication failure", code: "SYS/TEMP"))])
        case .malformed:
            return finish([.send(Self.error("Malformed authentication response"))])
        case .tooManySessions:
            return finish([.send(Self.error("Too many sessions for this user", code: "IN-USE"))])
        }
    }

    /// The maildrop is open and locked: its messages, in UID order, numbered from 1.
    public mutating func maildropOpened(_ messages: [Message]) -> [Action] {
        guard let user = opening else { return finish([]) }
        opening = nil
        self.messages = messages
        deleted = []
        state = .transaction(user: user)
        let octets = messages.reduce(0) { $0 &+ $1.size }
        return finish([.send(Self.ok("Logged in, \(messages.count) messages (\(octets) octets)"))])
    }

    /// The maildrop could not be opened: the session stays in the AUTHORIZATION state.
    public mutating func maildropRefused(_ refusal: MaildropRefusal) -> [Action] {
        opening = nil
        switch refusal {
        case .inUse: return finish([.send(Self.error("Mailbox is locked by another POP3 session", code: "IN-USE"))])
        case .unavailable: return finish([.send(Self.error("Mailbox is not available now", code: "SYS/TEMP"))])
        }
    }

    /// The driver sent a message for RETR or TOP (`sent`), or found it gone.
    public mutating func retrievalCompleted(sent: Bool) -> [Action] {
        finish(sent ? [] : [.send(Self.error("Message is no longer in the mailbox", code: "SYS/TEMP"))])
    }

    /// The UPDATE state is over: the deletions are durable (`succeeded`) or failed.
    public mutating func updateCompleted(succeeded: Bool) -> [Action] {
        state = .closed
        let reply =
            succeeded
            ? Self.ok("Bye, \(messages.count - deleted.count) messages left")
            : Self.error("Some deleted messages were not removed", code: "SYS/TEMP")
        return [.send(reply), .close]
    }

    private mutating func finish(_ actions: [Action]) -> [Action] {
        waiting = false
        return actions + process()
    }

    // MARK: Reading commands

    private mutating func process() -> [Action] {
        var actions: [Action] = []
        while !waiting, !awaitingTLS, state != .closed, state != .update {
            let limit = login?.awaitingResponse == true ? Self.maximumAuthenticationLineLength : configuration.maximumLineLength
            let found = input.withUnsafeReadableBytes { LineEnd.find(in: $0, limit: limit) }
            guard let found else {
                if input.readableBytes >= limit { actions += end("Line too long") }
                return actions
            }
            let line = input.readBytes(length: found.end) ?? []
            input.moveReaderIndex(forwardBy: 2)
            if login?.awaitingResponse == true {
                actions += authenticationResponse(line)
                continue
            }
            guard !found.hasBareLineEnding else {
                actions.append(.send(Self.error("Bare CR or LF in command")))
                continue
            }
            do {
                actions += handle(try POP3Command.parse(line))
            } catch {
                actions.append(.send(Self.error(error.text)))
            }
        }
        return actions
    }

    private mutating func handle(_ command: POP3Command) -> [Action] {
        switch (command, state) {
        case (.capa, _):
            var buffer = Self.ok("Capability list follows")
            for capability in capabilities { buffer.writeString(capability + "\r\n") }
            buffer.writeStaticString(".\r\n")
            return [.send(buffer)]
        case (.quit, .authorization):
            state = .closed
            return [.send(Self.ok("Bye")), .close]
        case (.quit, .transaction):
            // §6: the UPDATE state; +OK once the deletions are made.
            state = .update
            waiting = true
            return [.update(deleting: deleted.sorted().map { messages[$0].uid })]
        case (.stls, .authorization):
            guard configuration.startTLSAvailable, !tlsActive else { return [.send(Self.error("STLS is not available now"))] }
            // RFC 2595 §4: what followed STLS in plaintext must not be read as sent over TLS.
            input.clear()
            pendingUser = nil
            awaitingTLS = true
            return [.send(Self.ok("Begin TLS negotiation now")), .startTLS]
        case (.user(let name), .authorization):
            guard mayLogIn else { return [.send(Self.error("Plaintext authentication is disallowed before STLS", code: "AUTH"))] }
            pendingUser = name
            return [.send(Self.ok("Send your password"))]
        case (.pass(let password), .authorization):
            guard mayLogIn else { return [.send(Self.error("Plaintext authentication is disallowed before STLS", code: "AUTH"))] }
            guard let name = pendingUser else { return [.send(Self.error("USER first"))] }
            pendingUser = nil
            guard let user = SASLPlain.field(Array(name.utf8), allowEmpty: false),
                let secret = SASLPlain.field(Array(password.utf8), allowEmpty: false)
            else { return [.send(Self.error("Authentication failed", code: "AUTH"))] }
            login = Login()
            waiting = true
            return [.authenticate(SASLCredentials(mechanism: .login, username: user, password: secret))]
        case (.auth(let mechanism, let initialResponse), .authorization):
            return authenticate(mechanism: mechanism, initialResponse: initialResponse)
        case (.apop, .authorization):
            return [.send(Self.error("APOP is not supported"))]
        case (_, .authorization):
            return [.send(Self.error("Not logged in yet"))]
        case (.stat, .transaction):
            let live = messages.indices.filter { !deleted.contains($0) }
            return [.send(Self.ok("\(live.count) \(live.reduce(0) { $0 &+ messages[$1].size })"))]
        case (.list(let number), .transaction):
            return scanListing(number, header: "scan listing follows") { "\($0 + 1) \(messages[$0].size)" }
        case (.uidl(let number), .transaction):
            return scanListing(number, header: "unique-id listing follows") { "\($0 + 1) \(messages[$0].uid)" }
        case (.retr(let number), .transaction):
            guard let index = live(number) else { return [.send(Self.noSuchMessage)] }
            waiting = true
            return [.retrieve(uid: messages[index].uid, bodyLines: nil, status: Self.ok("\(messages[index].size) octets"))]
        case (.top(let number, let lines), .transaction):
            guard let index = live(number) else { return [.send(Self.noSuchMessage)] }
            waiting = true
            return [.retrieve(uid: messages[index].uid, bodyLines: lines, status: Self.ok("Top of message follows"))]
        case (.dele(let number), .transaction):
            guard number <= messages.count else { return [.send(Self.noSuchMessage)] }
            guard deleted.insert(number - 1).inserted else { return [.send(Self.error("Message \(number) already deleted"))] }
            return [.send(Self.ok("Message \(number) deleted"))]
        case (.rset, .transaction):
            deleted = []
            return [.send(Self.ok("Maildrop has \(messages.count) messages (\(messages.reduce(0) { $0 &+ $1.size }) octets)"))]
        case (.noop, .transaction):
            return [.send(Self.ok(""))]
        case (_, .transaction):
            return [.send(Self.error("Not allowed after login"))]
        case (_, .update), (_, .closed):
            return []
        }
    }

    /// The index of message `number` if it exists and is not marked deleted (§5: "may not
    /// refer to a message marked as deleted").
    private func live(_ number: Int) -> Int? {
        guard number >= 1, number <= messages.count, !deleted.contains(number - 1) else { return nil }
        return number - 1
    }

    /// LIST and UIDL: one message's line, or every live message's as a multi-line answer.
    private func scanListing(_ number: Int?, header: String, line: (Int) -> String) -> [Action] {
        if let number {
            guard let index = live(number) else { return [.send(Self.noSuchMessage)] }
            return [.send(Self.ok(line(index)))]
        }
        var buffer = Self.ok(header)
        for index in messages.indices where !deleted.contains(index) {
            buffer.writeString(line(index))
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString(".\r\n")
        return [.send(buffer)]
    }

    // MARK: AUTH (RFC 5034)

    private mutating func authenticate(mechanism name: String?, initialResponse: [UInt8]?) -> [Action] {
        guard mayLogIn else { return [.send(Self.error("Authentication is disallowed before STLS", code: "AUTH"))] }
        guard let name else {
            // The mechanisms, as a multi-line list (the form clients of RFC 1734 ask for).
            var buffer = Self.ok("")
            for mechanism in configuration.authenticationMechanisms { buffer.writeString(mechanism.rawValue + "\r\n") }
            buffer.writeStaticString(".\r\n")
            return [.send(buffer)]
        }
        guard let mechanism = configuration.authenticationMechanisms.first(where: { $0.rawValue == name }) else {
            return [.send(Self.error("Unsupported authentication mechanism"))]
        }
        // RFC 5034 §4: "=" is an empty initial response.
        var response: [UInt8]?
        if let initialResponse {
            response = initialResponse == [UInt8(ascii: "=")] ? [] : Base64.decode(initialResponse)
            guard response != nil else { return [.send(Self.error("Invalid base64 in the initial response"))] }
        }
        // Both mechanisms are client-first: without an initial response, an empty challenge.
        guard let (exchange, step) = SASLServerExchange.start(mechanism.rawValue, initialResponse: response) else {
            return [.send(Self.error("Unsupported authentication mechanism"))]
        }
        return sasl(step, exchange)
    }

    /// RFC 5034 §4: each response is a base64 line; `*` cancels the exchange.
    private mutating func authenticationResponse(_ line: [UInt8]) -> [Action] {
        guard var exchange = login?.exchange else { return [] }
        login = nil
        if line == [UInt8(ascii: "*")] { return [.send(Self.error("Authentication cancelled"))] }
        guard let response = Base64.decode(line) else { return [.send(Self.error("Invalid base64 in the response"))] }
        let step = exchange.respond(response)
        return sasl(step, exchange)
    }

    /// Acts on what the SASL exchange says: a challenge, credentials to check, a response for
    /// the driver's exchange, or a refusal.
    private mutating func sasl(_ step: SASLServerExchange.Step, _ exchange: SASLServerExchange) -> [Action] {
        login = Login(exchange: exchange)
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
            return [.send(Self.error("Malformed authentication response"))]
        }
    }

    // MARK: Replies

    /// `+OK text` CRLF.
    static func ok(_ text: String) -> ByteBuffer {
        ByteBuffer(string: text.isEmpty ? "+OK\r\n" : "+OK \(text)\r\n")
    }

    /// `-ERR [code] text` CRLF (RFC 2449 §8 response codes).
    static func error(_ text: String, code: String? = nil) -> ByteBuffer {
        ByteBuffer(string: "-ERR " + (code.map { "[\($0)] " } ?? "") + text + "\r\n")
    }

    private static var noSuchMessage: ByteBuffer { error("No such message") }
}
