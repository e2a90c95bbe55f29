public import NIOCore
public import TernMail

/// Reads the replies of an SMTP server (RFC 5321 §4.2), as the client side of a session
/// receives them: incrementally, from reads split anywhere.
///
/// ```
/// Reply-line   = *( Reply-code "-" [ textstring ] CRLF )
///                Reply-code [ SP textstring ] CRLF
/// Reply-code   = %x32-35 %x30-35 %x30-39
/// textstring   = 1*(%d09 / %d32-126) ; HT, SP, Printable US-ASCII
/// ```
///
/// Every line of a multi-line reply must carry the same code (§4.2.1). When a line's text
/// starts with an RFC 3463 status code whose class agrees with the reply code (RFC 2034 §4,
/// RFC 3463 §2), it becomes the reply's `enhancedCode` and is removed from each line that
/// repeats it, so `SMTPReply.write(to:)` gives the reply back.
///
/// Security notes (hostile-inputs 36: the next hop may be hostile or broken):
/// - Lines are framed as bytes and end only at CRLF; a bare LF or a bare CR is a failure, not
///   a line end (§2.3.8).
/// - No line may be longer than `Limits.maximumLineLength` octets and no reply may have more
///   than `Limits.maximumLines` lines: the parser fails as soon as a partial line passes the
///   limit, so it never holds more than one line of input plus the lines of one reply.
/// - Codes are ABNF digits only (no sign, no spaces), first digit 2-5: codes outside 2yz-5yz
///   are failures, never a trap in `ReplyCode`.
/// - Control octets in the text become `?`, and octets that are not UTF-8 become U+FFFD, so
///   reply text can be logged or quoted in a DSN without carrying CR, LF or NUL.
/// - Failures are values. After one, the parser stays failed: the byte stream is out of
///   sync and the session must end (a temporary failure for every message on it).
public struct ReplyParser: Sendable {
    /// The bounds on one reply.
    public struct Limits: Hashable, Sendable {
        /// The longest reply line accepted, including the code and CRLF. RFC 5321 §4.5.3.1.5
        /// says 512; real servers exceed it (long EHLO lines, verbose rejections), so the
        /// default is 2048.
        public var maximumLineLength: Int
        /// The most lines one reply may have. Default 100 (an EHLO reply has about 15).
        public var maximumLines: Int

        public init(maximumLineLength: Int = 2048, maximumLines: Int = 100) {
            self.maximumLineLength = maximumLineLength
            self.maximumLines = maximumLines
        }
    }

    /// Why the byte stream is not a sequence of replies.
    public enum Failure: Hashable, Sendable, CustomStringConvertible {
        /// A line had no CRLF within the limit.
        case lineTooLong(limit: Int)
        /// A reply went on for more lines than the limit.
        case tooManyLines(limit: Int)
        /// A LF without CR, or a CR not followed by LF (§2.3.8).
        case bareLineEnding
        /// The line does not start with three digits in 200-559 (`Reply-code`).
        case invalidReplyCode
        /// A line of a multi-line reply carries a different code than the first (§4.2.1).
        case inconsistentReplyCodes
        /// After the code comes neither SP, "-" nor CRLF.
        case invalidSeparator

        public var description: String {
            switch self {
            case .lineTooLong(let limit): "reply line longer than \(limit) octets"
            case .tooManyLines(let limit): "reply longer than \(limit) lines"
            case .bareLineEnding: "bare CR or LF in reply"
            case .invalidReplyCode: "invalid reply code"
            case .inconsistentReplyCodes: "reply lines with different codes"
            case .invalidSeparator: "invalid character after the reply code"
            }
        }
    }

    public enum Outcome: Hashable, Sendable {
        /// One complete reply; call again for the next one.
        case reply(SMTPReply)
        /// The input holds no complete reply; what was there is consumed and kept.
        case needMoreData
        /// The input is not SMTP replies (see `Failure`).
        case failure(Failure)
    }

    public let limits: Limits
    private var code: Int?
    private var lines: [String] = []
    private var enhancedCode: (code: EnhancedStatusCode, text: String)?
    public private(set) var failure: Failure?

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Consumes complete lines from `input` until a reply is complete, more input is needed,
    /// or the input is found to be no reply. A partial line stays in `input`.
    public mutating func parse(_ input: inout ByteBuffer) -> Outcome {
        if let failure { return .failure(failure) }
        while true {
            let frame = nextLine(input)
            switch frame {
            case .needMoreData:
                return .needMoreData
            case .failure(let failure):
                return fail(failure)
            case .line(let length):
                let line = input.readSlice(length: length) ?? ByteBuffer()
                input.moveReaderIndex(forwardBy: 2)
                switch consume(line) {
                case .failure(let failure):
                    return fail(failure)
                case .reply(let reply):
                    return .reply(reply)
                case .needMoreData:
                    continue
                }
            }
        }
    }

    /// Forgets any partial reply (after the TLS handshake nothing read before it counts,
    /// RFC 3207 §4.2). A failure is kept.
    public mutating func reset() {
        code = nil
        lines = []
        enhancedCode = nil
    }

