import NIOCore
import TernSASL
import Testing

@testable import TernPOP3Core

@Suite("POP3 server session")
struct POP3ServerSessionTests {
    typealias Session = POP3ServerSession

    static let listing = [Session.Message(uid: 4, size: 100), Session.Message(uid: 9, size: 250), Session.Message(uid: 12, size: 50)]

    /// What the actions send, as text, and the actions that are not sends.
    static func split(_ actions: [Session.Action]) -> (text: String, others: [Session.Action]) {
        var text = ""
        var others: [Session.Action] = []
        for action in actions {
            if case .send(let buffer) = action { text += String(buffer: buffer) } else { others.append(action) }
        }
        return (text, others)
    }

    static func feed(_ session: inout Session, _ text: String) -> (text: String, others: [Session.Action]) {
        split(session.bytesReceived(ByteBuffer(string: text)))
    }

    /// A session logged in as alice with `listing` open.
    static func loggedIn() -> Session {
        var session = Session(configuration: .init(loginRequiresTLS: false))
        _ = session.greet()
        _ = feed(&session, "USER alice\r\nPASS secret\r\n")
        _ = session.authenticationCompleted(.accepted(user: "alice"))
        _ = session.maildropOpened(listing)
        return session
    }

    @Test("greeting, CAPA, USER/PASS, the maildrop opened, then the TRANSACTION commands")
    func transaction() {
        var session = Session(configuration: .init(loginRequiresTLS: false))
        #expect(Self.split(session.greet()).text == "+OK Tern POP3 ready\r\n")
        let capa = Self.feed(&session, "CAPA\r\n").text
        #expect(capa.hasPrefix("+OK Capability list follows\r\nTOP\r\nUIDL\r\n"))
        #expect(capa.contains("\r\nUSER\r\nSASL PLAIN\r\n") && capa.hasSuffix("IMPLEMENTATION Tern\r\n.\r\n"))
        #expect(Self.feed(&session, "STAT\r\n").text == "-ERR Not logged in yet\r\n")
        #expect(Self.feed(&session, "PASS x\r\n").text == "-ERR USER first\r\n")
        #expect(Self.feed(&session, "USER alice\r\n").text == "+OK Send your password\r\n")
        let pass = Self.feed(&session, "PASS s3cret pass\r\nSTAT\r\n")
        #expect(pass.others == [.authenticate(SASLCredentials(mechanism: .login, username: "alice", password: "s3cret pass"))])
        #expect(Self.split(session.authenticationCompleted(.accepted(user: "alice"))).others == [.openMaildrop(user: "alice")])
        // The STAT pipelined behind PASS is answered after the login's +OK.
        #expect(Self.split(session.maildropOpened(Self.listing)).text == "+OK Logged in, 3 messages (400 octets)\r\n+OK 3 400\r\n")
        #expect(Self.feed(&session, "LIST\r\n").text == "+OK scan listing follows\r\n1 100\r\n2 250\r\n3 50\r\n.\r\n")
        #expect(Self.feed(&session, "UIDL 2\r\n").text == "+OK 2 9\r\n")
        #expect(Self.feed(&session, "DELE 2\r\n").text == "+OK Message 2 deleted\r\n")
        #expect(Self.feed(&session, "DELE 2\r\n").text == "-ERR Message 2 already deleted\r\n")
        #expect(Self.feed(&session, "RETR 2\r\n").text == "-ERR No such message\r\n")
        #expect(Self.feed(&session, "LIST 4\r\n").text == "-ERR No such message\r\n")
        #expect(Self.feed(&session, "STAT\r\n").text == "+OK 2 150\r\n")
        #expect(Self.feed(&session, "UIDL\r\n").text == "+OK unique-id listing follows\r\n1 4\r\n3 12\r\n.\r\n")
        #expect(Self.feed(&session, "RSET\r\n").text == "+OK Maildrop has 3 messages (400 octets)\r\n")
        #expect(Self.feed(&session, "STAT\r\n").text == "+OK 3 400\r\n")
        #expect(Self.feed(&session, "USER bob\r\n").text == "-ERR Not allowed after login\r\n")
        #expect(Self.feed(&session, "NOOP\r\n").text == "+OK\r\n")
    }

