import TernMIME
import TernMail
import Testing

@Suite("QueueID")
struct QueueIDTests {
    @Test("sixteen characters of Crockford base 32, sorted by time")
    func format() {
        var generator = SystemRandomNumberGenerator()
        let early = QueueID(microsecondsSinceEpoch: 1_795_383_379_000_000, using: &generator)
        let late = QueueID(microsecondsSinceEpoch: 1_795_383_379_000_001, using: &generator)
        #expect(early.rawValue.count == 16)
        #expect(early.rawValue.allSatisfy { "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains($0) })
        #expect(early < late)
        #expect(QueueID(early.rawValue) == early)
    }

    @Test("stored names that are not queue IDs are refused", arguments: ["", "../../etc/passwd", "K0WH2982MWBWQ4Q", "k0wh2982mwbwq4qm", "K0WH2982MWBWQ4QI"])
    func invalid(name: String) {
        #expect(QueueID(name) == nil)
    }
}

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
}
