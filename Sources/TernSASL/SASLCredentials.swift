/// What a client proved it knows, for the directory to check. The password never leaves the
/// authentication path: `description` leaves it out, so a log line cannot show it.
public struct SASLCredentials: Hashable, Sendable, CustomStringConvertible {
    public enum Mechanism: String, Hashable, Sendable {
        case plain = "PLAIN"
        case login = "LOGIN"
        /// RFC 7677: challenge–response; the protocol's driver runs it against the directory,
        /// since its proofs need the user's stored keys and a hash function.
        case scramSHA256 = "SCRAM-SHA-256"
    }

    public var mechanism: Mechanism
    /// The identity to act as (RFC 4616 authzid); empty means the user's own.
    public var authorizationID: String
    public var username: String
    public var password: String

    public init(mechanism: Mechanism, authorizationID: String = "", username: String, password: String) {
        self.mechanism = mechanism
        self.authorizationID = authorizationID
        self.username = username
        self.password = password
    }

    public var description: String { "\(mechanism.rawValue) \(username)" }
}

/// The mechanisms that end in a user name and a password, as every protocol reads them.
public enum SASLPlain {
    /// Limits of RFC 4616 §2: each of authzid, authcid and passwd at most 255 octets.
    public static let maximumFieldLength = 255

    /// `message = [authzid] UTF8NUL authcid UTF8NUL passwd` (RFC 4616 §2): exactly two NULs,
    /// a user name and a password that are not empty, every field UTF-8 without NUL. Nil for
    /// anything else.
    public static func credentials(_ message: [UInt8]) -> SASLCredentials? {
        let fields = message.split(separator: 0, maxSplits: 3, omittingEmptySubsequences: false)
        guard fields.count == 3, let authorizationID = field(fields[0], allowEmpty: true),
            let username = field(fields[1], allowEmpty: false), let password = field(fields[2], allowEmpty: false)
        else { return nil }
        return SASLCredentials(mechanism: .plain, authorizationID: authorizationID, username: username, password: password)
    }

    /// One field: valid UTF-8 of at most 255 octets, without NUL, CR, LF or any other control
    /// character (they have no place in a user name or password, and could forge log lines).
    public static func field<Bytes: Collection<UInt8>>(_ bytes: Bytes, allowEmpty: Bool) -> String? {
        guard bytes.count <= maximumFieldLength, allowEmpty || !bytes.isEmpty,
            !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F })
        else { return nil }
        var iterator = bytes.makeIterator()
        var scalars = String.UnicodeScalarView()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): scalars.append(scalar)
            case .emptyInput: return String(scalars)
            case .error: return nil
            }
        }
    }
}
