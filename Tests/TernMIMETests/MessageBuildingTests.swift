import TernMIME
import TernMail
import Testing

@Suite("MessageDate")
struct MessageDateTests {
    @Test("RFC 5322 date-time in UTC", arguments: [
        (Int64(0), "Thu, 1 Jan 1970 00:00:00 +0000"),
        (Int64(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000"),
        (Int64(1_795_383_379), "Sun, 22 Nov 2026 21:36:19 +0000"),
        (Int64(4_102_444_799), "Thu, 31 Dec 2099 23:59:59 +0000"),
    ])
    func format(seconds: Int64, expected: String) {
        #expect(MessageDate.format(secondsSince1970: seconds) == expected)
    }
}

@Suite("ReceivedHeader")
struct ReceivedHeaderTests {
    @Test("the RFC 5321 §4.4 stamp, folded, with `for` only for one recipient")
    func rendered() throws {
        let id = try #require(QueueID("K0WH2982MWBWQ4QM"))
        var header = ReceivedHeader(
            clientName: "client.test", clientAddress: "192.0.2.1", serverName: "mx.test", receivedProtocol: "ESMTPS",
            id: id, recipient: MailAddress(localPart: "b", domain: "d.test"), tlsVersion: "TLSv1.3",
            secondsSince1970: 1_795_383_379)
        #expect(
            header.rendered
                == "Received: from client.test ([192.0.2.1])\r\n\t(using TLSv1.3)\r\n\tby mx.test (Tern) with ESMTPS id K0WH2982MWBWQ4QM\r\n\tfor <b@d.test>; Sun, 22 Nov 2026 21:36:19 +0000\r\n")
        header.recipient = nil
        header.tlsVersion = nil
        header.clientAddress = "::1"
        #expect(
            header.rendered
                == "Received: from client.test ([IPv6:::1])\r\n\tby mx.test (Tern) with ESMTPS id K0WH2982MWBWQ4QM; Sun, 22 Nov 2026 21:36:19 +0000\r\n")
    }

    @Test("the client read back from the field as rendered, unfolded; other forms give none")
    func client() throws {
        let v4 = try #require(ReceivedHeader.client(ofFieldValue: "from client.test ([192.0.2.1]) (using TLSv1.3) by mx.test (Tern) with ESMTPS id X; date"))
        #expect(v4.name == "client.test" && v4.address == "192.0.2.1")
        let v6 = try #require(ReceivedHeader.client(ofFieldValue: " from [127.0.0.1] ([IPv6:::1]) by mx.test"))
        #expect(v6.name == "[127.0.0.1]" && v6.address == "::1")
        for other in [
            "by mx.test", "from client.test (host [192.0.2.1])", "from client.test ([192.0.2.1", "from  ([192.0.2.1])",
            "from client.test ([])", "from client.test ([1.2.3.4<x>])", "from client.test",
        ] {
            #expect(ReceivedHeader.client(ofFieldValue: other) == nil, "\(other)")
        }
    }
}

@Suite("DeliveryStatusNotification")
struct DeliveryStatusNotificationTests {
    private let original = Array("Subject: hello\r\nFrom: a@b.test\r\n\r\nbody line\r\n".utf8)

    private func render(_ action: DeliveryStatusNotification.Action, ret: DSNReturn? = nil, original: [UInt8]? = nil)
        -> String
    {
        let report = DeliveryStatusNotification(
            reportingMTA: "mx.test", queueID: "K0WH2982MWBWQ4QM", envelopeID: "env+2B1", arrivalDate: 1_795_383_379,
            recipients: [
                .init(
                    recipient: "c@d.test", originalRecipient: OriginalRecipient(addressType: "rfc822", encodedAddress: "c+40d.test"),
                    reply: SMTPReply(550, EnhancedStatusCode(5, 1, 1), "no such user"), remoteMTA: "mx.d.test")
            ], dsnReturn: ret, action: action, willRetryUntil: 1_795_383_379 + 86_400)
        return String(decoding: report.render(to: "a@b.test", original: original ?? self.original, now: 1_795_383_400, boundary: "BOUNDARY"), as: UTF8.self)
    }

