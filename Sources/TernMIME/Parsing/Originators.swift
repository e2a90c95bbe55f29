/// Who a message says wrote and sent it: the mailboxes of its From: and Sender: fields
/// (RFC 5322 §3.6.2; groups allowed there by RFC 6854), read for the submission check of
/// RFC 6409 §8.1, which must agree with what a mail client shows as the sender or refuse.
///
/// Security (hostile-inputs 48): `read` fails closed. It is `Unreadable` when
/// - there is no From: field, or a From: or Sender: field names no mailbox (`From: x:;`);
/// - a From: or Sender: value is not an address list by `StrictAddressList` (CFWS inside an
///   address is read, as clients read it; two addresses where one is expected are not);
/// - two From: fields, or two Sender: fields, name different mailboxes (a client shows one);
/// - a line that is not read as a field looks like a From: or Sender: field to a reader that
///   is more lenient about the name (`From\u{0}:`, or one after a bare CR).
///
/// `From :` (obsolete `"From" *WSP ":"`, §4.5.2 obs-from) is a From: field, as clients read it.
/// Besides the mailboxes, `shownAddresses` has what looks like an address in their display
/// names and comments (encoded words decoded), which a client shows as the sender's name:
/// `=?utf-8?q?ceo=40other.example?= <alice@example.test>` shows `ceo@other.example`.
public struct Originators: Hashable, Sendable {
    /// The From: mailboxes, `local@domain` with the domain in lower case.
    public var authors: [String]
    /// The Sender: mailboxes, in the same form.
    public var senders: [String]
    /// Addresses written in display names and comments of those fields, lower case.
    public var shownAddresses: [String]

    public init(authors: [String], senders: [String] = [], shownAddresses: [String] = []) {
        self.authors = authors
        self.senders = senders
        self.shownAddresses = shownAddresses
    }

    /// Every address the submitting user must be allowed to send as.
    public var addresses: [String] { authors + senders + shownAddresses }

    /// Why the originator fields cannot be checked.
    public struct Unreadable: Error, Hashable, Sendable, CustomStringConvertible {
        private enum Code: Hashable, Sendable {
            case noFrom
            case noMailbox(String)
            case unparseable(String)
            case disagreeing(String)
            case disguisedField
        }

        private let code: Code

        /// No From: field at all.
        public static let noFrom = Unreadable(code: .noFrom)
        /// A field names no mailbox (empty, or only empty groups).
        public static func noMailbox(_ field: String) -> Unreadable { Unreadable(code: .noMailbox(field)) }
        /// A field's value is not an address list.
        public static func unparseable(_ field: String) -> Unreadable { Unreadable(code: .unparseable(field)) }
        /// Repeated fields of one name name different mailboxes.
        public static func disagreeing(_ field: String) -> Unreadable { Unreadable(code: .disagreeing(field)) }
        /// A line that is not a field looks like From: or Sender:.
        public static let disguisedField = Unreadable(code: .disguisedField)

        public var description: String {
            switch code {
            case .noFrom: "no From: field"
            case .noMailbox(let field): "\(field): names no mailbox"
            case .unparseable(let field): "\(field): is not an address list"
            case .disagreeing(let field): "repeated \(field): fields disagree"
            case .disguisedField: "a line looks like From: or Sender: but is not a field"
            }
        }
    }

