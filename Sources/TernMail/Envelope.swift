/// The SMTP envelope of one message (RFC 5321 §2.3.1): who sent it, to whom it goes, and the
/// ESMTP parameters that travel with it to the next hop or into a DSN (RFC 3461).
public struct Envelope: Hashable, Sendable {
    /// The reverse path; `nil` is the null sender `<>`, to which nothing is ever sent back.
    public var sender: MailAddress?
    public var recipients: [EnvelopeRecipient]
    /// `BODY=` (RFC 6152, RFC 3030); `nil` when the client declared none (7BIT).
    public var body: BodyType?
    /// `SMTPUTF8` (RFC 6531).
    public var smtpUTF8: Bool
    /// `RET=` (RFC 3461 §4.3).
    public var dsnReturn: DSNReturn?
    /// `ENVID=` (RFC 3461 §4.4), in xtext form.
    public var envelopeID: String?
    /// `SIZE=` as declared (RFC 1870).
    public var declaredSize: Int?

    public init(
        sender: MailAddress?,
        recipients: [EnvelopeRecipient] = [],
        body: BodyType? = nil,
        smtpUTF8: Bool = false,
        dsnReturn: DSNReturn? = nil,
        envelopeID: String? = nil,
        declaredSize: Int? = nil
    ) {
        self.sender = sender
        self.recipients = recipients
        self.body = body
        self.smtpUTF8 = smtpUTF8
        self.dsnReturn = dsnReturn
        self.envelopeID = envelopeID
        self.declaredSize = declaredSize
    }
}

/// One accepted recipient and its DSN parameters (RFC 3461 §4.1, §4.2).
public struct EnvelopeRecipient: Hashable, Sendable {
    public var address: MailAddress
    public var notify: DSNNotify?
    public var originalRecipient: OriginalRecipient?

    public init(address: MailAddress, notify: DSNNotify? = nil, originalRecipient: OriginalRecipient? = nil) {
        self.address = address
        self.notify = notify
        self.originalRecipient = originalRecipient
    }
}
