/// Reads one framed command into an `IMAPCommand` (RFC 9051 §9; SEARCH in SearchKey.swift,
/// FETCH items in FetchAttribute.swift):
///
///     command = tag SP (command-any / command-auth / command-nonauth / command-select) CRLF
///
/// A command that does not parse throws `IMAPCommandParser.Refusal` with its tag when one
/// could be read: the session answers `tag BAD text` (or `* BAD` without a tag). The state a
/// command is allowed in is the session's business, not the parser's.
public enum IMAPCommandParser {
    public struct Refusal: Error, Sendable, Hashable {
        public var tag: String?
        public var reason: IMAPSyntaxError
    }

    public static func parse(_ octets: IMAPCommandOctets) throws(Refusal) -> IMAPCommand {
        var cursor = CommandCursor(octets)
        // tag = 1*<any ASTRING-CHAR except "+">
        guard let tagOctets = try? cursor.octets("a tag", while: { IMAPCharacters.isAStringChar($0) && $0 != UInt8(ascii: "+") })
        else { throw Refusal(tag: nil, reason: IMAPSyntaxError("expected a tag")) }
        let tag = String(decoding: tagOctets, as: UTF8.self)
        do throws(IMAPSyntaxError) {
            guard !octets.hasBareLineEnding else { throw IMAPSyntaxError("a line must end with CRLF") }
            try cursor.space()
            let kind = try command(&cursor)
            try cursor.end()
            return IMAPCommand(tag: tag, kind)
        } catch {
            throw Refusal(tag: tag, reason: error)
        }
    }

