import Foundation
import Logging
import NIOCore
import NIOPosix
import TernDelivery
import TernMIME
public import TernMail
import TernMailAuth
import TernSMTPCore
import TernStore

/// `tern sendmail`: the command line of Postfix's and Mailpit's sendmail, so that PHP's `mail()`,
/// cron and `git send-email` hand their mail to Tern. Sans I/O: the arguments read into a
/// `SendmailInvocation`, then the message read from standard input made ready to send
/// (`SendmailMessage`); the command sends it over SMTP.
public struct SendmailInvocation: Sendable, Hashable {
    /// `-t`: the recipients are those of To:, Cc: and Bcc: (Bcc: is then removed), besides any
    /// named as arguments.
    public var recipientsFromHeader = false
    /// `-f ADDRESS` (or `-fADDRESS`, `-r`): the envelope sender; `<>` for the null sender.
    public var sender: String?
    /// `-F NAME`: the full name for a From: field the message lacks.
    public var fullName: String?
    /// `-S HOST:PORT`: the SMTP server (Mailpit's flag); nil for Tern's dev listener.
    public var server: String?
    /// `-i`, `-oi`: a line of a single dot does not end the message. Reading stops at the end of
    /// input either way; kept for the callers that pass it.
    public var ignoreDots = false
    public var recipients: [String] = []

    public struct Unusable: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    /// The options sendmail's callers pass: `-t`, `-f`/`-r`, `-F`, `-S`, `-i`, `-oi`, `-o` with
    /// another letter (ignored, as Postfix ignores most), `-bm` (the default mode), `-v`, `--`
    /// ending the options; any other mode (`-bs`, `-bp`, `-q`) is refused rather than ignored.
    public init(arguments: [String]) throws(Unusable) {
        var index = 0
        func value(_ flag: String, attached: Substring) throws(Unusable) -> String {
            if !attached.isEmpty { return String(attached) }
            index += 1
            guard index < arguments.count else { throw Unusable(description: "\(flag) needs a value") }
            return arguments[index]
        }
        var optionsEnded = false
        while index < arguments.count {
            let argument = arguments[index]
            if optionsEnded || !argument.hasPrefix("-") || argument == "-" {
                recipients.append(argument)
            } else if argument == "--" {
                optionsEnded = true
            } else {
                let flag = argument.dropFirst()
                switch flag.first {
                case "t" where flag.count == 1: recipientsFromHeader = true
                case "i" where flag.count == 1: ignoreDots = true
                case "v" where flag.count == 1: break
                case "f", "r": sender = try value("-\(flag.prefix(1))", attached: flag.dropFirst())
                case "F": fullName = try value("-F", attached: flag.dropFirst())
                case "S": server = try value("-S", attached: flag.dropFirst())
                case "o":
                    // -oi: as -i; -oXvalue and -o X value: sendmail.cf options, ignored.
                    if flag == "oi" { ignoreDots = true } else if flag.count == 1 { _ = try value("-o", attached: "") }
                case "b":
                    guard flag == "bm" else { throw Unusable(description: "-\(flag): only -bm (deliver mail) is supported") }
                default:
                    throw Unusable(description: "unknown option \(argument)")
                }
            }
            index += 1
        }
    }
}

/// A message read from sendmail's standard input, made ready to send.
public struct SendmailMessage: Sendable {
    public var sender: MailAddress?
    public var recipients: [MailAddress]
    /// The message as it goes out: line ends CRLF, Bcc: removed under `-t`, and From:, Date:
    /// and Message-ID: added when missing (as Postfix's cleanup adds them).
    public var content: [UInt8]

