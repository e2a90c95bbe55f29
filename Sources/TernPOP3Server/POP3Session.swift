import Logging
import NIOCore
import TernAccess
import TernDirectory
import TernNet
import TernPOP3Core
import TernSASL
import TernSMTPCore
import TernStore

/// The POP3 half of one connection: runs a `POP3ServerSession` inside TernNet's
/// `ServerConnection` (I/O, backpressure, timeouts, TLS). Logins go to the endpoint's
/// `MailAccess`; the maildrop is the user's INBOX, locked for this session while it lasts.
/// Messages stream from the store to the socket a chunk at a time, byte-stuffed on the way.
final class POP3Session: ConnectionDriver {
    /// The octets read from the store at a time while a message is sent.
    static let chunkSize = 64 * 1024
    /// Messages opened ahead of the RETR that asks for them, and the most octets they may hold
    /// in all (each is opened with its first 64 KB read).
    static let readAheadCount = 16
    static let readAheadOctets = 512 * 1024

    private let endpoint: POP3Endpoint
    private var machine: POP3ServerSession
    private let logins: MailLogins
    private var failedLogins = 0
    private var retrieved = 0
    /// Who logged in, for the session's summary line.
    private var loggedInUser: String?
    /// The user whose session slot this connection holds (`UserSessionLimiter`).
    private var sessionHolder: String?
    /// The maildrop this session locked (`MaildropLocks`), and its mailbox once open.
    private var lockHolder: String?
    private var maildrop: (any Mailbox)?
    /// The maildrop's messages as listed at login, in order.
    private var listing: [POP3ServerSession.Message] = []
    /// Messages opened ahead (clients RETR one after the other): a RETR of one of them needs
    /// no trip to the store's threads.
    private var openedAhead: [UInt32: any MessageSource] = [:]

    init(endpoint: POP3Endpoint) {
        self.endpoint = endpoint
        self.machine = POP3ServerSession(configuration: endpoint.configuration.session)
        self.logins = MailLogins(access: endpoint.access)
    }

    // MARK: Events

    func greet() -> [POP3ServerSession.Action] { machine.greet() }
    func bytesReceived(_ bytes: ByteBuffer) -> [POP3ServerSession.Action] { machine.bytesReceived(bytes) }
    func resumeProcessing() -> [POP3ServerSession.Action] { machine.resumeProcessing() }
    func tlsEstablished() -> [POP3ServerSession.Action] { machine.tlsEstablished() }
    func timedOut() -> [POP3ServerSession.Action] { machine.end("Autologout; idle for too long") }
    func shutdownRequested() -> [POP3ServerSession.Action] { machine.end("Server shutting down") }

    func connectionClosed() -> [POP3ServerSession.Action] {
        // Without QUIT nothing is deleted (RFC 1939 §6): the locks go, the messages stay.
        releaseHolds()
        return []
    }

    /// Never: the machine works through every whole line it holds whenever it may.
    var hasMoreInput: Bool { false }
    var isClosed: Bool { machine.isClosed }
    var readsAreProgress: Bool { false }
    var idleTimeout: TimeAmount { endpoint.configuration.autologout }

    func connectionOpened(admitted: Bool, connection: ServerConnection<POP3Session>) {}

    func refusal(into buffer: inout ByteBuffer) {
        buffer.writeString("-ERR [SYS/TEMP] Too many connections\r\n")
    }

    func sessionSummary() -> Logger.Metadata {
        ["tern_user": "\(loggedInUser ?? "-")", "tern_retrieved": "\(retrieved)"]
    }

    private func releaseHolds() {
        if let lockHolder { endpoint.maildropLocks.release(lockHolder) }
        if let sessionHolder { endpoint.userSessions.release(sessionHolder) }
        (lockHolder, sessionHolder, maildrop) = (nil, nil, nil)
        openedAhead = [:]
    }

    // MARK: Actions

