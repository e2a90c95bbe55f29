import Foundation
import NIOPosix
import TernMail
import Testing

@testable import TernStore

/// A user's IMAP folders as Maildir++ directories beside their inbox.
@Suite("MaildirFolders")
struct MaildirFoldersTests {
    let root = NSTemporaryDirectory() + "tern-folders-\(UUID().uuidString)"

    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    func folders() throws -> MaildirFolders {
        let store = MaildirMailboxStore(
            root: root, hostname: "mx.test", sync: StoreSync(mode: .default, pool: Self.pool), clock: .fixed(seconds: 1_800_000_000))
        return try #require(MaildirFolders(store: store, address: "alice@example.test"))
    }

    /// The error a folder operation was refused with, nil when it was not.
    static func refusal(_ body: () async throws(FolderError) -> Void) async -> FolderError? {
        do {
            try await body()
            return nil
        } catch {
            return error
        }
    }

    @Test("names map to Maildir++ directories and back; a name that could make a path has none")
    func names() {
        #expect(MaildirFolders.directory(of: "Archive/2026") == ".Archive.2026")
        #expect(MaildirFolders.directory(of: "a.b") == ".a%2Eb")
        #expect(MaildirFolders.name(ofDirectory: ".Archive.2026") == "Archive/2026")
        #expect(MaildirFolders.name(ofDirectory: ".a%2Eb") == "a.b")
        for bad in ["", "/", "a//b", "a/", "/a", "x\u{0}y", "tab\there", String(repeating: "a/", count: 17) + "a"] {
            #expect(MaildirFolders.directory(of: bad) == nil, "\(bad)")
        }
        #expect(MaildirFolders.directory(of: "a//b") == nil)
        #expect(MaildirFolders.directory(of: "x\u{0}y") == nil)
        #expect(MaildirFolders.name(ofDirectory: "..") == nil && MaildirFolders.name(ofDirectory: "cur") == nil)
        #expect(MaildirFolders.name(ofDirectory: ".a%2Fb") == nil, "a second directory for a/b (found by fuzzing)")
        #expect(MaildirFolders.name(ofDirectory: ".a%1Db") == nil, "a control character is no name (found by fuzzing)")
    }

    @Test("usage adds up INBOX and every folder from the directories, as the mailboxes' snapshots do")
    func usage() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let folders = try folders()
        #expect(try await folders.usage() == MailboxUsage())
        let inbox = try #require(try await folders.open("INBOX"))
        _ = try await inbox.append(NewMessage(source: .octets(Array("hello".utf8)), id: "K1", receivedAt: 1_800_000_000))
        try await folders.create("Archive/2026")
        let archive = try #require(try await folders.open("Archive/2026"))
        let moved = try await archive.append(
            NewMessage(source: .octets(Array(repeating: 0x61, count: 300)), id: "K2", receivedAt: 1_800_000_000))
        _ = try await archive.updateFlags([try #require(moved.uid)], .add([.seen]))
        let user = try #require(folders.store.path(of: "alice@example.test"))
        // A file another program delivered without ,S= counts by its size; tmp/ and names
        // beginning with a dot (editors' and rsync's) do not count.
        try Data(repeating: 0x62, count: 40).write(to: URL(fileURLWithPath: "\(user)/new/1800000001.other.host"))
        try Data(repeating: 0x63, count: 999).write(to: URL(fileURLWithPath: "\(user)/tmp/1800000002.half.host"))
        try Data(repeating: 0x64, count: 999).write(to: URL(fileURLWithPath: "\(user)/cur/.hidden"))
        let expected = MailboxUsage(octets: 5 + 300 + 40, messages: 3)
        #expect(try await folders.usage() == expected)
        #expect(MaildirFolders.usage(ofUserDirectory: user) == expected)
        var snapshots = MailboxUsage()
        for folder in try await folders.list() {
            for message in try await #require(try await folders.open(folder.name)).snapshot().messages {
                snapshots.octets += message.size
                snapshots.messages += 1
            }
        }
        #expect(snapshots == expected)
        #expect(MaildirFolders.usage(ofUserDirectory: "\(root)/nobody") == MailboxUsage())
    }

    @Test("a SUBSCRIBE before any LIST still gets the special-use folders and their subscriptions")
    func subscribeFirst() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let folders = try folders()
        try await folders.subscribe("Gone", true)
        let listed = try await folders.list()
        #expect(listed.map(\.name) == ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"])
        #expect(listed.allSatisfy { $0.subscribed })
        #expect(try await folders.subscriptions() == ["Archive", "Drafts", "Gone", "INBOX", "Junk", "Sent", "Trash"])
    }

    @Test("the first LIST makes the special-use folders; CREATE, RENAME, DELETE, SUBSCRIBE")
    func lifecycle() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let folders = try folders()
        let first = try await folders.list()
        #expect(first.map(\.name) == ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"])
        #expect(first.first { $0.name == "Sent" }?.specialUse == .sent)
        #expect(first.allSatisfy { $0.subscribed })

        try await folders.create("Projects/2026")
        #expect(await Self.refusal { () async throws(FolderError) in try await folders.create("Projects/2026") } == .exists)
        #expect(await Self.refusal { () async throws(FolderError) in try await folders.create("INBOX") } == .exists)
        #expect(try await folders.list().map(\.name).contains("Projects"), "the level above is made too")
        let projects = try #require(try await folders.open("Projects/2026"))
        _ = try await projects.append(NewMessage(source: .octets(Array("Subject: x\r\n\r\n".utf8)), id: "m1", receivedAt: 1))

        try await folders.rename("Projects", to: "Work")
        let names = try await folders.list().map(\.name)
        #expect(names.contains("Work/2026") && !names.contains("Projects/2026"), "children move with their parent")
        #expect(try await folders.open("Work/2026")?.snapshot().messages.count == 1)
        #expect(try await folders.open("Projects/2026") == nil)
        #expect(await Self.refusal { () async throws(FolderError) in try await folders.rename("INBOX", to: "Old") } == .notPermitted)

        try await folders.subscribe("Work/2026", true)
        #expect(try await folders.list().first { $0.name == "Work/2026" }?.subscribed == true)
        try await folders.delete("Work/2026")
        #expect(try await folders.open("Work/2026") == nil)
        #expect(await Self.refusal { () async throws(FolderError) in try await folders.delete("Work/2026") } == .noSuchFolder)
        #expect(await Self.refusal { () async throws(FolderError) in try await folders.delete("INBOX") } == .notPermitted)
        #expect(await Self.refusal { () async throws(FolderError) in try await folders.create("a//b") } == .invalidName)

        // Made again under the same name in the same second: a new UIDVALIDITY (RFC 9051 §2.3.1.1).
        try await folders.create("Again")
        let before = try await #require(try await folders.open("Again")).snapshot().uidValidity
        try await folders.delete("Again")
        try await folders.create("Again")
        let after = try await #require(try await folders.open("Again")).snapshot().uidValidity
        #expect(after > before)
    }
}
