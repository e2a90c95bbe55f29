import Foundation
import TernStore
import Testing

@testable import TernHTTP

/// The catcher reads and changes its inboxes only through the `Mailbox` protocol: what a
/// mailbox reports is indexed without a rescan, what the API does lands in the Maildir as a
/// Maildir reader expects, and what another program does is taken over by the next rescan.
@Suite("Catcher on its mailboxes")
struct CatcherMailboxTests {
    static func append(_ subject: String, to mailbox: any Mailbox, id: String) async throws {
        let raw = rawMessage(["From: app@x.test", "To: user@y.test", "Subject: \(subject)"], body: "hello")
        _ = try await mailbox.append(NewMessage(source: .octets(raw), id: id, receivedAt: 1_700_000_000))
    }

    @Test("a message a mailbox reports is indexed without a rescan, and a waiter hears of it")
    func followsChanges() async throws {
        let fixture = try await CatcherFixture()
        let catcher = fixture.catcher
        await catcher.start()
        let waiting = Task { await catcher.waitForNext(MessageFilter([.contains(.subject, "first")]), timeout: .seconds(30)) }
        #expect(await fixture.eventually { await catcher.clients.waiters == 1 })
        let inbox = try #require(fixture.store.inbox(CatcherStore.defaultInboxName))
        try await Self.append("first", to: inbox, id: "AAAAAAAAAAAAAAAA")
        guard case .arrived(let message) = await waiting.value else {
            Issue.record("the waiter did not hear of the message")
            await fixture.finish()
            return
        }
        #expect(message.id == "AAAAAAAAAAAAAAAA" && message.inbox == "default" && !message.read)
        #expect(await fixture.index.message(id: "AAAAAAAAAAAAAAAA")?.subject == "first")
        await fixture.finish()
    }

    @Test("a new inbox is followed from its first message")
    func newInbox() async throws {
        let fixture = try await CatcherFixture()
        let catcher = fixture.catcher
        await catcher.start()
        try await fixture.store.openInbox("App")
        let inbox = try #require(fixture.store.inbox("app"))
        try await Self.append("for the app", to: inbox, id: "BBBBBBBBBBBBBBBB")
        #expect(await fixture.eventually { await fixture.index.message(id: "BBBBBBBBBBBBBBBB")?.inbox == "app" })
        await fixture.finish()
    }

    @Test("read, unread and delete change the Maildir; another reader's changes are taken over")
    func changes() async throws {
        let fixture = try await CatcherFixture()
        let catcher = fixture.catcher
        await catcher.start()
        let inbox = try #require(fixture.store.inbox(CatcherStore.defaultInboxName))
        try await Self.append("one", to: inbox, id: "CCCCCCCCCCCCCCCC")
        try await Self.append("two", to: inbox, id: "DDDDDDDDDDDDDDDD")
        await catcher.synchronize()
        let files = { (directory: String) in
            (try? FileManager.default.contentsOfDirectory(atPath: "\(fixture.root)/\(directory)")) ?? []
        }

        try await catcher.setRead(ids: ["CCCCCCCCCCCCCCCC"], read: true)
        #expect(files("cur").contains { $0.contains("CCCCCCCCCCCCCCCC") && $0.hasSuffix(":2,S") })
        #expect(try await catcher.message(id: "CCCCCCCCCCCCCCCC")?.read == true)
        try await catcher.setRead(ids: ["CCCCCCCCCCCCCCCC"], read: false)
        #expect(files("cur").contains { $0.contains("CCCCCCCCCCCCCCCC") && $0.hasSuffix(":2,") })
        #expect(try await catcher.message(id: "CCCCCCCCCCCCCCCC")?.read == false)

        // Another reader marks DDDD read (moves it to cur/ with S), then deletes CCCC.
        let two = try #require(files("new").first { $0.contains("DDDDDDDDDDDDDDDD") })
        try FileManager.default.moveItem(atPath: "\(fixture.root)/new/\(two)", toPath: "\(fixture.root)/cur/\(two):2,S")
        let one = try #require(files("cur").first { $0.contains("CCCCCCCCCCCCCCCC") })
        try FileManager.default.removeItem(atPath: "\(fixture.root)/cur/\(one)")
        await catcher.synchronize()
        #expect(try await catcher.message(id: "DDDDDDDDDDDDDDDD")?.read == true)
        #expect(try await catcher.message(id: "CCCCCCCCCCCCCCCC") == nil)

        let message = try #require(try await catcher.message(id: "DDDDDDDDDDDDDDDD"))
        #expect(try await catcher.raw(message).map { String(decoding: $0, as: UTF8.self) }?.contains("Subject: two") == true)
        try await catcher.delete(ids: ["DDDDDDDDDDDDDDDD"])
        #expect(!files("cur").contains { $0.contains("DDDDDDDDDDDDDDDD") })
        #expect(try await catcher.message(id: "DDDDDDDDDDDDDDDD") == nil)
        await fixture.finish()
    }

    @Test("an .eml copied into new/ is indexed at the next rescan, under a stable id")
    func copiedIn() async throws {
        let fixture = try await CatcherFixture()
        let catcher = fixture.catcher
        await catcher.start()
        let raw = rawMessage(["Subject: copied"], body: "x")
        #expect(FileManager.default.createFile(atPath: "\(fixture.root)/new/welcome.eml", contents: Data(raw)))
        await catcher.synchronize()
        let id = Catcher.id(inbox: "default", key: "welcome.eml")
        #expect(id.hasPrefix("x") && id.count == 17)
        #expect(try await catcher.message(id: id)?.subject == "copied")
        await catcher.synchronize()
        #expect(await fixture.index.entries().count == 1)
        await fixture.finish()
    }
}
