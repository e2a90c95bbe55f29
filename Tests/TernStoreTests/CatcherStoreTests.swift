import Foundation
import NIOPosix
import Testing

@testable import TernStore

@Suite("CatcherStore inbox names")
struct CatcherStoreTests {
    @Test("folder names keep plain characters, escape the rest, and decode back", arguments: [
        ("app-one", "app-one"), ("alice@example.test", "alice@example%2Etest"), ("../x", "%2E%2E%2Fx"),
        ("a b", "a%20b"), ("Ü", "%C3%9C"), ("100%", "100%25"), ("user+tag=1_2", "user+tag=1_2"),
    ])
    func roundTrip(name: String, folder: String) {
        #expect(MaildirFolderName.folder(of: name) == folder)
        #expect(MaildirFolderName.name(ofFolder: folder) == name)
    }

    @Test("folder names Tern would not make are not inboxes", arguments: [
        "", "a.b", "a%2", "a%zz", "a%41", "a/b", "%FF", "a%2e",
    ])
    func foreign(folder: String) {
        #expect(MaildirFolderName.name(ofFolder: folder) == nil)
    }

    @Test("empty and overlong names have no folder")
    func limits() {
        #expect(MaildirFolderName.folder(of: "") == nil)
        #expect(MaildirFolderName.folder(of: String(repeating: "a", count: 200)) != nil)
        #expect(MaildirFolderName.folder(of: String(repeating: ".", count: 67)) == nil)
        #expect(MaildirFolderName.name(ofFolder: String(repeating: "a", count: 201)) == nil, "longer than any folder Tern makes")
    }

    @Test("every UTF-8 name round-trips")
    func property() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let scalars = (0..<Int.random(in: 1...20, using: &generator)).compactMap { _ in
                Unicode.Scalar(UInt32.random(in: 1...0x2FF, using: &generator))
            }
            let name = String(String.UnicodeScalarView(scalars))
            guard let folder = MaildirFolderName.folder(of: name) else { continue }
            #expect(!folder.contains(".") && !folder.contains("/"))
            #expect(MaildirFolderName.name(ofFolder: folder) == name)
        }
    }

    @Test(
        "login names a person would call the same are one inbox",
        arguments: [
            ("App-One", "app-one"), ("caf\u{E9}", "caf\u{E9}"), ("cafe\u{301}", "caf\u{E9}"), ("CAF\u{C9}", "caf\u{E9}"),
            ("CAFE\u{301}", "caf\u{E9}"),
        ])
    func canonicalNames(login: String, inbox: String) {
        #expect(Array(CatcherStore.inboxName(login: login).utf8) == Array(inbox.utf8))
        #expect(
            MaildirFolderName.folder(of: CatcherStore.inboxName(login: login)) == MaildirFolderName.folder(of: inbox),
            "one folder on disk, whatever the spelling")
    }

    @Test("inboxes are made on demand, once per canonical name, up to the limit; then mail goes to the default")
    func inboxLimit() async throws {
        let root = NSTemporaryDirectory() + "tern-catcher-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let store = try await CatcherStore.open(
            root: root, hostname: "mx.test", sync: StoreSync(mode: .file, pool: pool), maximumInboxes: 3)
        #expect(store.needsInbox(login: "App"))
        for login in ["App", "app", "APP", "cafe\u{301}", "caf\u{E9}", "two"] { try await store.openInbox(login) }
        #expect(store.inboxNames == ["app", "caf\u{E9}", "two"])
        #expect(!store.needsInbox(login: "three"), "the limit is reached")
        try await store.openInbox("three")
        #expect(store.inboxNames == ["app", "caf\u{E9}", "two"])
        #expect(!FileManager.default.fileExists(atPath: "\(root)/.three"))
        #expect(!store.needsInbox(login: "default"), "the default inbox is never made again")
        // A restart finds the same inboxes.
        let reopened = try await CatcherStore.open(root: root, hostname: "mx.test", sync: StoreSync(mode: .file, pool: pool))
        #expect(reopened.inboxNames == ["app", "caf\u{E9}", "two"])
        // Maildir++: each inbox is a marked folder of the default one, a mailbox of its own.
        #expect(FileManager.default.fileExists(atPath: "\(root)/.app/maildirfolder"))
        #expect(FileManager.default.fileExists(atPath: "\(root)/.app/new"))
        #expect(!FileManager.default.fileExists(atPath: "\(root)/maildirfolder"), "the default inbox is the root Maildir")
        #expect(reopened.inbox("app")?.address == "app" && reopened.inbox("default")?.address == "default")
        #expect(reopened.inbox("three") == nil)
        try await pool.shutdownGracefully()
    }
}
