import NIOCore
import Testing

@testable import TernIMAPCore

@Suite("IMAP command cursor")
struct CommandCursorTests {
    /// A cursor over lines and literals as the framer would give them.
    static func cursor(_ lines: [String], _ literals: [[UInt8]] = []) -> CommandCursor {
        CommandCursor(
            IMAPCommandOctets(lines: lines.map { ByteBuffer(string: $0) }, literals: literals.map { ByteBuffer(bytes: $0) }))
    }

    @Test("tag, keyword, astrings: atom, quoted with escapes, literal; then the end")
    func login() throws {
        var cursor = Self.cursor(["a1 login \"al\\\"ice\" {6}", ""], [Array("se cr\"".utf8)])
        #expect(try cursor.octets("a tag") { $0 != UInt8(ascii: " ") } == Array("a1".utf8))
        try cursor.space()
        #expect(try cursor.keyword() == "LOGIN")
        try cursor.space()
        #expect(try cursor.astring() == Array("al\"ice".utf8))
        try cursor.space()
        #expect(try cursor.astring() == Array("se cr\"".utf8))
        #expect(cursor.isAtEnd)
        try cursor.end()
    }

    @Test(
        "quoted strings refuse NUL, CR, LF, a stray backslash, and no closing quote",
        arguments: ["\"a\0b\"", "\"a\rb\"", "\"a\\nb\"", "\"abc"])
    func badQuoted(text: String) {
        var cursor = Self.cursor([text])
        #expect(throws: IMAPSyntaxError.self) { try cursor.string() }
    }

    @Test("a literal must end its line; NUL only in literal8")
    func literals() throws {
        var inside = Self.cursor(["{3} x", ""], [[1, 2, 3]])
        #expect(throws: IMAPSyntaxError.self) { try inside.string() }
        var nul = Self.cursor(["{2}", ""], [[0, 1]])
        #expect(throws: IMAPSyntaxError.self) { try nul.string() }
        var binary = Self.cursor(["~{2}", ""], [[0, 1]])
        #expect(try binary.literal() == [0, 1])
        #expect(binary.isAtEnd)
        var missing = Self.cursor(["{2}"])
        #expect(throws: IMAPSyntaxError.self) { try missing.string() }
    }

    @Test("nstring: NIL in any case, else a string")
    func nstring() throws {
        var cursor = Self.cursor(["nil \"NIL\" Nil"])
        #expect(try cursor.nstring() == nil)
        try cursor.space()
        #expect(try cursor.nstring() == Array("NIL".utf8))
        try cursor.space()
        #expect(try cursor.nstring() == nil)
    }

    @Test("numbers are bounded; lists nest; sequence sets parse")
    func numbersAndLists() throws {
        var cursor = Self.cursor(["4294967295 4294967296 (A (B C) D) () 1:*,5"])
        #expect(try cursor.number() == 4_294_967_295)
        try cursor.space()
        #expect(throws: IMAPSyntaxError.self) { try cursor.number() }
        var lists = Self.cursor(["(A (B C) D) ()"])
        let outer = try lists.list { (inner: inout CommandCursor) throws(IMAPSyntaxError) -> String in
            if inner.peek() == UInt8(ascii: "(") {
                return try inner.list { (item: inout CommandCursor) throws(IMAPSyntaxError) in try item.keyword() }.joined(separator: "+")
            }
            return try inner.keyword()
        }
        #expect(outer == ["A", "B+C", "D"])
        try lists.space()
        #expect(try lists.list { (item: inout CommandCursor) throws(IMAPSyntaxError) in try item.keyword() }.isEmpty)
        var sets = Self.cursor(["1:*,5 0"])
        #expect(try sets.sequenceSet().description == "1:*,5")
        try sets.space()
        #expect(throws: IMAPSyntaxError.self) { try sets.sequenceSet() }
    }
}
