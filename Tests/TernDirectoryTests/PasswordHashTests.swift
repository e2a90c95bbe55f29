import Testing

@testable import TernDirectory

@Suite("PasswordHash")
struct PasswordHashTests {
    @Test("PBKDF2-HMAC-SHA256 test vector (RFC 7914 §11, first 32 octets)")
    func vector() throws {
        let derived = try PasswordHash.pbkdf2(Array("passwd".utf8), salt: Array("salt".utf8), iterations: 1)
        #expect(derived.prefix(8) == [0x55, 0xAC, 0x04, 0x6E, 0x56, 0xE3, 0x08, 0x9F])
    }

    @Test("a new hash is RFC 5803 SCRAM-SHA-256 with 600,000 iterations and verifies its password only")
    func makeAndVerify() throws {
        let hash = try PasswordHash.make(password: "correct horse")
        #expect(hash.hasPrefix("SCRAM-SHA-256$65536:"))
        let credentials = try #require(SCRAMCredentials(stored: hash))
        #expect(credentials.salt.count == 16 && credentials.storedKey.count == 32 && credentials.serverKey.count == 32)
        #expect(PasswordHash.verify(password: "correct horse", against: hash))
        #expect(!PasswordHash.verify(password: "correct hors", against: hash))
        #expect(!PasswordHash.verify(password: "correct horse ", against: hash))
        #expect(!PasswordHash.verify(password: "", against: hash))
        #expect(!PasswordHash.needsRehash(hash))
        // Two hashes of one password differ (random salt).
        #expect(try PasswordHash.make(password: "correct horse", iterations: 1000) != PasswordHash.make(password: "correct horse", iterations: 1000))
    }

    @Test("the SCRAM keys of RFC 7677 §3's example (user, pencil, 4096 iterations)")
    func scramKeys() throws {
        let salt = try #require(SCRAMCredentials.decode("W22ZaJ0SNY7soEsUEjb6gQ=="))
        let credentials = try SCRAMCredentials.derive(password: "pencil", salt: salt, iterations: 4096)
        // Computed independently with Python's hashlib and hmac.
        #expect(
            credentials.stored
                == "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        )
        #expect(SCRAMCredentials(stored: credentials.stored) == credentials)
    }

    @Test("a PBKDF2 hash from before SCRAM still verifies, and asks to be replaced")
    func legacy() throws {
        // Made with Python: hashlib.pbkdf2_hmac("sha256", b"pw", b"saltsaltsaltsalt", 1000).
        let hash = "$pbkdf2-sha256$i=1000$c2FsdHNhbHRzYWx0c2FsdA$T7epWfxBHiKQQGlNJ3+9CM17dQuKVeWu++anuIAf6vg"
        #expect(PasswordHash.verify(password: "pw", against: hash))
        #expect(!PasswordHash.verify(password: "pw2", against: hash))
        #expect(!PasswordHash.verify(password: "p", against: hash))
        #expect(PasswordHash.needsRehash(hash))
        #expect(SCRAMCredentials(stored: hash) == nil)
        try PasswordHash.validate(hash)
    }

    @Test("weaker hashes still verify and ask to be replaced")
    func rehash() throws {
        let hash = try PasswordHash.make(password: "pw", iterations: 1000)
        #expect(PasswordHash.verify(password: "pw", against: hash))
        #expect(PasswordHash.needsRehash(hash))
    }

    @Test("a hash costlier than SCRAM clients compute (Cyrus SASL stops at 65,536) asks to be replaced")
    func beyondClients() throws {
        let hash = try PasswordHash.make(password: "pw", iterations: PasswordHash.scramClientIterationLimit + 1)
        #expect(PasswordHash.verify(password: "pw", against: hash))
        #expect(PasswordHash.needsRehash(hash))
    }

    @Test("strings that are not Tern hashes match nothing", arguments: [
        "", "pw", "$pbkdf2-sha256$", "$pbkdf2-sha256$i=0$c2FsdHNhbHQ$AAAA", "$pbkdf2-sha512$i=1000$c2FsdHNhbHQ$AAAA",
        "$pbkdf2-sha256$i=1000$c2FsdHNhbHQ=$AAAA", "$pbkdf2-sha256$i=x$c2FsdHNhbHQ$AAAA", "$2y$10$abcdefghijklmnopqrstuv",
        "SCRAM-SHA-256$", "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
        "SCRAM-SHA-256$4096:W22Z$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
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