    @Test("RETR and TOP wait for the driver's send; a message gone meanwhile is an error")
    func retrieval() {
        var session = Self.loggedIn()
        let retr = Self.feed(&session, "RETR 1\r\nNOOP\r\n")
        #expect(retr.others == [.retrieve(uid: 4, bodyLines: nil, status: ByteBuffer(string: "+OK 100 octets\r\n"))])
        #expect(Self.split(session.retrievalCompleted(sent: true)).text == "+OK\r\n")
        let top = Self.feed(&session, "TOP 3 5\r\n")
        #expect(top.others == [.retrieve(uid: 12, bodyLines: 5, status: ByteBuffer(string: "+OK Top of message follows\r\n"))])
        #expect(Self.split(session.retrievalCompleted(sent: false)).text == "-ERR [SYS/TEMP] Message is no longer in the mailbox\r\n")
    }

    @Test("QUIT deletes only in the UPDATE state, and +OK waits until the deletions are durable")
    func update() {
        var session = Self.loggedIn()
        _ = Self.feed(&session, "DELE 1\r\nDELE 3\r\n")
        let quit = Self.feed(&session, "QUIT\r\nSTAT\r\n")
        #expect(quit.text.isEmpty && quit.others == [.update(deleting: [4, 12])])
        #expect(session.state == .update)
        let done = Self.split(session.updateCompleted(succeeded: true))
        #expect(done.text == "+OK Bye, 1 messages left\r\n" && done.others == [.close])
        var failing = Self.loggedIn()
        _ = Self.feed(&failing, "DELE 1\r\nQUIT\r\n")
        #expect(Self.split(failing.updateCompleted(succeeded: false)).text == "-ERR [SYS/TEMP] Some deleted messages were not removed\r\n")
        // QUIT before login deletes nothing and needs no driver.
        var anonymous = Session(configuration: .init())
        let bye = Self.feed(&anonymous, "QUIT\r\n")
        #expect(bye.text == "+OK Bye\r\n" && bye.others == [.close])
    }

    @Test("before TLS: no USER, no SASL, STLS offered; pipelined plaintext after STLS is dropped")
    func startTLS() {
        var session = Session(configuration: .init(startTLSAvailable: true))
        _ = session.greet()
        let capa = Self.feed(&session, "CAPA\r\n").text
        #expect(!capa.contains("\r\nUSER\r\n") && !capa.contains("SASL") && capa.contains("\r\nSTLS\r\n"))
        #expect(Self.feed(&session, "USER alice\r\n").text == "-ERR [AUTH] Plaintext authentication is disallowed before STLS\r\n")
        #expect(Self.feed(&session, "AUTH PLAIN AGEAYg==\r\n").text == "-ERR [AUTH] Authentication is disallowed before STLS\r\n")
        let stls = Self.feed(&session, "STLS\r\nUSER injected\r\n")
        #expect(stls.text == "+OK Begin TLS negotiation now\r\n" && stls.others == [.startTLS])
        #expect(Self.feed(&session, "PASS injected\r\n").text.isEmpty)
        #expect(Self.split(session.tlsEstablished()).text.isEmpty)
        #expect(Self.feed(&session, "PASS x\r\n").text == "-ERR USER first\r\n")
        #expect(Self.feed(&session, "STLS\r\n").text == "-ERR STLS is not available now\r\n")
        #expect(Self.feed(&session, "CAPA\r\n").text.contains("\r\nUSER\r\nSASL PLAIN\r\n"))
    }

