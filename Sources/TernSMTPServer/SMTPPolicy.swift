public import NIOCore
public import TernSASL
public import TernMIME
public import TernSMTPCore
public import TernMail

/// What a policy knows about the session when it decides.
public struct SessionFacts: Sendable {
    public var clientAddress: String
    public var tlsActive: Bool
    /// The user the client authenticated as (SMTP AUTH), if it did.
    public var authenticatedUser: String?
    /// The session's event loop, for a check that completes later (`PolicyCheck.pending`).
    public var eventLoop: (any EventLoop)?
    /// The transaction's `SIZE=` (RFC 1870), once MAIL has given one.
    public var declaredSize: Int?

    public init(
        clientAddress: String, tlsActive: Bool, authenticatedUser: String? = nil, eventLoop: (any EventLoop)? = nil,
        declaredSize: Int? = nil
    ) {
        self.clientAddress = clientAddress
        self.tlsActive = tlsActive
        self.authenticatedUser = authenticatedUser
        self.eventLoop = eventLoop
        self.declaredSize = declaredSize
    }
}

/// A decision now, or one that needs I/O (a directory lookup, DNS) and comes later.
public enum PolicyCheck: Sendable {
    case decided(ServerSessionStateMachine.PolicyDecision)
    case pending(EventLoopFuture<ServerSessionStateMachine.PolicyDecision>)
}

/// An authentication decision now, or one that needs I/O (a directory lookup, a slow hash).
public enum AuthenticationCheck: Sendable {
    case decided(ServerSessionStateMachine.AuthenticationDecision)
    case pending(EventLoopFuture<ServerSessionStateMachine.AuthenticationDecision>)
}

/// Decides per stage whether a transaction may go on (maddy's sender and recipient checks),
/// and who a client that authenticates is. Called on the connection's event loop.
public protocol SMTPPolicy: Sendable {
    func checkSender(_ path: ReversePath, _ parameters: MailParameters, session: SessionFacts) -> PolicyCheck
    func checkRecipient(_ path: ForwardPath, _ parameters: RecipientParameters, session: SessionFacts) -> PolicyCheck
    func authenticate(_ credentials: SASLCredentials, session: SessionFacts, on eventLoop: any EventLoop)
        -> AuthenticationCheck
    /// A submitted message's From: and Sender: fields (RFC 6409 §8.1), or why they cannot be
    /// read (which a policy that checks them must refuse: hostile-inputs 48): nil to accept
    /// the message, or the reply that refuses it.
    func checkHeaderSenders(_ originators: Result<Originators, Originators.Unreadable>, session: SessionFacts)
        -> SMTPReply?
    /// Whether the server vouches for the sender address of this session's mail: the client
    /// authenticated or is otherwise trusted (a relay network).
    func vouchesForSender(_ session: SessionFacts) -> Bool
    /// A new exchange of a challenge–response mechanism (SCRAM-SHA-256), or nil when the
    /// policy does not run it (the client is then refused).
    func beginExchange(_ mechanism: SASLCredentials.Mechanism, session: SessionFacts) -> (any SASLMechanismServer)?
    /// A whole message at the end of DATA or BDAT LAST, before it is committed: accept, refuse
    /// with a reply, or drop the connection.
    func checkMessage(_ envelope: Envelope, session: SessionFacts) -> PolicyCheck
}

extension SMTPPolicy {
    /// Whether the server vouches for the sender address of this session's mail (it goes into
    /// `ArrivalTrace.trusted`): by default, when the client authenticated.
    public func vouchesForSender(_ session: SessionFacts) -> Bool {
        session.authenticatedUser != nil
    }

    public func checkHeaderSenders(_ originators: Result<Originators, Originators.Unreadable>, session: SessionFacts)
        -> SMTPReply?
    {
        nil
    }

    public func beginExchange(_ mechanism: SASLCredentials.Mechanism, session: SessionFacts)
        -> (any SASLMechanismServer)?
    {
        nil
    }

    public func checkMessage(_ envelope: Envelope, session: SessionFacts) -> PolicyCheck {
        .decided(.accept)
    }
}

/// One exchange of a challenge–response mechanism, held by the connection between the
/// client's messages. Each response is answered with a challenge (334) or an outcome.
public protocol SASLMechanismServer: AnyObject, Sendable {
    func respond(_ response: [UInt8], on eventLoop: any EventLoop) -> AuthenticationCheck
    /// The user name the client gave, once it gave one (for the log).
    var username: String? { get }
}

/// Accepts every sender and recipient, and any credentials (as Mailpit's "accept any"): the
/// dev-mode catcher, where every message is captured and nothing is relayed. The user name an
/// application logs in with names its inbox, made when the login's first MAIL arrives (not at
/// the login: a login alone leaves nothing on disk).
public struct AcceptAllPolicy: SMTPPolicy {
    /// The catcher's inboxes: whether a login needs one made, and making it.
    public struct Inboxes: Sendable {
        public var needsInbox: @Sendable (String) -> Bool
        public var openInbox: @Sendable (String) async throws -> Void

        public init(
            needsInbox: @escaping @Sendable (String) -> Bool, openInbox: @escaping @Sendable (String) async throws -> Void
        ) {
            self.needsInbox = needsInbox
            self.openInbox = openInbox
        }
    }

    private let inboxes: Inboxes?

    public init(inboxes: Inboxes? = nil) {
        self.inboxes = inboxes
    }

    public func authenticate(_ credentials: SASLCredentials, session: SessionFacts, on eventLoop: any EventLoop)
        -> AuthenticationCheck
    {
        // An authorization identity other than the user's own is still refused: nothing acts
        // on behalf of someone else, not even here.
        guard credentials.authorizationID.isEmpty || credentials.authorizationID == credentials.username else {
            return .decided(.rejected)
        }
        return .decided(.accepted(user: credentials.username))
    }

    public func checkSender(_ path: ReversePath, _ parameters: MailParameters, session: SessionFacts) -> PolicyCheck {
        guard let inboxes, let user = session.authenticatedUser, let eventLoop = session.eventLoop,
            inboxes.needsInbox(user)
        else { return .decided(.accept) }
        let promise = eventLoop.makePromise(of: ServerSessionStateMachine.PolicyDecision.self)
        promise.completeWithTask {
            // A catcher never refuses: if the inbox cannot be made, the default one takes the mail.
            try? await inboxes.openInbox(user)
            return .accept
        }
        return .pending(promise.futureResult)
    }

    public func checkRecipient(_ path: ForwardPath, _ parameters: RecipientParameters, session: SessionFacts)
        -> PolicyCheck
    {
        .decided(.accept)
    }
}
