/// One SMTP command line, parsed (RFC 5321 §4.1.1 and the extensions Tern implements).
public enum SMTPCommand: Hashable, Sendable {
    /// `EHLO SP ( Domain / address-literal )` (§4.1.1.1).
    case ehlo(String)
    /// `HELO SP Domain` (§4.1.1.1).
    case helo(String)
    /// `MAIL FROM:Reverse-path [SP Mail-parameters]` (§4.1.1.2).
    case mail(ReversePath, MailParameters)
    /// `RCPT TO:( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) [SP Rcpt-parameters]`
    /// (§4.1.1.3).
    case rcpt(ForwardPath, RecipientParameters)
    /// `DATA` (§4.1.1.4).
    case data
    /// `BDAT SP chunk-size [SP end-marker]` (RFC 3030 §2).
    case bdat(size: Int, last: Bool)
    /// `RSET` (§4.1.1.5).
    case rset
    /// `VRFY SP String` (§4.1.1.6).
    case vrfy(String)
    /// `EXPN SP String` (§4.1.1.7).
    case expn(String)
    /// `HELP [SP String]` (§4.1.1.8).
    case help(String?)
    /// `NOOP [SP String]` (§4.1.1.9).
    case noop
    /// `QUIT` (§4.1.1.10).
    case quit
    /// `STARTTLS` (RFC 3207 §4).
    case startTLS
    /// `AUTH SP sasl-mech [SP initial-response]` (RFC 4954 §4): the mechanism in upper case,
    /// the initial response as sent (base64, or `=` for an empty one).
    case auth(mechanism: String, initialResponse: String?)

    /// The verb, for logs and metrics.
    public var verb: String {
        switch self {
        case .ehlo: "EHLO"
        case .helo: "HELO"
        case .mail: "MAIL"
        case .rcpt: "RCPT"
        case .data: "DATA"
        case .bdat: "BDAT"
        case .rset: "RSET"
        case .auth: "AUTH"
        case .vrfy: "VRFY"
        case .expn: "EXPN"
        case .help: "HELP"
        case .noop: "NOOP"
        case .quit: "QUIT"
        case .startTLS: "STARTTLS"
        }
    }
}
