/// An RFC 3463 enhanced mail system status code: `class.subject.detail`, e.g. `5.1.1`.
///
/// RFC 2034 asks a server that advertises ENHANCEDSTATUSCODES to put one on every reply
/// except the greeting and the EHLO/HELO reply.
public struct EnhancedStatusCode: Hashable, Sendable, CustomStringConvertible {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    public var statusClass: UInt8
    public var subject: UInt16
    public var detail: UInt16

    public init(_ statusClass: UInt8, _ subject: UInt16, _ detail: UInt16) {
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }
}