    @Test("AUTH PLAIN with and without an initial response, cancelled, and SCRAM handed to the driver")
    func sasl() {
        var session = Session(configuration: .init(loginRequiresTLS: false, authenticationMechanisms: [.plain, .scramSHA256]))
        #expect(Self.feed(&session, "AUTH\r\n").text == "+OK\r\nPLAIN\r\nSCRAM-SHA-256\r\n.\r\n")
        let plain = Self.feed(&session, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n")
        #expect(plain.others == [.authenticate(SASLCredentials(mechanism: .plain, username: "alice", password: "secret"))])
        #expect(Self.split(session.authenticationCompleted(.rejected)).text == "-ERR [AUTH] Authentication failed\r\n")
        #expect(Self.feed(&session, "AUTH PLAIN\r\n").text == "+ \r\n")
        #expect(Self.feed(&session, "*\r\n").text == "-ERR Authentication cancelled\r\n")
        #expect(Self.feed(&session, "AUTH PLAIN\r\n").text == "+ \r\n")
        #expect(Self.feed(&session, "not base64!\r\n").text == "-ERR Invalid base64 in the response\r\n")
        #expect(Self.feed(&session, "AUTH PLAIN =\r\n").text == "-ERR Malformed authentication response\r\n")
        #expect(Self.feed(&session, "AUTH CRAM-MD5\r\n").text == "-ERR Unsupported authentication mechanism\r\n")
        let scram = Self.feed(&session, "AUTH SCRAM-SHA-256 biwsbj1hbGljZSxyPWFiYw==\r\n")
        #expect(scram.others == [.continueAuthentication(.scramSHA256, response: Array("n,,n=alice,r=abc".utf8), isFirst: true)])
        #expect(Self.split(session.authenticationCompleted(.challenge(Array("r=abcdef".utf8)))).text == "+ cj1hYmNkZWY=\r\n")
        let final = Self.feed(&session, "Yz1iaXdz\r\n")
        #expect(final.others == [.continueAuthentication(.scramSHA256, response: Array("c=biws".utf8), isFirst: false)])
        #expect(Self.split(session.authenticationCompleted(.tooManySessions)).text == "-ERR [IN-USE] Too many sessions for this user\r\n")
    }

    @Test("a maildrop held by another session is [IN-USE], and the session stays in AUTHORIZATION")
    func inUse() {
        var session = Session(configuration: .init(loginRequiresTLS: false))
        _ = Self.feed(&session, "USER alice\r\nPASS secret\r\n")
        _ = session.authenticationCompleted(.accepted(user: "alice"))
        #expect(Self.split(session.maildropRefused(.inUse)).text == "-ERR [IN-USE] Mailbox is locked by another POP3 session\r\n")
        #expect(session.state == .authorization)
        #expect(Self.feed(&session, "USER alice\r\n").text == "+OK Send your password\r\n")
    }

    @Test("hostile lines: too long ends the session; bare LF, NUL and junk get -ERR and it goes on")
    func hostile() {
        var session = Self.loggedIn()
        #expect(Self.feed(&session, "STAT\nQUIT\r\n").text == "-ERR Bare CR or LF in command\r\n")
        #expect(Self.feed(&session, "RETR 99999999999999999999\r\n").text == "-ERR No such message\r\n")
        #expect(Self.feed(&session, "TOP 1 -1\r\n").text == "-ERR Invalid arguments to TOP\r\n")
        #expect(Self.feed(&session, "LIST 0\r\n").text == "-ERR No such message\r\n")
        #expect(Self.feed(&session, "NO\u{0}OP\r\n").text == "-ERR Invalid character in command\r\n")
        #expect(!session.isClosed)
        let long = Self.feed(&session, String(repeating: "A", count: 100_000))
        #expect(long.text == "-ERR Line too long\r\n" && long.others == [.close])
        #expect(session.isClosed)
    }

    @Test("every split of a pipelined session gives the same answers")
    func everySplit() {
        let input = Array("CAPA\r\nUSER alice\r\nPASS secret\r\n".utf8)
        let whole: String = {
            var session = Session(configuration: .init(loginRequiresTLS: false))
            return Self.split(session.bytesReceived(ByteBuffer(bytes: input))).text
        }()
        for cut in 1..<input.count {
            var session = Session(configuration: .init(loginRequiresTLS: false))
            let first = Self.split(session.bytesReceived(ByteBuffer(bytes: input[..<cut]))).text
            let second = Self.split(session.bytesReceived(ByteBuffer(bytes: input[cut...]))).text
            #expect(first + second == whole, "split at \(cut)")
        }
    }
}
