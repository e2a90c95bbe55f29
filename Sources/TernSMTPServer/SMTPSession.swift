import CoreMetrics
import Logging
import NIOCore
import TernMail
import TernSASL
import TernNet
import TernSMTPCore
import TernStore

/// The SMTP half of one connection: runs a `ServerSessionStateMachine` inside TernNet's
/// `ServerConnection`, which does the I/O, backpressure, timeouts and TLS. What is SMTP's own is
/// here: replies and the error accounting behind the tarpit, policy checks and AUTH answered by
/// the endpoint's `SMTPPolicy`, and messages taken in by `MessageIntake`.
///
/// A new protocol copies this shape: a sans-IO machine, a driver that executes its actions, and
/// an endpoint that puts `ServerConnection(driver:)` in the pipeline.
final class SMTPSession: ConnectionDriver {
    private let endpoint: SMTPEndpoint
    private var machine: ServerSessionStateMachine
    private let intake: MessageIntake
    /// The challenge–response exchange under way (SCRAM-SHA-256), between the client's messages.
    private var saslExchange: (any SASLMechanismServer)?
    /// The store's writer is draining: reading is suspended until it has.
    private var writerDraining = false
    private var acceptedMessages = 0

    init(endpoint: SMTPEndpoint) {
        self.endpoint = endpoint
        self.machine = ServerSessionStateMachine(configuration: endpoint.configuration.session)
        self.intake = MessageIntake(endpoint: endpoint)
    }

    // MARK: Events

    func greet() -> [ServerSessionStateMachine.Action] { machine.greet() }
    func bytesReceived(_ bytes: ByteBuffer) -> [ServerSessionStateMachine.Action] { machine.bytesReceived(bytes) }
    func resumeProcessing() -> [ServerSessionStateMachine.Action] { machine.resumeProcessing() }
    func tlsEstablished() -> [ServerSessionStateMachine.Action] { machine.tlsEstablished() }
    func timedOut() -> [ServerSessionStateMachine.Action] { machine.timedOut() }
    func shutdownRequested() -> [ServerSessionStateMachine.Action] { machine.shutdownRequested() }
    func connectionClosed() -> [ServerSessionStateMachine.Action] { machine.connectionClosed() }

    var hasMoreInput: Bool { machine.hasMoreInput }
    var isClosed: Bool { machine.isClosed }
    var readsAreProgress: Bool { machine.isReceivingMessage }

    /// RFC 5321 §4.5.3.2: the DATA timeouts while a message streams in, the command timeout
    /// otherwise.
    var idleTimeout: TimeAmount {
        machine.isReceivingMessage ? endpoint.configuration.dataTimeout : endpoint.configuration.commandTimeout
    }

    func connectionOpened(admitted: Bool, connection: ServerConnection<SMTPSession>) {
        endpoint.metrics.connections.increment()
        if !admitted { endpoint.metrics.refusedConnections.increment() }
    }

    func refusal(into buffer: inout ByteBuffer) {
        SMTPReply.tooManyConnections(endpoint.configuration.session.hostname).write(to: &buffer)
    }

    func sessionSummary() -> Logger.Metadata {
        ["tern_messages": "\(acceptedMessages)"]
    }

    // MARK: Actions

    func execute(_ action: ServerSessionStateMachine.Action, on connection: ServerConnection<SMTPSession>) {
        guard let eventLoop = connection.eventLoop else { return }
        switch action {
        case .sendReply(let reply):
            connection.write { reply.write(to: &$0) }
            if reply.code.rawValue >= 400 {
                endpoint.metrics.rejection(code: reply.code.rawValue, enhanced: reply.enhancedCode?.description ?? "none")
                endpoint.tally?.refuse()
                if machine.errors > endpoint.configuration.softErrorLimit {
                    connection.startTarpit(endpoint.configuration.errorDelay)
                }
            }

        case .checkSender(let path, let parameters):
            decide(endpoint.policy.checkSender(path, parameters, session: facts(connection)), connection)

        case .checkRecipient(let path, let parameters):
            decide(endpoint.policy.checkRecipient(path, parameters, session: facts(connection)), connection)

        case .authenticate(let credentials):
            awaitAuthentication(
                endpoint.policy.authenticate(credentials, session: facts(connection), on: eventLoop),
                mechanism: credentials.mechanism, username: { credentials.username }, connection)

        case .continueAuthentication(let mechanism, let response, let isFirst):
            if isFirst { saslExchange = endpoint.policy.beginExchange(mechanism, session: facts(connection)) }
            guard let exchange = saslExchange else {
                return connection.run(finishAuthentication(.rejected, mechanism: mechanism, username: nil, connection))
            }
            awaitAuthentication(
                exchange.respond(response, on: eventLoop), mechanism: mechanism, username: { exchange.username },
                connection)

        case .beginMessage(let start):
            intake.begin(
                start, clientAddress: connection.clientAddress,
                tlsVersion: machine.tlsActive ? connection.tlsVersion : nil,
                trusted: endpoint.policy.vouchesForSender(facts(connection)), allocator: connection.allocator,
                eventLoop: eventLoop)

        case .appendBody(let chunk):
            if let drained = intake.append(chunk, eventLoop: eventLoop), !writerDraining {
                writerDraining = true
                connection.suspendReading(until: drained) { [self] _ in
                    writerDraining = false
                    return []
                }
            }

        case .commitMessage:
            commit(connection, eventLoop: eventLoop)

        case .abortMessage:
            intake.abort()

        case .startTLS:
            // The machine has already dropped any octets pipelined behind STARTTLS.
            connection.startTLS()

        case .close:
            connection.close()
        }
    }

