import Foundation
import TernMail
import TernStore

/// `tern queue list` and `tern queue show`: what is in the spool, read from its files (safe
/// while a server runs; the files are replaced atomically).
public enum QueueReport {
    public struct ReportError: Error, CustomStringConvertible {
        public let description: String
    }

    /// One line per message (like `mailq`), or the records as JSON.
    public static func list(dataDirectory: String, json: Bool) throws -> String {
        let contents = try loadContents(dataDirectory)
        let records = contents.messages
        if json { return try Spool.recordJSON(records) + "\n" }
        var text = ""
        // Damaged records: still in queue/ (a server has not started since) or moved to corrupt/.
        for (id, problem) in contents.unreadable {
            text += "\(id)  damaged record in spool/queue/: \(problem)\n"
        }
        for id in try Spool.quarantined(in: spoolRoot(dataDirectory)) {
            text += "\(id)  damaged record, moved to spool/corrupt/\n"
        }
        guard !records.isEmpty else { return text + "queue is empty\n" }
        for record in records {
            let pending = record.deliveries.filter { !$0.status.isFinal }
            let held = record.hold ? "  (hold)" : ""
            text += "\(record.id)  \(record.size) bytes  \(isoDate(record.arrival))  from <\(sender(record))>\(held)\n"
            for delivery in pending {
                text += "    \(delivery.status.rawValue) \(delivery.route.rawValue) <\(delivery.recipient)>"
                if let reply = delivery.lastReply { text += "  (\(reply.storedLine))" }
                text += "\n"
            }
        }
        text += "\(records.count) message\(records.count == 1 ? "" : "s")\n"
        return text
    }

    /// One message: its envelope, each delivery's state and its attempts (time, server, TLS,
    /// reply); or the record as JSON.
    public static func show(dataDirectory: String, id: String, json: Bool = false) throws -> String {
        guard let record = try loadContents(dataDirectory).messages.first(where: { $0.id.rawValue == id }) else {
            throw ReportError(description: "no message \(id) in the queue")
        }
        if json { return try Spool.recordJSON(record) + "\n" }
        let trace = record.trace
        let envelope = record.envelope
        var text = """
            queue id:  \(record.id)\(record.hold ? " (hold)" : "")
            arrived:   \(isoDate(record.arrival)) from \(trace.clientName) [\(trace.clientAddress)] with \(trace.receivedProtocol)
            sender:    <\(sender(record))>
            size:      \(record.size) bytes\(envelope.body.map { ", BODY=\($0.rawValue)" } ?? "")\(envelope.smtpUTF8 ? ", SMTPUTF8" : "")

            """
        for delivery in record.deliveries {
            text += "\n\(delivery.status.rawValue) \(delivery.route.rawValue) <\(delivery.recipient)>"
            if delivery.original != delivery.recipient { text += " (for <\(delivery.original)>)" }
            text += ", \(delivery.attempts) attempt\(delivery.attempts == 1 ? "" : "s")"
            if let next = delivery.nextAttempt, !delivery.status.isFinal {
                text += ", next \(Date(timeIntervalSince1970: TimeInterval(next)).formatted(.iso8601))"
            }
            text += "\n"
            for attempt in delivery.history ?? [] {
                let when = Date(timeIntervalSince1970: TimeInterval(attempt.at)).formatted(.iso8601)
                let tls = attempt.tls.map { $0 ? " TLS" : " cleartext" } ?? ""
                text += "    \(when)  \(attempt.relay ?? "no server")\(tls)  \(attempt.reply.storedLine)\n"
            }
        }
        return text
    }

    private static func spoolRoot(_ dataDirectory: String) -> String { "\(dataDirectory)/spool" }

    private static func loadContents(_ dataDirectory: String) throws -> QueueContents {
        let root = spoolRoot(dataDirectory)
        guard FileManager.default.fileExists(atPath: "\(root)/queue") else { return QueueContents(messages: [], unreadable: []) }
        return try Spool.contents(in: root)
    }

    private static func isoDate(_ seconds: Int64) -> String {
        Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(.iso8601)
    }

    private static func sender(_ message: QueuedMessage) -> String {
        message.envelope.sender?.description ?? ""
    }
}
