public import NIOCore

/// What TOP sends of a message (RFC 1939 §7): "the headers of the message, the blank line
/// separating the headers from the body, and then the number of lines of the indicated
/// message's body". Fed the message a chunk at a time, it says how much of each chunk to send;
/// its state is three numbers, so a message streams through it whatever its size.
///
/// A line ends at LF (a CR before it belongs to the line). A message without a blank line is
/// all header, and is sent whole.
public struct POP3TopFilter: Sendable {
    private var inHeader = true
    /// The current line has no octet other than a CR yet.
    private var lineIsEmpty = true
    private var linesLeft: Int
    public private(set) var isDone: Bool

    /// `bodyLines`: how many lines of the body to send (0: none, only the header).
    public init(bodyLines: Int) {
        linesLeft = max(0, bodyLines)
        isDone = false
    }

    /// The start of `chunk` that belongs to what TOP sends (empty once the filter is done).
    public mutating func accept(_ chunk: ByteBuffer) -> ByteBuffer {
        let wanted = chunk.withUnsafeReadableBytes { accept($0) }
        return chunk.getSlice(at: chunk.readerIndex, length: wanted) ?? ByteBuffer()
    }

    /// How many octets at the start of `chunk` belong to what TOP sends; once the filter is
    /// done, 0.
    public mutating func accept(_ chunk: some Collection<UInt8>) -> Int {
        guard !isDone else { return 0 }
        var taken = 0
        for octet in chunk {
            taken += 1
            if octet == UInt8(ascii: "\n") {
                if inHeader {
                    if lineIsEmpty {
                        inHeader = false
                        if linesLeft == 0 { isDone = true }
                    }
                } else {
                    linesLeft -= 1
                    if linesLeft == 0 { isDone = true }
                }
                lineIsEmpty = true
                if isDone { return taken }
            } else if octet != UInt8(ascii: "\r") {
                lineIsEmpty = false
            }
        }
        return taken
    }
}
