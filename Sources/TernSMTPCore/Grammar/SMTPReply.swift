public import NIOCore
public import TernMail

extension SMTPReply {
    /// Writes the reply's wire form (`wireOctets`: every line with its code and CRLF).
    public func write(to buffer: inout ByteBuffer) {
        buffer.writeBytes(wireOctets)
    }
}

// MARK: - The reply catalogue
//
// Every reply Tern's server sends comes from here, so codes stay consistent with RFC 5321
// §4.2.2 and RFC 3463 and the tests can name them.

extension SMTPReply {
    // 2yz
    public static let ok = SMTPReply(250, EnhancedStatusCode(2, 0, 0), "Ok")
    public static let senderOK = SMTPReply(250, EnhancedStatusCode(2, 1, 0), "Ok")
    public static let recipientOK = SMTPReply(250, EnhancedStatusCode(2, 1, 5), "Ok")
    public static let cannotVerify = SMTPReply(
        252, EnhancedStatusCode(2, 0, 0), "Cannot VRFY user, but will accept message and attempt delivery")
    public static let help = SMTPReply(
        214, EnhancedStatusCode(2, 0, 0),
        [
            "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS",
            "See RFC 5321 and https://www.rfc-editor.org/rfc/rfc5321",
        ])
    public static let readyToStartTLS = SMTPReply(220, EnhancedStatusCode(2, 0, 0), "Ready to start TLS")
    public static let startData = SMTPReply(354, nil, "End data with <CR><LF>.<CR><LF>")

    public static func queued(as id: QueueID) -> SMTPReply {
        SMTPReply(250, EnhancedStatusCode(2, 0, 0), "Ok: queued as \(id)")
    }

    public static func chunkReceived(octets: Int) -> SMTPReply {
        SMTPReply(250, EnhancedStatusCode(2, 0, 0), "Ok: \(octets) octets received")
    }

    public static func closing(_ hostname: String) -> SMTPReply {
        SMTPReply(221, EnhancedStatusCode(2, 0, 0), "\(hostname) Bye")
    }

    // 4yz
    public static func shuttingDown(_ hostname: String) -> SMTPReply {
        SMTPReply(421, EnhancedStatusCode(4, 3, 2), "\(hostname) Service shutting down")
    }

    public static func timeout(_ hostname: String) -> SMTPReply {
        SMTPReply(421, EnhancedStatusCode(4, 4, 2), "\(hostname) Error: timeout exceeded")
    }

    public static func tooManyErrors(_ hostname: String) -> SMTPReply {
        SMTPReply(421, EnhancedStatusCode(4, 7, 0), "\(hostname) Error: too many errors")
    }

    public static func tooManyCommands(_ hostname: String) -> SMTPReply {
        SMTPReply(421, EnhancedStatusCode(4, 7, 0), "\(hostname) Error: too many commands without a transaction")
    }

    public static func tooManyConnections(_ hostname: String) -> SMTPReply {
        SMTPReply(421, EnhancedStatusCode(4, 7, 0), "\(hostname) Error: too many connections, try again later")
    }

    public static let tooManyRecipients = SMTPReply(452, EnhancedStatusCode(4, 5, 3), "Error: too many recipients")
    public static let localError = SMTPReply(451, EnhancedStatusCode(4, 3, 0), "Error: queue file write error")
    public static let insufficientStorage = SMTPReply(
        452, EnhancedStatusCode(4, 3, 1), "Error: insufficient system storage")

    // 5yz: syntax
    public static let commandUnrecognized = SMTPReply(500, EnhancedStatusCode(5, 5, 2), "Error: command not recognized")
    public static let lineTooLong = SMTPReply(500, EnhancedStatusCode(5, 5, 2), "Error: line too long")
    public static let bareLineEnding = SMTPReply(
        500, EnhancedStatusCode(5, 5, 2), "Error: bare CR or LF in command; lines end with CRLF")
    public static let parameterSyntax = SMTPReply(501, EnhancedStatusCode(5, 5, 4), "Error: invalid parameters")
    public static let duplicateParameter = SMTPReply(501, EnhancedStatusCode(5, 5, 4), "Error: duplicate parameter")
    public static let badSenderSyntax = SMTPReply(501, EnhancedStatusCode(5, 1, 7), "Error: bad sender address syntax")
    public static let badRecipientSyntax = SMTPReply(
        501, EnhancedStatusCode(5, 1, 3), "Error: bad recipient address syntax")
    public static let heloSyntax = SMTPReply(501, EnhancedStatusCode(5, 5, 4), "Syntax: EHLO hostname")
    public static let startTLSSyntax = SMTPReply(501, EnhancedStatusCode(5, 5, 4), "Syntax: STARTTLS")
    public static let unknownParameter = SMTPReply(555, EnhancedStatusCode(5, 5, 4), "Error: unsupported parameter")
    public static let notImplemented = SMTPReply(502, EnhancedStatusCode(5, 5, 1), "Error: command not implemented")

    // 5yz: sequence
    public static let needHelo = SMTPReply(503, EnhancedStatusCode(5, 5, 1), "Error: send HELO/EHLO first")
    public static let needMail = SMTPReply(503, EnhancedStatusCode(5, 5, 1), "Error: need MAIL command")
    public static let needRecipient = SMTPReply(503, EnhancedStatusCode(5, 5, 1), "Error: need RCPT command")
    public static let nestedMail = SMTPReply(503, EnhancedStatusCode(5, 5, 1), "Error: nested MAIL command")
    public static let binaryNeedsBDAT = SMTPReply(
        503, EnhancedStatusCode(5, 5, 1), "Error: BODY=BINARYMIME requires BDAT (RFC 3030)")
    public static let dataAfterBDAT = SMTPReply(
        503, EnhancedStatusCode(5, 5, 1), "Error: DATA not allowed after BDAT; send BDAT LAST or RSET")
    public static let tlsAlreadyActive = SMTPReply(503, EnhancedStatusCode(5, 5, 1), "Error: TLS already active")
    public static let tlsNotAvailable = SMTPReply(454, EnhancedStatusCode(4, 7, 0), "TLS not available")
    public static let earlyTalker = SMTPReply(
        554, EnhancedStatusCode(5, 5, 1), "Error: protocol violation, talked before the greeting")

    // 5yz: policy and content
    public static let messageTooBig = SMTPReply(
        552, EnhancedStatusCode(5, 3, 4), "Error: message size exceeds fixed limit")
    public static let bareLineEndingInData = SMTPReply(
        550, EnhancedStatusCode(5, 5, 2), "Message refused: bare CR or LF in message data (RFC 5321 section 2.3.8)")
    public static let nulInData = SMTPReply(
        550, EnhancedStatusCode(5, 6, 0), "Message refused: NUL octet in message data; send binary content with BDAT")
    public static func textLineTooLong(limit: Int) -> SMTPReply {
        SMTPReply(
            550, EnhancedStatusCode(5, 6, 0),
            "Message refused: a line is longer than \(limit) octets (RFC 5321 section 4.5.3.1.6)")
    }

    public static let internationalizedAddressNeedsSMTPUTF8 = SMTPReply(
        553, EnhancedStatusCode(5, 6, 7), "Error: non-ASCII address requires SMTPUTF8 (RFC 6531)")
    public static let protocolSynchronization = SMTPReply(
        554, EnhancedStatusCode(5, 5, 0), "Error: SMTP protocol synchronization")
}
