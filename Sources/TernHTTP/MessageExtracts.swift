import TernMIME

/// What a test suite wants out of a message without parsing it: its links and its one-time
/// codes.
///
/// Every scan here is linear in the message and collects a bounded number of items
/// (hostile-inputs 47): at most `maximumLinks` links, `maximumCodes` codes, a link's text from
/// at most `maximumInnerOctets` of its HTML. The scans move forward over the octets
/// (`OctetScanner`); a search that may be asked again from a later position (the `</a` after a
/// link, the digit after a keyword) remembers its last answer, so thousands of unclosed `<a>`
/// or keywords cost one pass, not one pass each.
struct MessageExtracts {
    struct Link: Hashable, Codable {
        var href: String
        var text: String

        enum CodingKeys: String, CodingKey {
            case href = "Href"
            case text = "Text"
        }
    }

    /// At most this many links (HTML links first, then URLs of the text).
    static let maximumLinks = 500
    /// At most this many codes.
    static let maximumCodes = 20
    /// A link's text: at most this many Unicode scalars (JSON Schema's characters) of it.
    static let maximumLinkText = 200
    /// How much of the HTML after `<a ...>` is read for the link's text.
    static let maximumInnerOctets = 4096
    /// An href or URL longer than this is not a link a test follows: skipped.
    static let maximumHref = 8192
    /// Keyword hits whose 60-character window is read for a code; later hits are not looked at.
    static let maximumCodeWindows = 10_000

    var links: [Link]
    var codes: [String]

    init(content: MessageContent) {
        var links: [Link] = []
        var hrefs: Set<String> = []
        if let html = content.htmlBody {
            links = Self.htmlLinks(html)
            hrefs = Set(links.map(\.href))
        }
        if let text = content.textBody {
            for url in Self.urls(in: text) where links.count < Self.maximumLinks && hrefs.insert(url).inserted {
                links.append(Link(href: url, text: ""))
            }
        }
        self.links = links
        let text = content.textBody ?? content.htmlBody.map(HTMLText.plainText) ?? ""
        codes = Self.codes(in: content.subject + "\n" + text)
    }

    // MARK: Links of HTML

    /// `<a href="...">text</a>`: the href (entities decoded, only http, https and mailto) and
    /// the link's visible text, each link once.
    static func htmlLinks(_ html: String) -> [Link] {
        var scanner = OctetScanner(html)
        return htmlLinks(&scanner)
    }

    static func htmlLinks(_ scanner: inout OctetScanner) -> [Link] {
        let anchorClose = Array("</a".utf8)
        var links: [Link] = []
        var seen: Set<Link> = []
        var position = 0
        // The last searches for `<a ` and `</a`: where each started and what it found (nil: none
        // to the end). Both are asked from positions that only grow, so each is answered again
        // from memory until the position passes what it found.
        var anchor: (from: Int, at: Int?)?
        var close: (from: Int, at: Int?)?
        func nextAnchor(_ scanner: inout OctetScanner, from position: Int) -> Int? {
            if anchor == nil || anchor?.at.map({ $0 < position }) == true {
                anchor = (position, Self.anchorStart(&scanner, from: position))
            }
            return anchor?.at
        }
        while links.count < maximumLinks, let open = nextAnchor(&scanner, from: position) {
            guard let tag = startTag(&scanner, attributesFrom: open + 2) else { break }
            position = tag.end
            guard let hrefRange = tag.href, hrefRange.count <= maximumHref,
                let href = allowedHref(HTMLText.plainText(scanner.text(hrefRange)))
            else { continue }
            if close == nil || close?.at.map({ $0 < position }) == true {
                close = (position, scanner.find(anchorClose, from: position))
            }
            // The text ends at `</a`, or where the next link begins (HTML closes an open `a`
            // there), so the texts of links never overlap and reading them is linear.
            let end = min(close?.at ?? scanner.count, nextAnchor(&scanner, from: position) ?? scanner.count)
            let innerEnd = scanner.characterBoundary(atOrBefore: min(end, position + maximumInnerOctets), notBefore: position)
            let inner = HTMLText.plainText(scanner.text(position..<innerEnd))
            let words = inner.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            let text = String(String.UnicodeScalarView(words.unicodeScalars.prefix(maximumLinkText)))
            let link = Link(href: href, text: text)
            if seen.insert(link).inserted { links.append(link) }
        }
        return links
    }

    /// Where the next `a` start tag (`<a` then white space, `>` or `/`) begins, at or after
    /// `start`; `<abbr>` and `<aside>` are not one.
    static func anchorStart(_ scanner: inout OctetScanner, from start: Int) -> Int? {
        let anchor = Array("<a".utf8)
        var position = start
        while let found = scanner.find(anchor, from: position) {
            let next = found + anchor.count
            guard next < scanner.count else { return nil }
            let octet = scanner.octets[next]
            if OctetScanner.isHTMLSpace(octet) || octet == UInt8(ascii: ">") || octet == UInt8(ascii: "/") { return found }
            position = next
        }
        return nil
    }