    private static func command(_ cursor: inout CommandCursor) throws(IMAPSyntaxError) -> IMAPCommand.Kind {
        let name = try cursor.keyword()
        switch name {
        case "CAPABILITY": return .capability
        case "NOOP": return .noop
        case "LOGOUT": return .logout
        case "STARTTLS": return .startTLS
        case "AUTHENTICATE":
            // authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp]; initial-resp = (base64 / "=")
            try cursor.space()
            let mechanism = try cursor.keyword()
            guard cursor.consume(UInt8(ascii: " ")) else { return .authenticate(mechanism: mechanism, initialResponse: nil) }
            let response = try cursor.octets("a base64 response", while: isBase64OrEquals)
            return .authenticate(mechanism: mechanism, initialResponse: response)
        case "LOGIN":
            // login = "LOGIN" SP userid SP password; userid = astring; password = astring
            try cursor.space()
            let user = try cursor.astring()
            try cursor.space()
            return .login(user: user, password: try cursor.astring())
        case "ENABLE":
            // enable = "ENABLE" 1*(SP capability)
            var capabilities: [String] = []
            repeat {
                try cursor.space()
                capabilities.append(try cursor.keyword())
            } while cursor.peek() == UInt8(ascii: " ")
            return .enable(capabilities)
        case "SELECT", "EXAMINE":
            // select = "SELECT" SP mailbox [select-params]
            // select-params = SP "(" select-param *(SP select-param) ")"  (RFC 4466 §2.1)
            try cursor.space()
            let selected = try mailbox(&cursor)
            let parameters = cursor.consume(UInt8(ascii: " ")) ? try selectParameters(&cursor) : SelectParameters()
            return .select(mailbox: selected, readOnly: name == "EXAMINE", parameters: parameters)
        case "CREATE":
            try cursor.space()
            return .create(mailbox: try mailbox(&cursor))
        case "DELETE":
            try cursor.space()
            return .delete(mailbox: try mailbox(&cursor))
        case "RENAME":
            try cursor.space()
            let from = try mailbox(&cursor)
            try cursor.space()
            return .rename(from: from, to: try mailbox(&cursor))
        case "SUBSCRIBE":
            try cursor.space()
            return .subscribe(mailbox: try mailbox(&cursor))
        case "UNSUBSCRIBE":
            try cursor.space()
            return .unsubscribe(mailbox: try mailbox(&cursor))
        case "LIST": return try list(&cursor)
        case "LSUB":
            // lsub = "LSUB" SP mailbox SP list-mailbox (RFC 3501)
            try cursor.space()
            let reference = try mailbox(&cursor)
            try cursor.space()
            return .lsub(reference: reference, pattern: try listMailbox(&cursor))
        case "NAMESPACE": return .namespace
        case "STATUS":
            // status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
            try cursor.space()
            let name = try mailbox(&cursor)
            try cursor.space()
            let items = try cursor.list(allowEmpty: false) { (item: inout CommandCursor) throws(IMAPSyntaxError) in
                try item.keyword()
            }
            return .status(mailbox: name, items: items)
        case "APPEND":
            // append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal
            try cursor.space()
            let name = try mailbox(&cursor)
            try cursor.space()
            var flags: [String] = []
            if cursor.peek() == UInt8(ascii: "(") {
                flags = try flagList(&cursor)
                try cursor.space()
            }
            var date: [UInt8]?
            if cursor.peek() == UInt8(ascii: "\"") {
                date = try cursor.string()
                try cursor.space()
            }
            return .append(mailbox: name, flags: flags, date: date, message: try cursor.literal())
        case "IDLE": return .idle
        case "ID":
            // id = "ID" SP id-params-list; id-params-list = "(" *(string SP nstring) ")" / nil
            try cursor.space()
            if cursor.peek() != UInt8(ascii: "(") {
                guard try cursor.keyword() == "NIL" else { throw IMAPSyntaxError("expected ( or NIL") }
                return .id(nil)
            }
            var fields: [[UInt8]: [UInt8]?] = [:]
            let pairs = try cursor.list { (item: inout CommandCursor) throws(IMAPSyntaxError) -> ([UInt8], [UInt8]?) in
                let field = try item.string()
                try item.space()
                return (field, try item.nstring())
            }
            guard pairs.count <= 30 else { throw IMAPSyntaxError("at most 30 ID fields") }  // RFC 2971 §3.3
            for (field, value) in pairs { fields[field] = value }
            return .id(fields)
        case "COMPRESS":
            // compress = "COMPRESS" SP algorithm; algorithm = "DEFLATE" (RFC 4978 §4)
            try cursor.space()
            return .compress(algorithm: try cursor.keyword())
        case "GETQUOTA":
            // getquota = "GETQUOTA" SP quota-root-name; quota-root-name = astring (RFC 9208 §7)
            try cursor.space()
            return .getQuota(root: try cursor.astring())
        case "GETQUOTAROOT":
            // getquotaroot = "GETQUOTAROOT" SP mailbox
            try cursor.space()
            return .getQuotaRoot(mailbox: try mailbox(&cursor))
        case "SETQUOTA":
            // setquota = "SETQUOTA" SP quota-root-name SP setquota-list
            // setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"
            // setquota-resource = resource-name SP resource-limit; resource-limit = number64
            try cursor.space()
            let root = try cursor.astring()
            try cursor.space()
            let limits = try cursor.list { (item: inout CommandCursor) throws(IMAPSyntaxError) -> QuotaLimit in
                let resource = try item.keyword()
                try item.space()
                return QuotaLimit(resource: resource, limit: try item.number(maximum: UInt64(Int64.max)))
            }
            return .setQuota(root: root, limits: limits)
        case "CHECK": return .check
        case "CLOSE": return .close
        case "UNSELECT": return .unselect
        case "EXPUNGE": return .expunge(uids: nil)
        case "SEARCH": return try search(&cursor, byUID: false)
        case "FETCH", "STORE", "COPY", "MOVE": return try selected(name, byUID: false, &cursor)
        case "UID":
            // uid = "UID" SP (copy / move / fetch / search / store / uid-expunge)
            try cursor.space()
            let inner = try cursor.keyword()
            if inner == "SEARCH" { return try search(&cursor, byUID: true) }
            if inner == "EXPUNGE" {
                try cursor.space()
                return .expunge(uids: try cursor.sequenceSet())
            }
            guard ["FETCH", "STORE", "COPY", "MOVE"].contains(inner) else { throw IMAPSyntaxError("unknown UID command") }
            return try selected(inner, byUID: true, &cursor)
        default:
            throw IMAPSyntaxError("unknown command")
        }
    }

