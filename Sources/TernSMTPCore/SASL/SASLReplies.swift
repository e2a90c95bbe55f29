public import TernMail

extension SMTPReply {
    // RFC 4954 §6 and RFC 3463 (with RFC 5248's registry of enhanced codes).
    public static let authenticationSucceeded = SMTPReply(235, EnhancedStatusCode(2, 7, 0), "Authentication successful")
    public static let authenticationFailed = SMTPReply(
        535, EnhancedStatusCode(5, 7, 8), "Authentication credentials invalid")
    public static let authenticationTemporaryFailure = SMTPReply(
        454, EnhancedStatusCode(4, 7, 0), "Temporary authentication failure")
    static let saslMalformed = SMTPReply(501, EnhancedStatusCode(5, 5, 2), "Malformed authentication response")
    static let saslBadBase64 = SMTPReply(501, EnhancedStatusCode(5, 5, 2), "Cannot decode the base64 response")
    static let saslCancelled = SMTPReply(501, EnhancedStatusCode(5, 0, 0), "Authentication cancelled")
    static let saslLineTooLong = SMTPReply(
        500, EnhancedStatusCode(5, 5, 6), "Authentication exchange line is too long")
    static let unknownMechanism = SMTPReply(504, EnhancedStatusCode(5, 5, 4), "Unrecognized authentication type")
    static let alreadyAuthenticated = SMTPReply(503, EnhancedStatusCode(5, 5, 1), "Already authenticated")
    static let authenticationInTransaction = SMTPReply(
        503, EnhancedStatusCode(5, 5, 1), "AUTH is not permitted during a mail transaction")
    static let authenticationNeedsEncryption = SMTPReply(
        538, EnhancedStatusCode(5, 7, 11), "Encryption required for requested authentication mechanism")
    static let authenticationNotOffered = SMTPReply(502, EnhancedStatusCode(5, 5, 1), "AUTH is not offered here")
    public static let authenticationRequired = SMTPReply(530, EnhancedStatusCode(5, 7, 0), "Authentication required")
    public static let startTLSRequired = SMTPReply(
        530, EnhancedStatusCode(5, 7, 0), "Must issue a STARTTLS command first")
    static let authSyntax = SMTPReply(501, EnhancedStatusCode(5, 5, 4), "Syntax: AUTH mechanism [initial-response]")
}