    /// The rest of a start tag from its attributes on: where the tag ends (after its `>`) and
    /// the value of its `href` attribute. Attribute values are read as HTML does (quoted with
    /// `"` or `'`, or up to white space), so a `>` or `href=` inside a quoted value is text.
    /// Nil when the tag never ends.
    ///
    ///     attribute = name [ *WSP "=" *WSP ( DQUOTE *(not DQUOTE) DQUOTE / "'" *(not "'") "'" / 1*(not WSP or ">") ) ]
    static func startTag(_ scanner: inout OctetScanner, attributesFrom start: Int) -> (end: Int, href: Range<Int>?)? {
        let hrefName = Array("href".utf8)
        var href: Range<Int>?
        var index = start
        while true {
            guard let nameStart = scanner.firstIndex(from: index, where: { !OctetScanner.isHTMLSpace($0) && $0 != 0x2F })
            else { return nil }
            if scanner.octets[nameStart] == UInt8(ascii: ">") { return (nameStart + 1, href) }
            let nameEnd =
                scanner.firstIndex(from: nameStart + 1) {
                    OctetScanner.isHTMLSpace($0) || $0 == 0x2F || $0 == 0x3E || $0 == 0x3D  // / > =
                }
                ?? scanner.count
            let isHref =
                nameEnd - nameStart == hrefName.count
                && zip(scanner.octets[nameStart..<nameEnd], hrefName).allSatisfy { OctetScanner.lowered($0) == $1 }
            guard let afterName = scanner.firstIndex(from: nameEnd, where: { !OctetScanner.isHTMLSpace($0) }) else {
                return nil
            }
            guard scanner.octets[afterName] == UInt8(ascii: "=") else {
                if isHref, href == nil { href = afterName..<afterName }
                index = afterName
                continue
            }
            guard let valueStart = scanner.firstIndex(from: afterName + 1, where: { !OctetScanner.isHTMLSpace($0) }) else {
                return nil
            }
            let quote = scanner.octets[valueStart]
            let value: Range<Int>
            if quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") {
                guard let valueEnd = scanner.find(quote, from: valueStart + 1) else { return nil }
                value = valueStart + 1..<valueEnd
                index = valueEnd + 1
            } else {
                let valueEnd =
                    scanner.firstIndex(from: valueStart) { OctetScanner.isHTMLSpace($0) || $0 == 0x3E } ?? scanner.count
                value = valueStart..<valueEnd
                index = valueEnd
            }
            // As in HTML, the first of two attributes of one name wins.
            if isHref, href == nil { href = value }
        }
    }

    /// The href as a test may follow it: http, https or mailto, else nil. Browsers remove tabs
    /// and line breaks anywhere in a URL and C0 controls and spaces around it (WHATWG URL), so
    /// `java&#9;script:` is `javascript:` to them: the scheme is read the same way. Anything
    /// else (`javascript:`, `data:`, `file:`, `vbscript:`, a relative path) is dropped.
    static func allowedHref(_ href: String) -> String? {
        let scalars = Array(href.unicodeScalars.lazy.filter { $0 != "\t" && $0 != "\n" && $0 != "\r" })
        guard let first = scalars.firstIndex(where: { $0.value > 0x20 }),
            let last = scalars.lastIndex(where: { $0.value > 0x20 })
        else { return nil }
        let trimmed = scalars[first...last]
        guard let colon = trimmed.firstIndex(of: ":") else { return nil }
        let scheme = String(String.UnicodeScalarView(trimmed[..<colon])).lowercased()
        guard ["http", "https", "mailto"].contains(scheme) else { return nil }
        return String(String.UnicodeScalarView(trimmed))
    }

    // MARK: URLs of text

    /// http(s) URLs in plain text, without trailing punctuation, each once, at most
    /// `maximumLinks`.
    static func urls(in text: String) -> [String] {
        var scanner = OctetScanner(text)
        return urls(&scanner)
    }

    static func urls(_ scanner: inout OctetScanner) -> [String] {
        let http = Array("http".utf8)
        var result: [String] = []
        var seen: Set<String> = []
        var position = 0
        while result.count < maximumLinks, let start = scanner.find(http, from: position) {
            var afterScheme = start + http.count
            if afterScheme < scanner.count, OctetScanner.lowered(scanner.octets[afterScheme]) == UInt8(ascii: "s") {
                afterScheme += 1
            }
            guard afterScheme + 3 <= scanner.count, scanner.octets[afterScheme..<afterScheme + 3].elementsEqual("://".utf8)
            else {
                position = start + http.count
                continue
            }
            let end = urlEnd(&scanner, from: afterScheme + 3)
            position = end
            var trimmedEnd = end
            while trimmedEnd > afterScheme + 3, trailingPunctuation.contains(scanner.octets[trimmedEnd - 1]) {
                trimmedEnd -= 1
            }
            guard trimmedEnd - start > 8, trimmedEnd - start <= maximumHref else { continue }
            let url = scanner.text(start..<trimmedEnd)
            if seen.insert(url).inserted { result.append(url) }
        }
        return result
    }

    private static let trailingPunctuation = Array(".,;:!?)]}".utf8)

    /// Where a URL that runs from before `start` ends: at white space (Unicode's too: NBSP,
    /// the typographic spaces, U+2028/9, U+3000), a control character, `<`, `>`, `"` or `'`.
    private static func urlEnd(_ scanner: inout OctetScanner, from start: Int) -> Int {
        var index = start
        let stops = { (octet: UInt8) in octet <= 0x20 || octet == 0x7F || octet >= 0xC2 || "<>\"'".utf8.contains(octet) }
        while let stop = scanner.firstIndex(from: index, where: stops) {
            guard scanner.octets[stop] >= 0xC2 else { return stop }
            if unicodeSpaceLength(scanner.octets, at: stop) > 0 { return stop }
            index = stop + 1
        }
        return scanner.count
    }

    /// The length in octets of the Unicode white space (`Character.isWhitespace`, beyond ASCII)
    /// that starts at `index`, or 0.
    static func unicodeSpaceLength(_ octets: [UInt8], at index: Int) -> Int {
        func octet(_ offset: Int) -> UInt8? { index + offset < octets.count ? octets[index + offset] : nil }
        switch (octet(0), octet(1), octet(2)) {
        case (0xC2, 0x85, _), (0xC2, 0xA0, _): return 2
        case (0xE1, 0x9A, 0x80): return 3  // U+1680
        case (0xE2, 0x80, let third?) where (0x80...0x8A).contains(third) || [0xA8, 0xA9, 0xAF].contains(third): return 3
        case (0xE2, 0x81, 0x9F), (0xE3, 0x80, 0x80): return 3  // U+205F, U+3000
        default: return 0
        }
    }

    // MARK: Codes

    static let codeKeywords = ["code", "otp", "verification", "verify", "passcode", "pin", "one-time", "token", "confirm"]

    /// One-time codes: runs of 4 to 8 digits (a space or dash inside, as in `123 456`, allowed),
    /// the first such run within 60 characters after a word that announces one; each code once,
    /// at most `maximumCodes`.
    static func codes(in text: String) -> [String] {
        var scanner = OctetScanner(text)
        return codes(&scanner)
    }

    static func codes(_ scanner: inout OctetScanner) -> [String] {
        var codes: [String] = []
        var seen: Set<String> = []
        var windows = 0
        for keyword in codeKeywords.map({ Array($0.utf8) }) {
            var position = 0
            // The last search for an ASCII digit: where it started and what it found.
            var digit: (from: Int, at: Int?)?
            while codes.count < maximumCodes, windows < maximumCodeWindows, let found = scanner.find(keyword, from: position) {
                let windowStart = found + keyword.count
                position = windowStart
                if digit == nil || digit?.at.map({ $0 < windowStart }) == true {
                    digit = (windowStart, scanner.firstIndex(from: windowStart) { (0x30...0x39).contains($0) })
                }
                // 60 characters are at most 240 octets: no digit that close, no code.
                guard let next = digit?.at, next - windowStart < 240 else { continue }
                windows += 1
                let windowEnd = scanner.characterBoundary(atOrBefore: windowStart + 240, notBefore: windowStart)
                let window = Substring(scanner.text(windowStart..<windowEnd)).prefix(60)
                if let code = firstCode(in: window), seen.insert(code).inserted { codes.append(code) }
            }
        }
        return codes
    }

    private static func firstCode(in window: Substring) -> String? {
        var digits = ""
        var previousWasDigit = false
        var index = window.startIndex
        while index < window.endIndex {
            let character = window[index]
            if character.isASCII, character.isNumber {
                digits.append(character)
                previousWasDigit = true
            } else if previousWasDigit, character == " " || character == "-",
                window.index(after: index) < window.endIndex, window[window.index(after: index)].isNumber, digits.count < 8
            {
                previousWasDigit = false
            } else {
                if (4...8).contains(digits.count) { return digits }
                digits = ""
                previousWasDigit = false
            }
            index = window.index(after: index)
        }
        return (4...8).contains(digits.count) ? digits : nil
    }
}
