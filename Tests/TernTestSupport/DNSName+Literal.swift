public import TernDNSCore

/// DNS names as string literals in test fixtures. Only tests get this: in the library a
/// literal initializer would trap on an invalid name where `try DNSName(...)` throws.
extension DNSName: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) {
        do {
            try self.init(value)
        } catch {
            preconditionFailure("invalid DNSName literal \(value): \(error)")
        }
    }
}
