import TernTestSupport
import NIOCore
import TernMail
import Testing

@testable import TernSMTPCore

/// Runs a client session machine the way the outbound driver does: it answers every
/// `requestBodyChunk` from the body of the message in flight, and records what the client
/// wrote, reported and did.
struct ClientHarness {
    typealias Machine = ClientSessionStateMachine

    var machine: Machine
    /// Everything the client wrote since the last `takeWritten()`.
    var written: [UInt8] = []
    var reports: [Machine.DeliveryReport] = []
    var failures: [Machine.SessionFailure] = []
    var closed = false
    var tlsStarts = 0
    var bodyRequests = 0
    /// When false, `requestBodyChunk` is left open for the test to answer.
    var answersBodyRequests = true
    /// The bodies of the messages sent, as the chunks the driver streams.
    var bodies: [(message: OutboundMessage, chunks: [[UInt8]])] = []
    private var currentBody: [[UInt8]] = []
    /// The timeout phases seen after each step (consecutive duplicates kept out).
    var phases: [String] = []

    static let hostname = "client.test"

    init(_ configuration: Machine.Configuration = .init(hostname: ClientHarness.hostname, tlsPolicy: .none)) {
        machine = Machine(configuration: configuration)
    }

    static func connected(
        _ configuration: Machine.Configuration = .init(hostname: ClientHarness.hostname, tlsPolicy: .none)
    ) -> ClientHarness {
        var harness = ClientHarness(configuration)
        harness.run(harness.machine.connected())
        return harness
    }

    // MARK: Events

    mutating func server(_ text: String) { server(Array(text.utf8)) }

    mutating func server(_ bytes: [UInt8]) { run(machine.bytesReceived(ByteBuffer(bytes: bytes))) }

    mutating func send(_ message: OutboundMessage, body: [String]) {
        send(message, chunks: body.map { Array($0.utf8) })
    }

    mutating func send(_ message: OutboundMessage, chunks: [[UInt8]]) {
        bodies.append((message, chunks))
        run(machine.send(message: message))
    }

    mutating func run(_ actions: [Machine.Action]) {
        ActionLoop.run(actions) { action, queue in
            switch action {
            case .write(let buffer):
                written += buffer.readableBytesView
            case .startTLS:
                tlsStarts += 1
            case .requestBodyChunk:
                bodyRequests += 1
                if !bodyStarted {
                    bodyStarted = true
                    let index = bodies.firstIndex { $0.message == machine.currentMessage }
                    currentBody = index.map { bodies.remove(at: $0).chunks } ?? []
                }
                guard answersBodyRequests else { return }
                queue.append(contentsOf: answerBodyRequest())
            case .reportDelivery(let report):
                reports.append(report)
                // Any report but the one refusing a second message while one is in progress
                // ends the body transfer in progress.
                if !report.recipients.allSatisfy({ $0.outcome.reply == .sessionBusy }) {
                    bodyStarted = false
                    currentBody = []
                }
            case .reportSessionFailure(let failure):
                failures.append(failure)
            case .close:
                closed = true
            }
        }
        notePhase()
    }

    private var bodyStarted = false

    /// Answers one open body request: the next chunk, or the end.
    mutating func answerBodyRequest() -> [Machine.Action] {
        if currentBody.isEmpty { return machine.bodyEnd() }
        return machine.bodyChunk(ByteBuffer(bytes: currentBody.removeFirst()))
    }

    mutating func notePhase() {
        let phase = machine.timeout.map { "\($0.phase)" } ?? "none"
        if phases.last != phase { phases.append(phase) }
    }

    mutating func takeWritten() -> String {
        defer { written = [] }
        return String(decoding: written, as: UTF8.self)
    }

    // MARK: Transcripts

    /// Replays a conversation written as `S:` lines (octets from the server; consecutive ones
    /// arrive in one read) and `C:` lines (what the client must have written by then), each
    /// line ending in CRLF, plus directives: `T: ok` / `T: fail` (TLS handshake result),
    /// `X: timeout`, `X: closed`, `X: finish`.
    mutating func converse(_ script: String, sourceLocation: SourceLocation = #_sourceLocation) {
        var block: (kind: Character, lines: [String])?
        func flush(_ harness: inout ClientHarness) {
            guard let current = block else { return }
            let text = current.lines.map { $0 + "\r\n" }.joined()
            if current.kind == "S" {
                harness.server(text)
            } else {
                let actual = harness.takeWritten()
                #expect(actual == text, sourceLocation: sourceLocation)
            }
            block = nil
        }
        for rawLine in script.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine)
            guard line.count >= 2 else { continue }
            let kind = line.first!
            let content = line.count > 3 ? String(line.dropFirst(3)) : ""
            switch kind {
            case "S", "C":
                if block?.kind != kind { flush(&self) }
                if block == nil { block = (kind, []) }
                block?.lines.append(content)
            case "T", "X":
                flush(&self)
                switch content {
                case "ok": run(machine.tlsEstablished())
                case "fail": run(machine.tlsFailed())
                case "timeout": run(machine.timedOut())
                case "closed": run(machine.connectionClosed())
                case "finish": run(machine.finish())
                default: Issue.record("unknown directive \(line)", sourceLocation: sourceLocation)
                }
            default:
                Issue.record("bad transcript line \(line)", sourceLocation: sourceLocation)
            }
        }
        flush(&self)
        #expect(takeWritten() == "", "unexpected client output at the end", sourceLocation: sourceLocation)
    }
}

// MARK: - Messages and summaries

extension MailAddress {
    init(_ text: String) {
        let at = text.lastIndex(of: "@")!
        self.init(localPart: String(text[..<at]), domain: String(text[text.index(after: at)...]))
    }
}

extension OutboundMessage {
    static func simple(
        from sender: String? = "a@b.test", to recipients: [String] = ["c@d.test"], size: Int = 20,
        body: BodyType? = nil, smtpUTF8: Bool = false
    ) -> OutboundMessage {
        OutboundMessage(
            envelope: Envelope(
                sender: sender.map { MailAddress($0) },
                recipients: recipients.map { EnvelopeRecipient(address: MailAddress($0)) },
                smtpUTF8: smtpUTF8),
            size: size, body: body)
    }
}

extension ClientSessionStateMachine.DeliveryReport {
    /// `address outcome code [enhanced]` per recipient, e.g. `c@d.test delivered 250 2.0.0`.
    var summary: [String] {
        recipients.map { result in
            let kind =
                switch result.outcome {
                case .delivered: "delivered"
                case .deferred: "deferred"
                case .failed: "failed"
                }
            let reply = result.outcome.reply
            let enhanced = reply.enhancedCode.map { " \($0)" } ?? ""
            return "\(result.recipient.address) \(kind) \(reply.code)\(enhanced)"
        }
    }
}

/// The EHLO reply of a server offering `keywords`.
func ehlo(_ keywords: [String], name: String = "mx.test") -> String {
    let lines = [name] + keywords
    return lines.enumerated().map { index, line in
        "S: 250\(index == lines.count - 1 ? " " : "-")\(line)"
    }.joined(separator: "\n")
}
