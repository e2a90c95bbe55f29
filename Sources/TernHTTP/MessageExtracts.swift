import Foundation
import TernMIME

/// What a test suite wants out of a message without parsing it: its links, its one-time codes
/// and its unsubscribe addresses.
struct MessageExtracts {
    struct Link: Hashable, Codable {
        var href: String
        var text: String

        enum CodingKeys: String, CodingKey {
            case href = "Href"
            case text = "Text"
        }
    }

    var links: [Link]
    var codes: [String]

    init(content: MessageContent) {
        var links: [Link] = []
        if let html = content.htmlBody { links = Self.htmlLinks(html) }
        if let text = content.textBody {
            for url in Self.urls(in: text) where !links.contains(where: { $0.href == url }) {
                links.append(Link(href: url, text: ""))
            }
        }
        self.links = links
        let text = content.textBody ?? content.htmlBody.map(HTMLText.plainText) ?? ""
        codes = Self.codes(in: content.subject + "\n" + text)
    }

    /// `<a href="...">text</a>`: the href (entities decoded) and the link's visible text.
    static func htmlLinks(_ html: String) -> [Link] {
        var links: [Link] = []
        var rest = html[...]
        while let open = rest.range(of: "<a", options: .caseInsensitive) {
            rest = rest[open.upperBound...]
            guard let tagEnd = rest.firstIndex(of: ">") else { break }
            let attributes = rest[..<tagEnd]
            rest = rest[rest.index(after: tagEnd)...]
            guard attributes.first.map({ $0.isWhitespace }) == true, let href = attribute("href", in: attributes) else {
                continue
            }
            let close = rest.range(of: "</a", options: .caseInsensitive)
            let inner = close.map { rest[..<$0.lowerBound] } ?? ""
            let text = HTMLText.plainText(String(inner)).split(whereSeparator: \.isWhitespace).joined(separator: " ")
            let link = Link(href: HTMLText.plainText(href), text: text)
            if !links.contains(link) { links.append(link) }
        }
        return links
    }

    /// An attribute's value: `name="v"`, `name='v'` or `name=v`.
    static func attribute(_ name: String, in attributes: Substring) -> String? {
        var search = attributes
        while let found = search.range(of: name, options: .caseInsensitive) {
            var index = found.upperBound
            search = attributes[found.upperBound...]
            let before = found.lowerBound == attributes.startIndex ? " " : attributes[attributes.index(before: found.lowerBound)]
            guard before.isWhitespace else { continue }
            while index < attributes.endIndex, attributes[index].isWhitespace { index = attributes.index(after: index) }
            guard index < attributes.endIndex, attributes[index] == "=" else { continue }
            index = attributes.index(after: index)
            while index < attributes.endIndex, attributes[index].isWhitespace { index = attributes.index(after: index) }
            guard index < attributes.endIndex else { return nil }
            let quote = attributes[index]
            if quote == "\"" || quote == "'" {
                let start = attributes.index(after: index)
                let end = attributes[start...].firstIndex(of: quote) ?? attributes.endIndex
                return String(attributes[start..<end])
            }
            let end = attributes[index...].firstIndex(where: \.isWhitespace) ?? attributes.endIndex
            return String(attributes[index..<end])
        }
        return nil
    }

    /// http(s) URLs in plain text, without trailing punctuation.
    static func urls(in text: String) -> [String] {
        var result: [String] = []
        var rest = text[...]
        while let start = rest.range(of: "http", options: .caseInsensitive) {
            let candidate = rest[start.lowerBound...]
            let end = candidate.firstIndex(where: { $0.isWhitespace || "<>\"'".contains($0) }) ?? candidate.endIndex
            var url = candidate[..<end]
            while let last = url.last, ".,;:!?)]}".contains(last) { url = url.dropLast() }
            let lowered = url.lowercased()
            if lowered.hasPrefix("http://") || lowered.hasPrefix("https://"), url.count > 8, !result.contains(String(url)) {
                result.append(String(url))
            }
            rest = candidate[end...]
            if end == candidate.startIndex { rest = rest.dropFirst() }
        }
        return result
    }

    /// One-time codes: runs of 4 to 8 digits (a space or dash inside, as in `123 456`, allowed)
    /// within 60 characters after a word that announces one.
    static func codes(in text: String) -> [String] {
        let keywords = ["code", "otp", "verification", "verify", "passcode", "pin", "one-time", "token", "confirm"]
        let lowered = text.lowercased()
        var codes: [String] = []
        for keyword in keywords {
            var rest = lowered[...]
            while let found = rest.range(of: keyword) {
                let window = lowered[found.upperBound...].prefix(60)
                if let code = firstCode(in: window), !codes.contains(code) { codes.append(code) }
                rest = lowered[found.upperBound...]
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
