import NIOCore
import TernMail
import TernTestSupport
import TernSASL
import Testing

@testable import TernSMTPCore

/// SMTP AUTH on the server machine (RFC 4954) with PLAIN (RFC 4616) and LOGIN, and the SASL
/// pieces under it: base64, the PLAIN message, the exchange.
@Suite("SMTP AUTH")
struct AuthenticationTests {
    static let plainAlice = Base64.encode(Array("\0alice\0secret".utf8))

    /// A session with AUTH PLAIN and LOGIN offered; TLS active unless said otherwise.
    static func session(
        tls: Bool = true, requiresTLS: Bool = true, submission: Bool = false
    ) -> SessionHarness {
        var configuration = ServerSessionStateMachine.Configuration(
            hostname: "mx.test", startTLSAvailable: !tls, implicitTLS: tls)
        configuration.authenticationMechanisms = [.plain, .login]
        configuration.authenticationRequiresTLS = requiresTLS
        configuration.requiresAuthentication = submission
        configuration.requiresTLS = submission
        var session = SessionHarness.greeted(configuration)
        session.send("EHLO client.test\r\n")
        return session
    }

    @Test("EHLO offers AUTH under TLS, not in cleartext when TLS is required, not after a login")
    func advertised() {
        var secure = Self.session()
        #expect(secure.replies.last?.contains("250-AUTH PLAIN LOGIN\r\n") == true || secure.replies.last?.hasSuffix("250 AUTH PLAIN LOGIN\r\n") == true)
        secure.send("AUTH PLAIN \(Self.plainAlice)\r\nEHLO client.test\r\n")
        #expect(secure.replies.last?.contains("AUTH") == false)
        let clear = Self.session(tls: false)
        #expect(clear.replies.last?.contains("AUTH") == false)
        let dev = Self.session(tls: false, requiresTLS: false)
        #expect(dev.replies.last?.contains("AUTH PLAIN LOGIN") == true)
    }

