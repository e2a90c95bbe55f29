import TernTestSupport
import NIOCore
import TernMail
import TernSASL
import Testing

@testable import TernSMTPCore

@Suite("ClientSessionStateMachine")
struct ClientSessionStateMachineTests {
    typealias Machine = ClientSessionStateMachine

    static let body = ["Subject: hi\r\n\r\n", ".leading dot\r\n", "last line"]
    static let content = "C: Subject: hi\nC:\nC: ..leading dot\nC: last line\nC: ."

    // MARK: Golden conversations

    @Test("plain: no PIPELINING, one command at a time, DATA with dot-stuffing, QUIT")
    func plain() {
        var client = ClientHarness.connected()
        client.send(.simple(to: ["c@d.test", "e@f.test"], size: 40), body: Self.body)
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["SIZE 1000", "8BITMIME", "ENHANCEDSTATUSCODES"]))
            C: MAIL FROM:<a@b.test> SIZE=40
            S: 250 2.1.0 Ok
            C: RCPT TO:<c@d.test>
            S: 250 2.1.5 Ok
            C: RCPT TO:<e@f.test>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 End data with <CR><LF>.<CR><LF>
            \(Self.content)
            S: 250 2.0.0 Ok: queued as 1
            X: finish
            C: QUIT
            S: 221 2.0.0 Bye
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test delivered 250 2.0.0", "e@f.test delivered 250 2.0.0"]])
        #expect(client.reports.first?.recipients.allSatisfy { $0.stage == .endOfData && !$0.isLocal } == true)
        #expect(client.failures.isEmpty)
        #expect(client.closed)
        #expect(client.machine.isClosed)
    }

    @Test("PIPELINING: MAIL and every RCPT in one write, DATA after their replies; 550 on one RCPT of two")
    func pipelining() {
        var client = ClientHarness.connected()
        client.send(.simple(to: ["c@d.test", "nobody@d.test"]), body: Self.body)
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING", "8BITMIME"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            C: RCPT TO:<nobody@d.test>
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 550 5.1.1 <nobody@d.test>: Recipient address rejected
            C: DATA
            S: 354 go ahead
            \(Self.content)
            S: 250 2.0.0 Ok
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test delivered 250 2.0.0", "nobody@d.test failed 550 5.1.1"]])
        #expect(client.reports.first?.recipients.last?.stage == .recipient)
        #expect(client.machine.isIdle)
    }

    @Test("the replies of a pipelined group may arrive one by one")
    func pipeliningRepliesApart() {
        var client = ClientHarness.connected()
        client.send(.simple(to: ["c@d.test", "e@f.test"]), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            C: RCPT TO:<e@f.test>
            S: 250 Ok
            """)
        client.converse(
            """
            S: 250 Ok
            """)
        client.converse(
            """
            S: 450 4.2.0 Greylisted
            C: DATA
            S: 354 go ahead
            C: x
            C: .
            S: 250 Ok
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test delivered 250", "e@f.test deferred 450 4.2.0"]])
    }

    @Test("STARTTLS, opportunistic: after TLS, EHLO again and the old keywords are forgotten (RFC 3207 §4.2)")
    func startTLSOpportunistic() {
        var client = ClientHarness.connected(.init(hostname: ClientHarness.hostname, tlsPolicy: .opportunistic))
        client.send(.simple(), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING", "CHUNKING", "STARTTLS"]))
            C: STARTTLS
            S: 220 2.0.0 Ready to start TLS
            T: ok
            C: EHLO client.test
            \(ehlo(["SIZE 100"]))
            C: MAIL FROM:<a@b.test> SIZE=20
            S: 250 Ok
            C: RCPT TO:<c@d.test>
            S: 250 Ok
            C: DATA
            S: 354 go ahead
            C: x
            C: .
            S: 250 Ok
            """)
        #expect(client.tlsStarts == 1)
        #expect(client.machine.tlsActive)
        #expect(client.machine.capabilities?.chunking == false)
        #expect(client.reports.first?.tls == true)
        #expect(client.reports.first?.summary == ["c@d.test delivered 250"])
    }

    @Test("STARTTLS: octets after the 220 in the same read are discarded (CVE-2011-0411)")
    func startTLSResponseInjection() {
        var client = ClientHarness.connected(.init(hostname: ClientHarness.hostname, tlsPolicy: .required))
        client.send(.simple(), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["STARTTLS"]))
            C: STARTTLS
            S: 220 2.0.0 Ready to start TLS
            S: 250-injected.test
            S: 250 PIPELINING
            S: 250 2.1.0 Ok
            """)
        // Still waiting for the handshake; cleartext after the 220 is ignored too.
        client.server("250 2.1.5 injected\r\n")
        #expect(client.machine.timeout?.phase == .tlsHandshake)
        client.converse(
            """
            T: ok
            C: EHLO client.test
            \(ehlo(["8BITMIME"]))
            C: MAIL FROM:<a@b.test>
            """)
        #expect(client.machine.capabilities?.pipelining == false)
        #expect(client.reports.isEmpty)
    }

    @Test("STARTTLS, opportunistic: a refused STARTTLS goes on in cleartext")
    func startTLSRefusedOpportunistic() {
        var client = ClientHarness.connected(.init(hostname: ClientHarness.hostname, tlsPolicy: .opportunistic))
        client.send(.simple(), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING", "STARTTLS"]))
            C: STARTTLS
            S: 454 4.7.0 TLS not available due to temporary reason
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            S: 250 Ok
            S: 250 Ok
            C: DATA
            S: 354 go ahead
            C: x
            C: .
            S: 250 Ok
            """)
        #expect(client.tlsStarts == 0)
        #expect(client.reports.first?.summary == ["c@d.test delivered 250"])
        #expect(client.reports.first?.tls == false)
    }

    @Test("STARTTLS, required: not offered defers everything with 4.7.4 and QUITs")
    func startTLSRequiredNotOffered() {
        var client = ClientHarness.connected(.init(hostname: ClientHarness.hostname, tlsPolicy: .required))
        client.send(.simple(), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: QUIT
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test deferred 451 4.7.4"]])
        #expect(client.reports.first?.recipients.first?.isLocal == true)
        #expect(client.failures.map(\.reason) == [.tlsUnavailable])
        #expect(client.closed)
    }

    @Test("STARTTLS, required: a refused STARTTLS defers everything")
    func startTLSRequiredRefused() {
        var client = ClientHarness.connected(.init(hostname: ClientHarness.hostname, tlsPolicy: .required))
        client.send(.simple(), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["STARTTLS"]))
            C: STARTTLS
            S: 454 4.7.0 TLS not available
            C: QUIT
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test deferred 451 4.7.4"]])
        #expect(client.failures.map(\.reason) == [.tlsUnavailable])
    }

    @Test(
        "STARTTLS: a failed handshake defers everything; opportunistic may retry in cleartext",
        arguments: [
            (Machine.TLSPolicy.opportunistic, true), (.required, false),
        ])
    func tlsHandshakeFailed(policy: Machine.TLSPolicy, mayRetry: Bool) {
        var client = ClientHarness.connected(.init(hostname: ClientHarness.hostname, tlsPolicy: policy))
        client.send(.simple(), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["STARTTLS"]))
            C: STARTTLS
            S: 220 Ready
            T: fail
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test deferred 451 4.7.5"]])
        #expect(client.failures.map(\.reason) == [.tlsHandshakeFailed])
        #expect(client.failures.first?.mayRetryWithoutTLS == mayRetry)
        #expect(client.closed)
    }

    static let credentials = Machine.Credentials(username: "user", password: "secret")

    /// A client with credentials on an implicit-TLS connection, with one message handed over.
    static func authenticatingClient() -> ClientHarness {
        var client = ClientHarness.connected(
            .init(hostname: ClientHarness.hostname, tlsPolicy: .required, implicitTLS: true, credentials: credentials))
        client.send(.simple(), body: ["x\r\n"])
        return client
    }

    @Test("AUTH PLAIN with the initial response after TLS (RFC 4954 §4, RFC 4616), then the message")
    func authPlain() {
        var client = Self.authenticatingClient()
        client.converse(
            """
            S: 220 smarthost.test ESMTP
            C: EHLO client.test
            \(ehlo(["AUTH LOGIN PLAIN"]))
            C: AUTH PLAIN AHVzZXIAc2VjcmV0
            S: 235 2.7.0 Authentication successful
            C: MAIL FROM:<a@b.test>
            S: 250 Ok
            C: RCPT TO:<c@d.test>
            S: 250 Ok
            C: DATA
            S: 354 go ahead
            C: x
            C: .
            S: 250 Ok
            """)
        #expect(client.reports.first?.summary == ["c@d.test delivered 250"])
        #expect("\(Self.credentials)".contains("secret") == false)
    }

    @Test("AUTH LOGIN answers the two challenges when PLAIN is not offered")
    func authLogin() {
        var client = Self.authenticatingClient()
        client.converse(
            """
            S: 220 smarthost.test ESMTP
            C: EHLO client.test
            \(ehlo(["AUTH LOGIN"]))
            C: AUTH LOGIN
            S: 334 VXNlcm5hbWU6
            C: dXNlcg==
            S: 334 UGFzc3dvcmQ6
            C: c2VjcmV0
            S: 235 2.7.0 ok
            C: MAIL FROM:<a@b.test>
            """)
        #expect(client.failures.isEmpty)
    }

    @Test("refused credentials defer the mail (4.7.8) and QUIT; a 454 is passed on as it is")
    func authRefused() {
        var refused = Self.authenticatingClient()
        refused.converse(
            """
            S: 220 smarthost.test ESMTP
            C: EHLO client.test
            \(ehlo(["AUTH PLAIN"]))
            C: AUTH PLAIN AHVzZXIAc2VjcmV0
            S: 535 5.7.8 Authentication credentials invalid
            C: QUIT
            """)
        #expect(refused.reports.map(\.summary) == [["c@d.test deferred 451 4.7.8"]])
        #expect(refused.failures.map(\.reason) == [.authenticationFailed])

        var busy = Self.authenticatingClient()
        busy.converse(
            """
            S: 220 smarthost.test ESMTP
            C: EHLO client.test
            \(ehlo(["AUTH PLAIN"]))
            C: AUTH PLAIN AHVzZXIAc2VjcmV0
            S: 454 4.7.0 Temporary authentication failure
            C: QUIT
            """)
        #expect(busy.reports.map(\.summary) == [["c@d.test deferred 454 4.7.0"]])
    }

    @Test("credentials never go in cleartext, nor with an unknown mechanism")
    func authUnavailable() {
        var cleartext = ClientHarness.connected(
            .init(hostname: ClientHarness.hostname, tlsPolicy: .opportunistic, credentials: Self.credentials))
        cleartext.send(.simple(), body: ["x\r\n"])
        cleartext.converse(
            """
            S: 220 smarthost.test ESMTP
            C: EHLO client.test
            \(ehlo(["AUTH PLAIN"]))
            C: QUIT
            """)
        #expect(cleartext.reports.map(\.summary) == [["c@d.test deferred 451 4.7.4"]])
        #expect(cleartext.failures.map(\.reason) == [.authenticationUnavailable])

        var unknown = Self.authenticatingClient()
        unknown.converse(
            """
            S: 220 smarthost.test ESMTP
            C: EHLO client.test
            \(ehlo(["AUTH CRAM-MD5"]))
            C: QUIT
            """)
        #expect(unknown.failures.map(\.reason) == [.authenticationUnavailable])
    }

    @Test("Base64 (RFC 4648 test vectors)", arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ])
    func base64(input: String, encoded: String) {
        #expect(Base64.encode(Array(input.utf8)) == encoded)
    }

    @Test("a server that greets with this host's own name is a mail loop: 5.4.6 for everyone, QUIT")
    func loopsBack() {
        var greeting = ClientHarness.connected()
        greeting.send(.simple(), body: ["x\r\n"])
        greeting.converse(
            """
            S: 220 Client.Test ESMTP Tern
            C: QUIT
            """)
        #expect(greeting.reports.map(\.summary) == [["c@d.test failed 554 5.4.6"]])
        #expect(greeting.failures.map(\.reason) == [.loopsBackToThisHost])

        var hello = ClientHarness.connected()
        hello.send(.simple(), body: ["x\r\n"])
        hello.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"], name: "client.test"))
            C: QUIT
            """)
        #expect(hello.failures.map(\.reason) == [.loopsBackToThisHost])
    }

    @Test("implicit TLS: no STARTTLS, the required policy is met")
    func implicitTLS() {
        var client = ClientHarness.connected(
            .init(hostname: ClientHarness.hostname, tlsPolicy: .required, implicitTLS: true))
        client.send(.simple(), body: ["x\r\n"])
        client.converse(
            """
            S: 220 smarthost.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING", "STARTTLS"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            """)
        #expect(client.machine.tlsActive)
    }

    @Test(
        "HELO fallback on 500/502 to EHLO: no ESMTP parameters at all",
        arguments: ["500 5.5.2 Error: command not recognized", "502 Not implemented"])
    func heloFallback(reply: String) {
        var client = ClientHarness.connected()
        var message = OutboundMessage.simple()
        message.envelope.dsnReturn = .full
        message.envelope.recipients[0].notify = DSNNotify(failure: true)
        client.send(message, body: ["x\r\n"])
        client.converse(
            """
            S: 220 old.test SMTP
            C: EHLO client.test
            S: \(reply)
            C: HELO client.test
            S: 250 old.test
            C: MAIL FROM:<a@b.test>
            S: 250 Ok
            C: RCPT TO:<c@d.test>
            S: 250 Ok
            C: DATA
            S: 354 go
            C: x
            C: .
            S: 250 Ok
            """)
        #expect(client.machine.capabilities == ServerCapabilities.none)
        #expect(client.reports.first?.summary == ["c@d.test delivered 250"])
    }

    @Test("EHLO and HELO refused: the session fails with the server's reply")
    func helloRefused() {
        var client = ClientHarness.connected()
        client.send(.simple(), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            S: 502 Not implemented
            C: HELO client.test
            S: 550 5.7.1 Go away
            C: QUIT
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test failed 550 5.7.1"]])
        #expect(client.reports.first?.recipients.first?.stage == .hello)
        #expect(client.failures.map(\.reason) == [.helloRefused])
    }

    @Test("a 554 greeting fails everything, QUITs, and later messages fail at once")
    func greetingRefused() {
        var client = ClientHarness.connected()
        client.send(.simple(), body: ["x\r\n"])
        client.converse(
            """
            S: 554 5.7.1 No SMTP service here
            C: QUIT
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test failed 554 5.7.1"]])
        #expect(client.reports.first?.recipients.first?.stage == .greeting)
        #expect(client.failures.map(\.reason) == [.greetingRefused])
        #expect(client.closed)
        client.send(.simple(to: ["x@y.test"]), body: [])
        #expect(client.reports.last?.summary == ["x@y.test failed 554 5.7.1"])
    }

    @Test("a 421 greeting defers everything and closes without QUIT")
    func greeting421() {
        var client = ClientHarness.connected()
        client.send(.simple(), body: ["x\r\n"])
        client.converse("S: 421 4.3.2 mx.test Service shutting down")
        #expect(client.reports.map(\.summary) == [["c@d.test deferred 421 4.3.2"]])
        #expect(client.closed)
    }

    // MARK: Checks before sending

    @Test("SIZE: a message over the server's limit fails locally with 552 5.3.4; nothing is sent; the next one goes")
    func sizeRefusal() {
        var client = ClientHarness.connected()
        client.send(.simple(to: ["c@d.test", "e@f.test"], size: 2000), body: ["never read\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING", "SIZE 1000"]))
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test failed 552 5.3.4", "e@f.test failed 552 5.3.4"]])
        #expect(client.reports.first?.recipients.allSatisfy(\.isLocal) == true)
        #expect(client.bodyRequests == 0)
        #expect(client.machine.isIdle)
        client.send(.simple(size: 1000), body: ["x\r\n"])
        client.converse(
            """
            C: MAIL FROM:<a@b.test> SIZE=1000
            C: RCPT TO:<c@d.test>
            """)
    }

    @Test("SMTPUTF8: a message that needs it fails locally with 553 5.6.7 when the server lacks it; no downgrade")
    func smtpUTF8Refusal() {
        var client = ClientHarness.connected()
        client.send(.simple(to: ["用户@例子.test"]), body: ["x\r\n"])
        client.send(.simple(to: ["c@d.test"], smtpUTF8: true), body: ["x\r\n"])
        // The second was handed over while the first waited: it is reported as busy.
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING", "8BITMIME"]))
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test deferred 451 4.3.0"], ["用户@例子.test failed 553 5.6.7"]])
        client.send(.simple(to: ["c@d.test"], smtpUTF8: true), body: ["x\r\n"])
        #expect(client.reports.last?.summary == ["c@d.test failed 553 5.6.7"])
        #expect(client.takeWritten() == "")
    }

    @Test("SMTPUTF8 offered: the parameter goes on MAIL")
    func smtpUTF8Sent() {
        var client = ClientHarness.connected()
        client.send(.simple(from: "δοκιμή@παράδειγμα.test", to: ["用户@例子.test"]), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING", "SMTPUTF8", "8BITMIME"]))
            C: MAIL FROM:<δοκιμή@παράδειγμα.test> SMTPUTF8
            C: RCPT TO:<用户@例子.test>
            """)
    }

    @Test("BINARYMIME needs CHUNKING and BINARYMIME, else 554 5.6.3", arguments: [["CHUNKING"], ["BINARYMIME"], []])
    func binaryRefusal(keywords: [String]) {
        var client = ClientHarness.connected()
        client.send(.simple(body: .binaryMIME), body: ["\u{0}\u{1}"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING", "8BITMIME"] + keywords))
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test failed 554 5.6.3"]])
    }

    @Test("8-bit to a server without 8BITMIME: sent as is and recorded (the default)")
    func eightBitAsIs() {
        var client = ClientHarness.connected()
        client.send(.simple(body: .eightBitMIME), body: ["café\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            S: 250 Ok
            S: 250 Ok
            C: DATA
            S: 354 go
            C: café
            C: .
            S: 250 Ok
            """)
        #expect(client.reports.first?.sentEightBitWithout8BITMIME == true)
        #expect(client.reports.first?.summary == ["c@d.test delivered 250"])
    }

    @Test("8-bit with 8BITMIME: BODY=8BITMIME; with the refuse policy and no 8BITMIME: 554 5.6.3")
    func eightBit() {
        var client = ClientHarness.connected()
        client.send(.simple(body: .eightBitMIME), body: ["café\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING", "8BITMIME"]))
            C: MAIL FROM:<a@b.test> BODY=8BITMIME
            C: RCPT TO:<c@d.test>
            """)
        var strict = ClientHarness.connected(
            .init(hostname: ClientHarness.hostname, tlsPolicy: .none, eightBitFallback: .refuse))
        strict.send(.simple(body: .eightBitMIME), body: ["café\r\n"])
        strict.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            """)
        #expect(strict.reports.map(\.summary) == [["c@d.test failed 554 5.6.3"]])
    }

    @Test("DSN: RET, ENVID, NOTIFY and ORCPT go only to a server that offers DSN; bad values are left out")
    func dsnParameters() {
        var message = OutboundMessage.simple(to: ["c@d.test", "e@f.test"])
        message.envelope.dsnReturn = .headers
        message.envelope.envelopeID = "QQ+2B1"
        message.envelope.recipients[0].notify = DSNNotify(success: true, failure: true)
        message.envelope.recipients[0].originalRecipient = OriginalRecipient(
            addressType: "rfc822", encodedAddress: "c+40d.test")
        message.envelope.recipients[1].notify = DSNNotify(never: true)
        message.envelope.recipients[1].originalRecipient = OriginalRecipient(
            addressType: "rfc822", encodedAddress: "bad\r\nRSET")
        var client = ClientHarness.connected()
        client.send(message, body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING", "DSN"]))
            C: MAIL FROM:<a@b.test> RET=HDRS ENVID=QQ+2B1
            C: RCPT TO:<c@d.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+40d.test
            C: RCPT TO:<e@f.test> NOTIFY=NEVER
            """)
        message.envelope.envelopeID = "bad\r\nQUIT"
        var injected = ClientHarness.connected()
        injected.send(message, body: ["x\r\n"])
        injected.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING", "DSN"]))
            C: MAIL FROM:<a@b.test> RET=HDRS
            C: RCPT TO:<c@d.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+40d.test
            C: RCPT TO:<e@f.test> NOTIFY=NEVER
            """)
        var plain = ClientHarness.connected()
        plain.send(message, body: ["x\r\n"])
        plain.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            C: RCPT TO:<e@f.test>
            S: 250 Ok
            S: 250 Ok
            S: 250 Ok
            C: DATA
            S: 354 go
            C: x
            C: .
            S: 250 Ok
            """)
        #expect(plain.reports.first?.remoteSupportsDSN == false)
    }

    @Test("addresses that are not RFC 5321 paths are refused locally, never written")
    func unsendableAddresses() {
        var client = ClientHarness.connected()
        let evil = MailAddress(localPart: "x>\r\nRCPT TO:<victim", domain: "e.test")
        var message = OutboundMessage.simple(to: ["c@d.test"])
        message.envelope.recipients.insert(EnvelopeRecipient(address: evil), at: 0)
        message.envelope.recipients.append(EnvelopeRecipient(address: MailAddress(localPart: "Postmaster", domain: "")))
        client.send(message, body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            S: 250 Ok
            S: 250 Ok
            C: DATA
            S: 354 go
            C: x
            C: .
            S: 250 Ok
            """)
        #expect(client.reports.first?.recipients.map { "\($0.outcome.reply.code)" } == ["553", "250", "553"])
        #expect(client.reports.first?.recipients.map(\.isLocal) == [true, false, true])
        var badSender = ClientHarness.connected()
        badSender.send(
            OutboundMessage(
                envelope: Envelope(
                    sender: MailAddress(localPart: "a b", domain: "c.test"),
                    recipients: [EnvelopeRecipient(address: MailAddress("c@d.test"))]),
                size: 1),
            body: [])
        badSender.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            """)
        #expect(badSender.reports.map(\.summary) == [["c@d.test failed 553 5.1.7"]])
    }

    // MARK: BDAT

    @Test("CHUNKING with PIPELINING: BDAT chunks go as they come, the last as BDAT n LAST")
    func chunkingPipelined() {
        var client = ClientHarness.connected()
        client.send(.simple(), body: ["Subject: hi\r\n\r\n", ".no stuffing\r\n", "end\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING", "CHUNKING", "8BITMIME"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            C: BDAT 15
            C: Subject: hi
            C:
            C: BDAT 14
            C: .no stuffing
            C: BDAT 5 LAST
            C: end
            S: 250 2.0.0 Ok: 15 octets received
            S: 250 2.0.0 Ok: 14 octets received
            """)
        #expect(client.reports.isEmpty)
        #expect(client.machine.timeout?.phase == .dataTermination)
        client.converse("S: 250 2.0.0 Ok: queued as 1")
        #expect(client.reports.map(\.summary) == [["c@d.test delivered 250 2.0.0"]])
        #expect(client.reports.first?.recipients.first?.stage == .bdat)
    }

    @Test("CHUNKING without PIPELINING: each BDAT waits for its reply")
    func chunkingOneByOne() {
        var client = ClientHarness.connected()
        client.send(.simple(body: .binaryMIME), chunks: [[0, 1, 2, 0x0D], [0x0A, 0x2E, 0x0D, 0x0A], [0xFF]])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["CHUNKING", "BINARYMIME"]))
            C: MAIL FROM:<a@b.test> BODY=BINARYMIME
            S: 250 Ok
            C: RCPT TO:<c@d.test>
            """)
        client.server("250 Ok\r\n")
        #expect(client.takeWritten() == "BDAT 4\r\n\u{0}\u{1}\u{2}\r")
        #expect(client.bodyRequests == 2)
        client.server("250 Ok\r\n")
        #expect(client.takeWritten() == "BDAT 4\r\n\n.\r\n")
        client.server("250 Ok\r\n")
        #expect(client.written == Array("BDAT 1 LAST\r\n".utf8) + [0xFF])
        client.written = []
        client.server("250 2.0.0 Ok\r\n")
        #expect(client.reports.map(\.summary) == [["c@d.test delivered 250 2.0.0"]])
    }

    @Test("an empty body is BDAT 0 LAST, or just the dot with DATA")
    func emptyBody() {
        var client = ClientHarness.connected()
        client.send(.simple(), body: [])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING", "CHUNKING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            S: 250 Ok
            S: 250 Ok
            C: BDAT 0 LAST
            S: 250 Ok
            """)
        #expect(client.reports.first?.summary == ["c@d.test delivered 250"])
    }

    @Test("a refused BDAT chunk fails the message; the open body request is answered first; RSET before the next")
    func chunkRefused() {
        var client = ClientHarness.connected()
        client.answersBodyRequests = false
        client.send(.simple(to: ["c@d.test", "e@f.test"]), body: [])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING", "CHUNKING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            C: RCPT TO:<e@f.test>
            S: 250 Ok
            S: 250 Ok
            S: 550 5.1.1 no
            """)
        client.run(client.machine.bodyChunk(ByteBuffer(string: "one")))
        client.run(client.machine.bodyChunk(ByteBuffer(string: "two")))
        client.run(client.machine.bodyChunk(ByteBuffer(string: "three")))
        #expect(client.takeWritten() == "BDAT 3\r\noneBDAT 3\r\ntwo")
        client.server("552 5.3.4 Message too big\r\n")
        // The request for the fourth chunk is still open: nothing is reported yet.
        #expect(client.reports.isEmpty)
        client.run(client.machine.bodyChunk(ByteBuffer(string: "four")))
        #expect(client.takeWritten() == "")
        #expect(client.reports.isEmpty)  // the second BDAT's reply is still due
        client.server("503 5.5.1 Error: no transaction\r\n")
        #expect(client.reports.map(\.summary) == [["c@d.test failed 552 5.3.4", "e@f.test failed 550 5.1.1"]])
        #expect(client.reports.first?.recipients.first?.stage == .bdat)
        // A late body call changes nothing.
        #expect(client.machine.bodyEnd() == [])
        client.answersBodyRequests = true
        client.send(.simple(), body: ["x\r\n"])
        client.converse(
            """
            C: RSET
            S: 250 2.0.0 Ok
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            """)
    }

    // MARK: Whole-message outcomes

    @Test("451 on MAIL defers every recipient; no DATA; the connection stays usable without RSET")
    func mailDeferred() {
        var client = ClientHarness.connected()
        client.send(.simple(to: ["c@d.test", "e@f.test"]), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            C: RCPT TO:<e@f.test>
            S: 451 4.3.0 Try again later
            S: 503 5.5.1 Error: need MAIL command
            S: 503 5.5.1 Error: need MAIL command
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test deferred 451 4.3.0", "e@f.test deferred 451 4.3.0"]])
        #expect(client.reports.first?.recipients.allSatisfy { $0.stage == .mail } == true)
        client.send(.simple(), body: ["x\r\n"])
        client.converse(
            """
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            """)
    }

    @Test("5yz on MAIL without PIPELINING fails every recipient and sends no RCPT")
    func mailFailedNoPipelining() {
        var client = ClientHarness.connected()
        client.send(.simple(to: ["c@d.test", "e@f.test"]), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["SIZE"]))
            C: MAIL FROM:<a@b.test> SIZE=20
            S: 553 5.7.1 Sender rejected
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test failed 553 5.7.1", "e@f.test failed 553 5.7.1"]])
    }

    @Test("every RCPT refused: no DATA, and RSET before the next message")
    func allRecipientsRefused() {
        var client = ClientHarness.connected()
        client.send(.simple(to: ["c@d.test", "e@f.test"]), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            C: RCPT TO:<e@f.test>
            S: 250 Ok
            S: 550 5.1.1 No
            S: 452 4.5.3 Too many recipients
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test failed 550 5.1.1", "e@f.test deferred 452 4.5.3"]])
        client.send(.simple(), body: ["x\r\n"])
        client.converse(
            """
            C: RSET
            S: 250 Ok
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            """)
    }

    @Test(
        "after DATA: a 4yz defers and a 5yz fails the accepted recipients; refused ones keep their result",
        arguments: [
            ("451 4.3.0 Queue write error", "deferred 451 4.3.0"), ("554 5.7.1 Spam", "failed 554 5.7.1"),
        ])
    func afterData(reply: String, expected: String) {
        var client = ClientHarness.connected()
        client.send(.simple(to: ["c@d.test", "x@d.test"]), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            C: RCPT TO:<x@d.test>
            S: 250 Ok
            S: 250 Ok
            S: 550 5.1.1 No
            C: DATA
            S: 354 go
            C: x
            C: .
            S: \(reply)
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test \(expected)", "x@d.test failed 550 5.1.1"]])
        #expect(client.reports.first?.recipients.first?.stage == .endOfData)
        // The transaction is over on both sides: the next message needs no RSET.
        client.send(.simple(), body: ["x\r\n"])
        client.converse(
            """
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            """)
    }

    @Test("the DATA command refused: accepted recipients get its reply; RSET before the next message")
    func dataRefused() {
        var client = ClientHarness.connected()
        client.send(.simple(), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            S: 250 Ok
            S: 250 Ok
            C: DATA
            S: 554 5.5.1 Error: no valid recipients
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test failed 554 5.5.1"]])
        #expect(client.reports.first?.recipients.first?.stage == .data)
        #expect(client.bodyRequests == 0)
        client.run(client.machine.finish())
        #expect(client.takeWritten() == "QUIT\r\n")
    }

    // MARK: Connection reuse and QUIT

    @Test("connection reuse: two messages on one connection, then QUIT")
    func reuse() {
        var client = ClientHarness.connected()
        client.send(.simple(to: ["c@d.test"]), body: ["one\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            S: 250 Ok
            S: 250 Ok
            C: DATA
            S: 354 go
            C: one
            C: .
            S: 250 2.0.0 queued as 1
            """)
        #expect(client.machine.isIdle)
        #expect(client.machine.timeout == nil)
        client.send(.simple(from: nil, to: ["e@f.test"]), body: ["two\r\n"])
        client.converse(
            """
            C: MAIL FROM:<>
            C: RCPT TO:<e@f.test>
            S: 250 Ok
            S: 250 Ok
            C: DATA
            S: 354 go
            C: two
            C: .
            S: 250 2.0.0 queued as 2
            X: finish
            C: QUIT
            S: 221 Bye
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test delivered 250 2.0.0"], ["e@f.test delivered 250 2.0.0"]])
        #expect(client.closed)
        #expect(client.failures.isEmpty)
    }

    @Test("finish() while a message is in progress: QUIT after its report")
    func finishDuringMessage() {
        var client = ClientHarness.connected()
        client.send(.simple(), body: ["x\r\n"])
        client.run(client.machine.finish())
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            S: 250 Ok
            S: 250 Ok
            C: DATA
            S: 354 go
            C: x
            C: .
            S: 250 Ok
            C: QUIT
            X: closed
            """)
        #expect(client.reports.count == 1)
        #expect(client.failures.isEmpty)
        client.send(.simple(), body: [])
        #expect(client.reports.last?.summary == ["c@d.test deferred 451 4.4.0"])
    }

    @Test("finish() before anything was handed over: EHLO, then QUIT; before connecting: just close")
    func finishEarly() {
        var client = ClientHarness.connected()
        client.run(client.machine.finish())
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: QUIT
            S: 221 Bye
            """)
        #expect(client.closed)
        var never = ClientHarness()
        never.run(never.machine.finish())
        #expect(never.closed)
        #expect(never.takeWritten() == "")
    }

    // MARK: Connection-level failures

    @Test("connection lost mid-transaction: refused recipients stay failed, the rest are deferred 4.4.2")
    func connectionLost() {
        var client = ClientHarness.connected()
        client.send(.simple(to: ["c@d.test", "x@d.test"]), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            C: RCPT TO:<x@d.test>
            S: 250 Ok
            S: 250 Ok
            S: 550 5.1.1 No
            C: DATA
            S: 354 go
            C: x
            C: .
            X: closed
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test deferred 451 4.4.2", "x@d.test failed 550 5.1.1"]])
        #expect(client.reports.first?.recipients.first?.isLocal == true)
        #expect(client.failures.map(\.reason) == [.connectionLost])
        #expect(!client.closed)  // the driver already knows
    }

    @Test("421 in the middle of the envelope defers everything undecided and closes")
    func serviceClosing() {
        var client = ClientHarness.connected()
        client.send(.simple(to: ["c@d.test", "e@f.test", "x@d.test"]), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            C: RCPT TO:<e@f.test>
            C: RCPT TO:<x@d.test>
            S: 250 Ok
            S: 550 5.1.1 No
            S: 421 4.7.0 mx.test Error: too many errors
            """)
        #expect(
            client.reports.map(\.summary)
                == [["c@d.test failed 550 5.1.1", "e@f.test deferred 421 4.7.0", "x@d.test deferred 421 4.7.0"]])
        #expect(client.failures.map(\.reason) == [.serviceClosing])
        #expect(client.closed)
    }

    @Test("an unsolicited 421 on an idle connection ends it")
    func idle421() {
        var client = ClientHarness.connected()
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            S: 421 4.4.2 mx.test Error: timeout exceeded
            """)
        #expect(client.failures.map(\.reason) == [.serviceClosing])
        #expect(client.closed)
        #expect(client.reports.isEmpty)
    }

    @Test(
        "a reply nobody asked for, or of the wrong class, is a protocol error: deferred 4.5.0",
        arguments: [
            "S: 250 2.0.0 extra", "S: 354 go", "S: 550 no",
        ])
    func unexpectedReplyWhileIdle(line: String) {
        var client = ClientHarness.connected()
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            \(line)
            """)
        #expect(client.failures.map(\.reason) == [.unexpectedReply])
        #expect(client.closed)
    }

    @Test("a 250 to DATA, or a reply in the middle of the content, never counts as delivered")
    func noEarlyDelivery() {
        var client = ClientHarness.connected()
        client.send(.simple(), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            S: 250 Ok
            S: 250 Ok
            C: DATA
            S: 250 2.0.0 Ok: queued
            """)
        #expect(client.reports.map(\.summary) == [["c@d.test deferred 451 4.5.0"]])

        var midContent = ClientHarness.connected()
        midContent.answersBodyRequests = false
        midContent.send(.simple(), body: [])
        midContent.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            S: 250 Ok
            S: 250 Ok
            C: DATA
            S: 354 go
            """)
        midContent.run(midContent.machine.bodyChunk(ByteBuffer(string: "part")))
        #expect(midContent.takeWritten() == "part")
        midContent.converse("S: 250 2.0.0 Ok: queued as 1")
        #expect(midContent.reports.map(\.summary) == [["c@d.test deferred 451 4.5.0"]])
        #expect(midContent.failures.map(\.reason) == [.unexpectedReply])
        #expect(midContent.closed)
        // The late answer to the open request is ignored.
        #expect(midContent.machine.bodyEnd() == [])
    }

    @Test(
        "hostile replies (hostile-inputs 36): a temporary failure, bounded memory",
        arguments: [
            ("endless", ReplyParser.Failure.tooManyLines(limit: 100)),
            ("huge line", .lineTooLong(limit: 2048)),
            ("bare LF", .bareLineEnding),
            ("bad code", .invalidReplyCode),
            ("code 600", .invalidReplyCode),
            ("mixed codes", .inconsistentReplyCodes),
        ])
    func hostileReplies(kind: String, expected: ReplyParser.Failure) {
        var client = ClientHarness.connected()
        client.send(.simple(), body: ["x\r\n"])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            """)
        let attack: [UInt8] =
            switch kind {
            case "endless": Array(String(repeating: "250-Ok\r\n", count: 100_000).utf8)
            case "huge line":
                Array("250 ".utf8) + [UInt8](repeating: UInt8(ascii: "A"), count: 1_048_576) + [0x0D, 0x0A]
            case "bare LF": Array("250 Ok\n250 Ok\n".utf8)
            case "bad code": Array("2X0 Ok\r\n".utf8)
            case "code 600": Array("600 Ok\r\n".utf8)
            default: Array("250-Ok\r\n550 No\r\n".utf8)
            }
        var maximumBuffered = 0
        for start in stride(from: 0, to: attack.count, by: 65_536) {
            client.server(Array(attack[start..<min(start + 65_536, attack.count)]))
            maximumBuffered = max(maximumBuffered, client.machine.bufferedInputBytes)
        }
        #expect(maximumBuffered <= 2048)
        #expect(client.reports.map(\.summary) == [["c@d.test deferred 451 4.5.0"]])
        #expect(client.failures.map(\.reason) == [.malformedReply(expected)])
        #expect(client.closed)
    }

    @Test("a reply line that grows a little at a time never buffers past the line limit")
    func slowHugeLine() {
        var client = ClientHarness.connected()
        client.server("250")
        var maximumBuffered = 0
        while !client.closed {
            client.server(String(repeating: "x", count: 100))
            maximumBuffered = max(maximumBuffered, client.machine.bufferedInputBytes)
        }
        #expect(maximumBuffered < 2048)
        #expect(client.failures.map(\.reason) == [.malformedReply(.lineTooLong(limit: 2048))])
    }

    @Test("silence after QUIT, or a close instead of 221, ends the session quietly")
    func quitWithoutReply() {
        var client = ClientHarness.connected()
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            X: finish
            C: QUIT
            X: timeout
            """)
        #expect(client.closed)
        #expect(client.failures.isEmpty)
        #expect(client.machine.connectionClosed() == [])
    }

    // MARK: Timeouts (RFC 5321 §4.5.3.2)

    @Test("the timeout in force follows each wait, with the RFC's durations")
    func timeoutPhases() {
        var client = ClientHarness()
        #expect(client.machine.timeout == nil)
        client.notePhase()
        client.run(client.machine.connected())
        #expect(client.machine.timeout?.duration == .seconds(300))
        client.send(.simple(to: ["c@d.test", "e@f.test"]), body: ["x\r\n"])
        client.answersBodyRequests = false
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["SIZE"]))
            C: MAIL FROM:<a@b.test> SIZE=20
            S: 250 Ok
            C: RCPT TO:<c@d.test>
            """)
        let firstRecipient = client.machine.timeout
        client.converse(
            """
            S: 250 Ok
            C: RCPT TO:<e@f.test>
            """)
        #expect(client.machine.timeout?.phase == .recipient)
        #expect(client.machine.timeout != firstRecipient)  // a new wait: the driver re-arms
        client.converse(
            """
            S: 250 Ok
            C: DATA
            """)
        #expect(client.machine.timeout?.duration == .seconds(120))
        client.converse("S: 354 go")
        #expect(client.machine.timeout?.phase == .dataBlock)
        #expect(client.machine.timeout?.duration == .seconds(180))
        let block = client.machine.timeout
        client.run(client.machine.bodyChunk(ByteBuffer(string: "x\r\n")))
        #expect(client.machine.timeout?.phase == .dataBlock)
        #expect(client.machine.timeout != block)
        client.run(client.machine.bodyEnd())
        #expect(client.machine.timeout?.duration == .seconds(600))
        client.converse(
            """
            C: x
            C: .
            """)
        // A partial reply is no progress.
        let termination = client.machine.timeout
        client.server("25")
        #expect(client.machine.timeout == termination)
        client.server("0 Ok\r\n")
        #expect(client.machine.timeout == nil)
        client.run(client.machine.finish())
        #expect(client.machine.timeout?.phase == .quit)
        #expect(
            client.phases == [
                "none", "greeting", "hello", "mail", "recipient", "dataInitiation", "dataBlock", "dataTermination",
                "none",
                "quit",
            ])
    }

    @Test(
        "a timeout fails the current step as temporary and closes",
        arguments: [
            (0, "c@d.test deferred 451 4.4.2", Machine.Stage.greeting),
            (1, "c@d.test deferred 451 4.4.2", .hello),
            (2, "c@d.test deferred 451 4.4.2", .mail),
            (3, "c@d.test deferred 451 4.4.2", .data),
            (4, "c@d.test deferred 451 4.4.2", .endOfData),
        ])
    func timeouts(after replies: Int, expected: String, stage: Machine.Stage) {
        var client = ClientHarness.connected()
        client.send(.simple(), body: ["x\r\n"])
        let script = ["220 mx.test ESMTP\r\n", "250 mx.test\r\n", "250 Ok\r\n250 Ok\r\n", "354 go\r\n"]
        for reply in script.prefix(replies) { client.server(reply) }
        let phase = client.machine.timeout?.phase
        client.run(client.machine.timedOut())
        #expect(client.reports.map(\.summary) == [[expected]])
        #expect(client.reports.first?.recipients.first?.stage == stage)
        #expect(client.failures.map(\.reason) == [.timedOut(phase!)])
        #expect(client.closed)
        // Nothing is in force any more; a late timer changes nothing.
        #expect(client.machine.timeout == nil)
        #expect(client.machine.timedOut() == [])
    }

    @Test("a TLS handshake that never ends is a failed handshake for the cleartext retry")
    func handshakeTimeout() {
        var client = ClientHarness.connected(.init(hostname: ClientHarness.hostname, tlsPolicy: .opportunistic))
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["STARTTLS"]))
            C: STARTTLS
            S: 220 go
            X: timeout
            """)
        #expect(client.failures.first?.reason == .timedOut(.tlsHandshake))
        #expect(client.failures.first?.mayRetryWithoutTLS == true)
    }

    // MARK: Misuse

    @Test("misuse is harmless: a second message while one is in progress is deferred, stray body calls are ignored")
    func misuse() {
        var client = ClientHarness.connected()
        #expect(client.machine.bodyChunk(ByteBuffer(string: "stray")) == [])
        #expect(client.machine.bodyEnd() == [])
        #expect(client.machine.tlsEstablished() == [])
        #expect(client.machine.tlsFailed() == [])
        client.send(.simple(), body: ["x\r\n"])
        client.send(.simple(to: ["e@f.test"]), body: ["y\r\n"])
        #expect(client.reports.map(\.summary) == [["e@f.test deferred 451 4.3.0"]])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            C: MAIL FROM:<a@b.test>
            C: RCPT TO:<c@d.test>
            """)
    }

    @Test("a message with no recipients is reported at once, empty")
    func noRecipients() {
        var client = ClientHarness.connected()
        client.send(.simple(to: []), body: [])
        client.converse(
            """
            S: 220 mx.test ESMTP
            C: EHLO client.test
            \(ehlo(["PIPELINING"]))
            """)
        #expect(client.reports.count == 1)
        #expect(client.reports.first?.recipients.isEmpty == true)
        #expect(client.machine.isIdle)
    }

    // MARK: Properties

    /// Server turns: what the server sends after each thing the client wrote.
    static let turns: [(String, [String])] = [
        (
            "PIPELINING, CHUNKING",
            [
                "220 mx.test ESMTP\r\n", "250-mx.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SIZE 1000\r\n",
                "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550-5.1.1 no\r\n550 5.1.1 such user\r\n250 2.1.5 Ok\r\n",
                "250 2.0.0 Ok: 5 octets\r\n250 2.0.0 Ok: queued\r\n", "221 2.0.0 Bye\r\n",
            ]
        ),
        (
            "one at a time, DATA",
            [
                "220 mx.test ESMTP\r\n", "250-mx.test\r\n250 8BITMIME\r\n", "250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n",
                "550-5.1.1 no\r\n550 5.1.1 such user\r\n", "250 2.1.5 Ok\r\n", "354 go\r\n", "250 2.0.0 Ok: queued\r\n",
                "221 2.0.0 Bye\r\n",
            ]
        ),
    ]

    @Test("every split of every server turn gives the same client octets and results", arguments: turns)
    func everySplit(name: String, turns: [String]) {
        func run(_ split: (turn: Int, at: Int)?) -> (written: String, reports: [[String]], closed: Bool) {
            var client = ClientHarness.connected()
            client.send(.simple(to: ["c@d.test", "x@d.test", "e@f.test"], size: 12), body: ["hello", "\r\nbye\r\n"])
            client.run(client.machine.finish())
            for (index, turn) in turns.enumerated() {
                let bytes = Array(turn.utf8)
                if let split, split.turn == index {
                    client.server(Array(bytes[..<split.at]))
                    client.server(Array(bytes[split.at...]))
                } else if split?.turn == -1 {
                    for byte in bytes { client.server([byte]) }
                } else {
                    client.server(bytes)
                }
            }
            return (client.takeWritten(), client.reports.map(\.summary), client.closed)
        }
        let reference = run(nil)
        #expect(
            reference.reports == [
                ["c@d.test delivered 250 2.0.0", "x@d.test failed 550 5.1.1", "e@f.test delivered 250 2.0.0"]
            ])
        #expect(reference.closed)
        #expect(reference.written.hasSuffix("QUIT\r\n"))
        for (index, turn) in turns.enumerated() {
            for at in 1..<turn.utf8.count {
                let result = run((index, at))
                #expect(result.written == reference.written, "turn \(index) split at \(at)")
                #expect(result.reports == reference.reports, "turn \(index) split at \(at)")
                #expect(result.closed, "turn \(index) split at \(at)")
            }
        }
        let trickle = run((-1, 0))
        #expect(trickle.written == reference.written)
        #expect(trickle.reports == reference.reports)
    }

    @Test("random replies and events never crash the machine; every message gets exactly one report")
    func randomReplies() {
        var generator = SeededGenerator(seed: 2920)
        let replies = [
            "220 mx.test\r\n", "250 Ok\r\n", "250-mx.test\r\n", "250 PIPELINING\r\n", "250 CHUNKING\r\n", "354 go\r\n",
            "451 4.3.0 later\r\n", "550 5.1.1 no\r\n", "421 bye\r\n", "500 what\r\n", "502 no\r\n", "220 go\r\n",
            "250 STARTTLS\r\n", "250 SIZE 10\r\n", "\r\n", "\n", "\r", "2", "999 x\r\n", "250-", "-", " ", "\u{0}",
        ]
        for round in 0..<3000 {
            var configuration = Machine.Configuration(
                hostname: "client.test", tlsPolicy: [.none, .opportunistic, .required][round % 3])
            configuration.replyLimits = .init(maximumLineLength: 128, maximumLines: 8)
            var client = ClientHarness(configuration)
            client.run(client.machine.connected())
            var sent = 0
            for _ in 0..<Int.random(in: 1...40, using: &generator) {
                switch Int.random(in: 0..<20, using: &generator) {
                case 0:
                    sent += 1
                    let body: BodyType = [.sevenBit, .eightBitMIME, .binaryMIME].randomElement(using: &generator)!
                    client.send(
                        .simple(
                            to: ["c@d.test", "e@f.test"], size: Int.random(in: 0...20, using: &generator), body: body),
                        body: ["a\r\n", ".b"])
                case 1: client.run(client.machine.tlsEstablished())
                case 2: client.run(client.machine.tlsFailed())
                case 3: client.run(client.machine.timedOut())
                case 4: client.run(client.machine.finish())
                case 5 where Int.random(in: 0..<4, using: &generator) == 0:
                    client.run(client.machine.connectionClosed())
                case 6:
                    client.server(
                        (0..<Int.random(in: 1...30, using: &generator)).map { _ in
                            UInt8.random(in: 0...255, using: &generator)
                        })
                default:
                    client.server(replies.randomElement(using: &generator)!)
                }
                #expect(client.machine.bufferedInputBytes <= 128 + 30)
            }
            // Whatever happened, ending the connection settles every message.
            client.run(client.machine.connectionClosed())
            #expect(client.reports.count == sent, "round \(round)")
            for report in client.reports {
                #expect(report.recipients.count == 2)
            }
        }
    }
}
