public import NIOCore
import TernMail

extension SMTPCommand {
    /// Writes the command line with its CRLF, in the form `CommandParser` reads (RFC 5321
    /// §4.1.1; parameters per RFC 1870, RFC 6152, RFC 3030, RFC 6531 §3.4 and RFC 3461 §4).
    ///
    /// The values are written as they are: the client checks them before it builds a command
    /// (`OutboundMessage`), so none carries CR or LF. A BDAT chunk's octets follow the line and
    /// are not part of it.
    public func write(to buffer: inout ByteBuffer) {
        switch self {
        case .ehlo(let name):
            buffer.writeString("EHLO \(name)")
        case .helo(let name):
            buffer.writeString("HELO \(name)")
        case .mail(let path, let parameters):
            buffer.writeString("MAIL FROM:<\(path)>")
            parameters.write(to: &buffer)
        case .rcpt(let path, let parameters):
            buffer.writeString("RCPT TO:<\(path)>")
            parameters.write(to: &buffer)
        case .data:
            buffer.writeStaticString("DATA")
        case .bdat(let size, let last):
            buffer.writeString(last ? "BDAT \(size) LAST" : "BDAT \(size)")
        case .rset:
            buffer.writeStaticString("RSET")
        case .vrfy(let argument):
            buffer.writeString("VRFY \(argument)")
        case .expn(let argument):
            buffer.writeString("EXPN \(argument)")
        case .help(let topic):
            buffer.writeString(topic.map { "HELP \($0)" } ?? "HELP")
        case .noop:
            buffer.writeStaticString("NOOP")
        case .quit:
            buffer.writeStaticString("QUIT")
        case .startTLS:
            buffer.writeStaticString("STARTTLS")
        case .auth(let mechanism, let initialResponse):
            buffer.writeStaticString("AUTH ")
            buffer.writeString(mechanism)
            if let initialResponse {
                buffer.writeStaticString(" ")
                buffer.writeString(initialResponse)
            }
        }
        buffer.writeStaticString("\r\n")
    }
}

extension MailParameters {
    /// ` SIZE=n BODY=x SMTPUTF8 RET=x ENVID=x`, each only when set.
    func write(to buffer: inout ByteBuffer) {
        if let size { buffer.writeString(" SIZE=\(size)") }
        if let body { buffer.writeString(" BODY=\(body.rawValue)") }
        if smtpUTF8 { buffer.writeStaticString(" SMTPUTF8") }
        if let dsnReturn { buffer.writeString(" RET=\(dsnReturn.rawValue)") }
        if let envelopeID { buffer.writeString(" ENVID=\(envelopeID)") }
    }
}

extension RecipientParameters {
    /// ` NOTIFY=x,y ORCPT=type;xtext`, each only when set.
    func write(to buffer: inout ByteBuffer) {
        if let notify, !notify.keywords.isEmpty {
            buffer.writeString(" NOTIFY=\(notify.keywords.joined(separator: ","))")
        }
        if let originalRecipient { buffer.writeString(" ORCPT=\(originalRecipient.parameterValue)") }
    }
}
