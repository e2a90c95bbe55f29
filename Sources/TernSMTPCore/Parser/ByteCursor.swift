import TernMail

/// A read position over the octets of one command line, valid only inside the closure that
/// lent the bytes (`ByteBuffer.withUnsafeReadableBytes`). Parsing works on octets, never on
/// Characters: see the security notes in TernSMTPCore.swift.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    var index: Int

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        self.index = 0
    }

    var isAtEnd: Bool { index >= bytes.count }
    var remaining: Int { bytes.count - index }

    func peek(offset: Int = 0) -> UInt8? {
        let position = index + offset
        return position < bytes.count ? bytes[position] : nil
    }

    mutating func next() -> UInt8? {
        guard index < bytes.count else { return nil }
        defer { index += 1 }
        return bytes[index]
    }

    /// Consumes `byte` if it is next.
    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }

    /// Consumes an ASCII word, ignoring case (SMTP verbs and keywords are case-insensitive,
    /// RFC 5321 §2.4).
    mutating func consumeCaseInsensitive(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard remaining >= count else { return false }
        let matches = word.withUTF8Buffer { expected in
            for offset in 0..<count where Self.asciiUppercased(bytes[index + offset]) != expected[offset] {
                return false
            }
            return true
        }
        if matches { index += count }
        return matches
    }

    /// Consumes octets while `predicate` holds and returns them as a range of indices.
    mutating func consume(while predicate: (UInt8) -> Bool) -> Range<Int> {
        let start = index
        while index < bytes.count, predicate(bytes[index]) { index += 1 }
        return start..<index
    }

    /// Skips spaces; returns how many there were.
    @discardableResult
    mutating func skipSpaces() -> Int {
        consume(while: { $0 == UInt8(ascii: " ") }).count
    }

    func string(_ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// The octets as a String only when they are valid UTF-8 (RFC 6531 §3.3 requires it).
    func validatedString(_ range: Range<Int>) -> String? {
        String(validating: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    static func asciiUppercased(_ byte: UInt8) -> UInt8 {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) ? byte - 32 : byte
    }
}

/// Character classes of RFC 5234 and RFC 5321, on octets.
enum ASCII {
    static func isAlpha(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
    }

    static func isUpperHexDigit(_ byte: UInt8) -> Bool { isDigit(byte) || (byte >= 0x41 && byte <= 0x46) }

    static func isLetDig(_ byte: UInt8) -> Bool { isAlpha(byte) || isDigit(byte) }

    /// `atext` of RFC 5322 §3.2.3, the `Atom` of RFC 5321 §4.1.2.
    static func isAtext(_ byte: UInt8) -> Bool { MailCharacters.isAtext(byte) }

    /// Visible US-ASCII, %d33-126.
    static func isVisible(_ byte: UInt8) -> Bool { byte >= 0x21 && byte <= 0x7E }

    static func isNonASCII(_ byte: UInt8) -> Bool { byte >= 0x80 }
}