    @Test("a failure report: RFC 3464 fields, the whole message returned")
    func failure() {
        let text = render(.failed)
        #expect(text.contains("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"BOUNDARY\"\r\n"))
        #expect(text.contains("Subject: Undelivered Mail Returned to Sender\r\n"))
        #expect(text.contains("Auto-Submitted: auto-replied\r\n"))
        #expect(text.contains("Reporting-MTA: dns; mx.test\r\nX-Tern-Queue-ID: K0WH2982MWBWQ4QM\r\nOriginal-Envelope-Id: env+1\r\n"))
        #expect(text.contains("\r\nFinal-Recipient: rfc822; c@d.test\r\nOriginal-Recipient: rfc822; c@d.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.d.test\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n"))
        #expect(text.contains("Content-Type: message/rfc822\r\n\r\nSubject: hello\r\nFrom: a@b.test\r\n\r\nbody line\r\n\r\n--BOUNDARY--\r\n"))
        #expect(!text.contains("\n\n") && !text.replacingCRLF.contains("\r") && !text.replacingCRLF.contains("\n"))
    }

    @Test("RET=HDRS, or a big message, returns the header section only")
    func headersOnly() {
        #expect(render(.failed, ret: .headers).contains("Content-Type: text/rfc822-headers\r\n\r\nSubject: hello\r\nFrom: a@b.test\r\n\r\n--BOUNDARY--"))
        let big = Array("Subject: big\r\n\r\n".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 60_000) + [13, 10]
        #expect(render(.failed, original: big).contains("text/rfc822-headers\r\n\r\nSubject: big\r\n\r\n--BOUNDARY--"))
    }

    @Test("success and delay reports")
    func otherActions() {
        let delivered = render(.delivered)
        #expect(delivered.contains("Action: delivered\r\nStatus: 2.0.0\r\n"))
        #expect(delivered.contains("Subject: Successful Mail Delivery Report\r\n"))
        #expect(delivered.contains("text/rfc822-headers"))
        let delayed = render(.delayed)
        #expect(delayed.contains("Action: delayed\r\n"))
        #expect(delayed.contains("Will-Retry-Until: Mon, 23 Nov 2026 21:36:19 +0000\r\n"))
        let relayed = render(.relayed)
        #expect(relayed.contains("Action: relayed\r\nStatus: 2.0.0\r\nRemote-MTA: dns; mx.d.test\r\n"))
    }

    @Test("diagnostics are US-ASCII; a UTF-8 recipient makes a global report (RFC 6533)")
    func international() {
        let report = DeliveryStatusNotification(
            reportingMTA: "mx.test", queueID: "K0WH2982MWBWQ4QM", envelopeID: nil, arrivalDate: 0,
            recipients: [.init(recipient: "käthe@d.test", reply: SMTPReply(550, EnhancedStatusCode(5, 1, 1), "käthe unknown\r\nX-Injected: yes"))],
            dsnReturn: nil, action: .failed)
        let text = String(decoding: report.render(to: "a@b.test", original: original, now: 0, boundary: "B"), as: UTF8.self)
        #expect(text.contains("Content-Type: message/global-delivery-status\r\n"))
        #expect(text.contains("Final-Recipient: utf-8; käthe@d.test\r\n"))
        #expect(text.contains("Diagnostic-Code: smtp; 550 5.1.1 k?the unknown  X-Injected: yes\r\n"))
        #expect(!render(.failed).contains("global"))
    }
}

extension String {
    /// The text with every CRLF removed, to find stray CR or LF.
    fileprivate var replacingCRLF: String {
        var result = ""
        var previousWasCR = false
        for scalar in unicodeScalars {
            if previousWasCR, scalar == "\n" {
                previousWasCR = false
                continue
            }
            if previousWasCR { result.unicodeScalars.append("\r") }
            previousWasCR = scalar == "\r"
            if !previousWasCR { result.unicodeScalars.append(scalar) }
        }
        return result
    }
}
