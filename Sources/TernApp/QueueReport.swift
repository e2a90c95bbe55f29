import Foundation
import TernStore

/// `tern queue list` and `tern queue show`: what is in the spool, read from its files (safe
/// while a server runs; the files are replaced atomically).
public enum QueueReport {
    public struct ReportError: Error, CustomStringConvertible {
        public let description: String
    }

    /// One line per message (like `mailq`), or the records as JSON.
    public static func list(dataDirectory: String, json: Bool) throws -> String {
        let records = try loadRecords(dataDirectory)
        if json { return try encode(records) }
        guard !records.isEmpty else { return "queue is empty\n" }
        var text = ""
        for record in records {
            let pending = record.deliveries.filter { !$0.status.isFinal }
            text += "\(record.id)  \(record.size) bytes  \(record.received_at)  from <\(record.from)>\n"
            for delivery in pending {
                text += "    \(delivery.status.rawValue) \(delivery.route.rawValue) <\(delivery.recipient)>"
                if let reply = delivery.lastReply { text += "  (\(reply))" }
                text += "\n"
            }
        }
        text += "\(records.count) message\(records.count == 1 ? "" : "s")\n"
        return text
    }

    /// One message: its envelope and every delivery's state, as JSON.
    public static func show(dataDirectory: String, id: String) throws -> String {
        guard let record = try loadRecords(dataDirectory).first(where: { $0.id == id }) else {
            throw ReportError(description: "no message \(id) in the queue")
        }
        return try encode(record)
    }

    private static func loadRecords(_ dataDirectory: String) throws -> [SpoolRecord] {
        let root = "\(dataDirectory)/spool"
        guard FileManager.default.fileExists(atPath: "\(root)/queue") else { return [] }
        return try Spool.records(in: root)
    }

    private static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
    }
}