    public struct Unusable: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    /// `user`: the login name, for a sender that is named nowhere (`user@hostname`).
    public init(input: [UInt8], invocation: SendmailInvocation, user: String, hostname: String, now: Int64) throws(Unusable) {
        let crlf = LineEnd.crlf(input)
        // The fields as they came (a header line that is no field is left out: no reader would
        // see it as one), and their values unfolded.
        let (header, body) = RawHeaderField.split(message: crlf)
        var rawFields = RawHeaderField.fields(of: header)
        var fields = HeaderField.parse(Array(header))

        var recipients: [MailAddress] = []
        for text in invocation.recipients {
            for address in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !address.isEmpty {
                guard let parsed = MailAddress(mailbox: address) else { throw Unusable(description: "not an address: \(address)") }
                recipients.append(parsed)
            }
        }
        if invocation.recipientsFromHeader {
            for field in fields where field.isNamed("To") || field.isNamed("Cc") || field.isNamed("Bcc") {
                for address in AddressList.addresses(in: field.value) {
                    guard let parsed = MailAddress(mailbox: address) else { throw Unusable(description: "not an address in \(field.name): \(address)") }
                    recipients.append(parsed)
                }
            }
            // RFC 5322 §3.6.3: Bcc recipients get the message, no one sees them.
            rawFields.removeAll { $0.lowercasedName == "bcc" }
            fields.removeAll { $0.isNamed("Bcc") }
        }
        var seen = Set<String>()
        recipients = recipients.filter { seen.insert($0.description.lowercased()).inserted }
        guard !recipients.isEmpty else { throw Unusable(description: "no recipients (name them, or use -t)") }
        self.recipients = recipients

        let fromHeader = fields.first { $0.isNamed("From") }.flatMap { AddressList.addresses(in: $0.value).first }
        if let given = invocation.sender {
            if given == "<>" || given.isEmpty {
                sender = nil
            } else {
                let bare = given.hasPrefix("<") && given.hasSuffix(">") ? String(given.dropFirst().dropLast()) : given
                guard let parsed = MailAddress(mailbox: bare) else { throw Unusable(description: "not an address: -f \(given)") }
                sender = parsed
            }
        } else if let fromHeader, let parsed = MailAddress(mailbox: fromHeader) {
            sender = parsed
        } else {
            guard let parsed = MailAddress(mailbox: "\(user)@\(hostname)") else { throw Unusable(description: "no sender: use -f ADDRESS") }
            sender = parsed
        }

        var added: [String] = []
        if fromHeader == nil {
            let address = sender?.description ?? "MAILER-DAEMON@\(hostname)"
            let name = invocation.fullName.map { "\"\($0.filter { $0 != "\"" && $0 != "\\" && !$0.isNewline })\" " } ?? ""
            added.append("From: \(name)<\(address)>")
        }
        if !fields.contains(where: { $0.isNamed("Date") }) {
            added.append("Date: \(MessageDate.format(secondsSince1970: now))")
        }
        if !fields.contains(where: { $0.isNamed("Message-ID") }) {
            var generator = SystemRandomNumberGenerator()
            let id = QueueID(microsecondsSinceEpoch: UInt64(max(0, now)) * 1_000_000, using: &generator)
            added.append("Message-ID: <\(id)@\(hostname)>")
        }
        var out: [UInt8] = []
        for line in added { out += Array(line.utf8) + [0x0D, 0x0A] }
        for field in rawFields { out += field.octets }
        out += [0x0D, 0x0A]
        out += body
        content = out
    }
}

/// How `tern sendmail` ended, with sendmail's exit status (sysexits.h).
public enum SendmailOutcome: Sendable, Equatable {
    case sent
    /// Every recipient the server refused for good (EX_NOUSER, 67).
    case refused(String)
    /// A temporary refusal or no server reached: the caller should try again (EX_TEMPFAIL, 75).
    case tryAgain(String)

    public var exitStatus: Int32 {
        switch self {
        case .sent: 0
        case .refused: 67
        case .tryAgain: 75
        }
    }
}

extension SendmailMessage {
    /// Where `tern sendmail` hands mail by default: `tern dev`'s SMTP listener.
    public static let defaultServer = "127.0.0.1:1025"

    /// Sends the message to the SMTP server at `server` (`HOST:PORT`), in cleartext, as Mailpit's
    /// sendmail does: the server is a local one (the catcher, or Tern's mx listener with the
    /// machine in its relay networks).
    public func send(to server: String, hostname: String) async -> SendmailOutcome {
        guard let (host, port) = ConfigurationLoader.parseHostPort(server, defaultPort: 25) else {
            return .tryAgain("-S \(server): expected HOST:PORT")
        }
        // The process ends after one message: the shared group and pool need no shutdown.
        let (group, pool) = (MultiThreadedEventLoopGroup.singleton, NIOThreadPool.singleton)
        var logger = Logger(label: "tern.sendmail")
        logger.logLevel = .critical
        do {
            let client = try RelayClient(
                host: host, port: port, security: .none, credentials: nil, hostname: hostname, verification: .none,
                group: group, pool: pool, logger: logger)
            let results = try await client.send(
                PrefixedMessageSource(prefix: ByteBuffer(bytes: content), content: NoContent()), sender: sender,
                recipients: recipients)
            var refused: [String] = []
            var deferred: [String] = []
            for result in results {
                switch result.outcome {
                case .delivered: continue
                case .failed(let reply): refused.append("\(result.recipient.address): \(reply.description.trimmingCharacters(in: .whitespacesAndNewlines))")
                default: deferred.append("\(result.recipient.address): \(result.outcome.reply.description.trimmingCharacters(in: .whitespacesAndNewlines))")
                }
            }
            if !deferred.isEmpty { return .tryAgain(deferred.joined(separator: "; ")) }
            if !refused.isEmpty { return .refused(refused.joined(separator: "; ")) }
            return .sent
        } catch {
            return .tryAgain("\(server): \(error)")
        }
    }
}

/// An empty message source: the content goes in the prefix.
private struct NoContent: MessageSource {
    var size: Int { 0 }
    func read(at offset: Int, count: Int, on eventLoop: any EventLoop) -> EventLoopFuture<ByteBuffer> {
        eventLoop.makeSucceededFuture(ByteBuffer())
    }
}
