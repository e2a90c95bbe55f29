import Testing

@testable import TernMIME

@Suite("StrictAddressList: RFC 5322 §3.4 and §4.4, whole or nothing")
struct StrictAddressListTests {
    @Test(
        "what a mail client reads as the addresses",
        arguments: [
            ("alice@example.test", ["alice@example.test"]),
            ("Alice <alice@example.test>", ["alice@example.test"]),
            ("alice@example.test (Alice)", ["alice@example.test"]),
            ("<alice@example.test>", ["alice@example.test"]),
            ("  < alice@example.test >  ", ["alice@example.test"]),
            // CFWS inside an address is not part of it (§3.2.2, §4.4 obs-local-part, obs-domain).
            ("Victim <victim @other.example>", ["victim@other.example"]),
            ("Victim <victim@ other.example>", ["victim@other.example"]),
            ("Victim <victim\r\n @other.example>", ["victim@other.example"]),
            ("Victim <victim@other\r\n\t.example>", ["victim@other.example"]),
            ("victim(a comment)@(another)other.example", ["victim@other.example"]),
            ("victim@other.(x)example", ["victim@other.example"]),
            ("alice . smith @ example . test", ["alice.smith@example.test"]),
            // Quoted local parts: unquoted when the content is a dot-atom (RFC 5321 §4.1.2).
            ("\"victim\"@other.example", ["victim@other.example"]),
            ("\"vic\\tim\"@other.example", ["victim@other.example"]),
            ("\"al\".\"ice\"@example.test", ["al.ice@example.test"]),
            ("\"john doe\"@example.test", ["\"john doe\"@example.test"]),
            ("\"a\\\"b\"@example.test", ["\"a\\\"b\"@example.test"]),
            ("\"alice@example.test\"@other.example", ["\"alice@example.test\"@other.example"]),
            ("\"\"@example.test", ["\"\"@example.test"]),
            // Groups (§3.4, in From: by RFC 6854), empty groups and empty list elements (§4.4).
            ("Friends: a@x.example, b@y.example;", ["a@x.example", "b@y.example"]),
            ("Friends: a@x.example, b@y.example; , c@z.example", ["a@x.example", "b@y.example", "c@z.example"]),
            ("undisclosed-recipients:;", []),
            ("Empty: , ,(none) ;", []),
            (", alice@example.test,, bob@example.test,", ["alice@example.test", "bob@example.test"]),
            ("", []),
            // Routes are kept apart (§4.4 obs-route); the address after them counts.
            ("<@route.example:victim@other.example>", ["victim@other.example"]),
            ("<@a.example,,@b.example:victim@other.example>", ["victim@other.example"]),
            ("Victim <,@a.example, @b.example : victim@other.example>", ["victim@other.example"]),
            // Display names: obs-phrase dots, quoted specials, encoded words.
            ("John Q. Public <jqp@example.test>", ["jqp@example.test"]),
            ("\"Smith, Alice\" <alice@example.test>, bob@example.test", ["alice@example.test", "bob@example.test"]),
            ("=?utf-8?q?victim=40other.example?= <alice@example.test>", ["alice@example.test"]),
            // Domain literals and UTF-8 (RFC 6532).
            ("alice@[127.0.0.1]", ["alice@[127.0.0.1]"]),
            ("alice@[ IPv6:\r\n ::1 ]", ["alice@[IPv6:::1]"]),
            ("Ünïcode <ünï@exämple.test>", ["ünï@exämple.test"]),
        ])
    func reads(value: String, addresses: [String]) throws {
        let list = try #require(StrictAddressList(parsing: value))
        #expect(list.mailboxes.map(\.address) == addresses)
    }

    @Test("a source route is the mailbox's route, never its address (IMAP ENVELOPE's adl)")
    func routes() throws {
        let list = try #require(StrictAddressList(parsing: "Victim <,@a.example, @b.example : victim@other.example>, <@r.example:u@d.example>, plain@x.example"))
        #expect(list.mailboxes.map(\.route) == ["@a.example,@b.example", "@r.example", nil])
        #expect(list.mailboxes.map(\.address) == ["victim@other.example", "u@d.example", "plain@x.example"])
    }

