import TernMail

/// An address-list field value (From:, Sender:, To:, ...) read strictly by RFC 5322 §3.4, with
/// the obsolete forms of §4 that mail clients still read (§4.4 obs-local-part, obs-domain,
/// obs-route, obs-phrase, empty list elements) and UTF-8 where RFC 6532 §3.2 allows it.
///
/// It reads the whole value or nothing: `init?(parsing:)` is nil when any part of the value is
/// not an address, a group, a separator or CFWS. Nothing is skipped, so a check built on it
/// fails closed. `AddressList` is the lenient reader for display.
///
/// Security (hostile-inputs 48): it reads what a mail client shows.
/// - CFWS inside an address is not part of it (§3.2.2, §4.4): `<victim @other.example>` and
///   `victim@ (x) other.example` are `victim@other.example`.
/// - Two addresses where one is expected (`<a@x> <b@y>`, `a@x b@y`, `Name a@x`) do not parse.
/// - Encoded words (RFC 2047) are display names or comments only, never an address:
///   `=?utf-8?q?a=40b.example?=` alone is not a mailbox.
/// - A group (`Friends: a@x, b@y;`, allowed in From: by RFC 6854) gives its members; a route
///   (`<@a.example,@b.example:c@d.example>`) is kept apart from the address (IMAP's ENVELOPE
///   shows it as the address's adl), never part of it.
/// - Quoted pairs of CR, LF or NUL (allowed by §4.1 obs-qp) are refused: a reader could take
///   them for a line end.
public struct StrictAddressList: Hashable, Sendable {
    /// One mailbox (§3.4): `display-name <addr-spec>` or a bare `addr-spec`.
    public struct Mailbox: Hashable, Sendable {
        /// The display name: quotes and quoted pairs removed, encoded words decoded (RFC 2047,
        /// also inside quotes, as clients do), white space collapsed; "" when there is none.
        public var displayName: String
        /// The local part without CFWS: unquoted when it is a dot-atom (`"alice"` is `alice`,
        /// RFC 5321 §4.1.2), otherwise one quoted string (`"john doe"`).
        public var localPart: String
        /// The domain without CFWS, as written (`Example.Test`), or a literal (`[127.0.0.1]`).
        public var domain: String
        /// An obsolete source route (§4.4 obs-route) as `@a.example,@b.example`, else nil.
        public var route: String?

        public init(displayName: String = "", localPart: String, domain: String, route: String? = nil) {
            self.displayName = displayName
            self.localPart = localPart
            self.domain = domain
            self.route = route
        }

        /// `local-part@domain`.
        public var address: String { "\(localPart)@\(domain)" }
    }

    /// A group (§3.4): a display name and zero or more mailboxes.
    public struct Group: Hashable, Sendable {
        public var displayName: String
        public var mailboxes: [Mailbox]

        public init(displayName: String, mailboxes: [Mailbox]) {
            self.displayName = displayName
            self.mailboxes = mailboxes
        }
    }

    /// address = mailbox / group (§3.4)
    public enum Address: Hashable, Sendable {
        case mailbox(Mailbox)
        case group(Group)
    }

    public var addresses: [Address]
    /// The text of every comment in the value, outermost parentheses removed, encoded words
    /// decoded: a reader may show it as a name (`alice@example.test (Alice)`).
    public var comments: [String]

    /// Every mailbox, group members in place.
    public var mailboxes: [Mailbox] {
        addresses.flatMap { address -> [Mailbox] in
            switch address {
            case .mailbox(let mailbox): [mailbox]
            case .group(let group): group.mailboxes
            }
        }
    }

    public init(addresses: [Address], comments: [String] = []) {
        self.addresses = addresses
        self.comments = comments
    }

