import TernTestSupport
import NIOCore
import TernMail
import TernSASL

@testable import TernSMTPCore

/// Runs a server session machine the way the driver does, answering every check with
/// `accept` (unless told otherwise) and every commit with success, and records what happened.
struct SessionHarness {
    var machine: ServerSessionStateMachine
    /// Every reply, in order, as wire text.
    var replies: [String] = []
    /// Every committed message body (DATA or BDAT), in order.
    var committed: [[UInt8]] = []
    var committedEnvelopes: [Envelope] = []
    var began = 0
    var aborted = 0
    var closed = false
    var startedTLS = false
    var decide: (ServerSessionStateMachine.Action) -> ServerSessionStateMachine.PolicyDecision = { _ in .accept }
    /// The credentials the machine asked to check, in order.
    var credentialsChecked: [SASLCredentials] = []
    /// The directory: by default user "alice" with password "secret".
    var checkCredentials: (SASLCredentials) -> ServerSessionStateMachine.AuthenticationDecision = {
        $0.username == "alice" && $0.password == "secret" ? .accepted(user: "alice") : .rejected
    }
    /// The responses handed to the driver's challenge–response mechanism, in order.
    var exchangeResponses: [(mechanism: SASLCredentials.Mechanism, response: [UInt8], isFirst: Bool)] = []
    /// The driver's mechanism: by default a three-step toy of SCRAM's shape (a challenge, a
    /// final challenge, then acceptance of the client's empty response).
    var continueExchange: (SASLCredentials.Mechanism, [UInt8], Bool, Int) -> ServerSessionStateMachine.AuthenticationDecision = {
        _, response, _, step in
        switch step {
        case 0: return .challenge(Array("server-first".utf8))
        case 1: return response == Array("proof".utf8) ? .challenge(Array("v=signature".utf8)) : .rejected
        default: return response.isEmpty ? .accepted(user: "alice") : .malformed
        }
    }
    private var exchangeStep = 0
    /// Leave `authenticate` unanswered (the test calls `authenticationDecided` itself).
    var defersAuthentication = false

    private var body: [UInt8] = []
    private var envelope: Envelope?
    /// The `with` protocol of each message begun.
    var receivedProtocols: [String] = []
    private var nextID = 0

    init(_ configuration: ServerSessionStateMachine.Configuration = .init(hostname: "mx.test", startTLSAvailable: true)) {
        machine = ServerSessionStateMachine(configuration: configuration)
    }

    static func greeted(
        _ configuration: ServerSessionStateMachine.Configuration = .init(hostname: "mx.test", startTLSAvailable: true)
    ) -> SessionHarness {
        var harness = SessionHarness(configuration)
        harness.run(harness.machine.greet())
        return harness
    }

    mutating func send(_ text: String) {
        send(Array(text.utf8))
    }

    mutating func send(_ bytes: [UInt8]) {
        run(machine.bytesReceived(ByteBuffer(bytes: bytes)))
        // As the driver does: input left by the batch limit is worked through later.
        while machine.hasMoreInput { run(machine.resumeProcessing()) }
    }

    /// Sends the bytes in pieces split at the given offsets.
    mutating func send(_ bytes: [UInt8], splitAt offsets: [Int]) {
        var start = 0
        for offset in offsets + [bytes.count] where offset > start {
            send(Array(bytes[start..<offset]))
            start = offset
        }
    }

    mutating func run(_ actions: [ServerSessionStateMachine.Action]) {
        ActionLoop.run(actions) { action, queue in
            switch action {
            case .sendReply(let reply):
                replies.append(reply.description)
            case .checkSender, .checkRecipient:
                queue.append(contentsOf: machine.policyDecided(decide(action)))
            case .beginMessage(let start):
                began += 1
                receivedProtocols.append(start.receivedProtocol)
                body = []
                envelope = start.envelope
            case .appendBody(let chunk):
                body.append(contentsOf: chunk.readableBytesView)
            case .commitMessage:
                committed.append(body)
                if let envelope { committedEnvelopes.append(envelope) }
                var generator = SeededGenerator(seed: UInt64(nextID))
                nextID += 1
                queue.append(contentsOf: machine.messageCommitted(QueueID(microsecondsSinceEpoch: UInt64(nextID), using: &generator)))
            case .abortMessage:
                aborted += 1
                body = []
            case .authenticate(let credentials):
                credentialsChecked.append(credentials)
                if !defersAuthentication {
                    queue.append(contentsOf: machine.authenticationDecided(checkCredentials(credentials)))
                }
            case .continueAuthentication(let mechanism, let response, let isFirst):
                exchangeResponses.append((mechanism, response, isFirst))
                if isFirst { exchangeStep = 0 }
                let decision = continueExchange(mechanism, response, isFirst, exchangeStep)
                exchangeStep += 1
                queue.append(contentsOf: machine.authenticationDecided(decision))
            case .startTLS:
                startedTLS = true
            case .close:
                closed = true
            }
        }
    }

    /// The reply codes only (first three characters of each reply's last line).
    var codes: [String] {
        replies.map { reply in
            let lines = reply.split(separator: "\r\n")
            return String(lines.last?.prefix(3) ?? "")
        }
    }

    /// Code and enhanced code of each reply's last line, e.g. `250 2.1.0`.
    var statuses: [String] {
        replies.map { reply in
            let last = reply.split(separator: "\r\n").last.map(String.init) ?? ""
            let parts = last.split(separator: " ", maxSplits: 2)
            if parts.count >= 2, parts[1].first?.isNumber == true, parts[1].contains(".") {
                return "\(parts[0]) \(parts[1])"
            }
            return String(last.prefix(3))
        }
    }
}