    /// FETCH, STORE, COPY and MOVE, with or without UID.
    private static func selected(_ name: String, byUID: Bool, _ cursor: inout CommandCursor) throws(IMAPSyntaxError)
        -> IMAPCommand.Kind
    {
        try cursor.space()
        let set = try cursor.sequenceSet()
        try cursor.space()
        switch name {
        case "FETCH":
            let attributes = try fetchAttributes(&cursor)
            // fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
            // fetch-modifier = "CHANGEDSINCE" SP mod-sequence-value / "VANISHED" (RFC 7162)
            var changedSince: UInt64?
            var vanished = false
            if cursor.consume(UInt8(ascii: " ")) {
                let modifiers = try cursor.list(allowEmpty: false) { (item: inout CommandCursor) throws(IMAPSyntaxError) -> (String, UInt64?) in
                    let name = try item.keyword()
                    guard name == "CHANGEDSINCE" else { return (name, nil) }
                    try item.space()
                    return (name, try item.number(maximum: UInt64(Int64.max)))
                }
                for (name, value) in modifiers {
                    switch name {
                    case "CHANGEDSINCE": changedSince = value
                    case "VANISHED" where byUID: vanished = true
                    default: throw IMAPSyntaxError("unknown FETCH modifier")
                    }
                }
            }
            return .fetch(set, byUID: byUID, attributes, changedSince: changedSince, vanished: vanished)
        case "COPY": return .copy(set, byUID: byUID, mailbox: try mailbox(&cursor))
        case "MOVE": return .move(set, byUID: byUID, mailbox: try mailbox(&cursor))
        default:
            // store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
            // store-modifiers = SP "(" store-modifier *(SP store-modifier) ")"
            // store-modifier = "UNCHANGEDSINCE" SP mod-sequence-valzer  (RFC 7162 §7)
            var unchangedSince: UInt64?
            if cursor.peek() == UInt8(ascii: "(") {
                let modifiers = try cursor.list(allowEmpty: false) { (item: inout CommandCursor) throws(IMAPSyntaxError) -> UInt64 in
                    guard try item.keyword() == "UNCHANGEDSINCE" else { throw IMAPSyntaxError("unknown STORE modifier") }
                    try item.space()
                    return try item.number(maximum: UInt64(Int64.max))
                }
                guard modifiers.count == 1 else { throw IMAPSyntaxError("UNCHANGEDSINCE given twice") }
                unchangedSince = modifiers[0]
                try cursor.space()
            }
            // store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
            let operation: IMAPCommand.StoreOperation =
                cursor.consume(UInt8(ascii: "+")) ? .add : cursor.consume(UInt8(ascii: "-")) ? .remove : .replace
            let item = try cursor.keyword()
            guard item == "FLAGS" || item == "FLAGS.SILENT" else { throw IMAPSyntaxError("expected FLAGS") }
            try cursor.space()
            var flags: [String]
            if cursor.peek() == UInt8(ascii: "(") {
                flags = try flagList(&cursor)
            } else {
                flags = [try flag(&cursor)]
                while cursor.consume(UInt8(ascii: " ")) { flags.append(try flag(&cursor)) }
            }
            return .store(set, byUID: byUID, operation, silent: item == "FLAGS.SILENT", flags: flags, unchangedSince: unchangedSince)
        }
    }

