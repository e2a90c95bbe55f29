public import NIOCore
public import TernMIME
public import TernMail
public import TernSASL
public import TernSMTPCore
import Synchronization

/// One failure the catcher injects, so an application's tests can see how it copes with a
/// refusing or failing mail server (Mailpit's chaos, MailHog's Jim): at one stage of the
/// SMTP transaction, for matching senders, recipients or inboxes, answer with a given reply,
/// answer late, or drop the connection.
public struct ChaosRule: Sendable, Hashable, Codable {
    public enum Stage: String, Sendable, Hashable, Codable, CaseIterable {
        /// MAIL FROM.
        case mail
        /// RCPT TO, per recipient.
        case rcpt
        /// The end of DATA (or BDAT LAST): the whole message.
        case data
        /// AUTH: a 4yz reply is a temporary failure (454), a 5yz a refused login (535).
        case auth
    }

    public var stage: Stage
    /// A pattern of the envelope sender (`*` any run of characters, `?` one), any case; nil
    /// for any sender.
    public var sender: String?
    /// A pattern of the recipient (rcpt) or of any recipient (data); nil for any.
    public var recipient: String?
    /// The inbox (the login's name, `default` without one); nil for any.
    public var inbox: String?
    /// The reply, `451 4.3.0 Try again later`: code 400–599, an optional enhanced code of the
    /// same class, text. Nil: the stage goes on (after `delay`), unless `drop`.
    public var reply: String?
    /// Seconds the reply waits, 0 to 300.
    public var delay: Double?
    /// Close the connection without a reply.
    public var drop: Bool?
    /// Percent of the matching commands this rule hits, 0 to 100 (default 100).
    public var probability: Int?

    public init(
        stage: Stage, sender: String? = nil, recipient: String? = nil, inbox: String? = nil, reply: String? = nil,
        delay: Double? = nil, drop: Bool? = nil, probability: Int? = nil
    ) {
        self.stage = stage
        self.sender = sender
        self.recipient = recipient
        self.inbox = inbox
        self.reply = reply
        self.delay = delay
        self.drop = drop
        self.probability = probability
    }

    enum CodingKeys: String, CodingKey {
        case stage = "Stage"
        case sender = "Sender"
        case recipient = "Recipient"
        case inbox = "Inbox"
        case reply = "Reply"
        case delay = "Delay"
        case drop = "Drop"
        case probability = "Probability"
    }

    /// Why a rule cannot be used.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public static let maximumDelay = 300.0
    static let maximumPatternLength = 512

    /// Checks the rule; returns its reply when it has one.
    public func validated() throws(Problem) -> SMTPReply? {
        for pattern in [sender, recipient, inbox].compactMap({ $0 })
        where pattern.unicodeScalars.count > Self.maximumPatternLength {
            throw Problem(description: "a pattern is longer than \(Self.maximumPatternLength) characters")
        }
        if let delay {
            guard delay.isFinite, (0...Self.maximumDelay).contains(delay) else {
                throw Problem(description: "Delay must be 0 to \(Int(Self.maximumDelay)) seconds")
            }
        }
        if let probability, !(0...100).contains(probability) {
            throw Problem(description: "Probability must be 0 to 100")
        }
        guard let reply else {
            guard drop == true || delay != nil else {
                throw Problem(description: "a rule needs a Reply, a Delay or Drop")
            }
            return nil
        }
        return try Self.reply(reply)
    }

    /// `451 4.3.0 text` as a reply: code 400–599, US-ASCII.
    public static func reply(_ text: String) throws(Problem) -> SMTPReply {
        guard text.utf8.count <= 512, text.utf8.allSatisfy({ (0x20...0x7E).contains($0) }),
            let parsed = SMTPReply(storedLine: text), (400...599).contains(parsed.code.rawValue)
        else {
            throw Problem(description: "'\(text)' is not a reply such as \"451 4.3.0 Try again later\" (code 400 to 599)")
        }
        return parsed
    }

