public import TernMail

/// What a client proved it knows, for the directory to check. The password never leaves the
/// authentication path: `description` leaves it out, so a log line cannot show it.
public struct SASLCredentials: Hashable, Sendable, CustomStringConvertible {
    public enum Mechanism: String, Hashable, Sendable {
        case plain = "PLAIN"
        case login = "LOGIN"
        /// RFC 7677: challenge–response; the driver runs it (`Step.exchange`), since its
        /// proofs need the user's stored keys and a hash function.
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

/// The server's side of one SASL exchange in SMTP AUTH (RFC 4954 §4). It runs the mechanisms
/// that end in a user name and password, PLAIN (RFC 4616) and LOGIN
/// (draft-murchison-sasl-login), and hands every response of a challenge–response mechanism
/// (SCRAM-SHA-256) to the driver. Sans-IO: it takes the decoded client responses and says what
/// to send or check next; the session machine does base64, cancellation and the line limits.
public struct SASLServerExchange: Sendable {
    public enum Step: Hashable, Sendable {
        /// Send `334` with these octets (base64-encoded) and wait for the next response.
        case challenge([UInt8])
        /// The exchange is complete: check these credentials.
        case credentials(SASLCredentials)
        /// A response for the mechanism the driver runs; `isFirst` starts a new exchange.
        case exchange(SASLCredentials.Mechanism, [UInt8], isFirst: Bool)
        /// The client's response is not valid for the mechanism: refuse with this reply.
        case failure(SMTPReply)
    }

    enum State: Sendable {
        case plain
        case loginUsername
        case loginPassword(username: String)
        case delegated(SASLCredentials.Mechanism)
        case done
    }

    /// Limits of RFC 4616 §2: each of authzid, authcid and passwd at most 255 octets.
    static let maximumFieldLength = 255

    private var state: State
    /// Whether a response of a delegated mechanism was handed on yet.
    private var hasDelegated = false

    /// Starts `mechanism` (upper-case name) with the client's initial response, if it sent one
    /// (RFC 4954 §4: `=` stands for an empty one; the caller has decoded it). Nil for a
    /// mechanism this exchange does not implement.
    public static func start(_ mechanism: String, initialResponse: [UInt8]?) -> (SASLServerExchange, Step)? {
        switch mechanism {
        case SASLCredentials.Mechanism.plain.rawValue:
            var exchange = SASLServerExchange(state: .plain)
            guard let initialResponse else { return (exchange, .challenge([])) }
            let step = exchange.respond(initialResponse)
            return (exchange, step)
        case SASLCredentials.Mechanism.login.rawValue:
            var exchange = SASLServerExchange(state: .loginUsername)
            // An initial response to LOGIN is the user name (as Postfix and Exim accept it).
            guard let initialResponse, !initialResponse.isEmpty else {
                return (exchange, .challenge(Array("Username:".utf8)))
            }
            // The step first: the exchange returned must be the one it advanced.
            let step = exchange.respond(initialResponse)
            return (exchange, step)
        case SASLCredentials.Mechanism.scramSHA256.rawValue:
            var exchange = SASLServerExchange(state: .delegated(.scramSHA256))
            // SCRAM is client-first: without an initial response, an empty challenge asks for it.
            guard let initialResponse else { return (exchange, .challenge([])) }
            let step = exchange.respond(initialResponse)
            return (exchange, step)
        default:
            return nil
        }
    }

    private init(state: State) {
        self.state = state
    }

    /// The client's next (decoded) response.
    public mutating func respond(_ response: [UInt8]) -> Step {
        switch state {
        case .delegated(let mechanism):
            defer { hasDelegated = true }
            return .exchange(mechanism, response, isFirst: !hasDelegated)
        case .plain:
            state = .done
            return Self.plain(response)
        case .loginUsername:
            guard let username = Self.field(response, allowEmpty: false) else { return .failure(.saslMalformed) }
            state = .loginPassword(username: username)
            return .challenge(Array("Password:".utf8))
        case .loginPassword(let username):
            state = .done
            guard let password = Self.field(response, allowEmpty: false) else { return .failure(.saslMalformed) }
            return .credentials(SASLCredentials(mechanism: .login, username: username, password: password))
        case .done:
            return .failure(.saslMalformed)
        }
    }

    /// `message = [authzid] UTF8NUL authcid UTF8NUL passwd` (RFC 4616 §2): exactly two NULs,
    /// a user name and a password that are not empty, every field UTF-8 without NUL.
    static func plain(_ message: [UInt8]) -> Step {
        let fields = message.split(separator: 0, maxSplits: 3, omittingEmptySubsequences: false)
        guard fields.count == 3, let authorizationID = field(fields[0], allowEmpty: true),
            let username = field(fields[1], allowEmpty: false), let password = field(fields[2], allowEmpty: false)
        else { return .failure(.saslMalformed) }
        return .credentials(
            SASLCredentials(mechanism: .plain, authorizationID: authorizationID, username: username, password: password))
    }

    /// One field: valid UTF-8 of at most 255 octets, without NUL, CR, LF or any other control
    /// character (they have no place in a user name or password, and could forge log lines).
    static func field<Bytes: Collection<UInt8>>(_ bytes: Bytes, allowEmpty: Bool) -> String? {
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

extension SMTPReply {
    // RFC 4954 §6 and RFC 3463 (with RFC 5248's registry of enhanced codes).
    public static let authenticationSucceeded = SMTPReply(235, EnhancedStatusCode(2, 7, 0), "Authentication successful")
    public static let authenticationFailed = SMTPReply(
        535, EnhancedStatusCode(5, 7, 8), "Authentication credentials invalid")
    public static let authenticationTemporaryFailure = SMTPReply(
        454, EnhancedStatusCode(4, 7, 0), "Temporary authentication failure")
    static let saslMalformed = SMTPReply(501, EnhancedStatusCode(5, 5, 2), "Malformed authentication response")
    static let saslBadBase64 = SMTPReply(501, EnhancedStatusCode(5, 5, 2), "Cannot decode the base64 response")
    static let saslCancelled = SMTPReply(501, EnhancedStatusCode(5, 0, 0), "Authentication cancelled")
    static let saslLineTooLong = SMTPReply(
        500, EnhancedStatusCode(5, 5, 6), "Authentication exchange line is too long")
    static let unknownMechanism = SMTPReply(504, EnhancedStatusCode(5, 5, 4), "Unrecognized authentication type")
    static let alreadyAuthenticated = SMTPReply(503, EnhancedStatusCode(5, 5, 1), "Already authenticated")
    static let authenticationInTransaction = SMTPReply(
        503, EnhancedStatusCode(5, 5, 1), "AUTH is not permitted during a mail transaction")
    static let authenticationNeedsEncryption = SMTPReply(
        538, EnhancedStatusCode(5, 7, 11), "Encryption required for requested authentication mechanism")
    static let authenticationNotOffered = SMTPReply(502, EnhancedStatusCode(5, 5, 1), "AUTH is not offered here")
    public static let authenticationRequired = SMTPReply(530, EnhancedStatusCode(5, 7, 0), "Authentication required")
    public static let startTLSRequired = SMTPReply(
        530, EnhancedStatusCode(5, 7, 0), "Must issue a STARTTLS command first")
    static let authSyntax = SMTPReply(501, EnhancedStatusCode(5, 5, 4), "Syntax: AUTH mechanism [initial-response]")
}
