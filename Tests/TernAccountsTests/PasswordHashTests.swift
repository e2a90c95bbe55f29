import Testing

@testable import TernAccounts

@Suite("PasswordHash")
struct PasswordHashTests {
    @Test("PBKDF2-HMAC-SHA256 test vector (RFC 7914 §11, first 32 octets)")
    func vector() throws {
        let derived = try PasswordHash.derive("passwd", salt: Array("salt".utf8), iterations: 1)
        #expect(derived.prefix(8) == [0x55, 0xAC, 0x04, 0x6E, 0x56, 0xE3, 0x08, 0x9F])
    }

    @Test("a new hash is a PHC string with 600,000 iterations and verifies its password only")
    func makeAndVerify() throws {
        let hash = try PasswordHash.make(password: "correct horse")
        let fields = hash.split(separator: "$")
        #expect(fields.count == 4)
        #expect(fields[0] == "pbkdf2-sha256")
        #expect(fields[1] == "i=600000")
        #expect(PasswordHash.verify(password: "correct horse", against: hash))
        #expect(!PasswordHash.verify(password: "correct hors", against: hash))
        #expect(!PasswordHash.verify(password: "correct horse ", against: hash))
        #expect(!PasswordHash.verify(password: "", against: hash))
        #expect(!PasswordHash.needsRehash(hash))
        // Two hashes of one password differ (random salt).
        #expect(try PasswordHash.make(password: "correct horse", iterations: 1000) != PasswordHash.make(password: "correct horse", iterations: 1000))
    }

    @Test("weaker hashes still verify and ask to be replaced")
    func rehash() throws {
        let hash = try PasswordHash.make(password: "pw", iterations: 1000)
        #expect(PasswordHash.verify(password: "pw", against: hash))
        #expect(PasswordHash.needsRehash(hash))
    }

    @Test("strings that are not Tern hashes match nothing", arguments: [
        "", "pw", "$pbkdf2-sha256$", "$pbkdf2-sha256$i=0$c2FsdHNhbHQ$AAAA", "$pbkdf2-sha512$i=1000$c2FsdHNhbHQ$AAAA",
        "$pbkdf2-sha256$i=1000$c2FsdHNhbHQ=$AAAA", "$pbkdf2-sha256$i=x$c2FsdHNhbHQ$AAAA", "$2y$10$abcdefghijklmnopqrstuv",
    ])
    func rejects(hash: String) {
        #expect(!PasswordHash.verify(password: "pw", against: hash))
        #expect(throws: PasswordHash.FormatError.self) { try PasswordHash.validate(hash) }
    }
}

@Suite("Account")
struct AccountTests {
    let account = Account(
        address: "Alice@Example.test", passwordHash: "", sendAs: ["sales@example.test", "alice@other.test"])

    @Test("may send as its own addresses, any case, with +tags, and as the null sender", arguments: [
        "alice@example.test", "ALICE@EXAMPLE.TEST", "alice+news@example.test", "sales@example.test",
        "sales+x@example.test", "alice@other.test", "",
    ])
    func allowed(sender: String) {
        #expect(account.maySend(as: sender, delimiter: "+"))
    }

    @Test("not as anyone else's, nor look-alikes", arguments: [
        "bob@example.test", "alice@example.test.", "alice@[192.0.2.1]", "alicex@example.test", "x+alice@example.test",
        "alice@example.tes", "alice-news@example.test", "\"alice\"@example.test",
    ])
    func refused(sender: String) {
        #expect(!account.maySend(as: sender, delimiter: "+"))
    }
}
