public import NIOCore
import TernMail

/// Splits the client's stream into whole commands (RFC 9051 §2.2.1, §4.3).
///
/// A command is a line, or several lines joined by literals: a line that ends in a literal's
/// announcement is followed by exactly that many octets of any value, then the command goes on
/// with the next line, until a line ends without one.
///
///     literal  = "{" number64 ["+"] "}" CRLF *CHAR8   ; "+": non-synchronizing (RFC 7888)
///     literal8 = "~{" number64 ["+"] "}" CRLF *OCTET  ; binary (RFC 3516 §4.2)
///     number64 = 1*DIGIT                              ; unsigned 63-bit integer
///
/// A synchronizing literal (`{n}`) is sent only after the server's continuation request
/// (`+ ...`, §7.6): the framer answers `.continuationRequested` and the driver sends one; a
/// literal over the limit is refused instead (the client then sends no octets of it and the
/// command is abandoned). A non-synchronizing literal (`{n+}`) comes at once: one over the limit
/// cannot be refused without reading it, so it ends the connection, like a line longer than
/// `maximumLineLength`. Lines end only at CRLF; a bare CR or LF inside one is reported for the
/// parser to refuse.
public struct IMAPCommandFramer: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// The longest line (one part of a command between literals) accepted, with its CRLF.
        public var maximumLineLength: Int
        /// The largest literal accepted (RFC 7889 APPENDLIMIT for APPEND's message).
        public var maximumLiteralSize: Int
        /// The largest non-synchronizing literal accepted: 4096 for LITERAL- (RFC 7888 §5,
        /// IMAP4rev2's baseline), `maximumLiteralSize` for LITERAL+.
        public var maximumNonSynchronizingLiteralSize: Int
        /// The most octets one command may hold in all, lines and literals.
        public var maximumCommandSize: Int

        public init(
            maximumLineLength: Int = 64 * 1024, maximumLiteralSize: Int = 64 * 1024 * 1024,
            maximumNonSynchronizingLiteralSize: Int = 4096, maximumCommandSize: Int? = nil
        ) {
            self.maximumLineLength = maximumLineLength
            self.maximumLiteralSize = maximumLiteralSize
            self.maximumNonSynchronizingLiteralSize = maximumNonSynchronizingLiteralSize
            self.maximumCommandSize = maximumCommandSize ?? (maximumLiteralSize + maximumLineLength)
        }
    }

    public enum Frame: Sendable, Equatable {
        /// A whole command.
        case command(IMAPCommandOctets)
        /// The input holds no more of a whole command yet.
        case needMoreData
        /// The command announced a synchronizing literal within the limits: send a continuation
        /// request, then go on feeding.
        case continuationRequested
        /// The command announced a synchronizing literal over the limits: answer `tag` with a
        /// tagged NO or BAD; the command is dropped and the next line starts a new one.
        case literalRefused(tag: String?, size: Int?)
        /// The connection cannot go on (a line over the limit, a non-synchronizing literal over
        /// the limit, a command over `maximumCommandSize`): send BYE and close.
        case fatal(FatalReason)
    }

    public enum FatalReason: Sendable, Equatable {
        case lineTooLong
        case literalTooLarge
        case commandTooLarge
    }

    /// The limits; a driver may change them between commands (smaller before login).
    public var configuration: Configuration
    private var state = State.line
    /// The literal being read, kept apart from `state` so that appending to it never copies it.
    private var literal = ByteBuffer()
    private var literalRemaining = 0
    private var lines: [ByteBuffer] = []
    private var literals: [ByteBuffer] = []
    private var commandSize = 0
    private var lineHadBareEnding = false

    private enum State: Sendable {
        /// Reading a line up to its CRLF.
        case line
        /// Reading the octets of a literal (`literal`, `literalRemaining`).
        case literal
        /// A fatal frame was reported: nothing more is read.
        case closed
    }

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// The next frame from `input`, consuming what it frames.
    public mutating func next(_ input: inout ByteBuffer) -> Frame {
        while true {
            switch state {
            case .closed:
                input.moveReaderIndex(forwardBy: input.readableBytes)
                return .needMoreData
            case .literal:
                let count = min(literalRemaining, input.readableBytes)
                if count > 0, var chunk = input.readSlice(length: count) {
                    literal.writeBuffer(&chunk)
                    literalRemaining -= count
                }
                guard literalRemaining == 0 else { return .needMoreData }
                literals.append(literal)
                literal = ByteBuffer()
                state = .line
            case .line:
                guard let (line, bare) = Self.readLine(&input, limit: configuration.maximumLineLength) else {
                    if input.readableBytes >= configuration.maximumLineLength { return close(.lineTooLong) }
                    return .needMoreData
                }
                lineHadBareEnding = lineHadBareEnding || bare
                commandSize += line.readableBytes + 2
                guard commandSize <= configuration.maximumCommandSize else { return close(.commandTooLarge) }
                lines.append(line)
                guard let announced = Self.literalAnnouncement(at: line) else {
                    let command = IMAPCommandOctets(lines: lines, literals: literals, hasBareLineEnding: lineHadBareEnding)
                    reset()
                    return .command(command)
                }
                let limit =
                    announced.synchronizing
                    ? configuration.maximumLiteralSize
                    : min(configuration.maximumLiteralSize, configuration.maximumNonSynchronizingLiteralSize)
                guard let size = announced.size, size <= limit,
                    size <= configuration.maximumCommandSize - commandSize
                else {
                    guard announced.synchronizing else { return close(.literalTooLarge) }
                    let tag = lines.first.flatMap(Self.tag)
                    reset()
                    return .literalRefused(tag: tag, size: announced.size)
                }
                commandSize += size
                // The buffer grows as octets arrive: an announcement alone allocates nothing.
                literalRemaining = size
                state = .literal
                if announced.synchronizing { return .continuationRequested }
            }
        }
    }

    private mutating func close(_ reason: FatalReason) -> Frame {
        reset()
        state = .closed
        return .fatal(reason)
    }

    private mutating func reset() {
        lines = []
        literals = []
        commandSize = 0
        lineHadBareEnding = false
        literal = ByteBuffer()
        literalRemaining = 0
        state = .line
    }

    /// Reads one line without its CRLF, and whether it held a bare CR or LF; nil when no CRLF
    /// is within `limit` octets.
    private static func readLine(_ input: inout ByteBuffer, limit: Int) -> (ByteBuffer, Bool)? {
        let found = input.withUnsafeReadableBytes { LineEnd.find(in: $0, limit: limit) }
        guard let found, let line = input.readSlice(length: found.end) else { return nil }
        input.moveReaderIndex(forwardBy: 2)
        return (line, found.hasBareLineEnding)
    }

    /// The literal a line announces at its end: `{n}`, `{n+}`, `~{n}` or `~{n+}`. The size is
    /// nil when it does not fit in 63 bits (it is refused either way).
    static func literalAnnouncement(at line: ByteBuffer) -> (size: Int?, synchronizing: Bool)? {
        line.withUnsafeReadableBytes { bytes -> (size: Int?, synchronizing: Bool)? in
            var index = bytes.count - 1
            guard index >= 0, bytes[index] == UInt8(ascii: "}") else { return nil }
            index -= 1
            let synchronizing = !(index >= 0 && bytes[index] == UInt8(ascii: "+"))
            if !synchronizing { index -= 1 }
            let lastDigit = index
            while index >= 0, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index -= 1 }
            guard index < lastDigit, index >= 0, bytes[index] == UInt8(ascii: "{") else { return nil }
            var size: Int? = 0
            for digit in bytes[(index + 1)...lastDigit] {
                guard let value = size else { break }
                let (times, overflow) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflowAgain) = times.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
                size = overflow || overflowAgain ? nil : sum
            }
            return (size, synchronizing)
        }
    }

    /// The tag of a command line: its octets up to the first space, when they make a `tag`
    /// (RFC 9051 §9: 1*<any ASTRING-CHAR except "+">).
    static func tag(of line: ByteBuffer) -> String? {
        let view = line.readableBytesView
        let word = view.prefix { $0 != UInt8(ascii: " ") }
        guard !word.isEmpty, word.count <= 64, word.allSatisfy({ IMAPCharacters.isAStringChar($0) && $0 != UInt8(ascii: "+") })
        else { return nil }
        return String(decoding: word, as: UTF8.self)
    }
}

/// One whole command as framed: its lines (without CRLF) and the literals between them. A line
/// but the last ends with the announcement of the literal that follows it, so
/// `lines.count == literals.count + 1`.
public struct IMAPCommandOctets: Sendable, Hashable {
    public var lines: [ByteBuffer]
    public var literals: [ByteBuffer]
    /// A line held a bare CR or LF: the command is refused.
    public var hasBareLineEnding: Bool

    public init(lines: [ByteBuffer], literals: [ByteBuffer], hasBareLineEnding: Bool = false) {
        self.lines = lines
        self.literals = literals
        self.hasBareLineEnding = hasBareLineEnding
    }
}