    @Test("PLAIN with an initial response: 235, the user is set, Received says ESMTPSA")
    func plainInitialResponse() {
        var session = Self.session()
        session.send("AUTH PLAIN \(Self.plainAlice)\r\n")
        #expect(session.statuses.last == "235 2.7.0")
        #expect(session.machine.authenticatedUser == "alice")
        #expect(session.credentialsChecked == [SASLCredentials(mechanism: .plain, username: "alice", password: "secret")])
        session.send("MAIL FROM:<alice@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
        session.send("hi\r\n.\r\n")
        #expect(session.receivedProtocols == ["ESMTPSA"])
    }

    @Test("PLAIN without an initial response: an empty 334, then the response")
    func plainChallenge() {
        var session = Self.session()
        session.send("AUTH PLAIN\r\n")
        #expect(session.replies.last == "334 \r\n")
        session.send("\(Self.plainAlice)\r\n")
        #expect(session.statuses.last == "235 2.7.0")
    }

    @Test("SCRAM-SHA-256 goes to the driver: each response in turn, challenges as 334, then 235")
    func delegatedExchange() {
        var configuration = ServerSessionStateMachine.Configuration(hostname: "mx.test", implicitTLS: true)
        configuration.authenticationMechanisms = [.plain, .login, .scramSHA256]
        var session = SessionHarness.greeted(configuration)
        session.send("EHLO client.test\r\n")
        #expect(session.replies.last?.contains("AUTH PLAIN LOGIN SCRAM-SHA-256") == true)

        session.send("AUTH SCRAM-SHA-256\r\n")
        #expect(session.replies.last == "334 \r\n")  // client-first: asked for with an empty challenge
        session.send("\(Base64.encode(Array("n,,n=alice,r=abc".utf8)))\r\n")
        #expect(session.replies.last == "334 \(Base64.encode(Array("server-first".utf8)))\r\n")
        session.send("\(Base64.encode(Array("proof".utf8)))\r\n")
        #expect(session.replies.last == "334 \(Base64.encode(Array("v=signature".utf8)))\r\n")
        session.send("\r\n")
        #expect(session.statuses.last == "235 2.7.0")
        #expect(session.machine.authenticatedUser == "alice")
        #expect(session.exchangeResponses.map(\.isFirst) == [true, false, false])
        #expect(session.exchangeResponses.map(\.mechanism) == [.scramSHA256, .scramSHA256, .scramSHA256])
        #expect(session.exchangeResponses.first?.response == Array("n,,n=alice,r=abc".utf8))
    }

    @Test("SCRAM: an initial response starts the exchange; cancel, refusal and bad grammar end it")
    func delegatedRefusals() {
        var configuration = ServerSessionStateMachine.Configuration(hostname: "mx.test", implicitTLS: true)
        configuration.authenticationMechanisms = [.scramSHA256]
        var session = SessionHarness.greeted(configuration)
        session.send("EHLO client.test\r\n")
        let first = Base64.encode(Array("n,,n=alice,r=abc".utf8))
        session.send("AUTH SCRAM-SHA-256 \(first)\r\n*\r\n")
        #expect(session.statuses.suffix(2) == ["334", "501 5.0.0"])
        session.send("AUTH SCRAM-SHA-256 \(first)\r\n\(Base64.encode(Array("wrong".utf8)))\r\n")
        #expect(session.statuses.suffix(2) == ["334", "535 5.7.8"])
        session.send("AUTH SCRAM-SHA-256 \(first)\r\n\(Base64.encode(Array("proof".utf8)))\r\nAAAA\r\n")
        #expect(session.statuses.suffix(3) == ["334", "334", "501 5.5.2"])
        session.send("AUTH SCRAM-SHA-256 \(first)\r\nnot base64!\r\n")
        #expect(session.statuses.suffix(2) == ["334", "501 5.5.2"])
        #expect(session.exchangeResponses.filter(\.isFirst).count == 4)
        #expect(session.machine.authenticatedUser == nil)
        session.send("MAIL FROM:<a@b.test>\r\n")
        #expect(session.statuses.last == "250 2.1.0")
    }

    @Test("LOGIN: Username: and Password: challenges")
    func login() {
        var session = Self.session()
        session.send("AUTH LOGIN\r\n")
        #expect(session.replies.last == "334 VXNlcm5hbWU6\r\n")
        session.send("\(Base64.encode(Array("alice".utf8)))\r\n")
        #expect(session.replies.last == "334 UGFzc3dvcmQ6\r\n")
        session.send("\(Base64.encode(Array("secret".utf8)))\r\n")
        #expect(session.statuses.last == "235 2.7.0")
        #expect(session.credentialsChecked.first?.mechanism == .login)
    }

    @Test("LOGIN with the user name as initial response (as smtplib sends it): one Password: challenge")
    func loginInitialResponse() {
        var session = Self.session()
        session.send("AUTH LOGIN \(Base64.encode(Array("alice".utf8)))\r\n")
        #expect(session.replies.last == "334 UGFzc3dvcmQ6\r\n")
        session.send("\(Base64.encode(Array("secret".utf8)))\r\n")
        #expect(session.statuses.last == "235 2.7.0")
        #expect(session.credentialsChecked == [SASLCredentials(mechanism: .login, username: "alice", password: "secret")])
    }

    @Test("wrong password: 535 5.7.8, and the session may try again")
    func wrongPassword() {
        var session = Self.session()
        session.send("AUTH PLAIN \(Base64.encode(Array("\0alice\0secreT".utf8)))\r\n")
        #expect(session.statuses.last == "535 5.7.8")
        #expect(session.machine.authenticatedUser == nil)
        session.send("AUTH PLAIN \(Self.plainAlice)\r\n")
        #expect(session.statuses.last == "235 2.7.0")
    }

    @Test("refusals", arguments: [
        // Malformed base64, in the command and in a response.
        ("AUTH PLAIN AGFsaWNl!c2VjcmV0\r\n", "501 5.5.2"),
        ("AUTH PLAIN\r\nnot base64\r\n", "501 5.5.2"),
        ("AUTH PLAIN YQ\r\n", "501 5.5.2"),
        // PLAIN messages that are not authzid NUL authcid NUL passwd.
        ("AUTH PLAIN \(Base64.encode(Array("alice\0secret".utf8)))\r\n", "501 5.5.2"),
        ("AUTH PLAIN \(Base64.encode(Array("\0\0secret".utf8)))\r\n", "501 5.5.2"),
        ("AUTH PLAIN \(Base64.encode(Array("\0alice\0".utf8)))\r\n", "501 5.5.2"),
        ("AUTH PLAIN \(Base64.encode(Array("\0alice\0sec\0ret".utf8)))\r\n", "501 5.5.2"),
        ("AUTH PLAIN \(Base64.encode([0, 0x61, 0xFF, 0, 0x73]))\r\n", "501 5.5.2"),
        ("AUTH PLAIN \(Base64.encode([0] + Array(repeating: 0x61, count: 256) + [0, 0x73]))\r\n", "501 5.5.2"),
        ("AUTH PLAIN =\r\n", "501 5.5.2"),
        ("AUTH PLAIN \(Base64.encode(Array("\0alice\0sec\r\nret".utf8)))\r\n", "501 5.5.2"),
        ("AUTH PLAIN \(Base64.encode(Array("\0ali\nce\0secret".utf8)))\r\n", "501 5.5.2"),
        // Cancelled, unknown, badly formed.
        ("AUTH LOGIN\r\n*\r\n", "501 5.0.0"),
        ("AUTH CRAM-MD5\r\n", "504 5.5.4"),
        ("AUTH\r\n", "501 5.5.4"),
        ("AUTH PLAIN a b\r\n", "501 5.5.4"),
        // Order: not during a transaction.
        ("MAIL FROM:<a@b.test>\r\nAUTH PLAIN \(plainAlice)\r\n", "503 5.5.1"),
    ])
    func refusals(input: String, expected: String) {
        var session = Self.session()
        session.send(input)
        #expect(session.statuses.last == expected)
        #expect(session.machine.authenticatedUser == nil)
        #expect(!session.closed)
        // The session stays sane: a proper login still works afterwards.
        session.send("RSET\r\nAUTH PLAIN \(Self.plainAlice)\r\n")
        #expect(session.statuses.last == "235 2.7.0")
    }

    @Test("AUTH twice: 503 5.5.1")
    func twice() {
        var session = Self.session()
        session.send("AUTH PLAIN \(Self.plainAlice)\r\nAUTH PLAIN \(Self.plainAlice)\r\n")
        #expect(session.statuses.suffix(2) == ["235 2.7.0", "503 5.5.1"])
    }

    @Test("in cleartext when TLS is required: 538 5.7.11; with no AUTH configured: 502")
    func needsTLS() {
        var clear = Self.session(tls: false)
        clear.send("AUTH PLAIN \(Self.plainAlice)\r\n")
        #expect(clear.statuses.last == "538 5.7.11")
        var none = SessionHarness.greeted()
        none.send("EHLO c\r\nAUTH PLAIN \(Self.plainAlice)\r\n")
        #expect(none.statuses.last == "502 5.5.1")
    }

    @Test("submission: MAIL before STARTTLS gets 530 (must STARTTLS), before AUTH 530 5.7.0")
    func submissionOrder() {
        var clear = Self.session(tls: false, submission: true)
        clear.send("MAIL FROM:<alice@x.test>\r\n")
        #expect(clear.replies.last == "530 5.7.0 Must issue a STARTTLS command first\r\n")
        var secure = Self.session(submission: true)
        secure.send("MAIL FROM:<alice@x.test>\r\n")
        #expect(secure.replies.last == "530 5.7.0 Authentication required\r\n")
        secure.send("AUTH PLAIN \(Self.plainAlice)\r\nMAIL FROM:<alice@x.test>\r\n")
        #expect(secure.statuses.last == "250 2.1.0")
    }

    @Test("a response line over 12288 octets: 500 5.5.6 after the line, nothing buffered beyond it")
    func longResponse() {
        var session = Self.session()
        session.send("AUTH PLAIN\r\n")
        session.send(Array(repeating: UInt8(ascii: "A"), count: 20_000))
        #expect(session.machine.bufferedInputForTests <= Limits.saslResponse + 2)
        session.send("\r\nNOOP\r\n")
        #expect(session.statuses.suffix(2) == ["500 5.5.6", "250 2.0.0"])
    }

    @Test("pipelined commands wait for the credentials check")
    func pipelinedAfterAuth() {
        var session = Self.session()
        session.defersAuthentication = true
        session.send("AUTH PLAIN \(Self.plainAlice)\r\nMAIL FROM:<alice@x.test>\r\n")
        #expect(session.codes.last == "250")  // the EHLO; nothing else yet
        session.run(session.machine.authenticationDecided(.temporaryFailure))
        #expect(session.statuses.suffix(2) == ["454 4.7.0", "250 2.1.0"])
    }

    @Test("STARTTLS forgets a login made in cleartext (RFC 3207 §4.2)")
    func startTLSForgets() {
        var session = Self.session(tls: false, requiresTLS: false)
        session.send("AUTH PLAIN \(Self.plainAlice)\r\n")
        #expect(session.machine.authenticatedUser == "alice")
        session.send("STARTTLS\r\n")
        session.run(session.machine.tlsEstablished())
        #expect(session.machine.authenticatedUser == nil)
    }

    // MARK: The pieces

    @Test("Base64 decoding is strict", arguments: [
        ("", [UInt8]()), ("Zg==", Array("f".utf8)), ("Zm8=", Array("fo".utf8)), ("Zm9vYmFy", Array("foobar".utf8)),
    ])
    func base64Decodes(text: String, bytes: [UInt8]) {
        #expect(Base64.decode(text.utf8) == bytes)
    }

    @Test("Base64 refuses", arguments: ["Zg", "Zg=", "Zg===", "Z===", "Zh==", "Zm9=", "Zm 9v", "Zm9v\n", "=Zm9", "Zg==Zg==", "Zm9v!A=="])
    func base64Refuses(text: String) {
        #expect(Base64.decode(text.utf8) == nil)
    }

    @Test("Base64 round trip on random bytes, and random text never crashes")
    func base64Property() {
        var generator = SeededGenerator(seed: 0xB64)
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0..<64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(Base64.decode(Base64.encode(bytes).utf8) == bytes)
            let noise = (0..<Int.random(in: 0..<40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if let decoded = Base64.decode(noise) { #expect(Base64.encode(decoded).utf8.elementsEqual(noise)) }
        }
    }

    @Test("credentials never show the password")
    func description() {
        let credentials = SASLCredentials(mechanism: .plain, username: "alice", password: "hunter2")
        #expect("\(credentials)" == "PLAIN alice")
    }
}
