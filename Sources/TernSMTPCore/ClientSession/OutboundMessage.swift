public import TernMail

/// One message for the client to send: its envelope and the facts about its content that the
/// session needs before any octet of it is read (RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 3030
/// BINARYMIME, RFC 6531 SMTPUTF8). The body itself streams later, chunk by chunk, when the
/// machine asks for it (`Action.requestBodyChunk`).
public struct OutboundMessage: Hashable, Sendable {
    /// Sender, recipients and DSN parameters (RFC 3461) to pass on. `envelope.body` and
    /// `envelope.declaredSize` are not read: `body` and `size` below describe the content.
    public var envelope: Envelope
    /// The size of the body in octets, exactly as it will be streamed (before dot-stuffing).
    /// Sent as `SIZE=` and compared with the server's SIZE limit.
    public var size: Int
    /// The content class: `.sevenBit`, `.eightBitMIME` (octets ≥ 0x80 in a line-oriented
    /// body) or `.binaryMIME` (any octets, no line structure; needs BDAT).
    public var body: BodyType

    /// - Parameter body: the content class; by default the one the envelope declares, or
    ///   7BIT. The queue may pass a stricter one after scanning the content.
    public init(envelope: Envelope, size: Int, body: BodyType? = nil) {
        self.envelope = envelope
        self.size = size
        self.body = body ?? envelope.body ?? .sevenBit
    }

    /// The message can only travel with SMTPUTF8 (RFC 6531 §3.2): it arrived with the
    /// SMTPUTF8 parameter, or an address in the envelope is not ASCII. There is no downgrade.
    public var requiresSMTPUTF8: Bool {
        envelope.smtpUTF8 || envelope.sender?.isInternationalized == true
            || envelope.recipients.contains { $0.address.isInternationalized }
    }
}