    func execute(_ action: POP3ServerSession.Action, on connection: ServerConnection<POP3Session>) {
        guard let eventLoop = connection.eventLoop else { return }
        switch action {
        case .send(let buffer):
            connection.write { $0.writeImmutableBuffer(buffer) }

        case .startTLS:
            connection.startTLS()

        case .close:
            connection.close()

        case .authenticate(let credentials):
            let step = logins.check(credentials, client: connection.clientAddress, on: eventLoop)
            connection.suspendReading(until: step) { [self] in loginStep($0, connection) }

        case .continueAuthentication(_, let response, let isFirst):
            let step = logins.respond(response, isFirst: isFirst, client: connection.clientAddress, on: eventLoop)
            connection.suspendReading(until: step) { [self] in loginStep($0, connection) }

        case .openMaildrop(let user):
            guard endpoint.maildropLocks.acquire(user) else {
                connection.logger.notice("maildrop in use", metadata: ["tern_user": "\(user)"])
                releaseHolds()
                return connection.run(machine.maildropRefused(.inUse))
            }
            lockHolder = user
            let access = endpoint.access
            let future = eventLoop.makeFutureWithTask { () -> (any Mailbox, [POP3ServerSession.Message]) in
                guard let inbox = try await access.folders(of: user).open("INBOX") else { throw FolderError.noSuchFolder }
                // §5: the listing is fixed for the session; what arrives later waits for the next.
                let listing = try await inbox.snapshot().messages.map { POP3ServerSession.Message(uid: $0.uid, size: $0.size) }
                return (inbox, listing)
            }
            connection.suspendReading(until: future) { [self] result in
                switch result {
                case .success(let (inbox, listing)):
                    maildrop = inbox
                    self.listing = listing
                    return machine.maildropOpened(listing)
                case .failure(let error):
                    connection.logger.error("cannot open the maildrop", metadata: ["tern_user": "\(user)", "error": "\(error)"])
                    releaseHolds()
                    return machine.maildropRefused(.unavailable)
                }
            }

        case .retrieve(let uid, let bodyLines, let status):
            guard let mailbox = maildrop else { return connection.run(machine.retrievalCompleted(sent: false)) }
            retrieved += 1
            // Opened ahead and read whole when it was opened (most messages): sent at once. The
            // connection reads no further command while the client is not reading.
            if let ready = openedAhead[uid], let content = ready.wholeContent {
                openedAhead[uid] = nil
                var stuffer = DotStuffer()
                var top = bodyLines.map { POP3TopFilter(bodyLines: $0) }
                let part = top?.accept(content) ?? content
                connection.write { output in
                    output.writeImmutableBuffer(status)
                    stuffer.encode(part, into: &output)
                    stuffer.finish(into: &output)
                }
                return connection.run(machine.retrievalCompleted(sent: true))
            }
            let sent = open(uid, of: mailbox, on: eventLoop).assumeIsolated().flatMap { [self] source -> EventLoopFuture<Bool> in
                // Gone (expunged over IMAP meanwhile): nothing was sent, the machine says so.
                guard let source else { return eventLoop.makeSucceededFuture(false) }
                connection.write { $0.writeImmutableBuffer(status) }
                let top = bodyLines.map { POP3TopFilter(bodyLines: $0) }
                return stream(source, from: 0, stuffer: DotStuffer(), top: top, on: connection, eventLoop: eventLoop).map { true }
            }.nonisolated()
            connection.suspendReading(until: sent) { [self] result in
                switch result {
                case .success(let sent): return machine.retrievalCompleted(sent: sent)
                case .failure(let error):
                    // Part of a multi-line answer may be out: the only honest end is to close.
                    connection.logger.error("cannot send a message", metadata: ["error": "\(error)"])
                    return machine.end("Cannot read the message")
                }
            }

        case .update(let uids):
            guard let mailbox = maildrop, !uids.isEmpty else { return connection.run(machine.updateCompleted(succeeded: true)) }
            // RFC 1939 §6: removed for good (durably: the store syncs before it returns), then +OK.
            let future = eventLoop.makeFutureWithTask { _ = try await mailbox.expunge(uids) }
            connection.suspendReading(until: future) { [self] result in
                if case .failure(let error) = result {
                    connection.logger.error("cannot delete messages", metadata: ["error": "\(error)"])
                }
                connection.logger.info("maildrop updated", metadata: ["tern_deleted": "\(uids.count)"])
                return machine.updateCompleted(succeeded: (try? result.get()) != nil)
            }
        }
    }

