import TernMail

/// One `esmtp-param` before its keyword is interpreted.
struct RawParameter {
    /// Upper-cased keyword.
    var keyword: String
    var value: String?
}

/// Parsers for ESMTP parameters on MAIL and RCPT (RFC 5321 §4.1.2) and their meanings in the
/// extensions Tern advertises: SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8
/// (RFC 6531), RET/ENVID/NOTIFY/ORCPT (RFC 3461).
///
/// Security notes: unknown keywords are refused with 555 5.5.4 rather than ignored, a keyword
/// given twice is an error, and xtext values are checked so that none can decode to a control
/// octet that would reach a DSN or a header (Exim CVE-2020-28021/28026).
enum ParameterParser {
    /// `Mail-parameters = esmtp-param *(SP esmtp-param)`
    /// `esmtp-param = esmtp-keyword ["=" esmtp-value]`
    /// `esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`
    /// `esmtp-value = 1*(%d33-60 / %d62-126)` (extended by UTF8-non-ascii, RFC 6531 §3.3)
    static func parameters(_ cursor: inout ByteCursor) -> Result<[RawParameter], ReplyError> {
        var list: [RawParameter] = []
        while !cursor.isAtEnd {
            guard cursor.skipSpaces() > 0 else { return .failure(.init(.parameterSyntax)) }
            if cursor.isAtEnd { break }  // trailing spaces
            let keyword = cursor.consume(while: { ASCII.isLetDig($0) || $0 == UInt8(ascii: "-") })
            guard !keyword.isEmpty, ASCII.isLetDig(cursor.bytes[keyword.lowerBound]) else {
                return .failure(.init(.parameterSyntax))
            }
            var value: String?
            if cursor.consume(UInt8(ascii: "=")) {
                let range = cursor.consume(while: { ($0 >= 33 && $0 <= 126 && $0 != UInt8(ascii: "=")) || $0 >= 0x80 })
                guard !range.isEmpty, let text = cursor.validatedString(range) else {
                    return .failure(.init(.parameterSyntax))
                }
                value = text
            }
            guard cursor.isAtEnd || cursor.peek() == UInt8(ascii: " ") else { return .failure(.init(.parameterSyntax)) }
            let name = cursor.string(keyword).uppercased()
            guard !list.contains(where: { $0.keyword == name }) else { return .failure(.init(.duplicateParameter)) }
            list.append(RawParameter(keyword: name, value: value))
        }
        return .success(list)
    }

    static func mailParameters(_ list: [RawParameter]) -> Result<MailParameters, ReplyError> {
        var parameters = MailParameters()
        for parameter in list {
            switch (parameter.keyword, parameter.value) {
            case ("SIZE", let value?):
                // RFC 1870 §6: `size-value ::= 1*20DIGIT`. Leading zeros are fine; anything
                // beyond Int is no size this server could take, and is a syntax error.
                guard let size = decimal(value, maximumDigits: 20) else { return .failure(.init(.parameterSyntax)) }
                parameters.size = size
            case ("BODY", let value?):
                guard let body = BodyType(rawValue: value.uppercased()) else {
                    return .failure(.init(.parameterSyntax))
                }
                parameters.body = body
            case ("SMTPUTF8", nil):
                parameters.smtpUTF8 = true
            case ("RET", let value?):
                guard let ret = DSNReturn(rawValue: value.uppercased()) else {
                    return .failure(.init(.parameterSyntax))
                }
                parameters.dsnReturn = ret
            case ("ENVID", let value?):
                // RFC 3461 §4.4: at most 100 characters, xtext.
                guard value.utf8.count <= 100, XText.isValid(value) else { return .failure(.init(.parameterSyntax)) }
                parameters.envelopeID = value
            case ("SIZE", nil), ("BODY", nil), ("RET", nil), ("ENVID", nil), ("SMTPUTF8", _):
                return .failure(.init(.parameterSyntax))
            default:
                return .failure(.init(.unknownParameter))
            }
        }
        return .success(parameters)
    }

