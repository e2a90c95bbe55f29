import NIOCore
import TernSASL
import Testing

@testable import TernIMAPCore

@Suite("IMAP server session")
struct ServerSessionTests {
    /// Runs the session on `input` and renders its actions: sent octets as text, the others as
    /// `<action>` lines.
    static func transcript(_ actions: [IMAPServerSession.Action]) -> String {
        actions.map { action in
            switch action {
            case .send(let buffer): String(decoding: buffer.readableBytesView, as: UTF8.self)
            case .startTLS: "<startTLS>\n"
            case .startCompression: "<compress>\n"
            case .authenticate(let credentials):
                "<verify \(credentials.mechanism.rawValue) \(credentials.authorizationID)|\(credentials.username)|\(credentials.password)>\n"
            case .continueAuthentication(let mechanism, let response, let isFirst):
                "<continue \(mechanism.rawValue) \(String(decoding: response, as: UTF8.self)) \(isFirst)>\n"
            case .execute(let command): "<execute \(command.tag)>\n"
            case .startIdle(let tag): "<idle \(tag)>\n"
            case .endIdle(let tag, let done): "<end idle \(tag) \(done)>\n"
            case .close: "<close>\n"
            }
        }.joined()
    }

    static func feed(_ session: inout IMAPServerSession, _ text: String) -> String {
        transcript(session.bytesReceived(ByteBuffer(string: text)))
    }

