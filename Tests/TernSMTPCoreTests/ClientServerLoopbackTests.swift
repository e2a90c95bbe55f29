import TernTestSupport
import NIOCore
import TernMail
import Testing

@testable import TernSMTPCore

/// Tern's client machine talking to Tern's server machine through in-memory byte pipes: what
/// one sends, the other must take, and a message must arrive exactly as it was sent.
struct Loopback {
    var server: SessionHarness
    var client: ClientHarness
    private var repliesDelivered = 0
    private var handshakes = 0

    init(
        server configuration: ServerSessionStateMachine.Configuration = .init(
            hostname: "mx.test", startTLSAvailable: true),
        client clientConfiguration: ClientSessionStateMachine.Configuration = .init(
            hostname: "client.test", tlsPolicy: .none)
    ) {
        server = SessionHarness.greeted(configuration)
        client = ClientHarness.connected(clientConfiguration)
    }

    /// Moves octets both ways (and completes TLS handshakes) until both sides are quiet.
    mutating func pump() {
        for _ in 0..<10_000 {
            var progressed = false
            if repliesDelivered < server.replies.count {
                let bytes = server.replies[repliesDelivered...].joined()
                repliesDelivered = server.replies.count
                client.server(bytes)
                progressed = true
            }
            if !client.written.isEmpty {
                let bytes = client.written
                client.written = []
                if !server.closed { server.send(bytes) }
                progressed = true
            }
            if server.startedTLS, client.tlsStarts > handshakes {
                handshakes += 1
                server.run(server.machine.tlsEstablished())
                client.run(client.machine.tlsEstablished())
                progressed = true
            }
            if server.closed, !client.closed, !client.machine.isClosed, repliesDelivered == server.replies.count {
                client.run(client.machine.connectionClosed())
                progressed = true
            }
            if !progressed { return }
        }
        Issue.record("the conversation did not settle")
    }

    mutating func deliver(_ message: OutboundMessage, chunks: [[UInt8]]) {
        client.send(message, chunks: chunks)
        pump()
    }

    mutating func finish() {
        client.run(client.machine.finish())
        pump()
    }
}

@Suite("Client against server")
struct ClientServerLoopbackTests {
    static let body = Array("Subject: loopback\r\n\r\n.leading dot\r\n..two dots\r\n\r\n.\r\nno final line end".utf8)

    private static func chunks(_ bytes: [UInt8], size: Int) -> [[UInt8]] {
        stride(from: 0, to: bytes.count, by: size).map { Array(bytes[$0..<min($0 + size, bytes.count)]) }
    }