    /// Reads an unfolded field value (folded values are read too: CRLF followed by white
    /// space is FWS). Nil when the value is not an address list.
    ///
    ///     address-list  = (address *("," address)) / obs-addr-list          ; §3.4
    ///     obs-addr-list = *([CFWS] ",") address *("," [address / CFWS])      ; §4.4
    ///
    /// An empty value, or one of commas and CFWS only, is an empty list.
    public init?<Octets: Collection<UInt8>>(parsing value: Octets) {
        var reader = Reader(Array(value))
        guard let addresses = reader.list(inGroup: false) else { return nil }
        self.init(addresses: addresses, comments: reader.comments)
    }

    public init?(parsing value: String) {
        self.init(parsing: value.utf8)
    }
}

// MARK: - The grammar

extension StrictAddressList {
    /// A word of a phrase or local part (§3.2.5): its text without quotes or CFWS, whether it
    /// was quoted, and where it stood (for the spaces between the words of a display name).
    struct Word {
        var text: [UInt8]
        var quoted: Bool
        var range: Range<Int>
    }

    struct Reader {
        let bytes: [UInt8]
        var index = 0
        private(set) var comments: [String] = []

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
        }

        struct Mark {
            var index: Int
            var comments: Int
        }

        var mark: Mark { Mark(index: index, comments: comments.count) }

        /// Back to `mark`: the input and the comments seen after it are given back.
        mutating func reset(_ mark: Mark) {
            index = mark.index
            comments.removeSubrange(mark.comments...)
        }

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        // MARK: §3.2.2 White space and comments

        /// Skips FWS, if any.
        ///
        ///     FWS     = ([*WSP CRLF] 1*WSP) / obs-FWS    ; §3.2.2
        ///     obs-FWS = 1*WSP *(CRLF 1*WSP)              ; §4.2
        ///
        /// A CR or LF that is not CRLF followed by white space is left where it is (it then
        /// fails the rule being read).
        mutating func skipFWS() {
            while index < bytes.count {
                let byte = bytes[index]
                if Self.isWSP(byte) {
                    index += 1
                } else if byte == .cr, index + 2 < bytes.count, bytes[index + 1] == .lf, Self.isWSP(bytes[index + 2]) {
                    index += 3
                } else {
                    return
                }
            }
        }

        /// Skips CFWS, if any; false when a comment is not well formed (not closed, or with an
        /// octet a comment may not hold).
        ///
        ///     CFWS = (1*([FWS] comment) [FWS]) / FWS     ; §3.2.2
        mutating func skipCFWS() -> Bool {
            while true {
                skipFWS()
                guard peek == .openParenthesis else { return true }
                guard comment() else { return false }
            }
        }