    /// Reads the From: and Sender: fields of a header section (RFC 5322 §2.2, as
    /// `HeaderSectionCollector.bytes` holds it).
    public static func read<Octets: BidirectionalCollection<UInt8>>(headerSection octets: Octets)
        -> Result<Originators, Unreadable>
    {
        let fields = HeaderField.parse(octets)
        let originatorFields = fields.filter { $0.isNamed("From") || $0.isNamed("Sender") }
        guard lookalikeFieldCount(octets) <= originatorFields.count else { return .failure(.disguisedField) }

        var authors: [String]?
        var senders: [String]?
        var shown: [String] = []
        for field in originatorFields {
            let name = field.isNamed("From") ? "From" : "Sender"
            guard let list = StrictAddressList(parsing: field.value) else { return .failure(.unparseable(name)) }
            let mailboxes = list.mailboxes
            guard !mailboxes.isEmpty else { return .failure(.noMailbox(name)) }
            let addresses = mailboxes.map { "\($0.localPart)@\($0.domain.lowercased())" }
            let earlier = name == "From" ? authors : senders
            if let earlier, Set(earlier.map { $0.lowercased() }) != Set(addresses.map { $0.lowercased() }) {
                return .failure(.disagreeing(name))
            }
            if name == "From" { authors = addresses } else { senders = addresses }

            var texts = list.comments + mailboxes.map(\.displayName)
            for case .group(let group) in list.addresses { texts.append(group.displayName) }
            shown += texts.flatMap(addressLikeText)
        }
        guard let authors else { return .failure(.noFrom) }
        return .success(Originators(authors: authors, senders: senders ?? [], shownAddresses: shown))
    }

    /// How many lines look like a From: or Sender: field to the most lenient reader: split at
    /// every CR and every LF, not starting with white space, with a colon, whose name is
    /// `from` or `sender` once everything but ASCII letters and `-` is taken out.
    static func lookalikeFieldCount<Octets: Collection<UInt8>>(_ octets: Octets) -> Int {
        var count = 0
        for line in octets.split(whereSeparator: { $0 == 0x0D || $0 == 0x0A }) {
            guard let first = line.first, first != 0x20, first != 0x09,
                let colon = line.firstIndex(of: UInt8(ascii: ":"))
            else { continue }
            let letters = line[..<colon].compactMap { octet -> UInt8? in
                switch octet {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): octet | 0x20
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "-"): octet
                default: nil
                }
            }
            if letters.elementsEqual("from".utf8) || letters.elementsEqual("sender".utf8) { count += 1 }
        }
        return count
    }

    /// What a reader would take for an email address in display text: a run without white
    /// space or `<>(),;:` around an `@` (or its full-width and small forms, U+FF20, U+FE6B),
    /// with a dot (or a look-alike) in what follows it. Punctuation at either end is dropped;
    /// look-alike `@` and dots are written as ASCII; lower case.
    static func addressLikeText(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        func isBoundary(_ scalar: Unicode.Scalar) -> Bool {
            scalar.properties.isWhitespace || "<>(),;:".unicodeScalars.contains(scalar)
                || scalar == "\u{FF1C}" || scalar == "\u{FF1E}"
        }
        func isAt(_ scalar: Unicode.Scalar) -> Bool { scalar == "@" || scalar == "\u{FF20}" || scalar == "\u{FE6B}" }
        func isDot(_ scalar: Unicode.Scalar) -> Bool {
            scalar == "." || scalar == "\u{FF0E}" || scalar == "\u{3002}" || scalar == "\u{FF61}"
                || scalar == "\u{2024}"
        }
        func isWordy(_ scalar: Unicode.Scalar) -> Bool {
            scalar.properties.isAlphabetic || scalar.properties.numericType != nil
        }

        var found: [String] = []
        var start = 0
        while start < scalars.count {
            guard !isBoundary(scalars[start]) else {
                start += 1
                continue
            }
            var end = start
            while end < scalars.count, !isBoundary(scalars[end]) { end += 1 }
            // One run: `start..<end`. Trim punctuation at its ends, then split at its first `@`.
            var low = start
            var high = end
            while low < high, !isWordy(scalars[low]) { low += 1 }
            while high > low, !isWordy(scalars[high - 1]) { high -= 1 }
            if let at = (low..<high).first(where: { isAt(scalars[$0]) }), at > low,
                scalars[(at + 1)..<high].contains(where: isDot)
            {
                var address = String.UnicodeScalarView()
                for scalar in scalars[low..<high] {
                    address.append(isAt(scalar) ? "@" : isDot(scalar) ? "." : scalar)
                }
                found.append(String(address).lowercased())
            }
            start = end
        }
        return found
    }
}
