/// A Content-Type (RFC 2045 §5.1) or Content-Disposition (RFC 2183) value: a token (or
/// `type/subtype`) and its parameters, with RFC 2231 continuations, charsets and languages
/// decoded. Parameter names are lower case; values keep their case.
public struct MediaType: Hashable, Sendable {
    /// Lower case: `text`, `multipart`, `attachment`, ...
    public var type: String
    /// Lower case; empty for a Content-Disposition.
    public var subtype: String
    public var parameters: [String: String]

    public init(type: String, subtype: String, parameters: [String: String] = [:]) {
        self.type = type.lowercased()
        self.subtype = subtype.lowercased()
        self.parameters = parameters
    }

    /// RFC 2045 §5.2: what a part without a (valid) Content-Type is.
    public static let defaultText = MediaType(type: "text", subtype: "plain", parameters: ["charset": "us-ascii"])
    /// RFC 2046 §5.1.5: the default inside multipart/digest.
    public static let defaultDigestPart = MediaType(type: "message", subtype: "rfc822")

    /// `text/plain`.
    public var essence: String { subtype.isEmpty ? type : "\(type)/\(subtype)" }
    public var isMultipart: Bool { type == "multipart" }
    /// message/rfc822 and message/global (RFC 6532 §3.7): a whole message inside.
    public var isEmbeddedMessage: Bool { type == "message" && (subtype == "rfc822" || subtype == "global") }

    public func parameter(_ name: String) -> String? { parameters[name.lowercased()] }

    /// Parses a Content-Type value; nil when it is not `type/subtype` (the caller then uses
    /// the default, as §5.2 says).
    public init?(contentType value: String) {
        var scanner = MIMEToken.Scanner(value)
        guard let type = scanner.token(), scanner.skip("/"), let subtype = scanner.token() else { return nil }
        self.init(type: type, subtype: subtype, parameters: Self.parameters(&scanner))
    }

    /// Parses a Content-Disposition value (`inline`, `attachment`, ...); nil when empty.
    public init?(disposition value: String) {
        var scanner = MIMEToken.Scanner(value)
        guard let type = scanner.token() else { return nil }
        self.init(type: type, subtype: "", parameters: Self.parameters(&scanner))
    }

    /// `*(";" parameter)`, joining RFC 2231 sections (`name*0`, `name*1*`) and decoding
    /// extended values (`charset'language'%XX`). A value that is itself an RFC 2047 encoded
    /// word (what many mailers put in `filename="=?UTF-8?B?...?="`) is decoded too.
    static func parameters(_ scanner: inout MIMEToken.Scanner) -> [String: String] {
        var plain: [String: String] = [:]
        // name → section number → (value, is extended)
        var sections: [String: [Int: (String, Bool)]] = [:]
        var count = 0
        while scanner.skip(";") {
            count += 1
            guard count <= 100, let rawName = scanner.token() else { break }
            guard scanner.skip("=") else { continue }
            guard let value = scanner.quotedString() ?? scanner.token() else { continue }
            var name = rawName.lowercased()
            var extended = false
            if name.hasSuffix("*") {
                extended = true
                name.removeLast()
            }
            if let star = name.firstIndex(of: "*"), let section = Int(name[name.index(after: star)...]), section < 1000 {
                let base = String(name[..<star])
                sections[base, default: [:]][section] = (value, extended)
            } else if extended {
                sections[name, default: [:]][0] = (value, true)
            } else if plain[name] == nil {
                plain[name] = value
            }
        }
        for (name, parts) in sections {
            // §4.1: the charset is named in the first section only; all extended sections use it.
            var charset: String?
            var octets: [UInt8] = []
            for section in parts.keys.sorted() {
                guard let (value, extended) = parts[section] else { continue }
                var text = Substring(value)
                if extended, section == parts.keys.min() {
                    let fields = text.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
                    if fields.count == 3 {
                        charset = String(fields[0])
                        text = fields[2]
                    }
                }
                octets += extended ? percentDecoded(text) : Array(text.utf8)
            }
            plain[name] = Charset.decode(octets, charset: charset?.isEmpty == false ? charset : "utf-8")
        }
        for (name, value) in plain where value.contains("=?") {
            plain[name] = EncodedWords.decode(value)
        }
        return plain
    }

    static func percentDecoded(_ text: Substring) -> [UInt8] {
        var output: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let octet = iterator.popFirst() {
            if octet == UInt8(ascii: "%"), iterator.count >= 2,
                let high = TransferEncoding.hexValue(iterator[iterator.startIndex]),
                let low = TransferEncoding.hexValue(iterator[iterator.startIndex + 1])
            {
                output.append(high << 4 | low)
                iterator = iterator.dropFirst(2)
            } else {
                output.append(octet)
            }
        }
        return output
    }
}

/// RFC 2045 §5.1 lexical pieces: tokens, quoted strings, and comments to skip (RFC 822).
enum MIMEToken {
    /// `tspecials`: the characters a token may not contain.
    static let specials = Set("()<>@,;:\\\"/[]?=".unicodeScalars)

    /// The first token of a value (`base64` in `base64 (comment)`), or "".
    static func firstToken(of value: String) -> String {
        var scanner = Scanner(value)
        return scanner.token() ?? ""
    }

    struct Scanner {
        private let scalars: [Unicode.Scalar]
        private var index = 0

        init(_ text: String) {
            scalars = Array(text.unicodeScalars)
        }

        /// Skips white space and (nested) comments.
        mutating func skipFiller() {
            while index < scalars.count {
                let scalar = scalars[index]
                if scalar == " " || scalar == "\t" || scalar == "\r" || scalar == "\n" {
                    index += 1
                } else if scalar == "(" {
                    var depth = 0
                    while index < scalars.count {
                        let current = scalars[index]
                        if current == "\\" {
                            index += 2
                            continue
                        }
                        if current == "(" { depth += 1 }
                        if current == ")" { depth -= 1 }
                        index += 1
                        if depth == 0 { break }
                    }
                } else {
                    return
                }
            }
        }

        mutating func skip(_ character: Unicode.Scalar) -> Bool {
            skipFiller()
            guard index < scalars.count, scalars[index] == character else { return false }
            index += 1
            return true
        }

        mutating func token() -> String? {
            skipFiller()
            var result = String.UnicodeScalarView()
            while index < scalars.count {
                let scalar = scalars[index]
                guard scalar.value > 0x20, scalar.value != 0x7F, !MIMEToken.specials.contains(scalar) else { break }
                result.append(scalar)
                index += 1
            }
            return result.isEmpty ? nil : String(result)
        }

        /// A quoted string without its quotes and escapes; an unterminated one runs to the end.
        mutating func quotedString() -> String? {
            skipFiller()
            guard index < scalars.count, scalars[index] == "\"" else { return nil }
            index += 1
            var result = String.UnicodeScalarView()
            while index < scalars.count {
                let scalar = scalars[index]
                index += 1
                if scalar == "\"" { break }
                if scalar == "\\", index < scalars.count {
                    result.append(scalars[index])
                    index += 1
                    continue
                }
                if scalar == "\r" || scalar == "\n" { continue }  // folding inside the quotes
                result.append(scalar)
            }
            return String(result)
        }
    }
}