    private mutating func fail(_ failure: Failure) -> Outcome {
        self.failure = failure
        reset()
        return .failure(failure)
    }

    private enum Frame {
        /// A line of this many octets, CRLF not included.
        case line(Int)
        case needMoreData
        case failure(Failure)
    }

    /// Finds the next CRLF within the line limit.
    private func nextLine(_ input: ByteBuffer) -> Frame {
        let limit = limits.maximumLineLength
        return input.withUnsafeReadableBytes { bytes -> Frame in
            var index = 0
            let end = Swift.min(bytes.count, limit)
            while index < end {
                switch bytes[index] {
                case UInt8(ascii: "\n"):
                    return .failure(.bareLineEnding)
                case UInt8(ascii: "\r"):
                    guard index + 1 < bytes.count else { return .needMoreData }
                    guard bytes[index + 1] == UInt8(ascii: "\n") else { return .failure(.bareLineEnding) }
                    // The LF must fit the limit too.
                    guard index + 2 <= limit else { return .failure(.lineTooLong(limit: limit)) }
                    return .line(index)
                default:
                    index += 1
                }
            }
            return bytes.count >= limit ? .failure(.lineTooLong(limit: limit)) : .needMoreData
        }
    }

    /// One line without its CRLF: `Reply-code ( "-" / SP / "" ) [ textstring ]`.
    private mutating func consume(_ line: ByteBuffer) -> Outcome {
        line.withUnsafeReadableBytes { bytes -> Outcome in
            guard bytes.count >= 3,
                (UInt8(ascii: "2")...UInt8(ascii: "5")).contains(bytes[0]),
                (UInt8(ascii: "0")...UInt8(ascii: "5")).contains(bytes[1]),
                ASCII.isDigit(bytes[2])
            else { return .failure(.invalidReplyCode) }
            let lineCode = Int(bytes[0] - 48) * 100 + Int(bytes[1] - 48) * 10 + Int(bytes[2] - 48)
            if let code, code != lineCode { return .failure(.inconsistentReplyCodes) }
            code = lineCode

            let isLast: Bool
            var textStart = 3
            if bytes.count == 3 {
                isLast = true  // "tolerant of a missing text": `Reply-code CRLF`.
            } else if bytes[3] == UInt8(ascii: " ") {
                isLast = true
                textStart = 4
            } else if bytes[3] == UInt8(ascii: "-") {
                isLast = false
                textStart = 4
            } else {
                return .failure(.invalidSeparator)
            }
            guard lines.count < limits.maximumLines else { return .failure(.tooManyLines(limit: limits.maximumLines)) }
            let text = UnsafeRawBufferPointer(rebasing: bytes[textStart...])
            lines.append(takeEnhancedCode(from: text, replyClass: bytes[0], isFirst: lines.isEmpty))
            guard isLast else { return .needMoreData }

            let reply = SMTPReply(lineCode, enhancedCode?.code, lines)
            reset()
            return .reply(reply)
        }
    }

    /// The text of a line, without the enhanced status code it starts with, if any.
    ///
    /// `status-code = class "." subject "." detail`, `class = "2" / "4" / "5"`,
    /// `subject = 1*3digit`, `detail = 1*3digit` (RFC 3463 §2), then SP or the end of the line.
    private mutating func takeEnhancedCode(from text: UnsafeRawBufferPointer, replyClass: UInt8, isFirst: Bool)
        -> String
    {
        if isFirst {
            var cursor = ByteCursor(text)
            if replyClass != UInt8(ascii: "3"), cursor.consume(replyClass), cursor.consume(UInt8(ascii: ".")),
                let subject = CommandParser.decimal(&cursor, maximumDigits: 3), cursor.consume(UInt8(ascii: ".")),
                let detail = CommandParser.decimal(&cursor, maximumDigits: 3),
                cursor.isAtEnd || cursor.peek() == UInt8(ascii: " ")
            {
                let prefix = Self.sanitized(UnsafeRawBufferPointer(rebasing: text[..<cursor.index]))
                enhancedCode = (EnhancedStatusCode(replyClass - 48, UInt16(subject), UInt16(detail)), prefix)
                cursor.skipSpaces()
                return Self.sanitized(UnsafeRawBufferPointer(rebasing: text[cursor.index...]))
            }
            return Self.sanitized(text)
        }
        let line = Self.sanitized(text)
        // Later lines drop the code only when they repeat it exactly (RFC 2034 §4).
        guard let prefix = enhancedCode?.text, line.hasPrefix(prefix) else { return line }
        let rest = line.utf8.dropFirst(prefix.utf8.count)
        if rest.isEmpty { return "" }
        guard rest.first == UInt8(ascii: " ") else { return line }
        return String(decoding: rest.drop(while: { $0 == UInt8(ascii: " ") }), as: UTF8.self)
    }

    /// Reply text is for humans: control octets (other than HT) become `?`, and what is not
    /// UTF-8 becomes U+FFFD.
    private static func sanitized(_ text: UnsafeRawBufferPointer) -> String {
        if !text.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) {
            return String(decoding: text, as: UTF8.self)
        }
        return String(
            decoding: text.map { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
    }
}