        /// One comment, nested ones inside it, at `(`. Iterative: nesting depth costs no stack.
        ///
        ///     comment  = "(" *([FWS] ccontent) [FWS] ")"   ; §3.2.2
        ///     ccontent = ctext / quoted-pair / comment
        mutating func comment() -> Bool {
            let start = index
            var depth = 0
            var text: [UInt8] = []
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case .openParenthesis:
                    if depth > 0 { text.append(byte) }
                    depth += 1
                    index += 1
                case .closeParenthesis:
                    depth -= 1
                    index += 1
                    if depth == 0 {
                        comments.append(StrictAddressList.displayText(text))
                        return true
                    }
                    text.append(byte)
                case .backslash:
                    guard let octet = quotedPair() else { return fail(at: start) }
                    text.append(octet)
                case .space, .tab, .cr:
                    let before = index
                    skipFWS()
                    guard index > before else { return fail(at: start) }  // a bare CR
                    text.append(.space)
                default:
                    guard Self.isCtext(byte) else { return fail(at: start) }
                    text.append(byte)
                    index += 1
                }
            }
            return fail(at: start)
        }

        private mutating func fail(at start: Int) -> Bool {
            index = start
            return false
        }

        /// The octet of a quoted pair at `\`, or nil (input kept) when it may not be quoted.
        ///
        ///     quoted-pair = ("\" (VCHAR / WSP)) / obs-qp    ; §3.2.1
        ///     obs-qp      = "\" (%d0 / obs-NO-WS-CTL / LF / CR)   ; §4.1
        ///
        /// NUL, CR and LF are refused (see the type's security notes); UTF-8 octets are VCHAR
        /// by RFC 6532 §3.2.
        mutating func quotedPair() -> UInt8? {
            guard index + 1 < bytes.count else { return nil }
            let octet = bytes[index + 1]
            guard octet != 0, octet != .cr, octet != .lf else { return nil }
            index += 2
            return octet
        }

        // MARK: §3.2.3 Atoms, §3.2.4 quoted strings, §3.2.5 words and phrases

        /// An atom with the CFWS around it; nil (input kept) when there is none.
        ///
        ///     atom = [CFWS] 1*atext [CFWS]    ; §3.2.3
        mutating func atom() -> Word? {
            let start = mark
            guard skipCFWS() else { return nil }
            let first = index
            while let byte = peek, Self.isAtext(byte) { index += 1 }
            let range = first..<index
            guard !range.isEmpty, skipCFWS() else {
                reset(start)
                return nil
            }
            return Word(text: Array(bytes[range]), quoted: false, range: range)
        }

        /// A quoted string with the CFWS around it: its content, quoted pairs resolved, folding
        /// CRLFs removed (§3.2.4: they are not part of it); nil (input kept) when there is none.
        ///
        ///     quoted-string = [CFWS] DQUOTE *([FWS] qcontent) [FWS] DQUOTE [CFWS]   ; §3.2.4
        ///     qcontent      = qtext / quoted-pair
        mutating func quotedString() -> Word? {
            let start = mark
            guard skipCFWS(), peek == .quote else {
                reset(start)
                return nil
            }
            let first = index
            index += 1
            guard let quoted = delimitedContent(closing: .quote, keepsWhiteSpace: true, isText: Self.isQtext) else {
                reset(start)
                return nil
            }
            return Word(text: quoted.content, quoted: true, range: first..<quoted.end)
        }

        /// word = atom / quoted-string    ; §3.2.5
        mutating func word() -> Word? {
            atom() ?? quotedString()
        }

        /// A display name: the words, and the dots of the obsolete form (`John Q. Public`),
        /// rendered as `StrictAddressList.displayText`; nil (input kept) when there is no word.
        ///
        ///     display-name = phrase                                  ; §3.4
        ///     phrase       = 1*word / obs-phrase                     ; §3.2.5
        ///     obs-phrase   = word *(word / "." / CFWS)               ; §4.1
        mutating func phrase() -> String? {
            let start = mark
            guard let first = word() else { return nil }
            var words = [first]
            while true {
                if let next = word() {
                    words.append(next)
                } else if peek == .dot {
                    words.append(Word(text: [.dot], quoted: false, range: index..<(index + 1)))
                    index += 1
                    guard skipCFWS() else {
                        reset(start)
                        return nil
                    }
                } else {
                    break
                }
            }
            // A space wherever the source had anything between two words.
            var text: [UInt8] = []
            var previousEnd: Int?
            for word in words {
                if let previousEnd, word.range.lowerBound > previousEnd { text.append(.space) }
                text += word.text
                previousEnd = word.range.upperBound
            }
            return StrictAddressList.displayText(text)
        }

        // MARK: §3.4.1 Addr-spec

        /// local-part "@" domain, CFWS anywhere between its words removed; nil (input kept)
        /// when there is none.
        ///
        ///     addr-spec      = local-part "@" domain                      ; §3.4.1
        ///     local-part     = dot-atom / quoted-string / obs-local-part
        ///     obs-local-part = word *("." word)                           ; §4.4
        ///
        /// obs-local-part covers the other two: a dot-atom is atoms joined by dots.
        mutating func addrSpec() -> (localPart: String, domain: String)? {
            let start = mark
            guard let first = word() else { return nil }
            var words = [first]
            while peek == .dot {
                index += 1
                guard let next = word() else {
                    reset(start)
                    return nil
                }
                words.append(next)
            }
            guard peek == .at else {
                reset(start)
                return nil
            }
            index += 1
            guard let domain = domain() else {
                reset(start)
                return nil
            }
            return (StrictAddressList.localPart(words), domain)
        }

        /// A domain without its CFWS; nil (input kept) when there is none.
        ///
        ///     domain     = dot-atom / domain-literal / obs-domain    ; §3.4.1
        ///     obs-domain = atom *("." atom)                          ; §4.4
        mutating func domain() -> String? {
            let start = mark
            guard skipCFWS() else { return nil }
            if peek == .openBracket {
                guard let literal = domainLiteral() else {
                    reset(start)
                    return nil
                }
                return literal
            }
            reset(start)
            guard let first = atom() else { return nil }
            var labels = [first.text]
            while peek == .dot {
                index += 1
                guard let next = atom() else {
                    reset(start)
                    return nil
                }
                labels.append(next.text)
            }
            return String(decoding: Array(labels.joined(separator: [.dot])), as: UTF8.self)
        }

        /// A domain literal at `[`, with the CFWS after it: `[` content without FWS `]`.
        ///
        ///     domain-literal = [CFWS] "[" *([FWS] dtext) [FWS] "]" [CFWS]   ; §3.4.1
        ///     dtext          = %d33-90 / %d94-126 / obs-dtext
        ///     obs-dtext      = obs-NO-WS-CTL / quoted-pair                  ; §4.4
        mutating func domainLiteral() -> String? {
            let start = mark
            index += 1
            guard let literal = delimitedContent(closing: .closeBracket, keepsWhiteSpace: false, isText: Self.isDtext)
            else {
                reset(start)
                return nil
            }
            return String(decoding: [.openBracket] + literal.content + [.closeBracket], as: UTF8.self)
        }

        /// The rest of a quoted string or domain literal after its opening delimiter, through the
        /// closing one and the CFWS after it: the content with quoted pairs resolved (§3.2.1) and
        /// folding CRLFs removed, the blanks of FWS kept in a quoted string (§3.2.4) and dropped
        /// from a literal (§3.4.1), and the index just past the closing delimiter. Nil when the
        /// content holds an octet `isText` refuses or the delimiter never comes; the caller resets.
        private mutating func delimitedContent(closing: UInt8, keepsWhiteSpace: Bool, isText: (UInt8) -> Bool)
            -> (content: [UInt8], end: Int)?
        {
            var content: [UInt8] = []
            while let byte = peek {
                switch byte {
                case closing:
                    index += 1
                    let end = index
                    return skipCFWS() ? (content, end) : nil
                case .backslash:
                    guard let octet = quotedPair() else { return nil }
                    content.append(octet)
                case .space, .tab, .cr:
                    let before = index
                    skipFWS()
                    guard index > before else { return nil }
                    if keepsWhiteSpace {
                        content += bytes[before..<index].filter { $0 != .cr && $0 != .lf }
                    }
                default:
                    guard isText(byte) else { return nil }
                    content.append(byte)
                    index += 1
                }
            }
            return nil
        }

        // MARK: §3.4 Address specification

        /// An address in angle brackets, a route before it dropped; nil (input kept) when
        /// there is none.
        ///
        ///     angle-addr     = [CFWS] "<" addr-spec ">" [CFWS] / obs-angle-addr    ; §3.4
        ///     obs-angle-addr = [CFWS] "<" obs-route addr-spec ">" [CFWS]           ; §4.4
        mutating func angleAddr() -> (localPart: String, domain: String, route: String?)? {
            let start = mark
            guard skipCFWS(), peek == .lessThan else {
                reset(start)
                return nil
            }
            index += 1
            let route = obsRoute()
            guard let spec = addrSpec(), peek == .greaterThan else {
                reset(start)
                return nil
            }
            index += 1
            guard skipCFWS() else {
                reset(start)
                return nil
            }
            return (spec.localPart, spec.domain, route)
        }

        /// A source route as `@a,@b`; nil (input kept) when there is none.
        ///
        ///     obs-route       = obs-domain-list ":"                                    ; §4.4
        ///     obs-domain-list = *(CFWS / ",") "@" domain *("," [CFWS] ["@" domain])
        mutating func obsRoute() -> String? {
            let start = mark
            while true {
                guard skipCFWS() else {
                    reset(start)
                    return nil
                }
                guard peek == .comma else { break }
                index += 1
            }
            guard peek == .at else {
                reset(start)
                return nil
            }
            index += 1
            guard let first = domain() else {
                reset(start)
                return nil
            }
            var domains = [first]
            while peek == .comma {
                index += 1
                guard skipCFWS() else {
                    reset(start)
                    return nil
                }
                if peek == .at {
                    index += 1
                    guard let next = domain() else {
                        reset(start)
                        return nil
                    }
                    domains.append(next)
                }
            }
            guard peek == .colon else {
                reset(start)
                return nil
            }
            index += 1
            return domains.map { "@" + $0 }.joined(separator: ",")
        }

        /// A mailbox, or (when `allowGroup`) a group; nil (input kept) when there is neither.
        /// Tried in order: a group, a name-addr, an angle-addr without a name, an addr-spec.
        ///
        ///     address    = mailbox / group                          ; §3.4
        ///     mailbox    = name-addr / addr-spec
        ///     name-addr  = [display-name] angle-addr
        ///     group      = display-name ":" [group-list] ";" [CFWS]
        ///     group-list = mailbox-list / CFWS / obs-group-list
        ///     obs-group-list = 1*([CFWS] ",") [CFWS]                ; §4.4
        mutating func address(allowGroup: Bool) -> Address? {
            let start = mark
            if let name = phrase() {
                if allowGroup, peek == .colon {
                    index += 1
                    if let members = list(inGroup: true), peek == .semicolon {
                        index += 1
                        if skipCFWS() {
                            let mailboxes = members.compactMap { member -> Mailbox? in
                                if case .mailbox(let mailbox) = member { return mailbox }
                                return nil
                            }
                            return .group(Group(displayName: name, mailboxes: mailboxes))
                        }
                    }
                } else if let spec = angleAddr() {
                    return .mailbox(Mailbox(displayName: name, localPart: spec.localPart, domain: spec.domain, route: spec.route))
                }
                reset(start)
            }
            if let spec = angleAddr() {
                return .mailbox(Mailbox(localPart: spec.localPart, domain: spec.domain, route: spec.route))
            }
            if let spec = addrSpec() {
                return .mailbox(Mailbox(localPart: spec.localPart, domain: spec.domain))
            }
            reset(start)
            return nil
        }

        /// The addresses of a list up to its end, or (`inGroup`) of a group's mailboxes up to
        /// the `;`, which is left for the caller. Empty elements are allowed (the obsolete
        /// forms); nil when an element is neither empty nor an address, or two addresses are
        /// not separated by a comma.
        ///
        ///     mailbox-list  = (mailbox *("," mailbox)) / obs-mbox-list            ; §3.4
        ///     obs-mbox-list = *([CFWS] ",") mailbox *("," [mailbox / CFWS])     ; §4.4
        mutating func list(inGroup: Bool) -> [Address]? {
            var addresses: [Address] = []
            while true {
                guard skipCFWS() else { return nil }
                guard let byte = peek else { return inGroup ? nil : addresses }
                if inGroup, byte == .semicolon { return addresses }
                if byte == .comma {
                    index += 1
                    continue
                }
                guard let address = address(allowGroup: !inGroup) else { return nil }
                addresses.append(address)
                switch peek {
                case nil: continue
                case .comma?: index += 1
                case .semicolon? where inGroup: continue
                default: return nil
                }
            }
        }

        // MARK: §3.2.3, §3.2.4, §3.4.1 and §4.1 character classes (UTF-8 by RFC 6532 §3.2)

        static func isWSP(_ byte: UInt8) -> Bool { byte == .space || byte == .tab }

        /// obs-NO-WS-CTL = %d1-8 / %d11 / %d12 / %d14-31 / %d127    ; §4.1
        static func isObsNoWSCtl(_ byte: UInt8) -> Bool {
            (1...8).contains(byte) || byte == 11 || byte == 12 || (14...31).contains(byte) || byte == 127
        }

        /// atext of §3.2.3, with the UTF-8 of RFC 6532 §3.2 (mail clients show it, so the
        /// sender check must read it).
        static func isAtext(_ byte: UInt8) -> Bool { MailCharacters.isAtext(byte) || byte >= 0x80 }

        /// ctext = %d33-39 / %d42-91 / %d93-126 / obs-ctext    ; §3.2.2, §4.1
        static func isCtext(_ byte: UInt8) -> Bool {
            (33...39).contains(byte) || (42...91).contains(byte) || (93...126).contains(byte) || byte >= 0x80
                || isObsNoWSCtl(byte)
        }

        /// qtext = %d33 / %d35-91 / %d93-126 / obs-qtext    ; §3.2.4, §4.1
        static func isQtext(_ byte: UInt8) -> Bool {
            byte == 33 || (35...91).contains(byte) || (93...126).contains(byte) || byte >= 0x80 || isObsNoWSCtl(byte)
        }

        /// dtext = %d33-90 / %d94-126 / obs-dtext    ; §3.4.1, §4.4
        static func isDtext(_ byte: UInt8) -> Bool {
            (33...90).contains(byte) || (94...126).contains(byte) || byte >= 0x80 || isObsNoWSCtl(byte)
        }
    }

    /// The words of a local part as one: unquoted when the result is a dot-atom (§3.2.3),
    /// otherwise one quoted string with `"` and `\` escaped.
    static func localPart(_ words: [Word]) -> String {
        let joined = Array(words.map(\.text).joined(separator: [.dot]))
        let atoms = joined.split(separator: .dot, omittingEmptySubsequences: false)
        let isDotAtom = !joined.isEmpty && atoms.allSatisfy { !$0.isEmpty && $0.allSatisfy(Reader.isAtext) }
        if isDotAtom { return String(decoding: joined, as: UTF8.self) }
        var quoted: [UInt8] = [.quote]
        for octet in joined {
            if octet == .quote || octet == .backslash { quoted.append(.backslash) }
            quoted.append(octet)
        }
        quoted.append(.quote)
        return String(decoding: quoted, as: UTF8.self)
    }

    /// Text as a reader shows it: encoded words decoded (RFC 2047), white space collapsed.
    static func displayText(_ octets: [UInt8]) -> String {
        let decoded = EncodedWords.decode(String(decoding: octets, as: UTF8.self))
        return decoded.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }
}

extension UInt8 {
    fileprivate static let tab = UInt8(ascii: "\t")
    fileprivate static let lf = UInt8(ascii: "\n")
    fileprivate static let cr = UInt8(ascii: "\r")
    fileprivate static let space = UInt8(ascii: " ")
    fileprivate static let quote = UInt8(ascii: "\"")
    fileprivate static let openParenthesis = UInt8(ascii: "(")
    fileprivate static let closeParenthesis = UInt8(ascii: ")")
    fileprivate static let comma = UInt8(ascii: ",")
    fileprivate static let dot = UInt8(ascii: ".")
    fileprivate static let colon = UInt8(ascii: ":")
    fileprivate static let semicolon = UInt8(ascii: ";")
    fileprivate static let lessThan = UInt8(ascii: "<")
    fileprivate static let greaterThan = UInt8(ascii: ">")
    fileprivate static let at = UInt8(ascii: "@")
    fileprivate static let openBracket = UInt8(ascii: "[")
    fileprivate static let closeBracket = UInt8(ascii: "]")
    fileprivate static let backslash = UInt8(ascii: "\\")
}
