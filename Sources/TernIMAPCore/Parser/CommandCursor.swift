import NIOCore

/// A read position over one framed command (`IMAPCommandOctets`), with the reads the grammar of
/// RFC 9051 §9 is made of. A string may be a literal: the line then ends in its announcement,
/// the octets are the next of `literals`, and reading goes on at the start of the next line.
///
/// Every read either consumes what it returns or nothing (it throws `IMAPSyntaxError` and the
/// command is answered BAD). Reads work on octets, never on Characters.
public struct CommandCursor: Sendable {
    private let lines: [ByteBuffer]
    private let literals: [ByteBuffer]
    private var line = 0
    private var offset = 0

    public init(_ command: IMAPCommandOctets) {
        lines = command.lines
        literals = command.literals
    }

    /// The octet at the position, nil at the end of a line (before a literal or the end).
    public func peek() -> UInt8? {
        guard line < lines.count else { return nil }
        return lines[line].getInteger(at: lines[line].readerIndex + offset)
    }

    /// The octet after the next one, on the same line.
    func peekSecond() -> UInt8? {
        guard line < lines.count, offset + 1 < lines[line].readableBytes else { return nil }
        return lines[line].getInteger(at: lines[line].readerIndex + offset + 1)
    }

    /// Whether the whole command was read.
    public var isAtEnd: Bool { line == lines.count - 1 && peek() == nil }

    private mutating func advance() { offset += 1 }

    /// Consumes `octet` if it is next.
    public mutating func consume(_ octet: UInt8) -> Bool {
        guard peek() == octet else { return false }
        advance()
        return true
    }

    /// `SP`: exactly one space.
    public mutating func space() throws(IMAPSyntaxError) {
        guard consume(UInt8(ascii: " ")) else { throw IMAPSyntaxError("expected a space") }
    }

    /// The end of the command: nothing may follow.
    public func end() throws(IMAPSyntaxError) {
        guard isAtEnd else { throw IMAPSyntaxError("unexpected text at the end of the command") }
    }

    /// Octets while `predicate` holds, at least one.
    private mutating func run(_ what: String, while predicate: (UInt8) -> Bool) throws(IMAPSyntaxError) -> [UInt8] {
        var octets: [UInt8] = []
        while let octet = peek(), predicate(octet) {
            octets.append(octet)
            advance()
        }
        guard !octets.isEmpty else { throw IMAPSyntaxError("expected \(what)") }
        return octets
    }

    /// `atom = 1*ATOM-CHAR`.
    public mutating func atom() throws(IMAPSyntaxError) -> [UInt8] {
        try run("an atom", while: IMAPCharacters.isAtomChar)
    }

    /// An atom read as an upper-case ASCII keyword (command names, FETCH items, search keys are
    /// case-insensitive, §9 note 3).
    public mutating func keyword() throws(IMAPSyntaxError) -> String {
        IMAPCharacters.uppercased(try atom())
    }

    /// Octets that may appear in a `tag`, `sequence-set`, `flag` and the like: the caller's
    /// class, at least one.
    public mutating func octets(_ what: String, while predicate: (UInt8) -> Bool) throws(IMAPSyntaxError) -> [UInt8] {
        try run(what, while: predicate)
    }

