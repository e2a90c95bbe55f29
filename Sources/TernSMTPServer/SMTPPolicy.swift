public import NIOCore
public import TernSMTPCore

/// What a policy knows about the session when it decides.
public struct SessionFacts: Sendable {
    public var clientAddress: String
    public var tlsActive: Bool

    public init(clientAddress: String, tlsActive: Bool) {
        self.clientAddress = clientAddress
        self.tlsActive = tlsActive
    }
}

/// A decision now, or one that needs I/O (a directory lookup, DNS) and comes later.
public enum PolicyCheck: Sendable {
    case decided(ServerSessionStateMachine.PolicyDecision)
    case pending(EventLoopFuture<ServerSessionStateMachine.PolicyDecision>)
}

/// Decides per stage whether a transaction may go on (maddy's sender and recipient checks).
/// Called on the connection's event loop.
public protocol SMTPPolicy: Sendable {
    func checkSender(_ path: ReversePath, _ parameters: MailParameters, session: SessionFacts) -> PolicyCheck
    func checkRecipient(_ path: ForwardPath, _ parameters: RecipientParameters, session: SessionFacts) -> PolicyCheck
}

/// Accepts every sender and recipient: the dev-mode catcher, where every message is captured
/// and nothing is relayed.
public struct AcceptAllPolicy: SMTPPolicy {
    public init() {}

    public func checkSender(_ path: ReversePath, _ parameters: MailParameters, session: SessionFacts) -> PolicyCheck {
        .decided(.accept)
    }

    public func checkRecipient(_ path: ForwardPath, _ parameters: RecipientParameters, session: SessionFacts)
        -> PolicyCheck
    {
        .decided(.accept)
    }
}
