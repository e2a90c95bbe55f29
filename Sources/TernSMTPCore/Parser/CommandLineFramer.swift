public import NIOCore
import TernMail

/// Splits the command stream into lines (RFC 5321 §2.3.8, §4.5.3.1.4).
///
/// A command line ends only at CR LF. A bare LF or bare CR does not end it: it stays inside
/// the line, which is then refused as a whole, so `NOOP\nQUIT\r\n` executes nothing. No line
/// may grow past `maximumLength` octets: the framer then reports `.tooLong` and the session
/// discards input up to the next CR LF without buffering it.
public struct CommandLineFramer: Sendable {
    public enum Frame: Sendable, Equatable {
        /// One line without its CRLF, and whether it contained a bare CR or LF.
        case line(ByteBuffer, hasBareLineEnding: Bool)
        case needMoreData
        /// No CRLF within the limit.
        case tooLong
    }

    /// Longest line accepted, including CRLF.
    public let maximumLength: Int

    public init(maximumLength: Int) {
        self.maximumLength = maximumLength
    }

    public func nextLine(_ input: inout ByteBuffer) -> Frame {
        let found = input.withUnsafeReadableBytes { LineEnd.find(in: $0, limit: maximumLength) }
        if let found {
            let line = input.readSlice(length: found.end) ?? ByteBuffer()
            input.moveReaderIndex(forwardBy: 2)
            return .line(line, hasBareLineEnding: found.hasBareLineEnding)
        }
        return input.readableBytes >= maximumLength ? .tooLong : .needMoreData
    }

    /// Discards input up to and including the next CRLF. Returns true once it was found; a
    /// final CR is kept in case its LF is in the next read.
    public func discardLine(_ input: inout ByteBuffer) -> Bool {
        let end: Int? = input.withUnsafeReadableBytes { bytes in
            var index = 0
            while index < bytes.count {
                if bytes[index] == UInt8(ascii: "\n"), index > 0, bytes[index - 1] == UInt8(ascii: "\r") {
                    return index + 1
                }
                index += 1
            }
            return nil
        }
        if let end {
            input.moveReaderIndex(forwardBy: end)
            return true
        }
        let keep = input.readableBytesView.last == UInt8(ascii: "\r") ? 1 : 0
        input.moveReaderIndex(forwardBy: input.readableBytes - keep)
        return false
    }
}
