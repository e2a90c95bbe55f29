/// A client command (RFC 9051 §6), as the parser reads it: the tag and what is asked. Mailbox
/// names are the octets the client sent (UTF-8 in IMAP4rev2, modified UTF-7 in IMAP4rev1), with
/// `INBOX` in any case made `INBOX` (§5.1); the session decodes and checks them.
public struct IMAPCommand: Sendable, Hashable {
    public var tag: String
    public var kind: Kind

    public init(tag: String, _ kind: Kind) {
        self.tag = tag
        self.kind = kind
    }

    public enum Kind: Sendable, Hashable {
        // §6.1: any state.
        case capability
        case noop
        case logout
        // §6.2: not authenticated.
        case startTLS
        /// The mechanism (upper case) and the SASL-IR initial response (RFC 4959), base64 as
        /// sent; `=` is an empty one.
        case authenticate(mechanism: String, initialResponse: [UInt8]?)
        case login(user: [UInt8], password: [UInt8])
        // §6.3: authenticated.
        case enable([String])
        /// SELECT or EXAMINE, with RFC 7162's CONDSTORE and QRESYNC parameters.
        case select(mailbox: [UInt8], readOnly: Bool, parameters: SelectParameters = .init())
        case create(mailbox: [UInt8])
        case delete(mailbox: [UInt8])
        case rename(from: [UInt8], to: [UInt8])
        case subscribe(mailbox: [UInt8])
        case unsubscribe(mailbox: [UInt8])
        /// LIST's reference, patterns and options (§6.3.9 with RFC 5258's several patterns).
        case list(reference: [UInt8], patterns: [[UInt8]], options: ListOptions)
        /// IMAP4rev1's LSUB (RFC 3501 §6.3.9): LIST of the subscribed mailboxes.
        case lsub(reference: [UInt8], pattern: [UInt8])
        case namespace
        /// STATUS's items, upper case (§6.3.11).
        case status(mailbox: [UInt8], items: [String])
        case append(mailbox: [UInt8], flags: [String], date: [UInt8]?, message: [UInt8])
        case idle
        /// RFC 2971: field and value pairs, or nil for `NIL`.
        case id([[UInt8]: [UInt8]?]?)
        /// RFC 4978: compress the rest of the connection with this algorithm (upper case).
        case compress(algorithm: String)
        /// RFC 9208 §4.1: a quota root's resources, the roots of a mailbox, setting limits.
        case getQuota(root: [UInt8])
        case getQuotaRoot(mailbox: [UInt8])
        case setQuota(root: [UInt8], limits: [QuotaLimit])
        // §6.4: selected.
        /// IMAP4rev1's CHECK (RFC 3501 §6.4.1): a checkpoint, here the same as NOOP.
        case check
        case close
        case unselect
        case expunge(uids: SequenceSet?)
        /// SEARCH (§6.4.4): the RETURN options (ESEARCH, RFC 4731; SAVE, RFC 5182) when given,
        /// the charset (upper case) when given, and the keys (an `.and` of several).
        case search(byUID: Bool, returnOptions: [String]?, charset: String?, SearchKey)
        /// FETCH with its CONDSTORE/QRESYNC modifiers (RFC 7162 §3.1.4, §3.2.6).
        case fetch(SequenceSet, byUID: Bool, [FetchAttribute], changedSince: UInt64?, vanished: Bool)
        /// STORE with RFC 7162's UNCHANGEDSINCE modifier.
        case store(SequenceSet, byUID: Bool, StoreOperation, silent: Bool, flags: [String], unchangedSince: UInt64? = nil)
        case copy(SequenceSet, byUID: Bool, mailbox: [UInt8])
        case move(SequenceSet, byUID: Bool, mailbox: [UInt8])
    }

    /// STORE's `+FLAGS`, `-FLAGS` and `FLAGS`.
    public enum StoreOperation: Sendable, Hashable {
        case add
        case remove
        case replace
    }
}

/// What an extended LIST asks for (RFC 9051 §6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819
/// LIST-STATUS, RFC 6154 SPECIAL-USE): which mailboxes (selection options) and what to say of
/// each (return options). The basic `LIST ref pattern` has none.
public struct ListOptions: Sendable, Hashable {
    /// `SUBSCRIBED`: the subscribed names, whether their mailboxes exist or not.
    public var subscribedOnly = false
    /// `SPECIAL-USE` (RFC 6154 §3): only mailboxes with a special use.
    public var specialUseOnly = false
    /// `RECURSIVEMATCH`: a parent that matches is listed, with `CHILDINFO`, when one of its
    /// children meets the selection (and the child itself need not match).
    public var recursiveMatch = false
    /// `RETURN (SUBSCRIBED)`: `\Subscribed` on subscribed mailboxes.
    public var returnSubscribed = false
    /// `RETURN (CHILDREN)`: `\HasChildren` or `\HasNoChildren` (always given here).
    public var returnChildren = false
    /// `RETURN (SPECIAL-USE)`: the special-use attributes (always given here).
    public var returnSpecialUse = false
    /// `RETURN (STATUS (...))`, RFC 5819: a STATUS response after each selectable mailbox.
    public var returnStatus: [String]?

    public init() {}
}

/// `setquota-resource = resource-name SP resource-limit` (RFC 9208 §7): a resource's name,
/// upper case, and its limit (STORAGE in units of 1024 octets).
public struct QuotaLimit: Sendable, Hashable {
    public var resource: String
    public var limit: UInt64

    public init(resource: String, limit: UInt64) {
        self.resource = resource
        self.limit = limit
    }
}

/// SELECT's and EXAMINE's parameters (RFC 7162 §3.1.8, §3.2.5).
public struct SelectParameters: Sendable, Hashable {
    /// `CONDSTORE`: the client will use MODSEQs from now on.
    public var condstore = false
    /// `QRESYNC (...)`: what the client knew of the mailbox when it last had it.
    public var qresync: QuickResync?

    public init(condstore: Bool = false, qresync: QuickResync? = nil) {
        self.condstore = condstore
        self.qresync = qresync
    }
}

/// `QRESYNC (uidvalidity mod-sequence-value [known-uids] [seq-match-data])`.
public struct QuickResync: Sendable, Hashable {
    public var uidValidity: UInt32
    public var modseq: UInt64
    /// The UIDs the client knows; nil for all below UIDNEXT.
    public var knownUIDs: SequenceSet?

    public init(uidValidity: UInt32, modseq: UInt64, knownUIDs: SequenceSet? = nil) {
        self.uidValidity = uidValidity
        self.modseq = modseq
        self.knownUIDs = knownUIDs
    }
}

extension IMAPCommand.Kind {
    /// A CONDSTORE-enabling command (RFC 7162 §3.1): once one is used, the session reports
    /// MODSEQs as if the client had sent ENABLE CONDSTORE.
    public var enablesCondstore: Bool {
        switch self {
        case .select(_, _, let parameters): parameters.condstore || parameters.qresync != nil
        case .fetch(_, _, let attributes, let changedSince, _): changedSince != nil || attributes.contains(.modificationSequence)
        case .store(_, _, _, _, _, let unchangedSince): unchangedSince != nil
        case .search(_, _, _, let key): key.mentionsModseq
        case .status(_, let items): items.contains("HIGHESTMODSEQ")
        default: false
        }
    }
}
