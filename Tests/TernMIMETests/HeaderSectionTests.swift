import Testing

@testable import TernMIME

@Suite("Header section and address lists")
struct HeaderSectionTests {
    @Test("the header section ends at the first empty line, however the message is cut")
    func collector() {
        let message = Array("From: a@b.test\r\nSubject: hi\r\n  there\r\n\r\nbody\r\n\r\nmore".utf8)
        for cut in 0...message.count {
            var collector = HeaderSectionCollector()
            collector.consume(message[..<cut])
            collector.consume(message[cut...])
            #expect(collector.state == .complete)
            #expect(collector.bytes == Array("From: a@b.test\r\nSubject: hi\r\n  there\r\n".utf8))
        }
        var bare = HeaderSectionCollector()
        #expect(bare.consume(Array("A: 1\n\nbody".utf8)) == .complete)
        #expect(bare.fields == [HeaderField(name: "A", value: "1")])
        var headerOnly = HeaderSectionCollector()
        #expect(headerOnly.consume(Array("A: 1\r\n".utf8)) == .collecting)
        #expect(headerOnly.finish() == .complete)
        var empty = HeaderSectionCollector()
        #expect(empty.consume(Array("\r\nbody".utf8)) == .complete)
        #expect(empty.bytes.isEmpty)
        var long = HeaderSectionCollector(limit: 10)
        #expect(long.consume(Array("Subject: 0123456789\r\n\r\n".utf8)) == .tooLong)
    }

    @Test("fields are unfolded; names compare in any case; junk lines are skipped")
    func fields() {
        let fields = HeaderField.parse(
            Array("Message-ID: <x@y>\r\nSubject: one\r\n\ttwo\r\nnot a field\r\n: empty name\r\nDATE:  Mon \r\n".utf8))
        #expect(fields.map(\.name) == ["Message-ID", "Subject", "DATE"])
        #expect(fields[1].value == "one\ttwo")
        #expect(fields[2].value == "Mon")
        #expect(fields[2].isNamed("date") && !fields[2].isNamed("dat"))
    }

    @Test(
        "the obsolete `name *WSP :` is read as mail clients read it (RFC 5322 §4.5)",
        arguments: [
            ("From : victim@other.example\r\n", [HeaderField(name: "From", value: "victim@other.example")]),
            ("From \t :x\r\n", [HeaderField(name: "From", value: "x")]),
            ("Sender\t: a@b\r\n more\r\n", [HeaderField(name: "Sender", value: "a@b more")]),
            (" : no name\r\n\t: none\r\nFr om: x\r\nFrom\u{0}: x\r\n", []),
        ])
    func obsoleteFieldNames(header: String, fields: [HeaderField]) {
        #expect(HeaderField.parse(Array(header.utf8)) == fields)
    }

    @Test("address lists: display names, comments, quotes, groups, routes", arguments: [
        ("alice@example.test", ["alice@example.test"]),
        ("Alice <alice@example.test>", ["alice@example.test"]),
        ("\"Smith, Alice\" <alice@example.test>, bob@example.test", ["alice@example.test", "bob@example.test"]),
        ("alice@example.test (Alice, <mallory@evil.test>)", ["alice@example.test"]),
        ("=?utf-8?q?Al=C3=AFce?= <alice@example.test>", ["alice@example.test"]),
        ("Team: alice@example.test, Bob <bob@example.test>;, carol@example.test",
         ["alice@example.test", "bob@example.test", "carol@example.test"]),
        ("undisclosed-recipients:;", []),
        ("<@relay.test,@other.test:alice@example.test>", ["alice@example.test"]),
        ("\"alice@example.test\" <mallory@evil.test>", ["mallory@evil.test"]),
        ("<alice@example.test> mallory@evil.test", ["mallory@evil.test <alice@example.test>"]),
        ("\"john doe\"@example.test", ["\"john doe\"@example.test"]),
        ("Alice alice@example.test", []),
        ("", []),
        ("<alice@example.test", ["alice@example.test"]),
    ])
    func addresses(value: String, expected: [String]) {
        #expect(AddressList.addresses(in: value) == expected)
    }

    @Test("random header bytes never crash or loop")
    func fuzz() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ab@.<>(),;:\"\\ \t\r\n=?".utf8) + [0x00, 0xC3, 0xFF]
        for _ in 0..<5000 {
            let bytes = (0..<Int.random(in: 0...80, using: &generator)).map { _ in
                alphabet.randomElement(using: &generator)!
            }
            var collector = HeaderSectionCollector(limit: 64)
            collector.consume(bytes)
            for field in collector.fields { _ = AddressList.addresses(in: field.value) }
            _ = AddressList.addresses(in: String(decoding: bytes, as: UTF8.self))
        }
    }
}
