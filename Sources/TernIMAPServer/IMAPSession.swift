import Logging
import NIOCore
import TernAccess
import TernDirectory
import TernIMAPCore
import TernNet
import TernSASL

/// The IMAP half of one connection: runs an `IMAPServerSession` inside TernNet's
/// `ServerConnection` (I/O, backpressure, timeouts, TLS). Logins go to the endpoint's
/// `MailAccess`; once a user is in, mailbox commands run in that user's `MailboxCommands`, one
/// at a time, with reading suspended until each is answered.
final class IMAPSession: ConnectionDriver {
    private let endpoint: IMAPEndpoint
    private var machine: IMAPServerSession
    private var commands: MailboxCommands?
    private let logins: MailLogins
    /// The IDLE being started in the user's commands: its end waits for it (a client may send
    /// DONE before the start has run).
    private var idleStart: Task<Void, Never>?
    private var failedLogins = 0
    private var executed = 0
    /// The user whose session slot this connection holds (`UserSessionLimiter`).
    private var sessionHolder: String?

    init(endpoint: IMAPEndpoint) {
        self.endpoint = endpoint
        self.machine = IMAPServerSession(configuration: endpoint.configuration.session)
        self.logins = MailLogins(access: endpoint.access)
    }

    // MARK: Events

    func greet() -> [IMAPServerSession.Action] { machine.greet() }
    func bytesReceived(_ bytes: ByteBuffer) -> [IMAPServerSession.Action] { machine.bytesReceived(bytes) }
    func resumeProcessing() -> [IMAPServerSession.Action] { machine.resumeProcessing() }
    func tlsEstablished() -> [IMAPServerSession.Action] { machine.tlsEstablished() }
    func timedOut() -> [IMAPServerSession.Action] { machine.end("Autologout; idle for too long") }
    func shutdownRequested() -> [IMAPServerSession.Action] { machine.end("Server shutting down") }

    func connectionClosed() -> [IMAPServerSession.Action] {
        if let commands { Task { await commands.shutDown() } }
        commands = nil
        if let sessionHolder { endpoint.userSessions.release(sessionHolder) }
        sessionHolder = nil
        return []
    }

    /// Never: the machine works through every whole command it holds whenever it may (a
    /// partial line is not more input to process, and must not be rescheduled as if it were).
    var hasMoreInput: Bool { false }
    var isClosed: Bool { machine.isClosed }
    var readsAreProgress: Bool { false }

    var idleTimeout: TimeAmount {
        machine.user == nil ? endpoint.configuration.loginTimeout : endpoint.configuration.autologout
    }

    func connectionOpened(admitted: Bool, connection: ServerConnection<IMAPSession>) {}

    func refusal(into buffer: inout ByteBuffer) {
        ResponseWriter.writeStatus(tag: nil, .bye, text: "Too many connections", to: &buffer)
    }

    func sessionSummary() -> Logger.Metadata {
        ["tern_user": "\(machine.user ?? "-")", "tern_commands": "\(executed)"]
    }

    private var dialect: MailboxCommands.Dialect {
        .init(
            rev2: machine.isRev2, utf8: machine.acceptsUTF8, condstore: machine.enabled.contains("CONDSTORE"),
            qresync: machine.enabled.contains("QRESYNC"))
    }

    // MARK: Actions

