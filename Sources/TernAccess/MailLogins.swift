public import NIOCore
public import TernSASL
import TernDirectory

/// One connection's logins over an access protocol (IMAP, POP3): passwords checked and
/// SCRAM-SHA-256 exchanges run through `MailAccess`, each answer a `Step` that the protocol's
/// driver words its own way (`NO [AUTHENTICATIONFAILED]`, `-ERR [AUTH]`). Lives on the
/// connection's event loop with its driver.
public final class MailLogins {
    /// Where a login stands after a check or a response.
    public enum Step: Sendable {
        case accepted(user: String, mechanism: SASLCredentials.Mechanism)
        /// Send this challenge; the client's next response goes to `respond`.
        case challenge([UInt8])
        case rejected(username: String)
        /// The directory could not answer now.
        case unavailable(username: String)
        /// The response broke the mechanism's grammar.
        case malformed(username: String)
    }

    private let access: any MailAccess
    private var scram: SCRAMLogin?

    public init(access: any MailAccess) {
        self.access = access
    }

    /// Checks a user name and password (LOGIN, USER/PASS, AUTH PLAIN).
    public func check(_ credentials: SASLCredentials, client: String, on eventLoop: any EventLoop) -> EventLoopFuture<Step> {
        let access = self.access
        return eventLoop.makeFutureWithTask {
            switch try await access.login(credentials, client: client) {
            case .accepted(let user): .accepted(user: user, mechanism: credentials.mechanism)
            case .rejected: .rejected(username: credentials.username)
            case .unavailable: .unavailable(username: credentials.username)
            }
        }.recover { _ in .unavailable(username: credentials.username) }
    }

    /// The client's next SCRAM-SHA-256 response, the first of a new exchange when `isFirst`.
    public func respond(_ response: [UInt8], isFirst: Bool, client: String, on eventLoop: any EventLoop) -> EventLoopFuture<Step> {
        if isFirst { scram = access.scramLogin(client: client) }
        guard let exchange = scram else { return eventLoop.makeSucceededFuture(.rejected(username: "-")) }
        let future = eventLoop.makeFutureWithTask { () -> Step in
            switch try await exchange.respond(response) {
            case .challenge(let challenge): .challenge(challenge)
            case .accepted(let account): .accepted(user: account.address, mechanism: .scramSHA256)
            case .rejected: .rejected(username: exchange.username ?? "-")
            case .malformed: .malformed(username: exchange.username ?? "-")
            }
        }.recover { _ in .unavailable(username: exchange.username ?? "-") }
        return future.assumeIsolated().map { [self] step in
            if case .challenge = step {} else { scram = nil }
            return step
        }.nonisolated()
    }
}
