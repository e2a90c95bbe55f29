public import NIOCore
public import TernMail

/// The outcome of parsing one command line: a command, or the reply that refuses it.
public enum CommandParseResult: Hashable, Sendable {
    case command(SMTPCommand)
    case rejected(SMTPReply)
}

/// Parses one SMTP command line (without its CRLF) per RFC 5321 §4.1.1 and the ESMTP
/// extensions Tern advertises. Framing, bare line endings and length limits are the session's
/// job (`CommandLineFramer`); this parser sees one complete line.
public enum CommandParser {
    public static func parse(_ line: ByteBuffer) -> CommandParseResult {
        line.withUnsafeReadableBytes { parse($0) }
    }

    public static func parse(_ line: UnsafeRawBufferPointer) -> CommandParseResult {
        var cursor = ByteCursor(line)
        let verb = cursor.consume(while: ASCII.isAlpha)
        guard !verb.isEmpty, cursor.isAtEnd || cursor.peek() == UInt8(ascii: " ") else {
            return .rejected(.commandUnrecognized)
        }
        var word: UInt64 = 0
        guard verb.count <= 8 else { return .rejected(.commandUnrecognized) }
        for index in verb { word = word << 8 | UInt64(ByteCursor.asciiUppercased(line[index])) }

        switch word {
        case Verb.ehlo: return parseGreeting(&cursor, extended: true)
        case Verb.helo: return parseGreeting(&cursor, extended: false)
        case Verb.mail: return parseMail(&cursor)
        case Verb.rcpt: return parseRecipient(&cursor)
        case Verb.data: return noArguments(&cursor, .data)
        case Verb.bdat: return parseBDAT(&cursor)
        case Verb.rset: return noArguments(&cursor, .rset)
        case Verb.quit: return noArguments(&cursor, .quit)
        case Verb.noop: return .command(.noop)  // `NOOP [ SP String ]`: the string is ignored.
        case Verb.vrfy: return .command(.vrfy(argument(&cursor)))
        case Verb.expn: return .command(.expn(argument(&cursor)))
        case Verb.help:
            let topic = argument(&cursor)
            return .command(.help(topic.isEmpty ? nil : topic))
        case Verb.startTLS:
            guard cursor.isAtEnd else { return .rejected(.startTLSSyntax) }
            return .command(.startTLS)
        case Verb.auth: return parseAuth(&cursor)
        default:
            return .rejected(.commandUnrecognized)
        }
    }

    /// Verbs as big-endian ASCII words, so the dispatch is one integer switch.
    enum Verb {
        static let ehlo: UInt64 = 0x4548_4C4F
        static let helo: UInt64 = 0x4845_4C4F
        static let mail: UInt64 = 0x4D41_494C
        static let rcpt: UInt64 = 0x5243_5054
        static let data: UInt64 = 0x4441_5441
        static let bdat: UInt64 = 0x4244_4154
        static let rset: UInt64 = 0x5253_4554
        static let quit: UInt64 = 0x5155_4954
        static let noop: UInt64 = 0x4E4F_4F50
        static let vrfy: UInt64 = 0x5652_4659
        static let expn: UInt64 = 0x4558_504E
        static let help: UInt64 = 0x4845_4C50
        static let startTLS: UInt64 = 0x5354_4152_5454_4C53
        static let auth: UInt64 = 0x4155_5448
    }

    private static func noArguments(_ cursor: inout ByteCursor, _ command: SMTPCommand) -> CommandParseResult {
        cursor.skipSpaces()  // Trailing spaces are common and harmless.
        guard cursor.isAtEnd else { return .rejected(.parameterSyntax) }
        return .command(command)
    }

    private static func argument(_ cursor: inout ByteCursor) -> String {
        cursor.skipSpaces()
        return cursor.string(cursor.index..<cursor.bytes.count)
    }

    // MARK: AUTH