    private func facts(_ connection: ServerConnection<SMTPSession>) -> SessionFacts {
        SessionFacts(
            clientAddress: connection.clientAddress, tlsActive: machine.tlsActive,
            authenticatedUser: machine.authenticatedUser, eventLoop: connection.eventLoop,
            declaredSize: machine.declaredSize)
    }

    private func decide(_ check: PolicyCheck, _ connection: ServerConnection<SMTPSession>) {
        switch check {
        case .decided(let decision):
            connection.run(machine.policyDecided(decision))
        case .pending(let future):
            connection.suspendReading(until: future) { [self] result in
                switch result {
                case .success(let decision):
                    return machine.policyDecided(decision)
                case .failure(let error):
                    connection.logger.warning("policy check failed", metadata: ["error": "\(error)"])
                    return machine.policyDecided(.reject(.localError))
                }
            }
        }
    }

    private func awaitAuthentication(
        _ check: AuthenticationCheck, mechanism: SASLCredentials.Mechanism, username: @escaping () -> String?,
        _ connection: ServerConnection<SMTPSession>
    ) {
        switch check {
        case .decided(let decision):
            connection.run(finishAuthentication(decision, mechanism: mechanism, username: username(), connection))
        case .pending(let future):
            connection.suspendReading(until: future) { [self] result in
                switch result {
                case .success(let decision):
                    return finishAuthentication(decision, mechanism: mechanism, username: username(), connection)
                case .failure(let error):
                    connection.logger.warning("authentication check failed", metadata: ["error": "\(error)"])
                    return finishAuthentication(.temporaryFailure, mechanism: mechanism, username: username(), connection)
                }
            }
        }
    }

    /// Logs the outcome (the user name and mechanism, never the password) and tells the machine.
    private func finishAuthentication(
        _ decision: ServerSessionStateMachine.AuthenticationDecision, mechanism: SASLCredentials.Mechanism,
        username: String?, _ connection: ServerConnection<SMTPSession>
    ) -> [ServerSessionStateMachine.Action] {
        let name = username ?? "-"
        switch decision {
        case .challenge:
            break
        case .accepted(let user):
            saslExchange = nil
            connection.logger.info(
                "authenticated", metadata: ["tern_user": "\(user)", "sasl_method": "\(mechanism.rawValue)"])
        case .rejected, .malformed:
            saslExchange = nil
            connection.logger.notice(
                "authentication failed", metadata: ["sasl_username": "\(name)", "sasl_method": "\(mechanism.rawValue)"])
        case .temporaryFailure:
            saslExchange = nil
            connection.logger.warning("authentication could not be checked", metadata: ["sasl_username": "\(name)"])
        }
        return machine.authenticationDecided(decision)
    }

    /// The message's end: the policy's word on the whole message first, then the intake's.
    private func commit(_ connection: ServerConnection<SMTPSession>, eventLoop: any EventLoop) {
        guard let envelope = intake.message?.envelope else { return finishMessage(connection, eventLoop: eventLoop) }
        switch endpoint.policy.checkMessage(envelope, session: facts(connection)) {
        case .decided(let decision):
            messageChecked(decision, connection, eventLoop: eventLoop)
        case .pending(let future):
            connection.suspendReading(until: future) { [self] result in
                messageChecked((try? result.get()) ?? .reject(.localError), connection, eventLoop: eventLoop)
                return []
            }
        }
    }

    private func messageChecked(
        _ decision: ServerSessionStateMachine.PolicyDecision, _ connection: ServerConnection<SMTPSession>,
        eventLoop: any EventLoop
    ) {
        switch decision {
        case .accept:
            finishMessage(connection, eventLoop: eventLoop)
        case .reject(let refusal):
            intake.abort()
            connection.run(machine.messageCommitFailed(refusal))
        case .disconnect:
            // The machine's abortMessage action aborts the intake.
            connection.run(machine.messageDropped())
        }
    }

    private func finishMessage(_ connection: ServerConnection<SMTPSession>, eventLoop: any EventLoop) {
        switch intake.finish(session: facts(connection), eventLoop: eventLoop) {
        case .missing:
            connection.run(machine.messageCommitFailed(.localError))
        case .refused(let message, let refusal, let originators):
            connection.logger.notice(
                "submitted message refused",
                metadata: ["tern_queue_id": "\(message.id)", "reply": "\(refusal.code)", "from": "\(originators)"])
            connection.run(machine.messageCommitFailed(refusal))
        case .committing(let message, let size, let committed):
            connection.suspendReading(until: committed) { [self] result in
                switch result {
                case .success:
                    acceptedMessages += 1
                    endpoint.metrics.messages.increment()
                    endpoint.metrics.bytes.increment(by: size)
                    endpoint.tally?.accept(size: size)
                    connection.logger.info(
                        "message accepted",
                        metadata: [
                            "tern_queue_id": "\(message.id)",
                            "from": "<\(message.envelope.sender?.description ?? "")>",
                            "nrcpt": "\(message.envelope.recipients.count)",
                            "size": "\(size)",
                            "tern_tls": "\(machine.tlsActive ? connection.tlsVersion ?? "unknown" : "none")",
                        ])
                    return machine.messageCommitted(message.id)
                case .failure(let refusal as MessageAuthentication.Refusal):
                    connection.logger.notice(
                        "message refused",
                        metadata: ["tern_queue_id": "\(message.id)", "reply": "\(refusal.reply.code)", "reason": "\(refusal.reason)"])
                    return machine.messageCommitFailed(refusal.reply)
                case .failure(let error):
                    connection.logger.error(
                        "message not stored", metadata: ["tern_queue_id": "\(message.id)", "error": "\(error)"])
                    let reply: SMTPReply =
                        (error as? StoreError)?.isOutOfSpace == true ? .insufficientStorage : .localError
                    return machine.messageCommitFailed(reply)
                }
            }
        }
    }
}
