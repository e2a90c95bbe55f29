public import NIOCore

/// Reads the content of a DATA command (RFC 5321 §4.1.1.4): finds the end-of-data line,
/// removes dot-stuffing (§4.5.2) and checks the line discipline, without holding more than
/// the two octets that may still turn out to be part of `CRLF.CRLF`.
///
/// The only end of data is the sequence CRLF "." CRLF, where the first CRLF ends the previous
/// line (or is the one that ended the DATA command). Bare CR and bare LF end nothing (§2.3.8):
/// `\n.\n`, `\r.\r`, `\n.\r\n` and `\r\n.\n` are content, and their presence refuses the message,
/// so no downstream MTA with a laxer parser can be fed a second message smuggled inside it
/// (CVE-2023-51764..51766). Lines longer than the text line limit (§4.5.3.1.6) are noted too,
/// and so is NUL: DATA carries text or 8bit data, neither of which has NUL (RFC 6152 §3,
/// RFC 2045 §2.7-2.8; binary content goes by BDAT, RFC 3030), and `CRLF NUL "." CRLF` is an
/// end of data to a next hop that drops NULs.
public struct DotUnstuffer: Sendable {
    public enum Outcome: Sendable, Equatable {
        case needMoreData
        case endOfData
    }

    /// Text line limit including CRLF; 0 disables the check.
    public let textLineLimit: Int
    /// A bare CR or LF was seen: the message must be refused.
    public private(set) var sawBareLineEnding = false
    /// A line longer than `textLineLimit` was seen: the message must be refused.
    public private(set) var sawLongLine = false
    /// A NUL octet was seen: the message must be refused.
    public private(set) var sawNUL = false

    private var atLineStart = true
    private var lineLength = 0

    public init(textLineLimit: Int) {
        self.textLineLimit = textLineLimit
    }

    /// Consumes what it can of `input` and hands the unstuffed content to `emit` as slices of
    /// `input` (no copies). Stops after the end-of-data line, leaving what follows in `input`.
    public mutating func decode(_ input: inout ByteBuffer, emit: (ByteBuffer) -> Void) -> Outcome {
        let count = input.readableBytes
        var position = 0
        var spanStart = 0
        var outcome = Outcome.needMoreData

        func flush(_ end: Int) {
            if end > spanStart, let slice = input.getSlice(at: input.readerIndex + spanStart, length: end - spanStart) {
                emit(slice)
            }
        }

        scanning: while position < count {
            if atLineStart {
                if Self.byte(input, position) == UInt8(ascii: ".") {
                    // Decide between "." CRLF (the end), and a stuffed dot to drop.
                    guard count - position >= 2 else { break scanning }
                    if Self.byte(input, position + 1) == UInt8(ascii: "\r") {
                        guard count - position >= 3 else { break scanning }
                        if Self.byte(input, position + 2) == UInt8(ascii: "\n") {
                            flush(position)
                            position += 3
                            spanStart = position
                            outcome = .endOfData
                            break scanning
                        }
                    }
                    flush(position)
                    position += 1
                    spanStart = position
                }
                atLineStart = false
            }
            guard let lineBreak = Self.firstLineBreakOrNUL(in: input, from: position) else {
                lineLength += count - position
                position = count
                checkLineLength()
                break scanning
            }
            lineLength += lineBreak - position
            if Self.byte(input, lineBreak) == 0 {
                sawNUL = true
                lineLength += 1
                position = lineBreak + 1
                continue
            }
            if Self.byte(input, lineBreak) == UInt8(ascii: "\n") {
                sawBareLineEnding = true
                lineLength += 1
                position = lineBreak + 1
                continue
            }
            // A CR: only CR LF ends a line; wait for the octet after it.
            guard lineBreak + 1 < count else {
                position = lineBreak
                checkLineLength()
                break scanning
            }
            if Self.byte(input, lineBreak + 1) == UInt8(ascii: "\n") {
                lineLength += 2
                checkLineLength()
                lineLength = 0
                atLineStart = true
                position = lineBreak + 2
            } else {
                sawBareLineEnding = true
                lineLength += 1
                position = lineBreak + 1
            }
        }
        flush(position)
        input.moveReaderIndex(forwardBy: position)
        return outcome
    }

    private mutating func checkLineLength() {
        if textLineLimit > 0, lineLength > textLineLimit { sawLongLine = true }
    }

    @inline(__always)
    private static func byte(_ buffer: ByteBuffer, _ offset: Int) -> UInt8 {
        buffer.getInteger(at: buffer.readerIndex + offset, as: UInt8.self) ?? 0
    }

    /// The offset of the first CR, LF or NUL at or after `offset`, relative to the reader index.
    private static func firstLineBreakOrNUL(in buffer: ByteBuffer, from offset: Int) -> Int? {
        buffer.withUnsafeReadableBytes { bytes in
            var index = offset
            while index < bytes.count {
                let byte = bytes[index]
                // One comparison for the common case: every octet that matters is below 0x0E.
                if byte <= UInt8(ascii: "\r"), byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") || byte == 0 {
                    return index
                }
                index += 1
            }
            return nil
        }
    }
}
