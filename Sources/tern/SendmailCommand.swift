import ArgumentParser
import Foundation
import TernApp

/// `tern sendmail [-t] [-f FROM] [-F NAME] [-S HOST:PORT] [-i] [RCPT...]`: the message on standard
/// input, to the recipients named or (with -t) those of its header, handed to Tern over SMTP
/// (`tern dev`'s 127.0.0.1:1025 unless -S says otherwise). sendmail's own options are read by
/// `SendmailInvocation`, not by ArgumentParser: callers write `-oi` and `-fuser@example.org`.
struct Sendmail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a message from standard input, as sendmail does (PHP, cron, git send-email).",
        discussion: """
            Options: -t (recipients from To:, Cc: and Bcc:, which is removed), -f ADDRESS (the \
            envelope sender; <> for none), -F NAME (the name for a From: that is missing), -S \
            HOST:PORT (the SMTP server, default 127.0.0.1:1025, tern dev's), -i and -oi \
            (accepted). Exit status as sendmail's: 0 sent, 64 bad usage, 65 bad message, 67 \
            refused, 75 try again later.
            """)

    /// The most read from standard input.
    static let inputLimit = 64 * 1024 * 1024

    @Argument(parsing: .allUnrecognized, help: "sendmail's options, then the recipients.")
    var arguments: [String] = []

    func run() async throws {
        let invocation: SendmailInvocation
        do {
            invocation = try SendmailInvocation(arguments: arguments)
        } catch {
            exitWith(64, "tern sendmail: \(error.description)")
        }
        let input = FileHandle.standardInput.readData(ofLength: Self.inputLimit + 1)
        guard input.count <= Self.inputLimit else { exitWith(65, "tern sendmail: the message is larger than 64 MB") }
        let hostname = ProcessInfo.processInfo.hostName
        let user = ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
        let message: SendmailMessage
        do {
            message = try SendmailMessage(
                input: Array(input), invocation: invocation, user: user, hostname: hostname,
                now: Int64(Date().timeIntervalSince1970))
        } catch {
            exitWith(65, "tern sendmail: \(error.description)")
        }
        let outcome = await message.send(to: invocation.server ?? SendmailMessage.defaultServer, hostname: hostname)
        switch outcome {
        case .sent: return
        case .refused(let why): exitWith(outcome.exitStatus, "tern sendmail: refused: \(why)")
        case .tryAgain(let why): exitWith(outcome.exitStatus, "tern sendmail: not sent, try again: \(why)")
        }
    }
}

func exitWith(_ status: Int32, _ message: String) -> Never {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
    exit(status)
}
