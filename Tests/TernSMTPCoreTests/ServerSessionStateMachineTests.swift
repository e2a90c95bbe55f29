import TernTestSupport
import NIOCore
import TernMail
import Testing

@testable import TernSMTPCore

@Suite("ServerSessionStateMachine")
struct ServerSessionStateMachineTests {
    // MARK: Greeting, EHLO, sequencing

    @Test("greeting, EHLO keywords, QUIT")
    func greetingAndEHLO() {
        var session = SessionHarness.greeted()
        #expect(session.replies == ["220 mx.test ESMTP Tern\r\n"])
        session.send("EHLO client.test\r\n")
        #expect(
            session.replies.last
                == "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
                + "250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-DSN\r\n250 STARTTLS\r\n")
        session.send("QUIT\r\n")
        #expect(session.replies.last == "221 2.0.0 mx.test Bye\r\n")
        #expect(session.closed)
    }

    @Test("a whole transaction: the body is unstuffed and committed, 250 only after commit")
    func transaction() {
        var session = SessionHarness.greeted()
        session.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nRCPT TO:<e@f.test>\r\nDATA\r\n")
        #expect(session.statuses == ["220", "250", "250 2.1.0", "250 2.1.5", "250 2.1.5", "354"])
        session.send("Subject: x\r\n\r\n..leading dot\r\n.\r\n")
        #expect(session.committed == [Array("Subject: x\r\n\r\n.leading dot\r\n".utf8)])
        #expect(session.committedEnvelopes.first?.recipients.map(\.address.description) == ["c@d.test", "e@f.test"])
        #expect(session.replies.last?.hasPrefix("250 2.0.0 Ok: queued as ") == true)
    }

    @Test("nothing is replied to the final dot until the commit completes")
    func replyWaitsForCommit() {
        var machine = ServerSessionStateMachine(configuration: .init(hostname: "mx.test"))
        _ = machine.greet()
        _ = machine.bytesReceived(ByteBuffer(string: "EHLO c\r\nMAIL FROM:<a@b.test>\r\n"))
        _ = machine.policyDecided(.accept)
        _ = machine.bytesReceived(ByteBuffer(string: "RCPT TO:<c@d.test>\r\n"))
        _ = machine.policyDecided(.accept)
        _ = machine.bytesReceived(ByteBuffer(string: "DATA\r\n"))
        let actions = machine.bytesReceived(ByteBuffer(string: "hi\r\n.\r\nNOOP\r\n"))
        #expect(actions == [.appendBody(ByteBuffer(string: "hi\r\n")), .commitMessage])
        let after = machine.messageCommitFailed(.insufficientStorage)
        #expect(after == [.sendReply(.insufficientStorage), .sendReply(.ok)])
    }

    static let sequenceErrors: [(String, String)] = [
        ("MAIL FROM:<a@b.test>\r\n", "503 5.5.1"),
        ("EHLO c\r\nRCPT TO:<a@b.test>\r\n", "503 5.5.1"),
        ("EHLO c\r\nDATA\r\n", "503 5.5.1"),
        ("EHLO c\r\nMAIL FROM:<a@b.test>\r\nDATA\r\n", "503 5.5.1"),
        ("EHLO c\r\nMAIL FROM:<a@b.test>\r\nMAIL FROM:<a@b.test>\r\n", "503 5.5.1"),
        ("EHLO c\r\nMAIL FROM:<a@b.test> BODY=BINARYMIME\r\nRCPT TO:<c@d.test>\r\nDATA\r\n", "503 5.5.1"),
        ("STARTTLS\r\n", "503 5.5.1"),
        ("EHLO c\r\nBDAT 3\r\nabc", "503 5.5.1"),
        ("EHLO c\r\nMAIL FROM:<a@b.test>\r\nBDAT 3\r\nabc", "503 5.5.1"),
        ("EHLO c\r\nEXPN x\r\n", "502 5.5.1"),
        ("EHLO c\r\nVRFY x\r\n", "252 2.0.0"),
        ("EHLO c\r\nHELP\r\n", "214 2.0.0"),
        ("EHLO c\r\nNOOP\r\n", "250 2.0.0"),
        ("EHLO c\r\nRSET\r\n", "250 2.0.0"),
    ]

    @Test("wrong sequences get 503 5.5.1, other commands their reply", arguments: sequenceErrors)
    func sequence(input: String, expected: String) {
        var session = SessionHarness.greeted()
        session.send(input)
        #expect(session.statuses.last == expected)
        #expect(!session.closed)
    }

    @Test("RSET abandons the transaction and the open message")
    func rset() {
        var session = SessionHarness.greeted()
        session.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nBDAT 2\r\nabRSET\r\nBDAT 1 LAST\r\nx")
        #expect(session.statuses.suffix(3) == ["250 2.0.0", "250 2.0.0", "503 5.5.1"])
        #expect(session.aborted == 1)
        #expect(session.committed.isEmpty)
    }

    @Test("EHLO in a transaction resets it")
    func ehloResets() {
        var session = SessionHarness.greeted()
        session.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nEHLO c\r\nRCPT TO:<c@d.test>\r\n")
        #expect(session.statuses.last == "503 5.5.1")
    }

    @Test("a rejected recipient is not part of the envelope")
    func rejectedRecipient() {
        var session = SessionHarness.greeted()
        session.decide = { action in
            if case .checkRecipient(let path, _) = action, path.mailbox.localPart == "nobody" {
                return .reject(SMTPReply(550, EnhancedStatusCode(5, 1, 1), "no such user"))
            }
            return .accept
        }
        session.send("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<nobody@d.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
        session.send("x\r\n.\r\n")
        #expect(session.statuses.contains("550 5.1.1"))
        #expect(session.committedEnvelopes.first?.recipients.map(\.address.localPart) == ["c"])
        #expect(session.committedEnvelopes.first?.sender == nil)
    }

    @Test("a policy's 421 ends the session after the reply; a disconnect ends it without one")
    func policyEndsTheSession() {
        var refused = SessionHarness.greeted()
        refused.decide = { action in
            if case .checkRecipient = action { return .reject(SMTPReply(421, EnhancedStatusCode(4, 3, 0), "go away")) }
            return .accept
        }
        refused.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nNOOP\r\n")
        #expect(refused.statuses.suffix(2) == ["250 2.1.0", "421 4.3.0"])
        #expect(refused.closed && refused.machine.isClosed)

        var dropped = SessionHarness.greeted()
        dropped.decide = { action in
            if case .checkRecipient = action { return .disconnect }
            return .accept
        }
        dropped.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nNOOP\r\n")
        #expect(dropped.statuses.last == "250 2.1.0", "nothing after MAIL's reply")
        #expect(dropped.closed && dropped.machine.isClosed)
    }

    @Test("a message dropped at its end: aborted, no reply, closed, the pipelined NOOP unread")
    func messageDropped() {
        var machine = ServerSessionStateMachine(configuration: .init(hostname: "mx.test"))
        #expect(machine.messageDropped().isEmpty, "nothing to drop outside a commit")
        _ = machine.greet()
        _ = machine.bytesReceived(ByteBuffer(string: "EHLO c\r\nMAIL FROM:<a@b.test>\r\n"))
        _ = machine.policyDecided(.accept)
        _ = machine.bytesReceived(ByteBuffer(string: "RCPT TO:<c@d.test>\r\n"))
        _ = machine.policyDecided(.accept)
        _ = machine.bytesReceived(ByteBuffer(string: "DATA\r\n"))
        _ = machine.bytesReceived(ByteBuffer(string: "hi\r\n.\r\nNOOP\r\n"))
        #expect(machine.messageDropped() == [.abortMessage, .close])
        #expect(machine.isClosed)
    }

    // MARK: Limits

    @Test("past the recipient limit: 452 4.5.3, and the message goes to exactly the accepted set")
    func tooManyRecipients() {
        var session = SessionHarness.greeted(.init(hostname: "mx.test", maximumRecipients: 100))
        var input = "EHLO c\r\nMAIL FROM:<a@b.test>\r\n"
        for index in 0..<105 { input += "RCPT TO:<r\(index)@d.test>\r\n" }
        input += "DATA\r\n"
        session.send(input)
        session.send("x\r\n.\r\n")
        #expect(session.statuses.filter { $0 == "452 4.5.3" }.count == 5)
        #expect(session.committedEnvelopes.first?.recipients.count == 100)
        #expect(session.committedEnvelopes.first?.recipients.last?.address.localPart == "r99")
    }

    @Test("452 for RCPTs past the limit is not an error toward the 421 limit, up to the overshoot limit")
    func recipientOvershoot() {
        // Postfix's defaults: 1000 recipients, 20 errors; a client pipelining 1,100 RCPTs sends
        // to the first 1,000.
        var session = SessionHarness.greeted(.init(hostname: "mx.test", maximumRecipients: 1000, maximumErrors: 20))
        var input = "EHLO c\r\nMAIL FROM:<a@b.test>\r\n"
        for index in 0..<1100 { input += "RCPT TO:<r\(index)@d.test>\r\n" }
        input += "DATA\r\n"
        session.send(input)
        session.send("x\r\n.\r\n")
        #expect(session.statuses.filter { $0 == "452 4.5.3" }.count == 100)
        #expect(!session.statuses.contains("421 4.7.0"))
        #expect(session.committedEnvelopes.first?.recipients.count == 1000)

        // Past the overshoot limit each 452 counts again, so an endless RCPT flood still ends.
        var flood = SessionHarness.greeted(.init(hostname: "mx.test", maximumRecipients: 1, maximumErrors: 20))
        var lines = "EHLO c\r\nMAIL FROM:<a@b.test>\r\n"
        for index in 0..<1100 { lines += "RCPT TO:<r\(index)@d.test>\r\n" }
        flood.send(lines)
        #expect(flood.statuses.filter { $0 == "452 4.5.3" }.count == 1000 + 21)
        #expect(flood.statuses.last == "421 4.7.0")
    }

    @Test("commands pipelined after EHLO or HELO close an unauthenticated session where that is forbidden")
    func pipeliningAfterGreeting() {
        var configuration = ServerSessionStateMachine.Configuration(hostname: "mx.test")
        configuration.forbidsPipeliningAfterGreeting = true
        for greeting in ["EHLO c", "HELO c"] {
            var session = SessionHarness.greeted(configuration)
            session.send("\(greeting)\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n")
            #expect(session.statuses == ["220", "250", "554 5.5.0"], "\(greeting)")
        }
        // A client that waits for the EHLO reply may pipeline the rest (RFC 2920).
        var polite = SessionHarness.greeted(configuration)
        polite.send("EHLO c\r\n")
        polite.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
        #expect(polite.statuses == ["220", "250", "250 2.1.0", "250 2.1.5", "354"])
        // Where it is allowed (dev mode, submission), EHLO may head a group.
        var lenient = SessionHarness.greeted(.init(hostname: "mx.test"))
        lenient.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\n")
        #expect(lenient.statuses == ["220", "250", "250 2.1.0"])
    }

    @Test("NUL in DATA refuses the message whole (RFC 6152 §3); BDAT content may carry it")
    func nulInData() {
        var session = SessionHarness.greeted(.init(hostname: "mx.test"))
        session.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
        session.send(Array("Subject: x\r\n\r\nbefore\r\n".utf8) + [0] + Array(".\r\nMAIL FROM:<evil@x.test>\r\n.\r\n".utf8))
        #expect(session.statuses.last == "550 5.6.0")
        #expect(session.committed.isEmpty)
        #expect(session.aborted == 1)
        session.send("NOOP\r\n")
        #expect(session.statuses.last == "250 2.0.0", "the smuggled MAIL never ran; the session goes on")
        session.send("MAIL FROM:<a@b.test> BODY=BINARYMIME\r\nRCPT TO:<c@d.test>\r\nBDAT 3 LAST\r\n")
        session.send([0, 0x2E, 0])
        #expect(session.committed.count == 1)
    }

    @Test("declared SIZE over the limit: 552 5.3.4")
    func declaredSize() {
        var session = SessionHarness.greeted(.init(hostname: "mx.test", maximumMessageSize: 1000))
        session.send("EHLO c\r\nMAIL FROM:<a@b.test> SIZE=1001\r\nMAIL FROM:<a@b.test> SIZE=1000\r\n")
        #expect(session.statuses.suffix(2) == ["552 5.3.4", "250 2.1.0"])
    }

    @Test("a message over SIZE is read to its end, refused, and the next one works")
    func actualSize() {
        var session = SessionHarness.greeted(.init(hostname: "mx.test", maximumMessageSize: 100))
        let big = String(repeating: "0123456789\r\n", count: 20)
        session.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
        session.send("\(big).\r\n")
        #expect(session.statuses.last == "552 5.3.4")
        #expect(session.aborted == 1)
        #expect(session.committed.isEmpty)
        session.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
        session.send("small\r\n.\r\n")
        #expect(session.committed == [Array("small\r\n".utf8)])
    }

    @Test("BDAT past SIZE: the chunk is consumed, 552, the transaction ends")
    func bdatSize() {
        var session = SessionHarness.greeted(.init(hostname: "mx.test", maximumMessageSize: 10))
        session.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nBDAT 11 LAST\r\nQUIT\r\nQUITXNOOP\r\n")
        #expect(session.statuses.suffix(2) == ["552 5.3.4", "250 2.0.0"])
        #expect(!session.closed)
    }

    @Test("a command line over the limit: 500 5.5.2, and the session goes on")
    func longCommandLine() {
        var session = SessionHarness.greeted()
        session.send("NOOP " + String(repeating: "x", count: 600) + "\r\nNOOP\r\n")
        #expect(session.statuses.suffix(2) == ["500 5.5.2", "250 2.0.0"])
    }

    @Test("a 10 MB command line never grows the buffer past the limit")
    func hugeCommandLine() {
        var session = SessionHarness.greeted()
        let chunk = [UInt8](repeating: UInt8(ascii: "A"), count: 64 * 1024)
        for _ in 0..<160 { session.send(chunk) }
        #expect(session.replies.count == 1)
        session.send("\r\nNOOP\r\n")
        #expect(session.statuses.suffix(2) == ["500 5.5.2", "250 2.0.0"])
    }

    @Test("MAIL and RCPT may use the extension allowance for their parameters")
    func extendedMailLine() {
        var session = SessionHarness.greeted()
        let orcpt = "rfc822;" + String(repeating: "x", count: 480)
        session.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test> NOTIFY=FAILURE ORCPT=\(orcpt)\r\n")
        #expect(session.statuses.last == "250 2.1.5")
    }

    @Test("a text line over 1000 octets refuses the message; the connection stays usable")
    func longTextLine() {
        var session = SessionHarness.greeted()
        let line = String(repeating: "y", count: 999)
        session.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
        session.send("\(line)\r\n.\r\nNOOP\r\n")
        #expect(session.statuses.suffix(2) == ["550 5.6.0", "250 2.0.0"])
        #expect(session.committed.isEmpty)
        let exact = String(repeating: "y", count: 998)
        session.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
        session.send("\(exact)\r\n.\r\n")
        #expect(session.committed.count == 1)
    }

    @Test("the error limit ends the session with 421")
    func errorLimit() {
        var session = SessionHarness.greeted(.init(hostname: "mx.test", maximumErrors: 3))
        session.send("FOO\r\nFOO\r\nFOO\r\nFOO\r\nNOOP\r\n")
        #expect(session.statuses == ["220", "500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2", "421 4.7.0"])
        #expect(session.closed)
    }

    @Test("thousands of pipelined commands are answered in batches, in order")
    func batches() {
        var machine = ServerSessionStateMachine(configuration: .init(hostname: "mx.test", maximumCommandsWithoutTransaction: 10_000))
        _ = machine.greet()
        let first = machine.bytesReceived(ByteBuffer(string: String(repeating: "NOOP\r\n", count: 1000)))
        #expect(first.count == ServerSessionStateMachine.unitsPerBatch)
        #expect(machine.hasMoreInput)
        var total = first.count
        while machine.hasMoreInput { total += machine.resumeProcessing().count }
        #expect(total == 1000)
        #expect(machine.resumeProcessing().isEmpty)
    }

    @Test("the limit on commands outside a transaction ends the session with 421")
    func junkLimit() {
        var session = SessionHarness.greeted(.init(hostname: "mx.test", maximumCommandsWithoutTransaction: 5))
        session.send(String(repeating: "NOOP\r\n", count: 10))
        #expect(session.statuses.filter { $0 == "250 2.0.0" }.count == 5)
        #expect(session.statuses.last == "421 4.7.0")
        #expect(session.closed)
    }

    // MARK: Line discipline and smuggling

    @Test("a bare LF or CR in a command line executes nothing")
    func bareLineEndingInCommand() {
        var session = SessionHarness.greeted()
        session.send("NOOP\nQUIT\r\nNOOP\rQUIT\r\n")
        #expect(session.statuses.suffix(2) == ["500 5.5.2", "500 5.5.2"])
        #expect(!session.closed)
    }

    static let smuggling: [String] = ["\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", "\r.\n", "\r\n\u{0}.\r\n", "\r\n.\r"]

    @Test("no end of data but CRLF.CRLF; a message with bare CR or LF is refused whole", arguments: smuggling)
    func smugglingSequences(sequence: String) {
        var session = SessionHarness.greeted()
        session.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
        session.send("Subject: one\r\n\r\nbody" + sequence + "MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@d.test>\r\nDATA\r\nsmuggled\r\n")
        // Still in DATA: nothing was executed and nothing was committed.
        #expect(session.statuses.last == "354")
        #expect(session.committed.isEmpty)
        session.send(".\r\n")
        if sequence == "\r\n\u{0}.\r\n" {
            // No bare line ending, but NUL: refused whole, so no next hop that drops NULs can
            // ever read it as an end of data.
            #expect(session.statuses.last == "550 5.6.0")
            #expect(session.committed.isEmpty)
        } else {
            #expect(session.statuses.last == "550 5.5.2")
            #expect(session.committed.isEmpty)
        }
    }

    @Test("content sent before the 354 is a synchronization error: refused and closed")
    func contentBefore354() {
        var session = SessionHarness.greeted()
        session.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
        #expect(session.statuses.last == "554 5.5.0")
        #expect(session.closed)
        #expect(session.began == 0)
    }

    @Test("a HELO client that pipelines is out of sync: 554 5.5.0 and close")
    func heloPipelining() {
        var session = SessionHarness.greeted()
        session.send("HELO c\r\nMAIL FROM:<a@b.test>\r\n")
        #expect(session.statuses == ["220", "250", "554 5.5.0"])
        #expect(session.closed)
        var polite = SessionHarness.greeted()
        polite.send("HELO c\r\n")
        polite.send("MAIL FROM:<a@b.test> SIZE=10\r\n")
        polite.send("MAIL FROM:<a@b.test>\r\n")
        polite.send("BDAT 1 LAST\r\nx")
        #expect(polite.statuses == ["220", "250", "555 5.5.4", "250 2.1.0", "503 5.5.1"])
    }

    @Test("more than 50 Received fields is a mail loop: 554 5.4.6, for DATA and BDAT")
    func mailLoop() {
        let header = String(repeating: "Received: from a by b; Sun, 22 Nov 2026 21:36:19 +0000\r\n", count: 51)
        var session = SessionHarness.greeted()
        session.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
        session.send(header + "\r\nbody\r\n.\r\n")
        #expect(session.statuses.last == "554 5.4.6")
        #expect(session.committed.isEmpty)
        let chunk = header + "\r\n"
        session.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nBDAT \(chunk.utf8.count) LAST\r\n\(chunk)")
        #expect(session.statuses.last == "554 5.4.6")
        #expect(session.committed.isEmpty)
        // Fifty are fine, and Received lines in the body do not count.
        let fifty = String(repeating: "Received: x\r\n", count: 50) + "\r\n" + String(repeating: "Received: x\r\n", count: 10)
        session.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
        session.send(fifty + ".\r\n")
        #expect(session.committed.count == 1)
    }

    @Test("input before the greeting: 554 and close")
    func earlyTalker() {
        var session = SessionHarness()
        session.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
        #expect(session.statuses == ["554 5.5.1"])
        #expect(session.closed)
        session.run(session.machine.greet())
        #expect(session.replies.count == 1)
    }

    // MARK: BDAT

    @Test("BDAT chunks are stored verbatim, with no dot or line meaning")
    func bdat() {
        var session = SessionHarness.greeted()
        let binary: [UInt8] = [0x00, 0x0A, 0x2E, 0x0D, 0x0A, 0x2E, 0x0D, 0x0A, 0xFF]
        session.send("EHLO c\r\nMAIL FROM:<a@b.test> BODY=BINARYMIME\r\nRCPT TO:<c@d.test>\r\nBDAT 9\r\n")
        session.send(binary)
        session.send("BDAT 3 LAST\r\nend")
        #expect(session.statuses.suffix(2) == ["250 2.0.0", "250 2.0.0"])
        #expect(session.replies.suffix(2).first == "250 2.0.0 Ok: 9 octets received\r\n")
        #expect(session.committed == [binary + Array("end".utf8)])
    }

    @Test("BDAT 0 LAST ends the message")
    func bdatZeroLast() {
        var session = SessionHarness.greeted()
        session.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nBDAT 5\r\nhelloBDAT 0 LAST\r\n")
        #expect(session.committed == [Array("hello".utf8)])
    }

    @Test("a BDAT chunk before MAIL is consumed, not executed")
    func bdatChunkNotExecuted() {
        var session = SessionHarness.greeted()
        session.send("EHLO c\r\nBDAT 10\r\nQUIT\r\nRSETNOOP\r\n")
        #expect(session.statuses.suffix(2) == ["503 5.5.1", "250 2.0.0"])
        #expect(!session.closed)
    }

    @Test("DATA after BDAT and RCPT after BDAT are refused")
    func bdatThenData() {
        var session = SessionHarness.greeted()
        session.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nBDAT 1\r\nxDATA\r\nRCPT TO:<e@f.test>\r\n")
        #expect(session.statuses.suffix(2) == ["503 5.5.1", "503 5.5.1"])
    }

    // MARK: SMTPUTF8, DSN

    @Test("UTF-8 addresses need SMTPUTF8 on MAIL")
    func smtpUTF8() {
        var session = SessionHarness.greeted()
        session.send("EHLO c\r\nMAIL FROM:<δοκιμή@παράδειγμα.test>\r\n")
        #expect(session.statuses.last == "553 5.6.7")
        session.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<用户@例子.test>\r\n")
        #expect(session.statuses.last == "553 5.6.7")
        session.send("RSET\r\nMAIL FROM:<δοκιμή@παράδειγμα.test> SMTPUTF8\r\nRCPT TO:<用户@例子.test>\r\n")
        #expect(session.statuses.suffix(2) == ["250 2.1.0", "250 2.1.5"])
    }

    @Test("DSN parameters are kept with the envelope")
    func dsnKept() {
        var session = SessionHarness.greeted()
        session.send(
            "EHLO c\r\nMAIL FROM:<a@b.test> RET=HDRS ENVID=ID+2B1\r\n"
                + "RCPT TO:<c@d.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;c+40d.test\r\nDATA\r\n")
        session.send("x\r\n.\r\n")
        let envelope = session.committedEnvelopes.first
        #expect(envelope?.dsnReturn == .headers)
        #expect(envelope?.envelopeID == "ID+2B1")
        #expect(envelope?.recipients.first?.notify?.keywords == ["FAILURE", "DELAY"])
        #expect(envelope?.recipients.first?.originalRecipient?.parameterValue == "rfc822;c+40d.test")
    }

    @Test("unqualified <Postmaster> is the server's postmaster")
    func postmaster() {
        var session = SessionHarness.greeted()
        session.send("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster>\r\nDATA\r\n")
        session.send("x\r\n.\r\n")
        #expect(session.committedEnvelopes.first?.recipients.first?.address.description == "Postmaster@mx.test")
    }

    // MARK: STARTTLS

    @Test("STARTTLS discards pipelined plaintext and forgets the session (CVE-2011-0411, RFC 3207 §4.2)")
    func startTLSInjection() {
        var session = SessionHarness.greeted()
        session.send("EHLO c\r\nSTARTTLS\r\nMAIL FROM:<evil@x.test>\r\n")
        #expect(session.statuses.last == "220 2.0.0")
        #expect(session.startedTLS)
        session.send("RCPT TO:<victim@x.test>\r\n")  // still cleartext: dropped
        #expect(session.statuses.last == "220 2.0.0")
        session.run(session.machine.tlsEstablished())
        session.send("MAIL FROM:<a@b.test>\r\n")
        #expect(session.statuses.last == "503 5.5.1")
        session.send("EHLO c\r\n")
        #expect(session.replies.last?.contains("STARTTLS") == false)
        session.send("STARTTLS\r\n")
        #expect(session.statuses.last == "503 5.5.1")
    }

    @Test("STARTTLS with an argument, and without TLS configured")
    func startTLSMisuse() {
        var session = SessionHarness.greeted()
        session.send("EHLO c\r\nSTARTTLS now\r\n")
        #expect(session.statuses.last == "501 5.5.4")
        var plain = SessionHarness.greeted(.init(hostname: "mx.test"))
        plain.send("EHLO c\r\n")
        #expect(plain.replies.last?.contains("STARTTLS") == false)
        plain.send("STARTTLS\r\n")
        #expect(plain.statuses.last == "454 4.7.0")
    }

    // MARK: Shutdown and timeouts

    @Test("shutdown: idle sessions get 421 4.3.2 at once, a message in DATA finishes first")
    func shutdown() {
        var idle = SessionHarness.greeted()
        idle.send("EHLO c\r\n")
        idle.run(idle.machine.shutdownRequested())
        #expect(idle.statuses.last == "421 4.3.2")
        #expect(idle.closed)

        var busy = SessionHarness.greeted()
        busy.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
        busy.send("part")
        busy.run(busy.machine.shutdownRequested())
        #expect(!busy.closed)
        busy.send(" two\r\n.\r\n")
        #expect(busy.committed == [Array("part two\r\n".utf8)])
        #expect(busy.statuses.suffix(2).first == "250 2.0.0")
        #expect(busy.statuses.last == "421 4.3.2")
        #expect(busy.closed)
    }

    @Test("timeout: 421 4.4.2, the open message is abandoned")
    func timeout() {
        var session = SessionHarness.greeted()
        session.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
        session.send("partial")
        session.run(session.machine.timedOut())
        #expect(session.statuses.last == "421 4.4.2")
        #expect(session.aborted == 1)
        #expect(session.closed)
    }

    // MARK: Properties

    @Test("every split of a pipelined session gives the same replies and message")
    func everySplit() {
        let input = Array(
            ("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nRCPT TO:<e@f.test>\r\nDATA\r\n").utf8)
        let content = Array("Subject: s\r\n\r\n..x\r\n.\r\nRSET\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nBDAT 4\r\nab\r\nBDAT 0 LAST\r\nQUIT\r\n".utf8)
        var reference = SessionHarness.greeted()
        reference.send(input)
        reference.send(content)
        #expect(reference.committed.count == 2)
        for split in 1..<content.count {
            var session = SessionHarness.greeted()
            session.send(input)
            session.send(content, splitAt: [split])
            #expect(session.replies.map { $0.prefix(12) } == reference.replies.map { $0.prefix(12) }, "split at \(split)")
            #expect(session.committed == reference.committed, "split at \(split)")
        }
        // And one octet at a time.
        var trickle = SessionHarness.greeted()
        trickle.send(input)
        trickle.send(content, splitAt: Array(1..<content.count))
        #expect(trickle.committed == reference.committed)
    }

    @Test("random input never crashes, and a DATA message is stored only after CRLF.CRLF with clean lines")
    func randomInput() {
        var generator = SeededGenerator(seed: 7)
        let pieces = [
            "EHLO c\r\n", "HELO c\r\n", "MAIL FROM:<a@b.test>\r\n", "MAIL FROM:<> SMTPUTF8\r\n", "RCPT TO:<c@d.test>\r\n",
            "DATA\r\n", "BDAT 3\r\n", "BDAT 2 LAST\r\n", "RSET\r\n", "NOOP\r\n", "STARTTLS\r\n", ".\r\n", "\r\n.\r\n",
            "\n.\n", "\r.\r", ".", "\r", "\n", "..", "text", "\u{0}", "QUIT\r\n", "BDAT 99999999\r\n", "x",
        ]
        for round in 0..<3000 {
            var session = SessionHarness.greeted(.init(hostname: "mx.test", maximumMessageSize: 200, maximumErrors: 1000))
            var sent: [UInt8] = []
            for _ in 0..<Int.random(in: 1...40, using: &generator) {
                let piece = Array(pieces.randomElement(using: &generator)!.utf8)
                sent += piece
                session.send(piece)
                if Bool.random(using: &generator), !session.machine.isClosed, round % 5 == 0 {
                    session.run(session.machine.tlsEstablished())
                }
            }
            let text = String(decoding: sent, as: UTF8.self)
            for (body, envelope) in zip(session.committed, session.committedEnvelopes) where envelope.body != .binaryMIME {
                #expect(body.count <= 200)
                _ = text
            }
            if !session.committed.isEmpty, !text.contains("BDAT") {
                #expect(text.contains("\r\n.\r\n"))
                for body in session.committed {
                    for (index, byte) in body.enumerated() where byte == 0x0A {
                        #expect(index > 0 && body[index - 1] == 0x0D)
                    }
                }
            }
        }
    }
}
