/// Finds table headers that the TOML library would abort on instead of reporting.
///
/// TOMLKit bundles toml++ 3.x, whose table-header parser asserts that the first character after
/// `[` or `[[` (and any blanks) starts a key, a bare-key character or a quote, and aborts the
/// process when it does not (`[=]`, `[.a]`, `[é]`, `[\u{1}]`; fixed upstream in toml++ #301, not
/// in the copy TOMLKit 0.6 carries). `tern check-config` must name the line of a mistake, whatever
/// the file holds (hostile-inputs 46), so the loader runs this scan before handing text to TOMLKit.
///
/// The scan walks statements the way toml++'s `parse_document` does: a statement starts after
/// blank lines and comments; one starting with `[` is a table header; any other runs to the end of
/// its line, except inside strings (basic, literal, and the multi-line forms) and inside the
/// brackets of arrays and inline tables, which may span lines (TOML 1.0.0 §Array). On valid TOML it
/// finds every header and nothing else; on other text it may lose track, which only matters for a
/// document TOMLKit refuses anyway.
enum TOMLTableHeaders {
    /// What toml++ would abort on, and where (1-based line).
    struct Malformed: Equatable {
        var line: Int
        var problem: String

        static func header(_ line: Int) -> Malformed {
            Malformed(line: line, problem: "a table header must start with a key (a letter, digit, '_', '-' or a quoted name)")
        }

        static func brace(_ line: Int) -> Malformed {
            Malformed(line: line, problem: "'}' closes no inline table")
        }
    }

    /// The first table header whose key does not start with a bare-key character
    /// (`A-Za-z0-9_-`) or a quote, or `}` where no inline table is open (toml++'s array parser
    /// asserts it is a value: `[1, }`); nil when there is none.
    static func firstMalformed(in text: String) -> Malformed? {
        var scanner = Scanner(bytes: Array(text.utf8))
        return scanner.firstMalformed()
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0
        var line = 1

        init(bytes: [UInt8]) { self.bytes = bytes }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func advance() {
            if bytes[index] == UInt8(ascii: "\n") { line += 1 }
            index += 1
        }

        func isAhead(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard bytes.count - index >= count else { return false }
            return literal.withUTF8Buffer { literal in
                literal.indices.allSatisfy { bytes[index + $0] == literal[$0] }
            }
        }

        static func startsKey(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"),
                UInt8(ascii: "\""), UInt8(ascii: "'"):
                return true
            default:
                return false
            }
        }

        mutating func skipBlanks() {
            while let byte = current, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { advance() }
        }

        mutating func firstMalformed() -> Malformed? {
            while let byte = current {
                switch byte {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                    advance()
                case UInt8(ascii: "#"):
                    skipComment()
                case UInt8(ascii: "["):
                    let headerLine = line
                    advance()
                    skipBlanks()
                    if current == UInt8(ascii: "[") {
                        advance()
                        skipBlanks()
                    }
                    // `[]`, `[[]]` and an unterminated `[` are errors toml++ reports itself.
                    if let first = current, first != UInt8(ascii: "]"), !Self.startsKey(first) {
                        return .header(headerLine)
                    }
                    if let malformed = skipStatement() { return malformed }
                default:
                    if let malformed = skipStatement() { return malformed }
                }
            }
            return nil
        }

        /// Skips to the end of the statement: the first line break outside strings and brackets.
        /// Returns what toml++ would abort on before it: a `}` no `{` opened.
        mutating func skipStatement() -> Malformed? {
            var open: [UInt8] = []
            while let byte = current {
                switch byte {
                case UInt8(ascii: "\n") where open.isEmpty:
                    return nil
                case UInt8(ascii: "#"):
                    skipComment()
                case UInt8(ascii: "\""), UInt8(ascii: "'"):
                    skipString(quote: byte)
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    open.append(byte)
                    advance()
                case UInt8(ascii: "]"):
                    if open.last == UInt8(ascii: "[") { open.removeLast() }
                    advance()
                case UInt8(ascii: "}"):
                    guard open.last == UInt8(ascii: "{") else { return .brace(line) }
                    open.removeLast()
                    advance()
                default:
                    advance()
                }
            }
            return nil
        }

        mutating func skipComment() {
            while let byte = current, byte != UInt8(ascii: "\n") { advance() }
        }

        /// Skips a string starting at its opening quote. A basic string (`"`) takes backslash
        /// escapes, a literal one (`'`) none; tripled quotes open a multi-line string, which may
        /// end with up to two more quotes that belong to its content (TOML 1.0.0 §String).
        mutating func skipString(quote: UInt8) {
            let escapes = quote == UInt8(ascii: "\"")
            let tripled: StaticString = escapes ? "\"\"\"" : "'''"
            if isAhead(tripled) {
                for _ in 0..<3 { advance() }
                while current != nil {
                    if escapes && current == UInt8(ascii: "\\") {
                        advance()
                        if current != nil { advance() }
                    } else if isAhead(tripled) {
                        for _ in 0..<3 { advance() }
                        var extra = 0
                        while extra < 2, current == quote {
                            advance()
                            extra += 1
                        }
                        return
                    } else {
                        advance()
                    }
                }
                return
            }
            advance()
            while let byte = current, byte != UInt8(ascii: "\n") {
                advance()
                if byte == quote { return }
                if escapes && byte == UInt8(ascii: "\\"), let escaped = current, escaped != UInt8(ascii: "\n") {
                    advance()
                }
            }
        }
    }
}
