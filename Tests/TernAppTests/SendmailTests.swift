import TernMail
import Testing

@testable import TernApp

/// `tern sendmail`'s command line and message preparation, without a server.
@Suite("sendmail")
struct SendmailTests {
    @Test("the options callers pass: -t, -i, -oi, -f in both forms, -r, -F, -S, -o ignored, --, recipients")
    func invocation() throws {
        let php = try SendmailInvocation(arguments: ["-t", "-i"])
        #expect(php.recipientsFromHeader && php.ignoreDots && php.recipients.isEmpty)
        let cron = try SendmailInvocation(arguments: ["-oi", "-fcron@example.org", "-FCron Daemon", "root@example.org"])
        #expect(cron.ignoreDots && cron.sender == "cron@example.org" && cron.fullName == "Cron Daemon")
        #expect(cron.recipients == ["root@example.org"])
        let git = try SendmailInvocation(arguments: ["-f", "dev@example.org", "-S", "127.0.0.1:2525", "-oem", "--", "-odd@example.org"])
        #expect(git.sender == "dev@example.org" && git.server == "127.0.0.1:2525" && git.recipients == ["-odd@example.org"])
        #expect(try SendmailInvocation(arguments: ["-r", "a@b.example", "-o", "X", "-bm", "c@d.example"]).sender == "a@b.example")
        for refused in [["-bs"], ["-q"], ["-f"], ["-S"], ["-x"]] {
            #expect(throws: SendmailInvocation.Unusable.self, "\(refused)") { try SendmailInvocation(arguments: refused) }
        }
    }

    static func prepare(_ text: String, _ arguments: [String]) throws -> SendmailMessage {
        try SendmailMessage(
            input: Array(text.utf8), invocation: try SendmailInvocation(arguments: arguments), user: "www-data",
            hostname: "web.example.org", now: 1_796_000_000)
    }

    @Test("-t: To, Cc and Bcc become the recipients, once each; Bcc leaves the message; LF becomes CRLF")
    func recipientsFromHeader() throws {
        let message = try Self.prepare(
            "From: Shop <shop@example.org>\nTo: a@example.com, \"B\" <b@example.com>\nCc: a@example.com\nBcc: hidden@example.net,\n  other@example.net\nSubject: order\nDate: Mon, 7 Dec 2026 10:00:00 +0000\nMessage-ID: <1@example.org>\n\nThanks.\n",
            ["-t", "extra@example.com"])
        #expect(message.recipients.map(\.description) == [
            "extra@example.com", "a@example.com", "b@example.com", "hidden@example.net", "other@example.net",
        ])
        #expect(message.sender?.description == "shop@example.org")
        let text = String(decoding: message.content, as: UTF8.self)
        #expect(text == "From: Shop <shop@example.org>\r\nTo: a@example.com, \"B\" <b@example.com>\r\nCc: a@example.com\r\nSubject: order\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nThanks.\r\n")
    }

    @Test("what a bare message lacks is added: From (with -F), Date, Message-ID; the sender defaults to user@host")
    func fillsIn() throws {
        let message = try Self.prepare("Subject: cron output\n\nDone.", ["-F", "Cron \"Daemon\"", "root@example.org"])
        #expect(message.sender?.description == "www-data@web.example.org")
        let text = String(decoding: message.content, as: UTF8.self)
        #expect(text.hasPrefix("From: \"Cron Daemon\" <www-data@web.example.org>\r\nDate: Mon, 30 Nov 2026 "))
        #expect(text.contains("\r\nMessage-ID: <") && text.contains("@web.example.org>\r\nSubject: cron output\r\n\r\nDone.\r\n"))
        #expect(try Self.prepare("Subject: x\n\n", ["-f", "<>", "a@example.org"]).sender == nil)
    }

    @Test("a bad address or no recipient at all is refused, never sent")
    func refusals() {
        #expect(throws: SendmailMessage.Unusable.self) { try Self.prepare("Subject: x\n\n", []) }
        #expect(throws: SendmailMessage.Unusable.self) { try Self.prepare("Subject: x\n\n", ["not an address"]) }
        #expect(throws: SendmailMessage.Unusable.self) { try Self.prepare("To: a@b.example\n\n", ["-t", "-f", "bad sender"]) }
        #expect(throws: SendmailMessage.Unusable.self) { try Self.prepare("To: <a@@b.example>\n\n", ["-t"]) }
    }
}
