import NIOCore
import Testing

@testable import TernIMAPCore

@Suite("IMAP command parser")
struct CommandParserTests {
    /// Frames `text` (whole commands, literals included) and parses the first command.
    static func parse(_ text: String) throws(IMAPCommandParser.Refusal) -> IMAPCommand {
        var framer = IMAPCommandFramer(configuration: .init(maximumNonSynchronizingLiteralSize: 1 << 20))
        var buffer = ByteBuffer(string: text)
        while true {
            switch framer.next(&buffer) {
            case .command(let octets): return try IMAPCommandParser.parse(octets)
            case .continuationRequested: continue
            default: throw IMAPCommandParser.Refusal(tag: nil, reason: IMAPSyntaxError("not framed"))
            }
        }
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
    static func set(_ text: String) -> SequenceSet { SequenceSet(parsing: Array(text.utf8))! }

    @Test("any state and not authenticated, keywords in any case")
    func simple() throws {
        #expect(try Self.parse("a1 capability\r\n") == IMAPCommand(tag: "a1", .capability))
        #expect(try Self.parse("a2 NOOP\r\n").kind == .noop)
        #expect(try Self.parse("a3 LogOut\r\n").kind == .logout)
        #expect(try Self.parse("a4 STARTTLS\r\n").kind == .startTLS)
        #expect(try Self.parse("a5 AUTHENTICATE plain\r\n").kind == .authenticate(mechanism: "PLAIN", initialResponse: nil))
        #expect(
            try Self.parse("a6 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n").kind
                == .authenticate(mechanism: "PLAIN", initialResponse: Self.bytes("AGFsaWNlAHNlY3JldA==")))
        #expect(try Self.parse("a7 AUTHENTICATE PLAIN =\r\n").kind == .authenticate(mechanism: "PLAIN", initialResponse: Self.bytes("=")))
        #expect(
            try Self.parse("a8 LOGIN alice \"p a\\\"ss\"\r\n").kind == .login(user: Self.bytes("alice"), password: Self.bytes("p a\"ss")))
        #expect(try Self.parse("a9 LOGIN {5}\r\nalice {3+}\r\npwd\r\n").kind == .login(user: Self.bytes("alice"), password: Self.bytes("pwd")))
        #expect(try Self.parse("b1 ENABLE CONDSTORE utf8=accept\r\n").kind == .enable(["CONDSTORE", "UTF8=ACCEPT"]))
    }

    @Test("mailbox commands; INBOX in any case is INBOX")
    func mailboxes() throws {
        #expect(try Self.parse("c1 SELECT inbox\r\n").kind == .select(mailbox: Self.bytes("INBOX"), readOnly: false))
        #expect(try Self.parse("c2 EXAMINE \"Sent Items\"\r\n").kind == .select(mailbox: Self.bytes("Sent Items"), readOnly: true))
        #expect(try Self.parse("c3 CREATE Archive/2026\r\n").kind == .create(mailbox: Self.bytes("Archive/2026")))
        #expect(try Self.parse("c4 RENAME a b\r\n").kind == .rename(from: Self.bytes("a"), to: Self.bytes("b")))
        #expect(try Self.parse("c5 LIST \"\" *\r\n").kind == .list(reference: [], patterns: [Self.bytes("*")], options: .init()))
        #expect(try Self.parse("c6 LIST \"\" %/x]\r\n").kind == .list(reference: [], patterns: [Self.bytes("%/x]")], options: .init()))
        #expect(
            try Self.parse("c7 STATUS INBOX (messages UIDNEXT size)\r\n").kind
                == .status(mailbox: Self.bytes("INBOX"), items: ["MESSAGES", "UIDNEXT", "SIZE"]))
        #expect(
            try Self.parse("c8 APPEND Drafts (\\seen $Label) \"06-Dec-2026 10:00:00 +0000\" {5}\r\nhello\r\n").kind
                == .append(
                    mailbox: Self.bytes("Drafts"), flags: ["\\Seen", "$Label"], date: Self.bytes("06-Dec-2026 10:00:00 +0000"),
                    message: Self.bytes("hello")))
        #expect(try Self.parse("c9 APPEND INBOX {2+}\r\nhi\r\n").kind == .append(mailbox: Self.bytes("INBOX"), flags: [], date: nil, message: Self.bytes("hi")))
        #expect(try Self.parse("d1 ID NIL\r\n").kind == .id(nil))
        #expect(try Self.parse("d2 ID (\"name\" \"mutt\" \"version\" NIL)\r\n").kind == .id([Self.bytes("name"): Self.bytes("mutt"), Self.bytes("version"): nil]))
    }

    @Test("selected-state commands with and without UID")
    func selected() throws {
        #expect(try Self.parse("e1 EXPUNGE\r\n").kind == .expunge(uids: nil))
        #expect(try Self.parse("e2 UID EXPUNGE 3:5\r\n").kind == .expunge(uids: SequenceSet(parsing: Self.bytes("3:5"))))
        #expect(
            try Self.parse("e3 STORE 1:* +FLAGS.SILENT (\\Deleted)\r\n").kind
                == .store(SequenceSet.ranges([.init(.number(1), .largest)]), byUID: false, .add, silent: true, flags: ["\\Deleted"]))
        #expect(
            try Self.parse("e4 UID STORE 7 -FLAGS \\Seen \\Flagged\r\n").kind
                == .store(SequenceSet.ranges([.init(.number(7), .number(7))]), byUID: true, .remove, silent: false, flags: ["\\Seen", "\\Flagged"]))
        #expect(try Self.parse("e5 UID MOVE $ Trash\r\n").kind == .move(.savedResult, byUID: true, mailbox: Self.bytes("Trash")))
        #expect(try Self.parse("e6 COPY 2,4 \"Sent\"\r\n").kind == .copy(SequenceSet(parsing: Self.bytes("2,4"))!, byUID: false, mailbox: Self.bytes("Sent")))
    }

    @Test("FETCH: shorthands, items, sections, partials, BINARY, modifiers")
    func fetch() throws {
        func attributes(_ text: String) throws -> [FetchAttribute] {
            guard case .fetch(_, _, let attributes, _, _) = try Self.parse("f \(text)\r\n").kind else { return [] }
            return attributes
        }
        #expect(try attributes("FETCH 1 all") == [.flags, .internalDate, .size, .envelope])
        #expect(try attributes("FETCH 1 FAST") == [.flags, .internalDate, .size])
        #expect(try attributes("FETCH 1:* (UID FLAGS RFC822.SIZE BODYSTRUCTURE body)") == [.uid, .flags, .size, .bodyStructure, .body])
        #expect(
            try attributes("FETCH 1 (BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.2048>)")
                == [.section(.init(text: .headerFields([Self.bytes("From"), Self.bytes("To")], not: false)), partial: .init(offset: 0, count: 2048), peek: true)])
        #expect(try attributes("FETCH 1 BODY[]") == [.section(.init(), partial: nil, peek: false)])
        #expect(try attributes("FETCH 1 body[1.2.mime]") == [.section(.init(part: [1, 2], text: .mime), partial: nil, peek: false)])
        #expect(try attributes("FETCH 1 BODY[3.HEADER.FIELDS.NOT (X-A)]") == [.section(.init(part: [3], text: .headerFields([Self.bytes("X-A")], not: true)), partial: nil, peek: false)])
        #expect(try attributes("FETCH 1 (BINARY.PEEK[1]<5.10> BINARY.SIZE[] RFC822.HEADER)") == [
            .binary(part: [1], partial: .init(offset: 5, count: 10), peek: true), .binarySize(part: []),
            .rfc822(.header),
        ])
        #expect(try attributes("FETCH 1 (RFC822 rfc822.text)") == [.rfc822(.message), .rfc822(.text)])
        #expect(
            try Self.parse("f UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n").kind
                == .fetch(SequenceSet(parsing: Self.bytes("1:*"))!, byUID: true, [.flags], changedSince: 12345, vanished: true))
    }

    @Test("SEARCH: keys, nesting, dates, RETURN and CHARSET")
    func search() throws {
        func key(_ text: String) throws -> SearchKey? {
            guard case .search(_, _, _, let key) = try Self.parse("s SEARCH \(text)\r\n").kind else { return nil }
            return key
        }
        #expect(try key("ALL") == .all)
        #expect(try key("unseen from \"Alice\" 2:4") == .and([.noFlag("\\Seen"), .header(name: Self.bytes("FROM"), value: Self.bytes("Alice")), .sequence(SequenceSet(parsing: Self.bytes("2:4"))!)]))
        #expect(try key("OR (SEEN FLAGGED) NOT DELETED") == .or(.and([.flag("\\Seen"), .flag("\\Flagged")]), .not(.flag("\\Deleted"))))
        #expect(try key("SINCE 1-Feb-2026 BEFORE \"29-feb-2024\"") == .and([.since(SearchDate(parsing: Self.bytes("1-Feb-2026"))!), .before(SearchDate(parsing: Self.bytes("29-Feb-2024"))!)]))
        #expect(try key("HEADER X-Mailer \"\" LARGER 1000 UID 1:* KEYWORD $Junk") == .and([
            .header(name: Self.bytes("X-Mailer"), value: []), .larger(1000), .uid(SequenceSet(parsing: Self.bytes("1:*"))!), .flag("$Junk"),
        ]))
        #expect(try key("MODSEQ 620162338") == .modificationSequence(620_162_338))
        #expect(
            try Self.parse("s UID SEARCH RETURN (MIN COUNT SAVE) CHARSET utf-8 TEXT {4}\r\ncafe\r\n").kind
                == .search(byUID: true, returnOptions: ["MIN", "COUNT", "SAVE"], charset: "UTF-8", .text(Self.bytes("cafe"))))
        #expect(try Self.parse("s SEARCH RETURN () ALL\r\n").kind == .search(byUID: false, returnOptions: [], charset: nil, .all))
        let deep = String(repeating: "NOT ", count: 99) + "ALL"
        #expect(try key(deep) != nil)
    }

    @Test(
        "malformed searches are refused, and nesting past the bound",
        arguments: [
            "", "FROBNICATE", "FROM", "SINCE 30-Feb-2026", "SINCE 1-Foo-2026", "SINCE 1-Feb-26", "OR ALL", "()", "LARGER x",
            "ALL ", "RETURN (MIN)", String(repeating: "NOT ", count: 100) + "ALL", String(repeating: "(", count: 101) + "ALL" + String(repeating: ")", count: 101),
        ])
    func badSearch(program: String) {
        do {
            let command = try Self.parse("a1 SEARCH \(program)\r\n")
            Issue.record("parsed as \(command)")
        } catch {
            #expect(error.tag == "a1")
        }
    }

    @Test(
        "malformed FETCH items are refused",
        arguments: [
            "BODY.PEEK", "BODY[1.MIME", "BODY[MIME]", "BODY[0]", "BODY[]<1.0>", "BODY[]<1>", "BODY[HEADER.FIELDS ()]", "FLAGZ",
            "(FLAGS) (VANISHED)", "(FLAGS) (CHANGEDSINCE)", "()", "BINARY", "BODY[1.2.3.TEXTX]", "BODY[]<99999999999999999999.1>",
        ])
    func badFetch(items: String) {
        do {
            let command = try Self.parse("a1 FETCH 1 \(items)\r\n")
            Issue.record("parsed as \(command)")
        } catch {
            #expect(error.tag == "a1")
        }
    }

    @Test("CONDSTORE and QRESYNC parameters (RFC 7162): SELECT, EXAMINE, STORE UNCHANGEDSINCE")
    func condstore() throws {
        #expect(
            try Self.parse("r1 SELECT INBOX (CONDSTORE)\r\n").kind
                == .select(mailbox: Self.bytes("INBOX"), readOnly: false, parameters: .init(condstore: true)))
        #expect(
            try Self.parse("r2 EXAMINE x (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1:3 4:6)))\r\n").kind
                == .select(
                    mailbox: Self.bytes("x"), readOnly: true,
                    parameters: .init(qresync: .init(uidValidity: 67890007, modseq: 20050715194045000, knownUIDs: Self.set("41,43:211,214:541")))))
        #expect(
            try Self.parse("r3 SELECT y (QRESYNC (1 2) CONDSTORE)\r\n").kind
                == .select(mailbox: Self.bytes("y"), readOnly: false, parameters: .init(condstore: true, qresync: .init(uidValidity: 1, modseq: 2))))
        #expect(
            try Self.parse("r4 UID STORE 1:* (UNCHANGEDSINCE 0) +FLAGS.SILENT (\\Deleted)\r\n").kind
                == .store(Self.set("1:*"), byUID: true, .add, silent: true, flags: ["\\Deleted"], unchangedSince: 0))
        #expect(try Self.parse("r5 FETCH 1 MODSEQ\r\n").kind.enablesCondstore)
        #expect(try Self.parse("r6 SEARCH OR MODSEQ 5 SEEN ALL\r\n").kind.enablesCondstore)
        #expect(try !Self.parse("r7 FETCH 1 FLAGS\r\n").kind.enablesCondstore)
        for bad in [
            "r8 SELECT x (CONDSTORE CONDSTORE)\r\n", "r8 SELECT x (QRESYNC (0 1))\r\n", "r8 SELECT x (QRESYNC (1 0))\r\n",
            "r8 SELECT x (FROB)\r\n", "r8 SELECT x ()\r\n", "r8 STORE 1 (UNCHANGEDSINCE 9223372036854775808) FLAGS x\r\n",
            "r8 STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) FLAGS x\r\n", "r8 STORE 1 (FROB 1) FLAGS x\r\n",
        ] {
            #expect(throws: IMAPCommandParser.Refusal.self) { try Self.parse(bad) }
        }
    }

    @Test("QUOTA commands (RFC 9208)")
    func quota() throws {
        #expect(try Self.parse("q1 GETQUOTA \"\"\r\n").kind == .getQuota(root: []))
        #expect(try Self.parse("q2 GETQUOTAROOT inbox\r\n").kind == .getQuotaRoot(mailbox: Self.bytes("INBOX")))
        #expect(
            try Self.parse("q3 SETQUOTA \"\" (storage 512 MESSAGE 9223372036854775807)\r\n").kind
                == .setQuota(root: [], limits: [.init(resource: "STORAGE", limit: 512), .init(resource: "MESSAGE", limit: UInt64(Int64.max))]))
        #expect(try Self.parse("q4 SETQUOTA x ()\r\n").kind == .setQuota(root: Self.bytes("x"), limits: []))
        for bad in ["q5 SETQUOTA \"\" (STORAGE 9223372036854775808)\r\n", "q5 SETQUOTA \"\" (STORAGE)\r\n", "q5 GETQUOTA\r\n"] {
            #expect(throws: IMAPCommandParser.Refusal.self) { try Self.parse(bad) }
        }
    }

    @Test("LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819) and SPECIAL-USE (RFC 6154) options")
    func extendedList() throws {
        var options = ListOptions()
        options.subscribedOnly = true
        options.recursiveMatch = true
        options.returnChildren = true
        options.returnStatus = ["MESSAGES", "UNSEEN"]
        #expect(
            try Self.parse("e1 LIST (subscribed RecursiveMatch remote) \"\" (INBOX \"Sent\" %/x) RETURN (CHILDREN STATUS (messages unseen))\r\n").kind
                == .list(reference: [], patterns: [Self.bytes("INBOX"), Self.bytes("Sent"), Self.bytes("%/x")], options: options))
        var special = ListOptions()
        special.specialUseOnly = true
        special.returnSpecialUse = true
        special.returnSubscribed = true
        #expect(
            try Self.parse("e2 LIST (SPECIAL-USE) \"\" * RETURN (SPECIAL-USE SUBSCRIBED)\r\n").kind
                == .list(reference: [], patterns: [Self.bytes("*")], options: special))
        #expect(try Self.parse("e3 LIST () \"\" * RETURN ()\r\n").kind == .list(reference: [], patterns: [Self.bytes("*")], options: .init()))
    }

    @Test(
        "LIST options it does not know, RECURSIVEMATCH alone, an empty pattern list, a 1 KB pattern: BAD",
        arguments: [
            "a1 LIST (FROB) \"\" *\r\n", "a1 LIST (RECURSIVEMATCH) \"\" *\r\n", "a1 LIST \"\" ()\r\n",
            "a1 LIST \"\" * RETURN (MYRIGHTS)\r\n", "a1 LIST \"\" * RETURN (STATUS ())\r\n", "a1 LIST \"\" * RETURNS ()\r\n",
            "a1 LIST \"\" * RETURN (CHILDREN\r\n", "a1 LIST \"\" " + String(repeating: "*", count: 1025) + "\r\n",
        ])
    func listRefused(text: String) {
        #expect(throws: IMAPCommandParser.Refusal.self) { try Self.parse(text) }
    }

    @Test(
        "malformed commands are refused with their tag",
        arguments: [
            "a1 FROB\r\n", "a1 NOOP extra\r\n", "a1  NOOP\r\n", "a1 LOGIN alice\r\n", "a1 SELECT\r\n", "a1 STORE 0 FLAGS x\r\n",
            "a1 STORE 1 FLAGGED x\r\n", "a1 UID FETCHX 1\r\n", "a1 APPEND INBOX hello\r\n", "a1 LOGIN \"a\0\" b\r\n",
            "a1 STATUS INBOX ()\r\n", "a1 NOOP\nx\r\n", "a1 ENABLE\r\n", "a1 COPY 1:4294967296 x\r\n",
        ])
    func refused(text: String) {
        do {
            let command = try Self.parse(text)
            Issue.record("parsed as \(command)")
        } catch {
            #expect(error.tag == "a1")
        }
    }

    @Test("no tag, no tag in the refusal", arguments: ["\r\n", " NOOP\r\n", "+a NOOP\r\n", "(a NOOP\r\n"])
    func untagged(text: String) {
        do {
            _ = try Self.parse(text)
            Issue.record("parsed")
        } catch {
            #expect(error.tag == nil)
        }
    }
}
