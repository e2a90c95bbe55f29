import TernMail
public import TernStore

/// `tern repair`: brings every mailbox's UID list in line with its Maildir files, which are the
/// truth (`MaildirMailboxStore.repair`). Safe while a server runs.
public enum MailboxRepair {
    public static func run(dataDirectory: String, now: Int64? = nil) throws -> [MaildirMailboxStore.RepairReport] {
        try MaildirMailboxStore.repair(
            root: "\(dataDirectory)/mailboxes", now: now ?? WallClock.system.seconds)
    }

    /// One line per mailbox, for the terminal.
    public static func describe(_ reports: [MaildirMailboxStore.RepairReport]) -> String {
        guard !reports.isEmpty else { return "no mailboxes\n" }
        var text = ""
        for entry in reports {
            let report = entry.uids
            text += "\(entry.mailbox): \(report.messages) message\(report.messages == 1 ? "" : "s")"
            text += ", \(report.added) added, \(report.removed) removed"
            text += report.renumbered ? ", new UIDVALIDITY \(report.uidValidity)\n" : "\n"
        }
        return text
    }
}