    @Test(
        "what is not an address list: nil, never a skip",
        arguments: [
            // Two addresses where one is expected.
            "<victim@other.example> <alice@example.test>",
            "alice@example.test victim@other.example",
            "alice@example.test <victim@other.example>",
            "Alice alice@example.test",
            "Doe, John <john@example.test>",
            // An unquoted `@` in a display name.
            "'alice@example.test' <alice@example.test>",
            "Alice @ Home <alice@example.test>",
            // A phrase alone, encoded words that look like addresses.
            "Alice",
            "=?utf-8?q?alice=40example.test?=",
            "=?utf-8?q?Victim_=3Cvictim@other.example=3E?= <alice@example.test>",
            "alice@example.test =?utf-8?q?=3Cvictim=40other.example=3E?=",
            // Broken addr-specs.
            "alice@example.test.",
            "alice.@example.test",
            ".alice@example.test",
            "alice@example..test",
            "alice@",
            "@example.test",
            "a@b@example.test",
            "<>",
            "<alice@example.test",
            "alice@example.test>",
            "<alice@example.test>>",
            "<@route.example victim@other.example>",
            "alice@[127.0.0.1",
            // Comments and quotes that do not close; CR, LF and NUL where a reader may end a line.
            "alice@example.test (unclosed",
            "alice@example.test (a (b)",
            "\"alice@example.test",
            "alice@example.test\rvictim@other.example",
            "alice@example.test\r\nvictim@other.example",
            "alice@example.test\nvictim@other.example",
            "\"al\\\rice\"@example.test",
            "alice@example.test (\\\n)",
            "\"al\u{0}ice\"@example.test",
            // Groups: not closed, nested, or where a mailbox is expected.
            "Friends: a@x.example",
            "A: B: c@x.example;;",
            "alice@example.test; victim@other.example",
            "A:; B:;",
        ])
    func refuses(value: String) {
        #expect(StrictAddressList(parsing: value) == nil)
    }

    @Test("display names, groups and comments as a reader shows them")
    func displayText() throws {
        let list = try #require(
            StrictAddressList(
                parsing:
                    "\"Smith,  Alice\" <alice@example.test> (work), John  Q.\r\n Public <jqp@example.test>, "
                    + "=?utf-8?q?Al=C3=AFce?= =?utf-8?q?_B?= <ab@example.test>, Team (the (whole) team): x@y.example;"))
        #expect(list.mailboxes.map(\.displayName) == ["Smith, Alice", "John Q. Public", "Alïce B", ""])
        #expect(list.comments == ["work", "the (whole) team"])
        guard case .group(let group) = list.addresses.last else {
            Issue.record("no group")
            return
        }
        #expect(group.displayName == "Team" && group.mailboxes.map(\.address) == ["x@y.example"])
    }

    @Test("long and deeply nested input is read in linear time, without recursion")
    func stress() {
        let nested = String(repeating: "(", count: 100_000) + String(repeating: ")", count: 100_000)
        #expect(StrictAddressList(parsing: "alice@example.test " + nested)?.mailboxes.count == 1)
        #expect(StrictAddressList(parsing: "alice@example.test " + String(repeating: "(", count: 100_000)) == nil)
        let words = String(repeating: "word ", count: 50_000)
        let named = StrictAddressList(parsing: words + "<alice@example.test>")
        #expect(named?.mailboxes.first?.displayName.count == 249_999)
        #expect(StrictAddressList(parsing: words) == nil)
        let many = Array(repeating: "a@b.example", count: 20_000).joined(separator: ", ")
        #expect(StrictAddressList(parsing: many)?.mailboxes.count == 20_000)
        #expect(StrictAddressList(parsing: String(repeating: "a.", count: 50_000) + "@x") == nil)
    }

    @Test("random bytes never crash or loop")
    func fuzz() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ab.@<>(),;:\"\\[] \t\r\n=?".utf8) + [0x00, 0xC3, 0xFF]
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...60, using: &generator)).map { _ in
                alphabet[Int.random(in: 0..<alphabet.count, using: &generator)]
            }
            _ = StrictAddressList(parsing: bytes)
            _ = Originators.read(headerSection: Array("From: ".utf8) + bytes)
        }
    }
}

