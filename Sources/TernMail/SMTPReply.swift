/// One SMTP reply (RFC 5321 §4.2): a code, an optional RFC 3463 enhanced status code and one
/// or more lines of text.
///
/// The value every layer passes around: the server session answers with it, the client session
/// reads it from the next hop, delivery outcomes and the queue's records carry it, and DSNs
/// quote it. The wire form (with CRLFs) is written by TernSMTPCore; `storedLine` is the
/// one-line form records and logs keep.
public struct SMTPReply: Hashable, Sendable, CustomStringConvertible {
    public var code: ReplyCode
    public var enhancedCode: EnhancedStatusCode?
    public var lines: [String]

    /// A reply from Tern's own catalogue; `code` is a literal in 200...599.
    public init(_ code: Int, _ enhancedCode: EnhancedStatusCode?, _ lines: [String]) {
        precondition(!lines.isEmpty, "a reply has at least one line")
        self.code = ReplyCode(code)
        self.enhancedCode = enhancedCode
        self.lines = lines
    }

    public init(_ code: Int, _ enhancedCode: EnhancedStatusCode?, _ text: String) {
        self.init(code, enhancedCode, [text])
    }

    /// The enhanced code, or for a reply without one the generic code of its class (`4.0.0`,
    /// "other undefined status", RFC 3463 §3.1): what records, logs and DSNs name.
    public var enhancedCodeOrGeneric: EnhancedStatusCode {
        enhancedCode ?? EnhancedStatusCode(UInt8(code.rawValue / 100), 0, 0)
    }

    /// The reply's text, its lines joined by spaces.
    public var text: String { lines.joined(separator: " ") }

    /// The reply on one line, as the queue records it and DSNs quote it:
    /// `451 4.4.1 text of every line`. A reply without an enhanced code gets the generic one of
    /// its class (`4.0.0`), as RFC 3463 §3.1 allows, so every stored reply names one; control
    /// characters in the text become spaces, so the line stays one line.
    public var storedLine: String {
        "\(code) \(enhancedCodeOrGeneric) \(Self.printable(text))"
    }

    /// Reads a `storedLine`: a reply code of class 2, 4 or 5, an enhanced code of the same class (the
    /// generic one when none follows), and the text. Nil for anything else (a record no Tern
    /// wrote). Reading what `storedLine` wrote gives the same reply back.
    public init?(storedLine line: String) {
        let bytes = Array(line.utf8)
        guard bytes.count >= 3, bytes[0..<3].allSatisfy({ (0x30...0x39).contains($0) }),
            bytes.count == 3 || bytes[3] == UInt8(ascii: " ")
        else { return nil }
        let value = bytes[0..<3].reduce(0) { $0 * 10 + Int($1 - 0x30) }
        // A stored reply is an outcome: 2yz, 4yz or 5yz (a 3yz asks for more and ends nothing,
        // and RFC 3463 has no class 3 for its enhanced code).
        guard (200...299).contains(value) || (400...599).contains(value) else { return nil }
        // On octets, not Characters: a combining mark after a space would otherwise join the
        // space into one Character and hide the word boundary.
        var text = bytes.count > 4 ? bytes[4...] : []
        var enhanced = EnhancedStatusCode(UInt8(value / 100), 0, 0)
        let wordEnd = text.firstIndex(of: UInt8(ascii: " ")) ?? text.endIndex
        let firstWord = String(decoding: text[..<wordEnd], as: UTF8.self)
        if let parsed = EnhancedStatusCode(parsing: firstWord[...]), Int(parsed.statusClass) == value / 100 {
            enhanced = parsed
            // `storedLine` writes one space after the enhanced code; more belong to the text.
            text = text[wordEnd...].dropFirst()
        }
        self.init(value, enhanced, Self.printable(String(decoding: text, as: UTF8.self)))
    }

    /// The text with each control character (which could end a stored line) made a space.
    private static func printable(_ text: some StringProtocol) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
    }

    /// The reply as it goes on the wire, every line ending in CRLF (TernSMTPCore writes the
    /// same octets into a ByteBuffer).
    public var description: String { String(decoding: wireOctets, as: UTF8.self) }

    /// `Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF`
    /// (§4.2). Each line carries the enhanced code when there is one (RFC 2034 §4).
    public var wireOctets: [UInt8] {
        var octets: [UInt8] = []
        octets.reserveCapacity(lines.count * 32)
        let code = Array(String(self.code.rawValue).utf8)
        let enhanced = enhancedCode.map { Array($0.description.utf8) }
        for (index, line) in lines.enumerated() {
            octets.append(contentsOf: code)
            octets.append(index == lines.count - 1 ? UInt8(ascii: " ") : UInt8(ascii: "-"))
            if let enhanced {
                octets.append(contentsOf: enhanced)
                if !line.isEmpty { octets.append(UInt8(ascii: " ")) }
            }
            Self.appendText(line, to: &octets)
            octets.append(contentsOf: [0x0D, 0x0A])
        }
        return octets
    }

    /// Reply text is for humans and may echo client input; a CR, LF or other control octet in
    /// it would split the reply, so they become `?`, as does any octet outside US-ASCII
    /// (`textstring` is %d9 / %d32-126, §4.2), and a line is cut at the §4.5.3.1.5 limit.
    private static func appendText(_ text: String, to octets: inout [UInt8]) {
        var remaining = Limits.replyLine - 2 - 4 - 10
        for byte in text.utf8 {
            guard remaining > 0 else { return }
            octets.append(byte < 0x20 || byte >= 0x7F ? UInt8(ascii: "?") : byte)
            remaining -= 1
        }
    }
}

/// Records keep a reply as its `storedLine`.
extension SMTPReply: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let line = try container.decode(String.self)
        guard let reply = SMTPReply(storedLine: line) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an SMTP reply: \(line)")
        }
        self = reply
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(storedLine)
    }
}