    /// `*` any run, `?` one character, case-insensitive, over Unicode scalars; at most
    /// quadratic in the pattern and subject lengths, both bounded.
    static func matches(_ pattern: String, _ subject: String) -> Bool {
        let pattern = Array(pattern.lowercased().unicodeScalars)
        let subject = Array(subject.lowercased().unicodeScalars.prefix(4096))
        var (p, s) = (0, 0)
        var star: Int?
        var resume = 0
        while s < subject.count {
            if p < pattern.count, pattern[p] == "?" || pattern[p] == subject[s] {
                p += 1
                s += 1
            } else if p < pattern.count, pattern[p] == "*" {
                star = p
                resume = s
                p += 1
            } else if let star {
                p = star + 1
                resume += 1
                s = resume
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}

/// Mailpit's chaos triggers (`/api/v1/chaos`): per stage, an error code and how often, in
/// percent. A code 0 or a probability 0 is off.
public struct ChaosTriggers: Sendable, Hashable, Codable {
    public struct Trigger: Sendable, Hashable, Codable {
        public var errorCode: Int
        public var probability: Int

        public init(errorCode: Int = 451, probability: Int = 0) {
            self.errorCode = errorCode
            self.probability = probability
        }

        enum CodingKeys: String, CodingKey {
            case errorCode = "ErrorCode"
            case probability = "Probability"
        }
    }

    public var authentication = Trigger()
    public var recipient = Trigger()
    public var sender = Trigger()

    public init() {}

    enum CodingKeys: String, CodingKey {
        case authentication = "Authentication"
        case recipient = "Recipient"
        case sender = "Sender"
    }

    /// A trigger omitted from the JSON is off (Mailpit: "reset to their default values"); one
    /// given must be a trigger (`null` is not).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func trigger(_ key: CodingKeys) throws -> Trigger {
            container.contains(key) ? try container.decode(Trigger.self, forKey: key) : Trigger()
        }
        authentication = try trigger(.authentication)
        recipient = try trigger(.recipient)
        sender = try trigger(.sender)
    }

    public func validated() throws(ChaosRule.Problem) {
        for trigger in [authentication, recipient, sender] {
            guard (400...599).contains(trigger.errorCode) else {
                throw ChaosRule.Problem(description: "ErrorCode must be 400 to 599")
            }
            guard (0...100).contains(trigger.probability) else {
                throw ChaosRule.Problem(description: "Probability must be 0 to 100")
            }
        }
    }

    /// The triggers as rules, after any of the configured ones.
    var rules: [ChaosRule] {
        [(ChaosRule.Stage.auth, authentication), (.mail, sender), (.rcpt, recipient)].compactMap { stage, trigger in
            guard trigger.probability > 0 else { return nil }
            let code = trigger.errorCode
            let enhanced = code >= 500 ? "5.7.0" : "4.7.0"
            return ChaosRule(stage: stage, reply: "\(code) \(enhanced) Chaos error", probability: trigger.probability)
        }
    }
}

/// The rules in force, changed by the API while sessions read them.
public final class ChaosRules: Sendable {
    private struct State {
        var rules: [ChaosRule] = []
        var triggers = ChaosTriggers()
    }

    private let state: Mutex<State>
    /// Draws a number in 0..<100 for a rule's probability (fixed in tests).
    let draw: @Sendable () -> Int

    public init(rules: [ChaosRule] = [], draw: @escaping @Sendable () -> Int = { Int.random(in: 0..<100) }) {
        state = Mutex(State(rules: rules))
        self.draw = draw
    }

    public var rules: [ChaosRule] { state.withLock { $0.rules } }
    public var triggers: ChaosTriggers { state.withLock { $0.triggers } }

    public func replace(_ rules: [ChaosRule]) throws(ChaosRule.Problem) {
        for rule in rules { _ = try rule.validated() }
        state.withLock { $0.rules = rules }
    }

    public func replace(_ triggers: ChaosTriggers) throws(ChaosRule.Problem) {
        try triggers.validated()
        state.withLock { $0.triggers = triggers }
    }

    /// What happens at `stage` for this transaction: the first rule that matches and hits.
    func outcome(
        _ stage: ChaosRule.Stage, sender: String?, recipients: [String], inbox: String
    ) -> (reply: SMTPReply?, delay: Double, drop: Bool)? {
        let (rules, triggers) = state.withLock { ($0.rules, $0.triggers) }
        for rule in rules + triggers.rules where rule.stage == stage {
            if let pattern = rule.sender, !ChaosRule.matches(pattern, sender ?? "") { continue }
            if let pattern = rule.recipient, !recipients.contains(where: { ChaosRule.matches(pattern, $0) }) { continue }
            if let pattern = rule.inbox, !ChaosRule.matches(pattern, inbox) { continue }
            guard draw() < (rule.probability ?? 100) else { continue }
            let reply = rule.reply.flatMap { try? ChaosRule.reply($0) }
            return (reply, rule.delay ?? 0, rule.drop ?? false)
        }
        return nil
    }
}

/// Another policy with chaos in front: each check asks the rules first, and a rule's reply,
/// delay or dropped connection takes the place of (or comes before) the policy's own answer.
public struct ChaosPolicy: SMTPPolicy {
    public let base: any SMTPPolicy
    public let rules: ChaosRules
    /// The inbox a login's mail goes to (the catcher's canonical name).
    let inbox: @Sendable (String?) -> String

