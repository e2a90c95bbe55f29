public import TernMail
public import TernSASL

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
            guard let username = SASLPlain.field(response, allowEmpty: false) else { return .failure(.saslMalformed) }
            state = .loginPassword(username: username)
            return .challenge(Array("Password:".utf8))
        case .loginPassword(let username):
            state = .done
            guard let password = SASLPlain.field(response, allowEmpty: false) else { return .failure(.saslMalformed) }
            return .credentials(SASLCredentials(mechanism: .login, username: username, password: password))
        case .done:
            return .failure(.saslMalformed)
        }
    }

    static func plain(_ message: [UInt8]) -> Step {
        guard let credentials = SASLPlain.credentials(message) else { return .failure(.saslMalformed) }
        return .credentials(credentials)
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