    func execute(_ action: IMAPServerSession.Action, on connection: ServerConnection<IMAPSession>) {
        guard let eventLoop = connection.eventLoop else { return }
        switch action {
        case .send(let buffer):
            connection.write { $0.writeImmutableBuffer(buffer) }

        case .startTLS:
            connection.startTLS()

        case .startCompression:
            do {
                connection.insertTransform(try DeflateStream(allocator: ByteBufferAllocator()))
            } catch {
                connection.logger.error("cannot start compression", metadata: ["error": "\(error)"])
                connection.close()
            }

        case .close:
            connection.close()

        case .authenticate(let credentials):
            let step = logins.check(credentials, client: connection.clientAddress, on: eventLoop)
            connection.suspendReading(until: step) { [self] in loginStep($0, connection) }

        case .continueAuthentication(_, let response, let isFirst):
            let step = logins.respond(response, isFirst: isFirst, client: connection.clientAddress, on: eventLoop)
            connection.suspendReading(until: step) { [self] in loginStep($0, connection) }

        case .execute(let command):
            guard let commands else { return connection.run(machine.commandCompleted()) }
            executed += 1
            let dialect = self.dialect
            let future = eventLoop.makeFutureWithTask { await commands.execute(command, dialect: dialect) }
            connection.suspendReading(until: future) { [self] result in
                guard case .success(let outcome) = result else { return machine.end("Internal error") }
                connection.write { $0.writeImmutableBuffer(outcome.output) }
                switch outcome.selection {
                case .unchanged: break
                case .selected(let name, let readOnly): machine.mailboxSelected(name, readOnly: readOnly)
                case .closed: machine.mailboxClosed()
                }
                return machine.commandCompleted()
            }

        case .startIdle:
            guard let commands else { return }
            let dialect = self.dialect
            let interval = endpoint.configuration.idlePollInterval
            // Updates arrive from the mailbox's feed on other threads: hop to the loop to write.
            let loopBound = NIOLoopBound(connection, eventLoop: eventLoop)
            let push: @Sendable (ByteBuffer) -> Void = { buffer in
                eventLoop.execute { loopBound.value.write { $0.writeImmutableBuffer(buffer) }; loopBound.value.run([]) }
            }
            idleStart = Task { await commands.startIdle(dialect: dialect, pollInterval: interval, push: push) }

        case .endIdle(let tag, let done):
            guard let commands else { return connection.run(machine.commandCompleted()) }
            let (dialect, started) = (self.dialect, idleStart)
            idleStart = nil
            let future = eventLoop.makeFutureWithTask {
                await started?.value
                return await commands.endIdle(tag: tag, done: done, dialect: dialect)
            }
            connection.suspendReading(until: future) { [self] result in
                if case .success(let output) = result { connection.write { $0.writeImmutableBuffer(output) } }
                return machine.commandCompleted()
            }
        }
    }

    private func loggedIn(_ user: String, mechanism: SASLCredentials.Mechanism, _ connection: ServerConnection<IMAPSession>)
        -> [IMAPServerSession.Action]
    {
        guard endpoint.userSessions.acquire(user) else {
            connection.logger.notice(
                "too many sessions for the user",
                metadata: ["tern_user": "\(user)", "tern_limit": "\(endpoint.userSessions.perUser)"])
            return machine.authenticationCompleted(.tooManySessions)
        }
        sessionHolder = user
        connection.logger.info("authenticated", metadata: ["tern_user": "\(user)", "sasl_method": "\(mechanism.rawValue)"])
        // The user's folders are opened before the OK, so a login's first command finds them.
        let access = endpoint.access
        let (clock, limit) = (endpoint.clock, endpoint.configuration.session.authenticatedLimits.maximumLiteralSize)
        guard let eventLoop = connection.eventLoop else { return [] }
        let future = eventLoop.makeFutureWithTask { try await access.folders(of: user) }
        connection.suspendReading(until: future) { [self] result in
            switch result {
            case .success(let folders):
                commands = MailboxCommands(
                    user: user, folders: folders, clock: clock, appendLimit: limit, quota: { try await access.quota(of: user) })
                return machine.authenticationCompleted(.accepted(user: user))
            case .failure(let error):
                connection.logger.error("cannot open the user's mailboxes", metadata: ["tern_user": "\(user)", "error": "\(error)"])
                endpoint.userSessions.release(user)
                sessionHolder = nil
                return machine.authenticationCompleted(.unavailable)
            }
        }
        return []
    }

    /// Where a login stands, for the machine.
    private func loginStep(_ result: Result<MailLogins.Step, any Error>, _ connection: ServerConnection<IMAPSession>)
        -> [IMAPServerSession.Action]
    {
        switch result {
        case .success(.accepted(let user, let mechanism)): loggedIn(user, mechanism: mechanism, connection)
        case .success(.challenge(let challenge)): machine.authenticationCompleted(.challenge(challenge))
        case .success(.rejected(let username)): failed(username, .rejected, connection)
        case .success(.malformed(let username)): failed(username, .malformed, connection)
        case .success(.unavailable(let username)): failed(username, .unavailable, connection)
        case .failure: failed("-", .unavailable, connection)
        }
    }

    private func failed(_ username: String, _ outcome: IMAPServerSession.AuthenticationOutcome, _ connection: ServerConnection<IMAPSession>)
        -> [IMAPServerSession.Action]
    {
        failedLogins += 1
        connection.logger.notice("authentication failed", metadata: ["sasl_username": "\(username)"])
        if failedLogins > endpoint.configuration.softErrorLimit { connection.startTarpit(endpoint.configuration.errorDelay) }
        return machine.authenticationCompleted(outcome)
    }
}
