public import TernMail

/// The parameters of one MAIL command (RFC 5321 §4.1.1.2, `Mail-parameters`).
public struct MailParameters: Hashable, Sendable {
    /// `SIZE=` (RFC 1870): the size the client declares, in octets.
    public var size: Int?
    /// `BODY=` (RFC 6152, RFC 3030).
    public var body: BodyType?
    /// `SMTPUTF8` (RFC 6531 §3.4): the transaction may carry UTF-8 addresses and headers.
    public var smtpUTF8: Bool
    /// `RET=` (RFC 3461 §4.3).
    public var dsnReturn: DSNReturn?
    /// `ENVID=` (RFC 3461 §4.4), still in xtext form.
    public var envelopeID: String?

    public init(
        size: Int? = nil,
        body: BodyType? = nil,
        smtpUTF8: Bool = false,
        dsnReturn: DSNReturn? = nil,
        envelopeID: String? = nil
    ) {
        self.size = size
        self.body = body
        self.smtpUTF8 = smtpUTF8
        self.dsnReturn = dsnReturn
        self.envelopeID = envelopeID
    }
}

/// The parameters of one RCPT command (RFC 5321 §4.1.1.3, `Rcpt-parameters`).
public struct RecipientParameters: Hashable, Sendable {
    /// `NOTIFY=` (RFC 3461 §4.1).
    public var notify: DSNNotify?
    /// `ORCPT=` (RFC 3461 §4.2).
    public var originalRecipient: OriginalRecipient?

    public init(notify: DSNNotify? = nil, originalRecipient: OriginalRecipient? = nil) {
        self.notify = notify
        self.originalRecipient = originalRecipient
    }
}