    @Test("greeting, CAPABILITY, NOOP, ID and LOGOUT before login")
    func basics() {
        var session = IMAPServerSession(configuration: .init(startTLSAvailable: true))
        #expect(Self.transcript(session.greet()) == "* OK [CAPABILITY IMAP4rev2 IMAP4rev1 LITERAL- ID ENABLE STARTTLS LOGINDISABLED] Tern IMAP ready\r\n")
        #expect(
            Self.feed(&session, "a1 CAPABILITY\r\na2 NOOP\r\na3 ID NIL\r\na4 LOGOUT\r\na5 NOOP\r\n")
                == "* CAPABILITY IMAP4rev2 IMAP4rev1 LITERAL- ID ENABLE STARTTLS LOGINDISABLED\r\na1 OK CAPABILITY completed\r\n"
                + "a2 OK NOOP completed\r\n* ID (\"name\" \"Tern\")\r\na3 OK ID completed\r\n"
                + "* BYE Logging out\r\na4 OK LOGOUT completed\r\n<close>\n")
        #expect(session.state == .logout)
    }

    @Test("LOGIN is refused before TLS; STARTTLS drops what was pipelined behind it; LOGIN after TLS is checked")
    func startTLSThenLogin() {
        var session = IMAPServerSession(configuration: .init(startTLSAvailable: true))
        _ = session.greet()
        #expect(Self.feed(&session, "a1 LOGIN alice secret\r\n") == "a1 NO [PRIVACYREQUIRED] LOGIN is disabled until STARTTLS\r\n")
        #expect(Self.feed(&session, "a2 STARTTLS\r\na3 LOGIN mallory injected\r\n") == "a2 OK Begin TLS negotiation now\r\n<startTLS>\n")
        #expect(Self.feed(&session, "a4 NOOP\r\n") == "", "plaintext before the handshake is dropped, not kept")
        #expect(Self.transcript(session.tlsEstablished()) == "")
        #expect(Self.feed(&session, "a5 CAPABILITY\r\n").hasPrefix("* CAPABILITY IMAP4rev2 IMAP4rev1 LITERAL- ID ENABLE AUTH=PLAIN SASL-IR\r\n"))
        #expect(Self.feed(&session, "a6 STARTTLS\r\n") == "a6 BAD STARTTLS is not available now\r\n")
        #expect(Self.feed(&session, "a7 LOGIN {5}\r\n") == "+ Ready for literal data\r\n")
        #expect(Self.feed(&session, "alice \"secret\"\r\na8 NOOP\r\n") == "<verify LOGIN |alice|secret>\n", "a8 waits for the answer")
        #expect(Self.transcript(session.authenticationCompleted(.rejected)) == "a7 NO [AUTHENTICATIONFAILED] Authentication failed\r\na8 OK NOOP completed\r\n")
        #expect(Self.feed(&session, "a9 LOGIN alice secret\r\n") == "<verify LOGIN |alice|secret>\n")
        #expect(
            Self.transcript(session.authenticationCompleted(.accepted(user: "alice@example.test")))
                == "a9 OK [CAPABILITY IMAP4rev2 IMAP4rev1 LITERAL- ID ENABLE] LOGIN completed\r\n")
        #expect(session.state == .authenticated(user: "alice@example.test"))
    }

    @Test("mailbox commands need a login, then go to the driver one at a time, in order")
    func execute() {
        var session = IMAPServerSession(configuration: .init(loginRequiresTLS: false))
        _ = session.greet()
        #expect(Self.feed(&session, "a1 SELECT INBOX\r\n") == "a1 BAD Log in first\r\n")
        #expect(Self.feed(&session, "a2 AUTHENTICATE CRAM-MD5\r\n") == "a2 NO [CANNOT] Unsupported authentication mechanism\r\n")
        _ = Self.feed(&session, "a3 LOGIN alice pw\r\n")
        _ = session.authenticationCompleted(.accepted(user: "alice"))
        #expect(Self.feed(&session, "a4 FETCH 1 FLAGS\r\na5 NOOP\r\n") == "a4 BAD No mailbox selected\r\na5 OK NOOP completed\r\n")
        #expect(Self.feed(&session, "a4 SELECT INBOX\r\na5 NOOP\r\na6 FETCH 1 FLAGS\r\n") == "<execute a4>\n")
        session.mailboxSelected("INBOX", readOnly: false)
        #expect(session.state == .selected(user: "alice", mailbox: "INBOX", readOnly: false))
        #expect(Self.transcript(session.commandCompleted()) == "<execute a5>\n", "NOOP polls the selected mailbox")
        #expect(Self.transcript(session.commandCompleted()) == "<execute a6>\n")
        #expect(Self.transcript(session.commandCompleted()) == "")
        #expect(Self.feed(&session, "a9 ENABLE IMAP4rev2\r\n") == "a9 BAD ENABLE is allowed only before SELECT, after login\r\n")
        session.mailboxClosed()
        #expect(session.state == .authenticated(user: "alice"))
        #expect(Self.feed(&session, "a7 LOGIN alice pw\r\na8 FROB\r\n") == "a7 BAD Already authenticated\r\na8 BAD unknown command\r\n")
    }

    @Test("hostile framing: a literal over the limit is refused, a line over it ends the connection")
    func hostile() {
        var session = IMAPServerSession(configuration: .init())
        _ = session.greet()
        #expect(Self.feed(&session, "t1 LOGIN {4294967296}\r\nt2 NOOP\r\n") == "t1 BAD [TOOBIG] Literal too large\r\nt2 OK NOOP completed\r\n")
        #expect(Self.feed(&session, "t3 LOGIN \"a\0\" b\r\n") == "t3 BAD NUL, CR or LF in a quoted string\r\n")
        #expect(Self.feed(&session, "t4 NOOP " + String(repeating: "x", count: 70_000)) == "* BYE Command line too long\r\n<close>\n")
        #expect(session.state == .logout)
        #expect(Self.feed(&session, "t5 NOOP\r\n") == "", "nothing after BYE")
    }

    @Test("COMPRESS DEFLATE (RFC 4978): after login only, once, unknown algorithms BAD, pipelined input dropped")
    func compress() {
        var session = IMAPServerSession(configuration: .init(loginRequiresTLS: false, compressionAvailable: true))
        _ = session.greet()
        #expect(!session.capabilities.contains("COMPRESS=DEFLATE"))
        #expect(Self.feed(&session, "z1 COMPRESS DEFLATE\r\n") == "z1 BAD Log in first\r\n")
        _ = Self.feed(&session, "l LOGIN alice secret\r\n")
        _ = session.authenticationCompleted(.accepted(user: "alice"))
        #expect(session.capabilities.last == "COMPRESS=DEFLATE")
        #expect(Self.feed(&session, "z2 COMPRESS GZIP\r\n") == "z2 BAD Unknown compression algorithm GZIP\r\n")
        #expect(Self.feed(&session, "z3 compress deflate\r\nz4 NOOP\r\n") == "z3 OK DEFLATE active\r\n<compress>\n")
        #expect(session.compressionActive)
        #expect(Self.feed(&session, "z5 COMPRESS DEFLATE\r\n") == "z5 NO [COMPRESSIONACTIVE] DEFLATE active via COMPRESS\r\n")
    }

    @Test("ENABLE QRESYNC implies CONDSTORE; a CONDSTORE-enabling command turns it on; QRESYNC needs ENABLE")
    func condstore() {
        var session = IMAPServerSession(configuration: .init(loginRequiresTLS: false, enableableExtensions: ["CONDSTORE", "QRESYNC"]))
        _ = session.greet()
        _ = Self.feed(&session, "l LOGIN alice secret\r\n")
        _ = session.authenticationCompleted(.accepted(user: "alice"))
        #expect(Self.feed(&session, "q1 SELECT INBOX (QRESYNC (1 2))\r\n") == "q1 BAD QRESYNC parameter needs ENABLE QRESYNC first\r\n")
        #expect(Self.feed(&session, "q2 STATUS INBOX (HIGHESTMODSEQ)\r\n") == "<execute q2>\n")
        #expect(session.enabled == ["CONDSTORE"], "STATUS HIGHESTMODSEQ is CONDSTORE-enabling")
        _ = session.commandCompleted()
        #expect(Self.feed(&session, "q3 ENABLE QRESYNC\r\n") == "* ENABLED QRESYNC\r\nq3 OK ENABLE completed\r\n")
        #expect(session.enabled == ["CONDSTORE", "QRESYNC"])
        #expect(Self.feed(&session, "q4 SELECT INBOX (QRESYNC (1 2))\r\n") == "<execute q4>\n")
        session.mailboxSelected("INBOX", readOnly: false)
        _ = session.commandCompleted()
        #expect(Self.feed(&session, "q5 UID FETCH 1:* FLAGS (VANISHED)\r\n") == "q5 BAD VANISHED needs CHANGEDSINCE and ENABLE QRESYNC\r\n")
        #expect(Self.feed(&session, "q6 UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)\r\n") == "<execute q6>\n")
    }

    @Test("AUTHENTICATE PLAIN with SASL-IR, without, cancelled, with broken base64; only under TLS")
    func authenticatePlain() {
        var session = IMAPServerSession(configuration: .init(startTLSAvailable: true, authenticationMechanisms: [.plain, .scramSHA256]))
        _ = session.greet()
        #expect(!session.capabilities.contains("AUTH=PLAIN"), "no mechanism is offered before TLS")
        #expect(Self.feed(&session, "p0 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n") == "p0 NO [PRIVACYREQUIRED] AUTHENTICATE is disabled until STARTTLS\r\n")
        _ = Self.feed(&session, "s STARTTLS\r\n")
        _ = session.tlsEstablished()
        #expect(session.capabilities.suffix(3) == ["AUTH=PLAIN", "AUTH=SCRAM-SHA-256", "SASL-IR"])
        // "\0alice\0secret"
        #expect(Self.feed(&session, "p1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n") == "<verify PLAIN |alice|secret>\n")
        #expect(Self.transcript(session.authenticationCompleted(.unavailable)) == "p1 NO [UNAVAILABLE] Temporary authentication failure\r\n")
        #expect(Self.feed(&session, "p1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n") == "<verify PLAIN |alice|secret>\n")
        #expect(Self.transcript(session.authenticationCompleted(.tooManySessions)) == "p1 NO [LIMIT] Too many connections for this user\r\n")
        #expect(session.user == nil)
        #expect(Self.feed(&session, "p2 AUTHENTICATE PLAIN\r\n") == "+ \r\n")
        #expect(Self.feed(&session, "*\r\n") == "p2 BAD AUTHENTICATE cancelled\r\n")
        #expect(Self.feed(&session, "p3 authenticate plain\r\nnot base64!\r\n") == "+ \r\np3 BAD Invalid base64 in the response\r\n")
        #expect(Self.feed(&session, "p4 AUTHENTICATE PLAIN =\r\n") == "p4 BAD Malformed authentication response\r\n")
        #expect(Self.feed(&session, "p5 AUTHENTICATE PLAIN\r\n") == "+ \r\n")
        #expect(Self.feed(&session, "Ym9iAGFsaWNlAHNlY3JldA==\r\n") == "<verify PLAIN bob|alice|secret>\n")
        #expect(Self.transcript(session.authenticationCompleted(.accepted(user: "alice"))).hasPrefix("p5 OK [CAPABILITY IMAP4rev2"))
        #expect(Self.feed(&session, "p6 AUTHENTICATE PLAIN =\r\n") == "p6 BAD Already authenticated\r\n")
    }

    @Test("AUTHENTICATE SCRAM-SHA-256: each response to the driver, challenges as base64 continuations")
    func authenticateSCRAM() {
        var session = IMAPServerSession(configuration: .init(loginRequiresTLS: false, authenticationMechanisms: [.scramSHA256]))
        _ = session.greet()
        #expect(Self.feed(&session, "s1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n") == "s1 NO [CANNOT] Unsupported authentication mechanism\r\n")
        // "n,,n=alice,r=abc"
        #expect(Self.feed(&session, "s2 AUTHENTICATE SCRAM-SHA-256 biwsbj1hbGljZSxyPWFiYw==\r\n") == "<continue SCRAM-SHA-256 n,,n=alice,r=abc true>\n")
        #expect(Self.transcript(session.authenticationCompleted(.challenge(Array("r=abcdef".utf8)))) == "+ cj1hYmNkZWY=\r\n")
        #expect(Self.feed(&session, "Yz1iaXdz\r\n") == "<continue SCRAM-SHA-256 c=biws false>\n")
        #expect(Self.transcript(session.authenticationCompleted(.challenge(Array("v=xyz".utf8)))) == "+ dj14eXo=\r\n")
        #expect(Self.feed(&session, "\r\n") == "<continue SCRAM-SHA-256  false>\n", "the empty acknowledgement")
        #expect(Self.transcript(session.authenticationCompleted(.accepted(user: "alice"))).hasPrefix("s2 OK [CAPABILITY"))
        #expect(session.user == "alice")
    }

    @Test("IDLE: the continuation, then DONE (in any case) ends it; other input is a BAD end")
    func idle() {
        var session = IMAPServerSession(configuration: .init(loginRequiresTLS: false))
        _ = session.greet()
        #expect(Self.feed(&session, "i0 IDLE\r\n") == "i0 BAD Log in first\r\n")
        _ = Self.feed(&session, "l LOGIN alice pw\r\n")
        _ = session.authenticationCompleted(.accepted(user: "alice"))
        #expect(Self.feed(&session, "i1 IDLE\r\n") == "+ idling\r\n<idle i1>\n")
        #expect(Self.feed(&session, "do") == "")
        #expect(Self.feed(&session, "ne\r\ni2 NOOP\r\n") == "<end idle i1 true>\n", "NOOP waits for IDLE's answer")
        #expect(Self.transcript(session.commandCompleted()) == "i2 OK NOOP completed\r\n")
        #expect(Self.feed(&session, "i3 IDLE\r\ni4 NOOP\r\n") == "+ idling\r\n<idle i3>\n<end idle i3 false>\n")
    }

    @Test("ENABLE lists what it newly turned on; IMAP4rev2 and UTF8=ACCEPT are known")
    func enable() {
        var session = IMAPServerSession(configuration: .init(loginRequiresTLS: false, enableableExtensions: ["CONDSTORE"]))
        _ = session.greet()
        #expect(Self.feed(&session, "e0 ENABLE IMAP4rev2\r\n") == "e0 BAD ENABLE is allowed only before SELECT, after login\r\n")
        _ = Self.feed(&session, "l LOGIN alice pw\r\n")
        _ = session.authenticationCompleted(.accepted(user: "alice"))
        #expect(!session.isRev2)
        #expect(Self.feed(&session, "e1 ENABLE imap4rev2 X-UNKNOWN condstore\r\n") == "* ENABLED IMAP4rev2 CONDSTORE\r\ne1 OK ENABLE completed\r\n")
        #expect(Self.feed(&session, "e2 ENABLE IMAP4rev2\r\n") == "* ENABLED\r\ne2 OK ENABLE completed\r\n")
        #expect(session.isRev2 && session.acceptsUTF8)
    }
}