    /// RFC 7162 §7:
    ///
    ///     select-param = "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP mod-sequence-value
    ///                    [SP known-uids] [SP seq-match-data] ")"
    ///     known-uids = sequence-set;  seq-match-data = "(" known-sequence-set SP known-uid-set ")"
    ///
    /// The sequence-match data only helps a server that cannot tell which UIDs went; Tern can,
    /// so it is read and not used.
    private static func selectParameters(_ cursor: inout CommandCursor) throws(IMAPSyntaxError) -> SelectParameters {
        var parameters = SelectParameters()
        let names = try cursor.list(allowEmpty: false) { (item: inout CommandCursor) throws(IMAPSyntaxError) -> String in
            let parameter = try item.keyword()
            switch parameter {
            case "CONDSTORE":
                parameters.condstore = true
            case "QRESYNC":
                try item.space()
                guard item.consume(UInt8(ascii: "(")) else { throw IMAPSyntaxError("expected (") }
                let validity = try item.nonZeroNumber()
                try item.space()
                let modseq = try item.number(maximum: UInt64(Int64.max))
                guard modseq > 0 else { throw IMAPSyntaxError("a MODSEQ is at least 1") }
                var known: SequenceSet?
                if item.consume(UInt8(ascii: " ")) {
                    if item.peek() != UInt8(ascii: "(") {
                        known = try item.sequenceSet()
                        _ = item.consume(UInt8(ascii: " "))
                    }
                    if item.peek() == UInt8(ascii: "(") {
                        _ = try item.list(allowEmpty: false) { (sets: inout CommandCursor) throws(IMAPSyntaxError) in
                            try sets.sequenceSet()
                        }
                    }
                }
                guard item.consume(UInt8(ascii: ")")) else { throw IMAPSyntaxError("expected )") }
                parameters.qresync = QuickResync(uidValidity: validity, modseq: modseq, knownUIDs: known)
            default:
                throw IMAPSyntaxError("unknown SELECT parameter \(parameter)")
            }
            return parameter
        }
        guard Set(names).count == names.count else { throw IMAPSyntaxError("a SELECT parameter given twice") }
        return parameters
    }

    /// `mailbox = "INBOX" / astring`; INBOX is case-insensitive (§5.1).
    static func mailbox(_ cursor: inout CommandCursor) throws(IMAPSyntaxError) -> [UInt8] {
        let name = try cursor.astring()
        return name.count == 5 && IMAPCharacters.uppercased(name) == "INBOX"
            ? Array("INBOX".utf8) : name
    }

    /// `list-mailbox = 1*list-char / string`; `list-char = ATOM-CHAR / list-wildcards / resp-specials`.
    /// The longest LIST pattern read: matching costs name × pattern, and no mailbox name comes
    /// near it.
    public static let maximumPatternLength = 1024

