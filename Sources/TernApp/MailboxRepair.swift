import Foundation
public import TernStore

/// `tern repair`: brings every mailbox's UID list (`MaildirUIDList`) in line with its Maildir
/// files, which are the truth: messages keep their UIDs, messages without one (a lost append,
/// files copied in by hand) get the next ones, vanished messages are dropped, and a missing or
/// damaged list is made anew with a new UIDVALIDITY. Safe while a server runs (the lists are
/// locked while they change).
public enum MailboxRepair {
    public struct MailboxReport: Sendable {
        /// The Maildir, relative to `<data_dir>/mailboxes`.
        public var mailbox: String
        public var report: MaildirUIDList.RebuildReport
    }

    public static func run(dataDirectory: String, now: Int64? = nil) throws -> [MailboxReport] {
        let now = now ?? Int64(Date().timeIntervalSince1970)
        let root = "\(dataDirectory)/mailboxes"
        return try maildirs(under: root).map { relative in
            let list = MaildirUIDList(maildir: "\(root)/\(relative)")
            return MailboxReport(mailbox: relative, report: try list.rebuild(now: now))
        }
    }

    /// Directories below `root` (at most three levels: `<domain>/<user>`, `catch-all`) that are
    /// Maildirs: they have `new` and `cur`.
    static func maildirs(under root: String) throws -> [String] {
        let files = FileManager.default
        guard files.fileExists(atPath: root) else { return [] }
        var found: [String] = []
        func visit(_ relative: String, depth: Int) throws {
            let path = relative.isEmpty ? root : "\(root)/\(relative)"
            var isDirectory: ObjCBool = false
            if files.fileExists(atPath: "\(path)/new", isDirectory: &isDirectory), isDirectory.boolValue,
                files.fileExists(atPath: "\(path)/cur")
            {
                found.append(relative)
                return
            }
            guard depth < 3 else { return }
            for name in try files.contentsOfDirectory(atPath: path).sorted() where !name.hasPrefix(".") {
                var child: ObjCBool = false
                let childPath = "\(path)/\(name)"
                if files.fileExists(atPath: childPath, isDirectory: &child), child.boolValue {
                    try visit(relative.isEmpty ? name : "\(relative)/\(name)", depth: depth + 1)
                }
            }
        }
        try visit("", depth: 0)
        return found
    }

    /// One line per mailbox, for the terminal.
    public static func describe(_ reports: [MailboxReport]) -> String {
        guard !reports.isEmpty else { return "no mailboxes\n" }
        var text = ""
        for entry in reports {
            let report = entry.report
            text += "\(entry.mailbox): \(report.messages) message\(report.messages == 1 ? "" : "s")"
            text += ", \(report.added) added, \(report.removed) removed"
            text += report.renumbered ? ", new UIDVALIDITY \(report.uidValidity)\n" : "\n"
        }
        return text
    }
}
