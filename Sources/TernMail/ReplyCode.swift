/// A three-digit SMTP reply code (RFC 5321 §4.2).
public struct ReplyCode: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int

    public init(_ rawValue: Int) {
        precondition((200...599).contains(rawValue), "reply codes are 2yz..5yz")
        self.rawValue = rawValue
    }

    /// 2yz: the requested action was completed.
    public var isPositiveCompletion: Bool { rawValue / 100 == 2 }
    /// 3yz: the command was accepted, more information is needed (354 for DATA).
    public var isPositiveIntermediate: Bool { rawValue / 100 == 3 }
    /// 4yz: a temporary failure; the client may try again.
    public var isTransientNegative: Bool { rawValue / 100 == 4 }
    /// 5yz: a permanent failure.
    public var isPermanentNegative: Bool { rawValue / 100 == 5 }

    public var description: String { String(rawValue) }
}
