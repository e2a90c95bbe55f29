/// The body type a client declares with `BODY=` (RFC 6152 for 8BITMIME, RFC 3030 §3 for
/// BINARYMIME). Absent means 7BIT.
public enum BodyType: String, Hashable, Sendable {
    case sevenBit = "7BIT"
    case eightBitMIME = "8BITMIME"
    case binaryMIME = "BINARYMIME"
}

/// What a DSN should contain when the message fails: `RET=FULL` or `RET=HDRS`
/// (RFC 3461 §4.3).
public enum DSNReturn: String, Hashable, Sendable {
    case full = "FULL"
    case headers = "HDRS"
}

/// When a recipient wants a DSN: `NOTIFY=NEVER` or any of SUCCESS, FAILURE, DELAY
/// (RFC 3461 §4.1).
public struct DSNNotify: Hashable, Sendable {
    public var never: Bool
    public var success: Bool
    public var failure: Bool
    public var delay: Bool

    public init(never: Bool = false, success: Bool = false, failure: Bool = false, delay: Bool = false) {
        self.never = never
        self.success = success
        self.failure = failure
        self.delay = delay
    }

    /// Reads stored keywords: NEVER alone, or any of SUCCESS, FAILURE, DELAY (RFC 3461 §4.1);
    /// nil for anything else.
    public init?(keywords: [String]) {
        if keywords == ["NEVER"] {
            self.init(never: true)
            return
        }
        let known: Set<String> = ["SUCCESS", "FAILURE", "DELAY"]
        guard !keywords.isEmpty, keywords.allSatisfy(known.contains) else { return nil }
        self.init(
            success: keywords.contains("SUCCESS"), failure: keywords.contains("FAILURE"),
            delay: keywords.contains("DELAY"))
    }

    /// The keywords in RFC 3461 order, as they go back on the wire or into a DSN.
    public var keywords: [String] {
        if never { return ["NEVER"] }
        var words: [String] = []
        if success { words.append("SUCCESS") }
        if failure { words.append("FAILURE") }
        if delay { words.append("DELAY") }
        return words
    }
}

/// `ORCPT=addr-type ";" xtext` (RFC 3461 §4.2): the recipient as the original sender gave it.
public struct OriginalRecipient: Hashable, Sendable {
    /// The address type, e.g. `rfc822` or `utf-8` (RFC 6533).
    public var addressType: String
    /// The address still in xtext form, as received: it is passed on and reported verbatim.
    public var encodedAddress: String

    public init(addressType: String, encodedAddress: String) {
        self.addressType = addressType
        self.encodedAddress = encodedAddress
    }

    /// Splits a stored `addr-type ";" xtext` value; nil without the `;`.
    public init?(parameterValue value: String) {
        guard let semicolon = value.firstIndex(of: ";") else { return nil }
        self.init(
            addressType: String(value[..<semicolon]), encodedAddress: String(value[value.index(after: semicolon)...]))
    }

    /// `addr-type ";" xtext`, the parameter value.
    public var parameterValue: String { "\(addressType);\(encodedAddress)" }
}

