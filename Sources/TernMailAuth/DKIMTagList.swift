/// A tag=value list (RFC 6376 §3.2): the syntax of a DKIM-Signature field's value, of a DKIM
/// key record (§3.6.1) and, with the same rules, of ARC's fields (RFC 8617 §4.1).
///
///     tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
///     tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
///     tag-name  =  ALPHA *ALNUMPUNC
///     tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
///     tval      =  1*VALCHAR           ; %x21-3A / %x3C-7E
///
/// Names are case-sensitive (§3.2: "Tags MUST be interpreted in a case-sensitive manner");
/// values keep their inner whitespace, folding included, and lose it at either end. A name
/// twice makes the whole list invalid. The list comes from outside (a header of any message, a
/// TXT record of any domain): parsing is one pass and refuses rather than guesses.
public struct DKIMTagList: Sendable, Hashable {
    public struct Tag: Sendable, Hashable {
        public var name: String
        public var value: String
    }

    /// Why a list does not parse.
    public struct Malformed: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    /// In the order written.
    public private(set) var tags: [Tag]

    /// The value of the tag named `name`, nil when there is none.
    public subscript(name: String) -> String? { tags.first { $0.name == name }?.value }

    public init(_ text: some BidirectionalCollection<UInt8>) throws(Malformed) {
        var tags: [Tag] = []
        var names = Set<String>()
        // Each `;`-separated part; the last may be empty (a trailing `;`).
        var parts = Self.split(text)
        if let last = parts.last, Self.isWhitespace(last) { parts.removeLast() }
        for part in parts {
            guard let equals = part.firstIndex(of: UInt8(ascii: "=")) else {
                throw Malformed(description: "a tag without '='")
            }
            let name = Self.trimmed(part[..<equals])
            guard let first = name.first, Self.isAlpha(first), name.allSatisfy(Self.isNameOctet) else {
                throw Malformed(description: "a tag name that is not ALPHA *(ALPHA / DIGIT / \"_\")")
            }
            let value = Self.trimmed(part[part.index(after: equals)...])
            // tval is VALCHAR; whitespace (with line ends, as FWS) only between tvals.
            guard value.allSatisfy({ (0x21...0x7E).contains($0) || $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }) else {
                throw Malformed(description: "a tag value with an octet outside VALCHAR")
            }
            let tag = Tag(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
            guard names.insert(tag.name).inserted else {
                throw Malformed(description: "the tag \(tag.name) twice")
            }
            tags.append(tag)
        }
        self.tags = tags
    }

    private static func split<Octets: BidirectionalCollection<UInt8>>(_ text: Octets) -> [Octets.SubSequence] {
        text.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false)
    }

    /// Without FWS at either end.
    private static func trimmed<Octets: BidirectionalCollection<UInt8>>(_ octets: Octets) -> Octets.SubSequence {
        guard let start = octets.firstIndex(where: { !isFWSOctet($0) }) else { return octets[octets.endIndex...] }
        let end = octets.lastIndex { !isFWSOctet($0) }.map(octets.index(after:)) ?? octets.endIndex
        return octets[start..<end]
    }

    private static func isWhitespace(_ octets: some Collection<UInt8>) -> Bool { octets.allSatisfy(isFWSOctet) }

    /// The octets of FWS: WSP, and the CRLF of a folded line.
    static func isFWSOctet(_ octet: UInt8) -> Bool { octet == 0x20 || octet == 0x09 || octet == 0x0D || octet == 0x0A }

    private static func isAlpha(_ octet: UInt8) -> Bool { (0x41...0x5A).contains(octet) || (0x61...0x7A).contains(octet) }

    private static func isNameOctet(_ octet: UInt8) -> Bool { isAlpha(octet) || (0x30...0x39).contains(octet) || octet == UInt8(ascii: "_") }
}