    @Test("DATA: the body arrives intact (plus the CRLF the client added), envelope and DSN parameters too")
    func data() {
        var loop = Loopback(client: .init(hostname: "client.test", tlsPolicy: .none, prefersChunking: false))
        var message = OutboundMessage.simple(to: ["c@d.test", "e@f.test"], size: Self.body.count)
        message.envelope.dsnReturn = .headers
        message.envelope.envelopeID = "ID+2B1"
        message.envelope.recipients[0].notify = DSNNotify(failure: true, delay: true)
        message.envelope.recipients[0].originalRecipient = OriginalRecipient(
            addressType: "rfc822", encodedAddress: "c+40d.test")
        loop.deliver(message, chunks: Self.chunks(Self.body, size: 7))
        loop.finish()
        #expect(loop.server.committed == [Self.body + [0x0D, 0x0A]])
        let envelope = loop.server.committedEnvelopes.first
        #expect(envelope?.sender == MailAddress("a@b.test"))
        #expect(envelope?.recipients.map(\.address) == [MailAddress("c@d.test"), MailAddress("e@f.test")])
        #expect(envelope?.declaredSize == Self.body.count)
        #expect(envelope?.dsnReturn == .headers)
        #expect(envelope?.envelopeID == "ID+2B1")
        #expect(envelope?.recipients.first?.notify == DSNNotify(failure: true, delay: true))
        #expect(envelope?.recipients.first?.originalRecipient?.encodedAddress == "c+40d.test")
        #expect(
            loop.client.reports.map(\.summary) == [["c@d.test delivered 250 2.0.0", "e@f.test delivered 250 2.0.0"]])
        #expect(loop.client.reports.first?.remoteSupportsDSN == true)
        #expect(loop.client.closed && loop.server.closed)
        #expect(loop.client.failures.isEmpty)
    }

    @Test("BDAT: the body arrives octet for octet, with no CRLF added")
    func chunking() {
        var loop = Loopback()
        loop.deliver(.simple(size: Self.body.count), chunks: Self.chunks(Self.body, size: 10))
        #expect(loop.server.committed == [Self.body])
        #expect(loop.client.reports.first?.summary == ["c@d.test delivered 250 2.0.0"])
    }

    @Test("BINARYMIME: any octets, through BDAT")
    func binary() {
        var generator = SeededGenerator(seed: 3030)
        let body = (0..<5000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var loop = Loopback()
        loop.deliver(.simple(size: body.count, body: .binaryMIME), chunks: Self.chunks(body, size: 1024))
        #expect(loop.server.committed == [body])
        #expect(loop.server.committedEnvelopes.first?.body == .binaryMIME)
    }

    @Test("two messages on one connection, a recipient refused, then QUIT")
    func reuse() {
        var loop = Loopback()
        loop.server.decide = { action in
            if case .checkRecipient(let path, _) = action, path.mailbox.localPart == "nobody" {
                return .reject(SMTPReply(550, EnhancedStatusCode(5, 1, 1), "no such user"))
            }
            return .accept
        }
        loop.deliver(.simple(to: ["c@d.test", "nobody@d.test"]), chunks: [Array("one\r\n".utf8)])
        loop.deliver(.simple(from: nil, to: ["nobody@d.test"]), chunks: [Array("two\r\n".utf8)])
        loop.deliver(.simple(from: nil, to: ["e@f.test"]), chunks: [Array("three\r\n".utf8)])
        loop.finish()
        #expect(loop.server.committed == [Array("one\r\n".utf8), Array("three\r\n".utf8)])
        #expect(
            loop.client.reports.map(\.summary) == [
                ["c@d.test delivered 250 2.0.0", "nobody@d.test failed 550 5.1.1"], ["nobody@d.test failed 550 5.1.1"],
                ["e@f.test delivered 250 2.0.0"],
            ])
        // The second transaction opened MAIL with no recipient: RSET came before the third.
        #expect(loop.server.replies.filter { $0.hasPrefix("250 2.0.0 Ok\r\n") }.count == 1)
        #expect(loop.client.closed && loop.server.closed)
    }

    @Test("STARTTLS on both sides: the session starts over and the message goes over TLS")
    func startTLS() {
        var loop = Loopback(client: .init(hostname: "client.test", tlsPolicy: .required))
        loop.deliver(.simple(), chunks: [Array("secret\r\n".utf8)])
        #expect(loop.server.machine.tlsActive)
        #expect(loop.client.machine.tlsActive)
        #expect(loop.client.machine.capabilities?.startTLS == false)
        #expect(loop.client.reports.first?.tls == true)
        #expect(loop.server.committed == [Array("secret\r\n".utf8)])
    }

    @Test("SIZE: the client refuses what the server would, without sending it")
    func size() {
        var loop = Loopback(server: .init(hostname: "mx.test", maximumMessageSize: 100))
        loop.deliver(.simple(size: 101), chunks: [Array(repeating: UInt8(ascii: "x"), count: 101)])
        #expect(loop.client.reports.first?.summary == ["c@d.test failed 552 5.3.4"])
        #expect(loop.server.began == 0)
        #expect(!loop.server.replies.contains { $0.hasPrefix("250 2.1.0") })
    }

    @Test("SMTPUTF8 addresses travel with the parameter")
    func smtpUTF8() {
        var loop = Loopback()
        loop.deliver(.simple(from: "δοκιμή@παράδειγμα.test", to: ["用户@例子.test"]), chunks: [Array("x\r\n".utf8)])
        #expect(loop.server.committedEnvelopes.first?.smtpUTF8 == true)
        #expect(loop.server.committedEnvelopes.first?.recipients.first?.address == MailAddress("用户@例子.test"))
    }

    @Test("bare line endings in a body are repaired by the client, so the strict server takes it")
    func bareLineEndings() {
        var loop = Loopback(client: .init(hostname: "client.test", tlsPolicy: .none, prefersChunking: false))
        loop.deliver(.simple(), chunks: [Array("a\nb\rc\r\n.\n".utf8)])
        #expect(loop.server.committed == [Array("a\r\nb\r\nc\r\n.\r\n".utf8)])
        #expect(loop.client.reports.first?.repairedLineEndings == 3)
    }

    @Test("random bodies, chunkings and transfer modes arrive intact")
    func randomBodies() {
        var generator = SeededGenerator(seed: 6152)
        let pieces = [".", "..", "x", "hello world", "\t", "é", ".\r\n", "\r\n", "\r\n.\r\n", "BDAT 5 LAST", "QUIT"]
        for round in 0..<200 {
            var body: [UInt8] = []
            for _ in 0..<Int.random(in: 0...30, using: &generator) {
                body += Array(pieces.randomElement(using: &generator)!.utf8)
            }
            let chunking = round % 2 == 0
            let pipelining = round % 3 != 0
            var loop = Loopback(
                client: .init(
                    hostname: "client.test", tlsPolicy: .none, prefersChunking: chunking, usesPipelining: pipelining))
            let chunkSize = Int.random(in: 1...16, using: &generator)
            loop.deliver(.simple(size: body.count), chunks: Self.chunks(body, size: chunkSize))
            loop.finish()
            let expected = chunking || body.isEmpty || body.suffix(2) == [0x0D, 0x0A] ? body : body + [0x0D, 0x0A]
            #expect(loop.server.committed == [expected], "round \(round)")
            #expect(loop.client.reports.first?.summary == ["c@d.test delivered 250 2.0.0"], "round \(round)")
            #expect(loop.client.closed && loop.server.closed, "round \(round)")
        }
    }
}