    /// `list-mailbox = 1*list-char / string`.
    private static func listMailbox(_ cursor: inout CommandCursor) throws(IMAPSyntaxError) -> [UInt8] {
        let pattern: [UInt8]
        if let octet = cursor.peek(), octet == UInt8(ascii: "\"") || octet == UInt8(ascii: "{") {
            pattern = try cursor.string()
        } else {
            pattern = try cursor.octets("a mailbox pattern") {
                IMAPCharacters.isAtomChar($0) || $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "]")
            }
        }
        guard pattern.count <= maximumPatternLength else { throw IMAPSyntaxError("mailbox pattern too long") }
        return pattern
    }

    /// RFC 9051 §9 with RFC 5258 §6, RFC 5819 and RFC 6154 §6:
    ///
    ///     list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
    ///     list-select-opts = "(" [list-select-opt *(SP list-select-opt)] ")"
    ///     list-select-opt = "SUBSCRIBED" / "REMOTE" / "RECURSIVEMATCH" / "SPECIAL-USE"
    ///     mbox-or-pat = list-mailbox / patterns;  patterns = "(" list-mailbox *(SP list-mailbox) ")"
    ///     list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
    ///     return-option = "SUBSCRIBED" / "CHILDREN" / "SPECIAL-USE" /
    ///                     "STATUS" SP "(" status-att *(SP status-att) ")"
    ///
    /// An option Tern does not know is BAD (RFC 5258 §3), as is RECURSIVEMATCH without an option
    /// it could modify.
    private static func list(_ cursor: inout CommandCursor) throws(IMAPSyntaxError) -> IMAPCommand.Kind {
        var options = ListOptions()
        try cursor.space()
        if cursor.peek() == UInt8(ascii: "(") {
            let selection = try cursor.list { (item: inout CommandCursor) throws(IMAPSyntaxError) in try item.keyword() }
            for option in selection {
                switch option {
                case "SUBSCRIBED": options.subscribedOnly = true
                case "SPECIAL-USE": options.specialUseOnly = true
                case "RECURSIVEMATCH": options.recursiveMatch = true
                case "REMOTE": break  // no remote mailboxes (RFC 2193) to add
                default: throw IMAPSyntaxError("unknown LIST selection option \(option)")
                }
            }
            if options.recursiveMatch, !options.subscribedOnly, !options.specialUseOnly {
                throw IMAPSyntaxError("RECURSIVEMATCH needs another selection option")
            }
            try cursor.space()
        }
        let reference = try mailbox(&cursor)
        try cursor.space()
        let patterns: [[UInt8]]
        if cursor.peek() == UInt8(ascii: "(") {
            patterns = try cursor.list(allowEmpty: false) { (item: inout CommandCursor) throws(IMAPSyntaxError) in
                try listMailbox(&item)
            }
        } else {
            patterns = [try listMailbox(&cursor)]
        }
        guard cursor.consume(UInt8(ascii: " ")) else { return .list(reference: reference, patterns: patterns, options: options) }
        guard try cursor.keyword() == "RETURN" else { throw IMAPSyntaxError("expected RETURN") }
        try cursor.space()
        guard cursor.consume(UInt8(ascii: "(")) else { throw IMAPSyntaxError("expected (") }
        if !cursor.consume(UInt8(ascii: ")")) {
            repeat {
                switch try cursor.keyword() {
                case "SUBSCRIBED": options.returnSubscribed = true
                case "CHILDREN": options.returnChildren = true
                case "SPECIAL-USE": options.returnSpecialUse = true
                case "STATUS":
                    try cursor.space()
                    options.returnStatus = try cursor.list(allowEmpty: false) {
                        (item: inout CommandCursor) throws(IMAPSyntaxError) in try item.keyword()
                    }
                case let other: throw IMAPSyntaxError("unknown LIST return option \(other)")
                }
            } while cursor.consume(UInt8(ascii: " "))
            guard cursor.consume(UInt8(ascii: ")")) else { throw IMAPSyntaxError("expected )") }
        }
        return .list(reference: reference, patterns: patterns, options: options)
    }

    /// `flag-list = "(" [flag *(SP flag)] ")"`.
    private static func flagList(_ cursor: inout CommandCursor) throws(IMAPSyntaxError) -> [String] {
        try cursor.list { (item: inout CommandCursor) throws(IMAPSyntaxError) in try flag(&item) }
    }

    /// `flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / flag-keyword /
    /// flag-extension`; `flag-extension = "\" atom`, `flag-keyword = atom`. System flags are
    /// case-insensitive and returned in their canonical spelling.
    private static func flag(_ cursor: inout CommandCursor) throws(IMAPSyntaxError) -> String {
        let system = cursor.consume(UInt8(ascii: "\\"))
        let atom = String(decoding: try cursor.atom(), as: UTF8.self)
        guard system else { return atom }
        let canonical = ["Answered", "Flagged", "Deleted", "Seen", "Draft"].first { $0.lowercased() == atom.lowercased() }
        return "\\" + (canonical ?? atom)
    }

    private static func isBase64OrEquals(_ octet: UInt8) -> Bool {
        switch octet {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="):
            true
        default: false
        }
    }
}