    /// The message `uid`, opened ahead or now; when now, with the messages that follow it in the
    /// listing (as many as `readAheadCount` and `readAheadOctets` allow), in one trip.
    private func open(_ uid: UInt32, of mailbox: any Mailbox, on eventLoop: any EventLoop) -> EventLoopFuture<(any MessageSource)?> {
        if let ready = openedAhead.removeValue(forKey: uid) { return eventLoop.makeSucceededFuture(ready) }
        var batch = [uid]
        // The listing is in UID order.
        var (low, high) = (0, listing.count)
        while low < high {
            let middle = low + (high - low) / 2
            if listing[middle].uid < uid { low = middle + 1 } else { high = middle }
        }
        if low < listing.count, listing[low].uid == uid {
            let position = low
            var octets = 0
            for next in listing[(position + 1)...].prefix(Self.readAheadCount - 1) {
                octets += min(next.size, Self.chunkSize)
                guard octets <= Self.readAheadOctets else { break }
                batch.append(next.uid)
            }
        }
        return mailbox.sources(of: batch, on: eventLoop).assumeIsolated().map { [self] opened in
            var opened = opened
            let source = opened.removeValue(forKey: uid)
            openedAhead = opened
            return source
        }.nonisolated()
    }

    /// Sends `source` from `offset` on, byte-stuffed (and cut by `top`), waiting for the client
    /// to read each chunk before the next is read.
    private func stream(
        _ source: any MessageSource, from offset: Int, stuffer: DotStuffer, top: POP3TopFilter?,
        on connection: ServerConnection<POP3Session>, eventLoop: any EventLoop
    ) -> EventLoopFuture<Void> {
        source.read(at: offset, count: Self.chunkSize, on: eventLoop).assumeIsolated().flatMap {
            [self] chunk -> EventLoopFuture<Void> in
            var (stuffer, top) = (stuffer, top)
            let part = top?.accept(chunk) ?? chunk
            connection.write { stuffer.encode(part, into: &$0) }
            // The end: the source's size reached (no read of an empty chunk to learn it), or
            // TOP's lines sent.
            let end = offset + chunk.readableBytes
            let finished = chunk.readableBytes == 0 || end >= source.size || top?.isDone == true
            if finished { connection.write { stuffer.finish(into: &$0) } }
            guard let flushed = connection.flushed() else { return eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
            guard !finished else { return flushed }
            return flushed.assumeIsolated().flatMap { [self] in
                stream(source, from: end, stuffer: stuffer, top: top, on: connection, eventLoop: eventLoop)
            }.nonisolated()
        }.nonisolated()
    }

    private func loggedIn(_ user: String, mechanism: SASLCredentials.Mechanism, _ connection: ServerConnection<POP3Session>)
        -> [POP3ServerSession.Action]
    {
        guard endpoint.userSessions.acquire(user) else {
            connection.logger.notice(
                "too many sessions for the user",
                metadata: ["tern_user": "\(user)", "tern_limit": "\(endpoint.userSessions.perUser)"])
            return machine.authenticationCompleted(.tooManySessions)
        }
        sessionHolder = user
        loggedInUser = user
        connection.logger.info("authenticated", metadata: ["tern_user": "\(user)", "sasl_method": "\(mechanism.rawValue)"])
        return machine.authenticationCompleted(.accepted(user: user))
    }

    /// Where a login stands, for the machine.
    private func loginStep(_ result: Result<MailLogins.Step, any Error>, _ connection: ServerConnection<POP3Session>)
        -> [POP3ServerSession.Action]
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

    private func failed(_ username: String, _ outcome: POP3ServerSession.AuthenticationOutcome, _ connection: ServerConnection<POP3Session>)
        -> [POP3ServerSession.Action]
    {
        failedLogins += 1
        connection.logger.notice("authentication failed", metadata: ["sasl_username": "\(username)"])
        if failedLogins > endpoint.configuration.softErrorLimit { connection.startTarpit(endpoint.configuration.errorDelay) }
        return machine.authenticationCompleted(outcome)
    }
}
