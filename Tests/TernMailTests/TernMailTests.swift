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

@Suite("Stored values")
struct StoredValueTests {
    @Test("an address splits at its last @; without one there is none")
    func address() {
        #expect(MailAddress(stored: "\"a@b\"@example.test") == MailAddress(localPart: "\"a@b\"", domain: "example.test"))
        #expect(MailAddress(stored: "postmaster") == nil)
    }

    @Test("ORCPT splits at its first ;")
    func originalRecipient() {
        #expect(OriginalRecipient(parameterValue: "rfc822;a+2Bb@x.test")?.encodedAddress == "a+2Bb@x.test")
        #expect(OriginalRecipient(parameterValue: "utf-8;x;y")?.addressType == "utf-8")
        #expect(OriginalRecipient(parameterValue: "no-semicolon") == nil)
    }
}