    static func recipientParameters(_ list: [RawParameter]) -> Result<RecipientParameters, ReplyError> {
        var parameters = RecipientParameters()
        for parameter in list {
            switch (parameter.keyword, parameter.value) {
            case ("NOTIFY", let value?):
                guard let notify = notify(value) else { return .failure(.init(.parameterSyntax)) }
                parameters.notify = notify
            case ("ORCPT", let value?):
                guard let original = originalRecipient(value) else { return .failure(.init(.parameterSyntax)) }
                parameters.originalRecipient = original
            case ("NOTIFY", nil), ("ORCPT", nil):
                return .failure(.init(.parameterSyntax))
            default:
                return .failure(.init(.unknownParameter))
            }
        }
        return .success(parameters)
    }

    /// `notify-esmtp-value = "NEVER" / 1#notify-list-element`,
    /// `notify-list-element = "SUCCESS" / "FAILURE" / "DELAY"` (RFC 3461 §4.1).
    static func notify(_ value: String) -> DSNNotify? {
        var notify = DSNNotify()
        for element in value.uppercased().split(separator: ",", omittingEmptySubsequences: false) {
            switch element {
            case "NEVER" where !notify.never: notify.never = true
            case "SUCCESS" where !notify.success: notify.success = true
            case "FAILURE" where !notify.failure: notify.failure = true
            case "DELAY" where !notify.delay: notify.delay = true
            default: return nil
            }
        }
        // NEVER excludes every other keyword.
        if notify.never, notify.success || notify.failure || notify.delay { return nil }
        return notify
    }

    /// `orcpt-parameter = "ORCPT=" original-recipient-address`,
    /// `original-recipient-address = addr-type ";" xtext` (RFC 3461 §4.2), at most 500
    /// characters; `addr-type = atom`. For `utf-8` (RFC 6533 §3) UTF-8 is allowed in the
    /// value, otherwise xtext proper.
    static func originalRecipient(_ value: String) -> OriginalRecipient? {
        guard value.utf8.count <= 500, let semicolon = value.firstIndex(of: ";") else { return nil }
        let type = value[..<semicolon]
        let address = String(value[value.index(after: semicolon)...])
        guard !type.isEmpty, type.utf8.allSatisfy(ASCII.isAtext), !address.isEmpty else { return nil }
        let isUTF8Type = type.lowercased() == "utf-8"
        guard XText.isValid(address, allowingUTF8: isUTF8Type) else { return nil }
        return OriginalRecipient(addressType: String(type), encodedAddress: address)
    }

    static func decimal(_ text: String, maximumDigits: Int) -> Int? {
        let digits = text.utf8
        guard !digits.isEmpty, digits.count <= maximumDigits, digits.allSatisfy(ASCII.isDigit) else { return nil }
        var value = 0
        for digit in digits {
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return value
    }
}

/// xtext (RFC 3461 §4): `xtext = *( xchar / hexchar )`, `xchar` any of %d33-126 except "+"
/// and "=", `hexchar = "+" 2(%x30-39 / %x41-46)`.
public enum XText {
    /// True when `text` is xtext and none of its `+XX` escapes decodes to a control octet
    /// (so no CR, LF or NUL can be smuggled into a DSN or header through it).
    public static func isValid(_ text: String, allowingUTF8: Bool = false) -> Bool {
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                guard let high = iterator.next(), let low = iterator.next(),
                    ASCII.isUpperHexDigit(high), ASCII.isUpperHexDigit(low)
                else { return false }
                let decoded = hexValue(high) << 4 | hexValue(low)
                guard decoded >= 0x20, decoded != 0x7F else { return false }
            case UInt8(ascii: "="):
                return false
            case 33...126:
                continue
            case 0x80...0xFF where allowingUTF8:
                continue
            default:
                return false
            }
        }
        return true
    }

    /// Decodes xtext into its octets; nil if it is not valid xtext.
    public static func decode(_ text: String) -> [UInt8]? {
        guard isValid(text, allowingUTF8: true) else { return nil }
        var output: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "+"), let high = iterator.next(), let low = iterator.next() {
                output.append(hexValue(high) << 4 | hexValue(low))
            } else {
                output.append(byte)
            }
        }
        return output
    }

    private static func hexValue(_ digit: UInt8) -> UInt8 {
        ASCII.isDigit(digit) ? digit - UInt8(ascii: "0") : digit - UInt8(ascii: "A") + 10
    }
}

/// A reply carried as an error, for `Result` in the parsers.
struct ReplyError: Error {
    var reply: SMTPReply
    init(_ reply: SMTPReply) { self.reply = reply }
}
