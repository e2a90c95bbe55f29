import Foundation
import TernStore
import TernStoreSQLite
import Testing

@Suite("SQLite message index")
struct SQLiteMessageIndexTests {
    let index: SQLiteMessageIndex

    init() throws {
        let root = NSTemporaryDirectory() + "tern-index-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        index = try SQLiteMessageIndex(path: "\(root)/catcher.sqlite")
    }

    static func message(_ id: String, inbox: String = "default", at: Int64, read: Bool = false, subject: String = "s",
                        from: String = "a@x.test", attachments: Int = 0, tags: [String] = []) -> IndexedMessage {
        IndexedMessage(
            id: id, inbox: inbox, key: "\(id)", receivedAt: at, size: 10, read: read, subject: subject,
            from: IndexedAddress(name: "Ä Name", address: from), to: [IndexedAddress(name: "", address: "to@y.test")],
            cc: [], bcc: [], replyTo: [], messageID: "\(id)@x", date: 5, snippet: "snip", attachments: attachments,
            tags: tags, searchText: "body of \(id.lowercased())")
    }

    @Test("rows round-trip; pages are newest first; counts are overall and matched")
    func pages() async throws {
        let messages = (0..<5).map { Self.message("M\($0)", at: Int64($0) * 1000, read: $0 % 2 == 0) }
        try await index.upsert(messages)
        #expect(try await index.message(id: "M3") == messages[3])
        let page = try await index.search(MessageFilter(), offset: 1, limit: 2)
        #expect(page.messages.map(\.id) == ["M3", "M2"])
        #expect(page.total == 5 && page.unread == 2 && page.matched == 5 && page.matchedUnread == 2)
        let unread = try await index.search(MessageFilter([.isRead(false)]), offset: 0, limit: 10)
        #expect(unread.messages.map(\.id) == ["M3", "M1"] && unread.matched == 2 && unread.total == 5)
        try await index.remove(ids: ["M3"])
        #expect(try await index.entries().count == 4)
        #expect(try await index.message(id: "M3") == nil)
    }

    @Test("address counts round-trip beside the bounded lists")
    func addressCounts() async throws {
        var message = Self.message("C", at: 1000)
        message.toCount = 100_000
        message.replyToCount = 3
        try await index.upsert([message])
        let read = try #require(try await index.message(id: "C"))
        #expect(read.toCount == 100_000 && read.to.count == 1 && read.ccCount == 0 && read.replyToCount == 3)
        #expect(Self.message("D", at: 0).toCount == 1)  // by default, the list's length
    }

    @Test("every filter condition, values only as arguments")
    func filters() async throws {
        try await index.upsert([
            Self.message("A", inbox: "app", at: 1000, subject: "Invoice 7", from: "billing@shop.test", tags: ["Money"]),
            Self.message("B", at: 2000, subject: "it's \"quoted\"; DROP TABLE message", attachments: 2),
        ])
        func ids(_ conditions: [MessageFilter.Condition]) async throws -> [String] {
            try await index.search(MessageFilter(conditions), offset: 0, limit: 10).messages.map(\.id)
        }
        #expect(try await ids([.contains(.from, "BILLING")]) == ["A"])
        #expect(try await ids([.contains(.from, "ä name")]) == ["B", "A"])
        #expect(try await ids([.contains(.subject, "drop table")]) == ["B"])
        #expect(try await ids([.contains(.text, "body of a")]) == ["A"])
        #expect(try await ids([.contains(.to, "to@y")]) == ["B", "A"])
        #expect(try await ids([.contains(.tag, "money")]) == ["A"])
        #expect(try await ids([.contains(.inbox, "app")]) == ["A"])
        #expect(try await ids([.hasAttachment(true)]) == ["B"])
        #expect(try await ids([.receivedBefore(2000)]) == ["A"])
        #expect(try await ids([.receivedSince(2000)]) == ["B"])
        #expect(try await ids([.not(.contains(.inbox, "app"))]) == ["B"])
        #expect(try await ids([.contains(.messageID, "a@X")]) == ["A"])
        #expect(try await index.inboxes() == [InboxCount(name: "app", total: 1, unread: 1), InboxCount(name: "default", total: 1, unread: 1)])
    }

    @Test("tag counts: each message counted once per tag; untagged messages not at all")
    func tagCounts() async throws {
        #expect(try await index.tagCounts() == [:])
        try await index.upsert([
            Self.message("A", at: 1, tags: ["invoice", "urgent"]), Self.message("B", at: 2, tags: ["invoice"]),
            Self.message("C", at: 3), Self.message("D", at: 4, tags: ["urgent", "urgent"]),
        ])
        #expect(try await index.tagCounts() == ["invoice": 2, "urgent": 2])
        try await index.remove(ids: ["A"])
        #expect(try await index.tagCounts() == ["invoice": 1, "urgent": 1])
    }
}
