public import NIOCore

/// Writes a message body as DATA content (RFC 5321 §4.1.1.4, §4.5.2): the inverse of
/// `DotUnstuffer`, one chunk at a time, so a message streams from disk to the socket.
///
/// - A "." at the start of a line is doubled (§4.5.2), so no line of the message can end the
///   data early.
/// - Lines end in CRLF on the wire. §2.3.8: a client "MUST NOT transmit [CR or LF] except when
///   they are intended as line terminators and then MUST transmit them only as a <CRLF>
///   sequence", so a bare LF and a bare CR each become CRLF (Postfix does the same). Every
///   such repair is counted in `repairedLineEndings` for the driver's log.
/// - `finish(into:)` ends the last line with CRLF if the body did not (counted in
///   `addedFinalLineEnding`), then writes the end-of-data line ".\r\n".
///
/// Security notes: because line ends are canonical and line-start dots are doubled, the only
/// CRLF "." CRLF on the wire is the one `finish` writes: a body cannot smuggle a second
/// message to a lax next hop (CVE-2023-51764..51766), whatever octets it holds. The encoder
/// keeps one bit of state between chunks (a pending CR), so its memory is constant.
public struct DotStuffer: Sendable {
    private var atLineStart = true
    private var pendingCR = false
    /// Bare CR or bare LF octets that were sent as CRLF.
    public private(set) var repairedLineEndings = 0
    /// True once `finish` had to end the last line with CRLF.
    public private(set) var addedFinalLineEnding = false

    public init() {}

    /// Appends the encoded form of `chunk` to `output`.
    public mutating func encode(_ chunk: ByteBuffer, into output: inout ByteBuffer) {
        output.reserveCapacity(minimumWritableBytes: chunk.readableBytes + 16)
        chunk.withUnsafeReadableBytes { bytes in
            var index = 0
            var runStart = 0
            func flush(_ end: Int) {
                if end > runStart { output.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<end])) }
            }
            while index < bytes.count {
                let byte = bytes[index]
                if pendingCR {
                    // The CR was held back (written neither in this run nor the last).
                    pendingCR = false
                    output.writeStaticString("\r\n")
                    atLineStart = true
                    if byte == UInt8(ascii: "\n") {
                        index += 1
                        runStart = index
                        continue
                    }
                    repairedLineEndings += 1
                }
                switch byte {
                case UInt8(ascii: "\r") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "\n"):
                    // A canonical CRLF stays in the run: one copy per run of ordinary lines, not
                    // two writes per line.
                    index += 2
                    atLineStart = true
                case UInt8(ascii: "\r"):
                    flush(index)
                    pendingCR = true
                    index += 1
                    runStart = index
                case UInt8(ascii: "\n"):
                    flush(index)
                    output.writeStaticString("\r\n")
                    repairedLineEndings += 1
                    atLineStart = true
                    index += 1
                    runStart = index
                case UInt8(ascii: ".") where atLineStart:
                    flush(index)
                    output.writeInteger(UInt8(ascii: "."))  // and the dot itself starts the next run
                    atLineStart = false
                    runStart = index
                    index += 1
                default:
                    atLineStart = false
                    index += 1
                }
            }
            flush(index)
        }
    }

    /// Ends the content: a CRLF if the last line lacks one, then ".\r\n".
    public mutating func finish(into output: inout ByteBuffer) {
        if pendingCR {
            // A CR as the very last octet: the line ends here, as CRLF.
            pendingCR = false
            repairedLineEndings += 1
            output.writeStaticString("\r\n")
        } else if !atLineStart {
            addedFinalLineEnding = true
            output.writeStaticString("\r\n")
        }
        atLineStart = true
        output.writeStaticString(".\r\n")
    }
}
