import NIOCore
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
            case .verifyLogin(let tag, let user, let password):
                "<verify \(tag) \(String(decoding: user, as: UTF8.self)) \(String(decoding: password, as: UTF8.self))>\n"
            case .execute(let command): "<execute \(command.tag)>\n"
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
        #expect(Self.feed(&session, "a5 CAPABILITY\r\n").hasPrefix("* CAPABILITY IMAP4rev2 IMAP4rev1 LITERAL- ID ENABLE\r\n"))
        #expect(Self.feed(&session, "a6 STARTTLS\r\n") == "a6 BAD STARTTLS is not available now\r\n")
        #expect(Self.feed(&session, "a7 LOGIN {5}\r\n") == "+ Ready for literal data\r\n")
        #expect(Self.feed(&session, "alice \"secret\"\r\na8 NOOP\r\n") == "<verify a7 alice secret>\n", "a8 waits for the answer")
        #expect(Self.transcript(session.loginCompleted(tag: "a7", user: nil)) == "a7 NO [AUTHENTICATIONFAILED] Authentication failed\r\na8 OK NOOP completed\r\n")
        #expect(Self.feed(&session, "a9 LOGIN alice secret\r\n") == "<verify a9 alice secret>\n")
        #expect(
            Self.transcript(session.loginCompleted(tag: "a9", user: "alice@example.test"))
                == "a9 OK [CAPABILITY IMAP4rev2 IMAP4rev1 LITERAL- ID ENABLE] LOGIN completed\r\n")
        #expect(session.state == .authenticated(user: "alice@example.test"))
    }

    @Test("mailbox commands need a login, then go to the driver one at a time, in order")
    func execute() {
        var session = IMAPServerSession(configuration: .init(loginRequiresTLS: false))
        _ = session.greet()
        #expect(Self.feed(&session, "a1 SELECT INBOX\r\n") == "a1 BAD Log in first\r\n")
        #expect(Self.feed(&session, "a2 AUTHENTICATE PLAIN\r\n") == "a2 NO [CANNOT] Unsupported authentication mechanism\r\n")
        _ = Self.feed(&session, "a3 LOGIN alice pw\r\n")
        _ = session.loginCompleted(tag: "a3", user: "alice")
        #expect(Self.feed(&session, "a4 SELECT INBOX\r\na5 NOOP\r\na6 FETCH 1 FLAGS\r\n") == "<execute a4>\n")
        #expect(Self.transcript(session.commandCompleted()) == "<execute a5>\n")
        #expect(Self.transcript(session.commandCompleted()) == "<execute a6>\n")
        #expect(Self.transcript(session.commandCompleted()) == "")
        #expect(Self.feed(&session, "a7 LOGIN alice pw\r\na8 FROB\r\n") == "a7 BAD Already authenticated\r\na8 BAD unknown command\r\n")
    }

    @Test("hostile framing: a literal over the limit is refused, a line over it ends the connection")
    func hostile() {
        var session = IMAPServerSession(configuration: .init())
        _ = session.greet()
        #expect(Self.feed(&session, "t1 LOGIN {4294967296}\r\nt2 NOOP\r\n") == "t1 BAD [TOOBIG] Literal too large\r\nt2 OK NOOP completed\r\n")
        #expect(Self.feed(&session, "t3 LOGIN \"a\0\" b\r\n") == "t3 BAD NUL, CR or LF in a quoted string\r\n")
        #expect(Self.feed(&session, "t4 NOOP " + String(repeating: "x", count: 9000)) == "* BYE Command line too long\r\n<close>\n")
        #expect(session.state == .logout)
        #expect(Self.feed(&session, "t5 NOOP\r\n") == "", "nothing after BYE")
    }
}