@Suite("Originators: From: and Sender: for the submission check")
struct OriginatorsTests {
    /// What the check does with the result (`Account.maySend`, simplified): every address is
    /// alice's or a `+tag` of it, or `sales@example.test`, in any case.
    static func allowedForAlice(_ result: Result<Originators, Originators.Unreadable>) -> Bool {
        guard case .success(let originators) = result, !originators.authors.isEmpty else { return false }
        return originators.addresses.allSatisfy { address in
            let lowered = address.lowercased()
            guard let at = lowered.lastIndex(of: "@") else { return false }
            let local = lowered[..<at].split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false)[0]
            return ["alice@example.test", "sales@example.test"].contains(local + lowered[at...])
        }
    }

    static func read(_ header: String) -> Result<Originators, Originators.Unreadable> {
        Originators.read(headerSection: Array(header.utf8))
    }

    @Test(
        "the bypasses of issue 14 and their neighbours are refused",
        arguments: [
            "From: Victim <victim @other.example>\r\n",
            "From: Victim <victim@ other.example>\r\n",
            "From : Victim <victim@other.example>\r\n",
            "From\t: Victim <victim@other.example>\r\n",
            "From: <victim@other.example> <alice@example.test>\r\n",
            "From: victim@other.example, alice@example.test\r\n",
            "From: alice@example.test, victim@other.example\r\n",
            "From: Victim <victim\r\n @other.example>\r\n",
            "From: victim(x)@other.example\r\n",
            "From: Alice <victim@(comment)other.example>\r\n",
            "From: \"victim\"@other.example\r\n",
            "From: \"alice@example.test\" <victim@other.example>\r\n",
            "From: Friends: alice@example.test, victim@other.example;\r\n",
            "From: \"victim@other.example\": alice@example.test;\r\n",
            "From: victim@other.example: alice@example.test;\r\n",
            "From: alice@example.test <victim@other.example>\r\n",
            "From: undisclosed-recipients:;\r\n",
            "From:\r\n",
            "From: <@example.test:victim@other.example>\r\n",
            "From: =?utf-8?q?alice=40example.test?=\r\n",
            "From: =?utf-8?q?victim=40other.example?= <alice@example.test>\r\n",
            "From: =?utf-8?b?dmljdGltQG90aGVyLmV4YW1wbGU=?= <alice@example.test>\r\n",
            "From: \"CEO ceo@other.example\" <alice@example.test>\r\n",
            "From: alice@example.test (Victim <victim@other.example>)\r\n",
            "From: Victim＠other．example <alice@example.test>\r\n",
            "From: alice@example.test.\r\n",
            "From: alice@[127.0.0.1]\r\n",
            "From: Alice\r\n",
            "From: alice@example.test\r\nFrom: sales@example.test\r\n",
            "From: alice@example.test\r\nFROM: victim@other.example\r\n",
            "From: alice@example.test\r\nFrom : victim@other.example\r\n",
            "Subject: no From at all\r\n",
            "",
            "Sender: alice@example.test\r\n",
            "From: alice@example.test\r\nSender: victim@other.example\r\n",
            "From: alice@example.test\r\nSender: alice@example.test\r\nSender: victim@other.example\r\n",
            "From: alice@example.test\r\nSender:\r\n",
            "From: alice@example.test\r\nFr\u{0}om: victim@other.example\r\n",
            "From: alice@example.test\r\nX-Junk: a\rFrom: victim@other.example\r\n",
            "From: alice@example.test\rFrom: victim@other.example\r\n",
            "From: alice@example.test\r\n From: victim@other.example\r\n",
        ])
    func hostile(header: String) {
        #expect(!Self.allowedForAlice(Self.read(header)), "\(Self.read(header))")
    }

    @Test(
        "alice's own forms pass",
        arguments: [
            "From: Alice <alice@example.test>\r\n",
            "From: alice@example.test (Alice)\r\n",
            "From: alice@example.test\r\n",
            "From: Alice <ALICE@Example.Test>\r\n",
            "From: \"Smith, Alice\" <alice+news@example.test> (work)\r\n",
            "From: Sales <sales@example.test>\r\nSender: alice@example.test\r\n",
            "From: Us: alice@example.test, sales@example.test;\r\n",
            "From: <@relay.example:alice@example.test>\r\n",
            "From: \"alice\"@example.test\r\n",
            "From: Alice <alice @ example.test>\r\n",
            "From : alice@example.test\r\n",
            "From: alice@example.test\r\nFROM: Alice <Alice@example.test>\r\n",
            "From: =?utf-8?q?Al=C3=AFce?= <alice@example.test>\r\n",
            "From: \"alice@example.test\" <alice@example.test>\r\n",
            "From: John Q. Public <alice@example.test>\r\n",
            "From: \"Alice @ Home\" <alice@example.test>\r\n",
            "From: Alice\r\n <alice@example.test>\r\nSubject: folded\r\n",
            "X-From: victim@other.example\r\nFrom: alice@example.test\r\nReply-To: victim@other.example\r\n",
        ])
    func legitimate(header: String) {
        #expect(Self.allowedForAlice(Self.read(header)), "\(Self.read(header))")
    }

    @Test(
        "why a header is unreadable",
        arguments: [
            ("Subject: x\r\n", Originators.Unreadable.noFrom),
            ("From: undisclosed-recipients:;\r\n", .noMailbox("From")),
            ("From: alice@example.test\r\nSender:\r\n", .noMailbox("Sender")),
            ("From: <a@x.example> <b@y.example>\r\n", .unparseable("From")),
            ("From: a@x.example\r\nFrom: b@y.example\r\n", .disagreeing("From")),
            ("From: a@x.example\r\nSender: a@x.example\r\nSender: b@y.example\r\n", .disagreeing("Sender")),
            ("From: a@x.example\r\nFr\u{0}om: b@y.example\r\n", .disguisedField),
            ("From: a@x.example\r\nX: 1\rSender: b@y.example\r\n", .disguisedField),
        ])
    func unreadable(header: String, reason: Originators.Unreadable) {
        #expect(Self.read(header) == .failure(reason))
    }

    @Test("the addresses read, domains in lower case, shown ones beside them")
    func addresses() {
        let read = Self.read(
            "From: Alice <alice@Example.TEST>, =?utf-8?q?ceo=40other.example?= <b@x.example>\r\n"
                + "From: b@X.example, alice@example.test\r\nSender: (via bob@y.example) s@y.example\r\n")
        #expect(
            read
                == .success(
                    Originators(
                        authors: ["b@x.example", "alice@example.test"], senders: ["s@y.example"],
                        shownAddresses: ["ceo@other.example", "bob@y.example"])))
    }

    @Test(
        "address-like text in display names and comments",
        arguments: [
            ("victim@other.example", ["victim@other.example"]),
            ("Victim <victim@other.example>", ["victim@other.example"]),
            ("'Alice@Example.Test'", ["alice@example.test"]),
            ("\"victim\"@other.example", ["victim\"@other.example"]),
            ("victim＠other．example", ["victim@other.example"]),
            ("mail victim@other.example, or ceo@other.example.", ["victim@other.example", "ceo@other.example"]),
            ("Alice @ Home", []),
            ("Bob@Home", []),
            ("Smith, Alice", []),
            ("", []),
        ])
    func addressLike(text: String, found: [String]) {
        #expect(Originators.addressLikeText(text) == found)
    }
}