    public init(base: any SMTPPolicy, rules: ChaosRules, inbox: @escaping @Sendable (String?) -> String) {
        self.base = base
        self.rules = rules
        self.inbox = inbox
    }

    public func checkSender(_ path: ReversePath, _ parameters: MailParameters, session: SessionFacts) -> PolicyCheck {
        let sender = path.mailbox?.description
        return apply(.mail, sender: sender, recipients: [], session: session) {
            base.checkSender(path, parameters, session: session)
        }
    }

    public func checkRecipient(_ path: ForwardPath, _ parameters: RecipientParameters, session: SessionFacts)
        -> PolicyCheck
    {
        apply(.rcpt, sender: nil, recipients: [path.mailbox.description], session: session) {
            base.checkRecipient(path, parameters, session: session)
        }
    }

    public func checkMessage(_ envelope: Envelope, session: SessionFacts) -> PolicyCheck {
        apply(
            .data, sender: envelope.sender?.description, recipients: envelope.recipients.map(\.address.description),
            session: session
        ) { base.checkMessage(envelope, session: session) }
    }

    public func authenticate(_ credentials: SASLCredentials, session: SessionFacts, on eventLoop: any EventLoop)
        -> AuthenticationCheck
    {
        guard let outcome = rules.outcome(.auth, sender: nil, recipients: [], inbox: inbox(credentials.username)) else {
            return base.authenticate(credentials, session: session, on: eventLoop)
        }
        let decision: ServerSessionStateMachine.AuthenticationDecision? =
            outcome.reply.map { $0.code.rawValue >= 500 ? .rejected : .temporaryFailure }
        let base = self.base
        let later: @Sendable () -> EventLoopFuture<ServerSessionStateMachine.AuthenticationDecision> = {
            if let decision { return eventLoop.makeSucceededFuture(decision) }
            switch base.authenticate(credentials, session: session, on: eventLoop) {
            case .decided(let decision): return eventLoop.makeSucceededFuture(decision)
            case .pending(let future): return future
            }
        }
        guard outcome.delay > 0 else { return .pending(later()) }
        return .pending(
            eventLoop.scheduleTask(in: Self.timeAmount(outcome.delay)) {}.futureResult.flatMap { later() })
    }

    public func checkHeaderSenders(_ originators: Result<Originators, Originators.Unreadable>, session: SessionFacts)
        -> SMTPReply?
    {
        base.checkHeaderSenders(originators, session: session)
    }

    public func vouchesForSender(_ session: SessionFacts) -> Bool {
        base.vouchesForSender(session)
    }

    public func beginExchange(_ mechanism: SASLCredentials.Mechanism, session: SessionFacts)
        -> (any SASLMechanismServer)?
    {
        base.beginExchange(mechanism, session: session)
    }

    /// The rule's outcome for one check, or the base policy's answer (after the rule's delay).
    private func apply(
        _ stage: ChaosRule.Stage, sender: String?, recipients: [String], session: SessionFacts,
        otherwise: @escaping @Sendable () -> PolicyCheck
    ) -> PolicyCheck {
        guard let outcome = rules.outcome(stage, sender: sender, recipients: recipients, inbox: inbox(session.authenticatedUser))
        else { return otherwise() }
        let decision: ServerSessionStateMachine.PolicyDecision? =
            outcome.drop ? .disconnect : outcome.reply.map { .reject($0) }
        guard outcome.delay > 0, let eventLoop = session.eventLoop else {
            return decision.map { .decided($0) } ?? otherwise()
        }
        let delayed = eventLoop.scheduleTask(in: Self.timeAmount(outcome.delay)) {}.futureResult
        return .pending(
            delayed.flatMap {
                if let decision { return eventLoop.makeSucceededFuture(decision) }
                switch otherwise() {
                case .decided(let decision): return eventLoop.makeSucceededFuture(decision)
                case .pending(let future): return future
                }
            })
    }

    static func timeAmount(_ seconds: Double) -> TimeAmount {
        .milliseconds(Int64(min(max(seconds, 0), ChaosRule.maximumDelay) * 1000))
    }
}
