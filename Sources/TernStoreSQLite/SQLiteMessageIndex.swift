import Foundation
import GRDB
public import TernStore

/// The catcher's index in SQLite (`<data_dir>/catcher.sqlite`). It is a cache of the
/// catcher's mailboxes, so durability matters less than for the directory: WAL with `synchronous=NORMAL`;
/// a lost row comes back at the next rescan.
public final class SQLiteMessageIndex: MessageIndex {
    public let path: String
    private let database: DatabasePool

    public init(path: String) throws {
        self.path = path
        database = try SQLiteDatabase.connect(path: path, synchronous: .normal, migrator: Self.migrator)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: message") { db in
            try db.execute(
                sql: """
                    CREATE TABLE message (
                        id TEXT PRIMARY KEY NOT NULL,
                        inbox TEXT NOT NULL,
                        path TEXT NOT NULL,
                        received_at INTEGER NOT NULL,
                        size INTEGER NOT NULL,
                        read INTEGER NOT NULL,
                        subject TEXT NOT NULL,
                        from_json TEXT,
                        to_json TEXT NOT NULL,
                        cc_json TEXT NOT NULL,
                        bcc_json TEXT NOT NULL,
                        reply_to_json TEXT NOT NULL,
                        message_id TEXT NOT NULL,
                        date INTEGER,
                        snippet TEXT NOT NULL,
                        attachments INTEGER NOT NULL,
                        tags_json TEXT NOT NULL,
                        search_subject TEXT NOT NULL,
                        search_from TEXT NOT NULL,
                        search_to TEXT NOT NULL,
                        search_text TEXT NOT NULL
                    );
                    CREATE INDEX message_received ON message(received_at);
                    CREATE INDEX message_inbox ON message(inbox, received_at);
                    """)
        }
        migrator.registerMigration("v2: address counts") { db in
            // The address lists became bounded, with counts beside them. The index is a cache
            // of the files: emptied here, it is rebuilt from them at start, bounded.
            try db.execute(
                sql: """
                    ALTER TABLE message ADD COLUMN to_count INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE message ADD COLUMN cc_count INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE message ADD COLUMN bcc_count INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE message ADD COLUMN reply_to_count INTEGER NOT NULL DEFAULT 0;
                    DELETE FROM message;
                    """)
        }
        migrator.registerMigration("v3: mailbox keys") { db in
            // Rows name their message by its key in its mailbox (a Maildir file's base name),
            // no longer by a file path that changes with its flags. Emptied, rebuilt at start.
            try db.execute(
                sql: """
                    ALTER TABLE message RENAME COLUMN path TO key;
                    DELETE FROM message;
                    """)
        }
        return migrator
    }

    public func upsert(_ messages: [IndexedMessage]) async throws {
        let rows = try messages.map(Self.row)
        try await database.write { db in
            for row in rows {
                try db.execute(
                    sql: """
                        INSERT OR REPLACE INTO message (id, inbox, key, received_at, size, read, subject, from_json, to_json,
                            cc_json, bcc_json, reply_to_json, message_id, date, snippet, attachments, tags_json,
                            search_subject, search_from, search_to, search_text, to_count, cc_count, bcc_count,
                            reply_to_count)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: row)
            }
        }
    }

    public func remove(ids: [String]) async throws {
        try await database.write { db in
            for id in ids { try db.execute(sql: "DELETE FROM message WHERE id = ?", arguments: [id]) }
        }
    }

    public func entries() async throws -> [String: IndexEntry] {
        try await database.read { db in
            var result: [String: IndexEntry] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, inbox, key, read FROM message") {
                result[row["id"]] = IndexEntry(inbox: row["inbox"], key: row["key"], read: row["read"])
            }
            return result
        }
    }

    public func message(id: String) async throws -> IndexedMessage? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM message WHERE id = ?", arguments: [id]).map(Self.message)
        }
    }

    public func search(_ filter: MessageFilter, offset: Int, limit: Int) async throws -> MessagePage {
        let (clause, arguments) = Self.whereClause(filter)
        return try await database.read { db in
            let all = try Row.fetchOne(db, sql: "SELECT count(*) AS n, coalesce(sum(read = 0), 0) AS u FROM message")
            let matched = try Row.fetchOne(
                db, sql: "SELECT count(*) AS n, coalesce(sum(read = 0), 0) AS u FROM message WHERE \(clause)",
                arguments: arguments)
            var pageArguments = arguments
            pageArguments += [max(0, limit), max(0, offset)]
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM message WHERE \(clause) ORDER BY received_at DESC, id DESC LIMIT ? OFFSET ?",
                arguments: pageArguments)
            return MessagePage(
                total: all?["n"] ?? 0, unread: all?["u"] ?? 0, matched: matched?["n"] ?? 0,
                matchedUnread: matched?["u"] ?? 0, messages: try rows.map(Self.message))
        }
    }

    public func inboxes() async throws -> [InboxCount] {
        try await database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT inbox, count(*) AS n, coalesce(sum(read = 0), 0) AS u FROM message GROUP BY inbox ORDER BY inbox"
            ).map { InboxCount(name: $0["inbox"], total: $0["n"], unread: $0["u"]) }
        }
    }

    public func tagCounts() async throws -> [String: Int] {
        try await database.read { db in
            var counts: [String: Int] = [:]
            let rows = try String.fetchCursor(db, sql: "SELECT tags_json FROM message WHERE tags_json != '[]'")
            while let text = try rows.next() {
                for tag in Set(try Self.decode([String].self, text) ?? []) { counts[tag, default: 0] += 1 }
            }
            return counts
        }
    }

    // MARK: Rows

    private static let encoder = JSONEncoder()
    private static let decoder = JSONDecoder()

    private static func json(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ text: String?) throws -> T? {
        guard let text else { return nil }
        return try decoder.decode(type, from: Data(text.utf8))
    }

    private static func row(_ message: IndexedMessage) throws -> StatementArguments {
        let addresses = { (list: [IndexedAddress]) in list.map { "\($0.name) \($0.address)" }.joined(separator: "\n").lowercased() }
        return [
            message.id, message.inbox, message.key, message.receivedAt, message.size, message.read, message.subject,
            try message.from.map(json), try json(message.to), try json(message.cc), try json(message.bcc),
            try json(message.replyTo), message.messageID, message.date, message.snippet, message.attachments,
            try json(message.tags.map { $0.lowercased() }), message.subject.lowercased(),
            addresses(message.from.map { [$0] } ?? []), addresses(message.to + message.cc + message.bcc),
            message.searchText, message.toCount, message.ccCount, message.bccCount, message.replyToCount,
        ]
    }

    private static func message(_ row: Row) throws -> IndexedMessage {
        IndexedMessage(
            id: row["id"], inbox: row["inbox"], key: row["key"], receivedAt: row["received_at"], size: row["size"],
            read: row["read"], subject: row["subject"], from: try decode(IndexedAddress.self, row["from_json"]),
            to: try decode([IndexedAddress].self, row["to_json"]) ?? [],
            cc: try decode([IndexedAddress].self, row["cc_json"]) ?? [],
            bcc: try decode([IndexedAddress].self, row["bcc_json"]) ?? [],
            replyTo: try decode([IndexedAddress].self, row["reply_to_json"]) ?? [], messageID: row["message_id"],
            date: row["date"], snippet: row["snippet"], attachments: row["attachments"],
            tags: try decode([String].self, row["tags_json"]) ?? [], searchText: row["search_text"],
            toCount: row["to_count"], ccCount: row["cc_count"], bccCount: row["bcc_count"],
            replyToCount: row["reply_to_count"])
    }

    /// The filter as SQL; every value travels as an argument, never in the SQL text.
    static func whereClause(_ filter: MessageFilter) -> (String, StatementArguments) {
        var parts: [String] = ["1"]
        var arguments: StatementArguments = []
        for condition in filter.conditions {
            parts.append(sql(condition, &arguments))
        }
        return (parts.joined(separator: " AND "), arguments)
    }

    private static func sql(_ condition: MessageFilter.Condition, _ arguments: inout StatementArguments) -> String {
        switch condition {
        case .contains(let field, let text):
            let needle = text.lowercased()
            switch field {
            case .inbox:
                arguments += [text]
                return "inbox = ?"
            case .tag:
                arguments += ["\"\(needle.replacingOccurrences(of: "\"", with: ""))\""]
                return "instr(tags_json, ?) > 0"
            case .text:
                arguments += [needle, needle, needle, needle]
                return "(instr(search_subject, ?) > 0 OR instr(search_from, ?) > 0 OR instr(search_to, ?) > 0 "
                    + "OR instr(search_text, ?) > 0)"
            case .from:
                arguments += [needle]
                return "instr(search_from, ?) > 0"
            case .to:
                arguments += [needle]
                return "instr(search_to, ?) > 0"
            case .subject:
                arguments += [needle]
                return "instr(search_subject, ?) > 0"
            case .messageID:
                arguments += [needle]
                return "instr(lower(message_id), ?) > 0"
            }
        case .isRead(let read):
            arguments += [read]
            return "read = ?"
        case .hasAttachment(let has):
            return has ? "attachments > 0" : "attachments = 0"
        case .receivedBefore(let milliseconds):
            arguments += [milliseconds]
            return "received_at < ?"
        case .receivedSince(let milliseconds):
            arguments += [milliseconds]
            return "received_at >= ?"
        case .not(let inner):
            return "NOT (\(sql(inner, &arguments)))"
        }
    }
}