    /// `"AUTH" SP sasl-mech [SP initial-response]` (RFC 4954 §4); `sasl-mech` is 1 to 20 of
    /// upper-case letters, digits, `-` and `_` (RFC 4422 §3.1), taken in any case here;
    /// `initial-response` is base64 or `=`, checked by the session when it decodes it.
    private static func parseAuth(_ cursor: inout ByteCursor) -> CommandParseResult {
        guard cursor.consume(UInt8(ascii: " ")) else { return .rejected(.authSyntax) }
        let name = cursor.consume(while: { ASCII.isLetDig($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
        guard (1...20).contains(name.count) else { return .rejected(.authSyntax) }
        let mechanism = String(decoding: name.map { ByteCursor.asciiUppercased(cursor.bytes[$0]) }, as: UTF8.self)
        guard !cursor.isAtEnd else { return .command(.auth(mechanism: mechanism, initialResponse: nil)) }
        guard cursor.skipSpaces() > 0 else { return .rejected(.authSyntax) }
        let response = cursor.consume(while: { $0 > 0x20 && $0 < 0x7F })
        cursor.skipSpaces()
        guard cursor.isAtEnd else { return .rejected(.authSyntax) }
        return .command(.auth(mechanism: mechanism, initialResponse: response.isEmpty ? nil : cursor.string(response)))
    }

    // MARK: EHLO / HELO

    /// `ehlo = "EHLO" SP ( Domain / address-literal ) CRLF`, `helo = "HELO" SP Domain CRLF`
    /// (§4.1.1.1). The argument ends up in the Received header (§4.4), so it is held to the
    /// domain alphabet (plus `_`, which real clients send) or a bracketed literal: no control
    /// octet, space, parenthesis or quote can pass into a header.
    private static func parseGreeting(_ cursor: inout ByteCursor, extended: Bool) -> CommandParseResult {
        guard cursor.skipSpaces() > 0 else { return .rejected(.heloSyntax) }
        let start = cursor.index
        let argument: Range<Int>
        if cursor.peek() == UInt8(ascii: "[") {
            guard let literal = PathParser.addressLiteral(&cursor) else { return .rejected(.heloSyntax) }
            argument = literal
        } else {
            argument = cursor.consume(while: { ASCII.isLetDig($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") })
        }
        cursor.skipSpaces()
        guard !argument.isEmpty, cursor.isAtEnd, argument.count <= Limits.domain else {
            return .rejected(.heloSyntax)
        }
        let name = cursor.string(start..<argument.upperBound)
        return .command(extended ? .ehlo(name) : .helo(name))
    }

    // MARK: MAIL / RCPT

    /// `mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF` (§4.1.1.2). Spaces after
    /// the colon are tolerated, as every deployed server does; the path itself is strict.
    private static func parseMail(_ cursor: inout ByteCursor) -> CommandParseResult {
        guard cursor.consume(UInt8(ascii: " ")), cursor.consumeCaseInsensitive("FROM:") else {
            return .rejected(SMTPReply(501, EnhancedStatusCode(5, 5, 4), "Syntax: MAIL FROM:<address>"))
        }
        cursor.skipSpaces()
        let path: ReversePath
        switch PathParser.reversePath(&cursor) {
        case .some(let parsed): path = parsed
        case .none: return .rejected(.badSenderSyntax)
        }
        return ParameterParser.parameters(&cursor).flatMap(ParameterParser.mailParameters)
            .commandOrRejection { .mail(path, $0) }
    }

    /// `rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path )
    /// [SP Rcpt-parameters] CRLF` (§4.1.1.3).
    private static func parseRecipient(_ cursor: inout ByteCursor) -> CommandParseResult {
        guard cursor.consume(UInt8(ascii: " ")), cursor.consumeCaseInsensitive("TO:") else {
            return .rejected(SMTPReply(501, EnhancedStatusCode(5, 5, 4), "Syntax: RCPT TO:<address>"))
        }
        cursor.skipSpaces()
        let path: ForwardPath
        if cursor.consumeCaseInsensitive("<POSTMASTER>") {
            path = ForwardPath(mailbox: MailAddress(localPart: "Postmaster", domain: ""))
        } else if let parsed = PathParser.forwardPath(&cursor) {
            path = parsed
        } else {
            return .rejected(.badRecipientSyntax)
        }
        return ParameterParser.parameters(&cursor).flatMap(ParameterParser.recipientParameters)
            .commandOrRejection { .rcpt(path, $0) }
    }

    // MARK: BDAT

    /// `bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CRLF`, `chunk-size = 1*DIGIT`,
    /// `end-marker = "LAST"` (RFC 3030 §2). Only ABNF digits count: no sign, no hex, and at
    /// most 18 of them, so the value always fits an Int.
    private static func parseBDAT(_ cursor: inout ByteCursor) -> CommandParseResult {
        let syntax = CommandParseResult.rejected(SMTPReply(501, EnhancedStatusCode(5, 5, 4), "Syntax: BDAT size [LAST]"))
        guard cursor.skipSpaces() > 0 else { return syntax }
        guard let size = Self.decimal(&cursor, maximumDigits: 18) else { return syntax }
        var last = false
        if cursor.skipSpaces() > 0, !cursor.isAtEnd {
            guard cursor.consumeCaseInsensitive("LAST") else { return syntax }
            last = true
            cursor.skipSpaces()
        }
        guard cursor.isAtEnd else { return syntax }
        return .command(.bdat(size: size, last: last))
    }

    /// `1*DIGIT`, at most `maximumDigits` of them (leading zeros count and are allowed).
    static func decimal(_ cursor: inout ByteCursor, maximumDigits: Int) -> Int? {
        let digits = cursor.consume(while: ASCII.isDigit)
        guard !digits.isEmpty, digits.count <= maximumDigits else { return nil }
        var value = 0
        for index in digits { value = value * 10 + Int(cursor.bytes[index] - UInt8(ascii: "0")) }
        return value
    }
}

extension Result where Failure == ReplyError {
    fileprivate func commandOrRejection(_ makeCommand: (Success) -> SMTPCommand) -> CommandParseResult {
        switch self {
        case .success(let value): .command(makeCommand(value))
        case .failure(let error): .rejected(error.reply)
        }
    }
}