    /// `number = 1*DIGIT` (32 bits) or `number64` (63 bits): digits read with overflow checks.
    public mutating func number(maximum: UInt64 = UInt64(UInt32.max)) throws(IMAPSyntaxError) -> UInt64 {
        let digits = try run("a number", while: IMAPCharacters.isDigit)
        var value: UInt64 = 0
        for digit in digits {
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowAgain) = times.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !overflow, !overflowAgain, sum <= maximum else { throw IMAPSyntaxError("number too large") }
            value = sum
        }
        return value
    }

    /// `nz-number`: 1 to 4,294,967,295.
    public mutating func nonZeroNumber() throws(IMAPSyntaxError) -> UInt32 {
        let value = try number()
        guard value > 0 else { throw IMAPSyntaxError("expected a nonzero number") }
        return UInt32(value)
    }

    /// `astring = 1*ASTRING-CHAR / string`.
    public mutating func astring() throws(IMAPSyntaxError) -> [UInt8] {
        // `~` is an ATOM-CHAR: it starts a literal8 only as `~{`.
        if let octet = peek(),
            octet == UInt8(ascii: "\"") || octet == UInt8(ascii: "{")
                || (octet == UInt8(ascii: "~") && peekSecond() == UInt8(ascii: "{"))
        {
            return try string()
        }
        return try run("a string", while: IMAPCharacters.isAStringChar)
    }

    /// `nstring = string / nil`: nil for `NIL`.
    public mutating func nstring() throws(IMAPSyntaxError) -> [UInt8]? {
        if let octet = peek(), octet == UInt8(ascii: "N") || octet == UInt8(ascii: "n") {
            let saved = self
            if let word = try? keyword(), word == "NIL" { return nil }
            self = saved
        }
        return try string()
    }

    /// `string = quoted / literal` (and `literal8` where binary is allowed).
    ///
    ///     quoted         = DQUOTE *QUOTED-CHAR DQUOTE
    ///     QUOTED-CHAR    = <any TEXT-CHAR except quoted-specials> / "\" quoted-specials / UTF8-2 / UTF8-3 / UTF8-4
    ///     quoted-specials = DQUOTE / "\"
    ///
    /// A quoted string may hold no NUL, CR or LF (TEXT-CHAR), and a backslash only before a
    /// quoted-special; UTF-8 is taken as octets and validated by whoever needs text.
    public mutating func string() throws(IMAPSyntaxError) -> [UInt8] {
        if consume(UInt8(ascii: "\"")) {
            var octets: [UInt8] = []
            while let octet = peek() {
                advance()
                switch octet {
                case UInt8(ascii: "\""): return octets
                case UInt8(ascii: "\\"):
                    guard let escaped = peek(), escaped == UInt8(ascii: "\"") || escaped == UInt8(ascii: "\\") else {
                        throw IMAPSyntaxError("a backslash in a quoted string escapes only \" and \\")
                    }
                    advance()
                    octets.append(escaped)
                case 0x00, UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                    throw IMAPSyntaxError("NUL, CR or LF in a quoted string")
                default:
                    octets.append(octet)
                }
            }
            throw IMAPSyntaxError("unterminated quoted string")
        }
        return try literal()
    }

    /// `literal` or `literal8`: the announcement must end the line; its octets are the next
    /// literal the framer kept. A literal (not literal8) may hold no NUL (`CHAR8`).
    public mutating func literal() throws(IMAPSyntaxError) -> [UInt8] {
        let binary = consume(UInt8(ascii: "~"))
        guard consume(UInt8(ascii: "{")) else { throw IMAPSyntaxError("expected a string") }
        _ = try number(maximum: UInt64(Int64.max))
        _ = consume(UInt8(ascii: "+"))
        guard consume(UInt8(ascii: "}")), peek() == nil, line < literals.count else {
            throw IMAPSyntaxError("a literal's announcement must end its line")
        }
        let octets = Array(literals[line].readableBytesView)
        guard binary || !octets.contains(0) else { throw IMAPSyntaxError("NUL in a literal (use literal8)") }
        line += 1
        offset = 0
        return octets
    }

    /// A parenthesized list of items read by `item`, separated by single spaces:
    /// `"(" [item *(SP item)] ")"`, empty allowed when `allowEmpty`.
    public mutating func list<T>(allowEmpty: Bool = true, _ item: (inout CommandCursor) throws(IMAPSyntaxError) -> T)
        throws(IMAPSyntaxError) -> [T]
    {
        guard consume(UInt8(ascii: "(")) else { throw IMAPSyntaxError("expected (") }
        var items: [T] = []
        if consume(UInt8(ascii: ")")) {
            guard allowEmpty else { throw IMAPSyntaxError("empty list") }
            return items
        }
        repeat {
            items.append(try item(&self))
        } while consume(UInt8(ascii: " "))
        guard consume(UInt8(ascii: ")")) else { throw IMAPSyntaxError("expected )") }
        return items
    }

    /// `sequence-set`.
    public mutating func sequenceSet() throws(IMAPSyntaxError) -> SequenceSet {
        let octets = try run("a sequence set") { IMAPCharacters.isDigit($0) || $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "$") }
        guard let set = SequenceSet(parsing: octets) else { throw IMAPSyntaxError("malformed sequence set") }
        return set
    }
}

/// Why a command did not parse: the text of its tagged BAD.
public struct IMAPSyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
