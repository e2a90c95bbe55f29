public import NIOCore

/// Counts the `Received:` fields in the header section of a message as its content streams
/// past, so a mail loop is stopped (RFC 5321 §6.3: a server should reject a message whose
/// trace fields show it has passed through too many hops; Postfix's hopcount_limit is 50).
///
/// Only the header section is examined (up to the first empty line), octet by octet but at
/// most `maximumHeaderScan` octets, so the cost is bounded whatever the message looks like.
public struct HopCounter: Sendable {
    public private(set) var count = 0
    private var inHeaders = true
    private var atLineStart = true
    /// How much of "received:" the current line has matched so far; -1 when it cannot match.
    private var matched = 0
    private var scanned = 0
    private static let maximumHeaderScan = 1024 * 1024
    private static let fieldName: [UInt8] = Array("received:".utf8)

    public init() {}

    public mutating func scan(_ chunk: ByteBuffer) {
        guard inHeaders else { return }
        chunk.withUnsafeReadableBytes { bytes in
            for byte in bytes {
                scanned += 1
                if scanned > Self.maximumHeaderScan {
                    inHeaders = false
                    return
                }
                if byte == UInt8(ascii: "\n") {
                    atLineStart = true
                    matched = 0
                    continue
                }
                if atLineStart, byte == UInt8(ascii: "\r") {
                    // An empty line ends the header section.
                    inHeaders = false
                    return
                }
                atLineStart = false
                guard matched >= 0, matched < Self.fieldName.count else { continue }
                let lower = byte | (byte >= 0x41 && byte <= 0x5A ? 0x20 : 0)
                if lower == Self.fieldName[matched] {
                    matched += 1
                    if matched == Self.fieldName.count { count += 1 }
                } else {
                    matched = -1
                }
            }
        }
    }
}
