/// The server's side of one SASL exchange, as SMTP AUTH (RFC 4954 §4), IMAP AUTHENTICATE
/// (RFC 9051 §6.2.2) and POP3 AUTH (RFC 5034 §4) run it: the mechanisms that end in a user name
/// and password, PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login), run here, and every
/// response of a challenge–response mechanism (SCRAM-SHA-256) is handed to the driver. Sans-IO:
/// it takes the decoded client responses and says what to send or check next; each protocol's
/// machine does its own framing (base64 lines, cancellation, line limits) and replies.
public struct SASLServerExchange: Sendable {
    public enum Step: Hashable, Sendable {
        /// Send `334` with these octets (base64-encoded) and wait for the next response.
        case challenge([UInt8])
        /// The exchange is complete: check these credentials.
        case credentials(SASLCredentials)
        /// A response for the mechanism the driver runs; `isFirst` starts a new exchange.
        case exchange(SASLCredentials.Mechanism, [UInt8], isFirst: Bool)
        /// The client's response is not valid for the mechanism: refuse it.
        case malformed
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
            guard let username = SASLPlain.field(response, allowEmpty: false) else { return .malformed }
            state = .loginPassword(username: username)
            return .challenge(Array("Password:".utf8))
        case .loginPassword(let username):
            state = .done
            guard let password = SASLPlain.field(response, allowEmpty: false) else { return .malformed }
            return .credentials(SASLCredentials(mechanism: .login, username: username, password: password))
        case .done:
            return .malformed
        }
    }

    static func plain(_ message: [UInt8]) -> Step {
        guard let credentials = SASLPlain.credentials(message) else { return .malformed }
        return .credentials(credentials)
    }
}
