/// The size limits of RFC 5321 §4.5.3.1, which a server must accept at least and may enforce.
public enum Limits {
    /// §4.5.3.1.1: the maximum total length of a user name or other local part is 64 octets.
    public static let localPart = 64
    /// §4.5.3.1.2: the maximum total length of a domain name or number is 255 octets.
    public static let domain = 255
    /// §4.5.3.1.3: the maximum total length of a reverse-path or forward-path is 256 octets,
    /// including the punctuation and element separators.
    public static let path = 256
    /// §4.5.3.1.4: the maximum total length of a command line including the command word and
    /// the <CRLF> is 512 octets. SMTP extensions may raise it (see `commandLineExtension`).
    public static let commandLine = 512
    /// RFC 1869 §4.1.2 lets each extension that adds parameters lengthen MAIL and RCPT; RFC
    /// 3461 §5 grants 100 octets for ENVID and 500 for ORCPT, RFC 1870 and RFC 6152 a few more.
    public static let commandLineExtension = 600
    /// RFC 4954 §4: a SASL response line (base64) may be up to 12288 octets.
    public static let saslResponse = 12288
    /// §4.5.3.1.6: the maximum total length of a text line including the <CRLF> is 1000 octets.
    public static let textLine = 1000
    /// §4.5.3.1.8: the minimum total number of recipients that must be buffered is 100.
    public static let minimumRecipients = 100
    /// §4.5.3.1.5: the maximum total length of a reply line including the reply code and the
    /// <CRLF> is 512 octets.
    public static let replyLine = 512
}
