public import TernMail

/// What a server offers, read from its EHLO reply (RFC 5321 §4.1.1.1) — or nothing, after a
/// HELO fallback.
///
/// ```
/// ehlo-ok-rsp  = ( "250" SP Domain [ SP ehlo-greet ] CRLF )
///              / ( "250-" Domain [ SP ehlo-greet ] CRLF
///                  *( "250-" ehlo-line CRLF )
///                  "250" SP ehlo-line CRLF )
/// ehlo-line    = ehlo-keyword *( SP ehlo-param )
/// ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
/// ehlo-param   = 1*(%d33-126)
/// ```
///
/// Keywords are case-insensitive; unknown ones are ignored. The old `AUTH=LOGIN PLAIN` form is
/// read like `AUTH LOGIN PLAIN`. Values from the wire are bounded: a SIZE that is not
/// `1*20DIGIT` or does not fit an Int counts as "no stated limit" (the server still enforces
/// its own), and at most 32 AUTH mechanisms of `1*20` SASL characters are kept.
public struct ServerCapabilities: Hashable, Sendable {
    /// The server accepted EHLO. False after a HELO fallback: then no extension may be used,
    /// not even a parameter on MAIL (RFC 1869 §4).
    public var extended: Bool
    /// PIPELINING (RFC 2920).
    public var pipelining: Bool
    /// SIZE (RFC 1870) was offered.
    public var size: Bool
    /// The fixed maximum message size from `SIZE n`; nil when none was stated (no value, or
    /// `SIZE 0`, which RFC 1870 §4 defines as "no fixed maximum").
    public var maximumMessageSize: Int?
    /// 8BITMIME (RFC 6152).
    public var eightBitMIME: Bool
    /// SMTPUTF8 (RFC 6531).
    public var smtpUTF8: Bool
    /// CHUNKING: BDAT (RFC 3030).
    public var chunking: Bool
    /// BINARYMIME (RFC 3030 §3); usable only together with CHUNKING.
    public var binaryMIME: Bool
    /// DSN (RFC 3461).
    public var dsn: Bool
    /// STARTTLS (RFC 3207).
    public var startTLS: Bool
    /// ENHANCEDSTATUSCODES (RFC 2034).
    public var enhancedStatusCodes: Bool
    /// The SASL mechanisms of AUTH (RFC 4954), upper-cased, in the server's order.
    public var authenticationMechanisms: [String]

    /// What a HELO-only server offers: nothing.
    public static let none = ServerCapabilities(
        extended: false, pipelining: false, size: false, maximumMessageSize: nil, eightBitMIME: false,
        smtpUTF8: false, chunking: false, binaryMIME: false, dsn: false, startTLS: false, enhancedStatusCodes: false,
        authenticationMechanisms: [])

    public init(
        extended: Bool = true,
        pipelining: Bool = false,
        size: Bool = false,
        maximumMessageSize: Int? = nil,
        eightBitMIME: Bool = false,
        smtpUTF8: Bool = false,
        chunking: Bool = false,
        binaryMIME: Bool = false,
        dsn: Bool = false,
        startTLS: Bool = false,
        enhancedStatusCodes: Bool = false,
        authenticationMechanisms: [String] = []
    ) {
        self.extended = extended
        self.pipelining = pipelining
        self.size = size
        self.maximumMessageSize = maximumMessageSize
        self.eightBitMIME = eightBitMIME
        self.smtpUTF8 = smtpUTF8
        self.chunking = chunking
        self.binaryMIME = binaryMIME
        self.dsn = dsn
        self.startTLS = startTLS
        self.enhancedStatusCodes = enhancedStatusCodes
        self.authenticationMechanisms = authenticationMechanisms
    }

    /// Reads the keywords of a 2yz EHLO reply; the first line (the server's name) is skipped.
    public init(ehloReply reply: SMTPReply) {
        self.init()
        for line in reply.lines.dropFirst() {
            let words = line.utf8.split(
                omittingEmptySubsequences: true, whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "=") })
            guard let keyword = words.first, keyword.count <= 32 else { continue }
            let parameters = words.dropFirst()
            switch String(decoding: keyword, as: UTF8.self).uppercased() {
            case "PIPELINING": pipelining = true
            case "SIZE":
                size = true
                // `size-value = 1*20DIGIT` (RFC 1870 §6); anything else, or too big for an Int,
                // states no limit.
                if let value = parameters.first,
                    let limit = ParameterParser.decimal(String(decoding: value, as: UTF8.self), maximumDigits: 20),
                    limit > 0
                {
                    maximumMessageSize = limit
                }
            case "8BITMIME": eightBitMIME = true
            case "SMTPUTF8": smtpUTF8 = true
            case "CHUNKING": chunking = true
            case "BINARYMIME": binaryMIME = true
            case "DSN": dsn = true
            case "STARTTLS": startTLS = true
            case "ENHANCEDSTATUSCODES": enhancedStatusCodes = true
            case "AUTH":
                for mechanism in parameters.prefix(32) where (1...20).contains(mechanism.count) {
                    let name = String(decoding: mechanism, as: UTF8.self).uppercased()
                    // `sasl-mech = 1*20mech-char`, `mech-char = UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE`.
                    guard
                        name.utf8.allSatisfy({
                            ASCII.isLetDig($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
                        }),
                        !authenticationMechanisms.contains(name)
                    else { continue }
                    authenticationMechanisms.append(name)
                }
            default:
                continue
            }
        }
    }
}
