/// The identifier of one accepted message: its spool name, its Received `id` clause and
/// the text of `250 2.0.0 Ok: queued as <id>`.
///
/// Sixteen characters of Crockford base 32 (`0-9A-Z` without I, L, O, U): ten encode the
/// microseconds since 1970 so identifiers sort by arrival (like Postfix's long queue IDs),
/// six come from a random source so concurrent sessions never collide. Only those characters
/// can appear, so a QueueID is always safe as a file name and inside a header.
public struct QueueID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: String

    static let alphabet: [UInt8] = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
    public static let length = 16

    /// Validates a stored identifier (for example a spool file name).
    public init?(_ rawValue: String) {
        guard rawValue.utf8.count == Self.length,
            rawValue.utf8.allSatisfy({ Self.alphabet.contains($0) })
        else { return nil }
        self.rawValue = rawValue
    }

    /// Makes a new identifier from the arrival time and 30 random bits.
    public init<R: RandomNumberGenerator>(microsecondsSinceEpoch: UInt64, using generator: inout R) {
        var bytes = [UInt8](repeating: 0, count: Self.length)
        var time = microsecondsSinceEpoch
        for index in stride(from: 9, through: 0, by: -1) {
            bytes[index] = Self.alphabet[Int(time & 31)]
            time >>= 5
        }
        var random = generator.next()
        for index in 10..<Self.length {
            bytes[index] = Self.alphabet[Int(random & 31)]
            random >>= 5
        }
        self.rawValue = String(decoding: bytes, as: UTF8.self)
    }

    public var description: String { rawValue }

    public static func < (lhs: QueueID, rhs: QueueID) -> Bool { lhs.rawValue < rhs.rawValue }
}
