import Foundation
import NIOCore
import NIOPosix
import TernMail
import TernTestSupport
import Testing

@testable import TernStore

/// The embedded mailbox store on the real file system: the backend contract
/// (`MailboxStoreContract`), with and without the message journal, and what only a Maildir has:
/// files other programs read and change.
@Suite("MaildirMailboxStore")
struct MaildirMailboxStoreTests {
    let root = NSTemporaryDirectory() + "tern-mailboxes-\(UUID().uuidString)"

    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    func store(now: Int64 = 1_800_000_000) throws -> MaildirMailboxStore {
        let pool = Self.pool
        return MaildirMailboxStore(
            root: "\(root)/mailboxes", hostname: "mx.test", sync: StoreSync(mode: .default, pool: pool),
            clock: .fixed(seconds: now))
    }

    @Test("the MailboxStore contract", arguments: MailboxStoreContract.checks.map(\.name))
    func contract(_ name: String) async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let environment = MailboxStoreContract.Environment(
            makeStore: { try self.store() }, eventLoop: Self.group.next())
        try await MailboxStoreContract.run(name, in: environment)
    }

    /// The journal serves `filesystem` sync, which needs syncfs(2) (Linux).
    @Test(
        "the MailboxStore contract, streamed appends through the journal",
        .enabled(if: StoreSync.Mode.filesystem.isAvailable), arguments: MailboxStoreContract.checks.map(\.name))
    func journaledContract(_ name: String) async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        // One journal for the data directory, as the server has: a restart opens it again.
        let journal = try MessageJournal(directory: "\(root)/journal", pool: Self.pool)
        _ = try journal.unretired()  // as the server's start does, before the first append
        let (root, pool) = (self.root, Self.pool)
        let environment = MailboxStoreContract.Environment(
            makeStore: {
                MaildirMailboxStore(
                    root: "\(root)/mailboxes", hostname: "mx.test", sync: StoreSync(mode: .filesystem, pool: pool),
                    journal: journal, clock: .fixed(seconds: 1_800_000_000))
            },
            eventLoop: Self.group.next())
        try await MailboxStoreContract.run(name, in: environment)
    }

    @Test("a mailbox is a Maildir at <root>/<domain>/<user>, its flags in the file names")
    func layout() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try store()
        #expect(store.path(of: "alice@example.test") == "\(root)/mailboxes/example.test/alice")
        let mailbox = try await store.mailbox("alice@example.test")
        let appended = try await mailbox.append(
            NewMessage(source: .octets(Array("x".utf8)), id: "K1", receivedAt: 1_800_000_000))
        let maildir = try #require(store.path(of: "alice@example.test"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(maildir)/new") == ["1800000000.K1.mx.test,S=1"])
        #expect(appended.key == "1800000000.K1.mx.test")
        _ = try await mailbox.updateFlags([try #require(appended.uid)], .add([.seen, .answered]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(maildir)/new").isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(maildir)/cur") == ["1800000000.K1.mx.test,S=1:2,RS"])
    }

    @Test("what another Maildir reader does is listed, and reported to subscribers")
    func foreignChanges() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try store()
        let mailbox = try await store.mailbox("alice@example.test")
        let maildir = try #require(store.path(of: "alice@example.test"))
        let first = try #require(try await mailbox.append(message("a", id: "K1")).uid)
        let second = try #require(try await mailbox.append(message("b", id: "K2")).uid)
        _ = try await mailbox.snapshot()
        var changes = mailbox.changes().makeAsyncIterator()
        // mutt reads the first message and deletes the second; a file arrives from elsewhere,
        // with a keyword letter Tern does not know.
        let files = FileManager.default
        try files.moveItem(
            atPath: "\(maildir)/new/1800000000.K1.mx.test,S=\(octets("a").count)",
            toPath: "\(maildir)/cur/1800000000.K1.mx.test,S=\(octets("a").count):2,Sa")
        try files.removeItem(atPath: "\(maildir)/new/1800000000.K2.mx.test,S=\(octets("b").count)")
        try Data("Subject: hi\r\n\r\nhi\r\n".utf8).write(to: URL(fileURLWithPath: "\(maildir)/cur/1800000005.other:2,F"))
        let listing = try await mailbox.snapshot()
        #expect(listing.messages.map(\.uid) == [first, second + 1])
        #expect(listing.messages.map(\.flags) == [[.seen], [.flagged]])
        #expect(listing.messages.last?.size == 19)
        #expect(listing.messages.last?.internalDate == 1_800_000_005)
        var seen: [MailboxChange] = []
        while seen.count < 3, let change = await changes.next() { seen.append(change) }
        #expect(seen.contains(.expunged([second])))
        #expect(seen.contains(.flagsChanged([listing.messages[0]])))
        #expect(seen.contains(.appended([listing.messages[1]])))
        // A flag change keeps the letters Tern does not know.
        _ = try await mailbox.updateFlags([first], .add([.flagged]))
        #expect(try files.contentsOfDirectory(atPath: "\(maildir)/cur").sorted()
            == ["1800000000.K1.mx.test,S=\(octets("a").count):2,FSa", "1800000005.other:2,F"])
    }

    @Test("flags another program changed get a new MODSEQ, found while running and after a restart")
    func modseqOfOutsideChanges() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let mailbox = try await store().mailbox("alice@example.test")
        _ = try #require(try await mailbox.append(message("a", id: "K1")).uid)
        let first = try #require(try await mailbox.snapshot().messages.first?.modseq)
        let maildir = "\(root)/mailboxes/example.test/alice"
        let files = FileManager.default
        let name = try #require(try files.contentsOfDirectory(atPath: "\(maildir)/new").first)
        // mutt reads it: new/ to cur/ with \Seen. This process notices at its next listing.
        try files.moveItem(atPath: "\(maildir)/new/\(name)", toPath: "\(maildir)/cur/\(name):2,S")
        let seen = try #require(try await mailbox.snapshot().messages.first)
        #expect(seen.flags == [.seen] && seen.modseq > first)
        // Changed again while Tern is down: a restarted store finds it from tern-modseq.
        try files.moveItem(atPath: "\(maildir)/cur/\(name):2,S", toPath: "\(maildir)/cur/\(name):2,FS")
        let restarted = try await store().mailbox("alice@example.test").snapshot()
        #expect(restarted.messages.first?.flags == [.seen, .flagged])
        #expect((restarted.messages.first?.modseq ?? 0) > seen.modseq)
        // Unchanged: another restart keeps the MODSEQ.
        let again = try await store().mailbox("alice@example.test").snapshot()
        #expect(again.messages.first?.modseq == restarted.messages.first?.modseq)
        #expect(again.highestModseq >= restarted.highestModseq)
        // A torn last line (a crash mid-append) is skipped, not trusted.
        let log = try #require(files.contents(atPath: "\(maildir)/tern-modseq"))
        try (log + Data("7 99".utf8)).write(to: URL(fileURLWithPath: "\(maildir)/tern-modseq"))
        #expect(try await store().mailbox("alice@example.test").snapshot().messages.first?.modseq == again.messages.first?.modseq)
    }

    @Test("tern-cache keeps facts across restarts; a torn, damaged or foreign record is a miss")
    func factsCache() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let mailbox = try await store().mailbox("alice@example.test")
        let a = try #require(try await mailbox.append(message("a", id: "K1")).uid)
        let b = try #require(try await mailbox.append(message("b", id: "K2")).uid)
        _ = try await mailbox.snapshot()
        await mailbox.cacheFacts([a: Array("facts of a".utf8), b: Array("facts of b".utf8)])
        #expect(await mailbox.cachedFacts(of: [a, b]) == [a: Array("facts of a".utf8), b: Array("facts of b".utf8)])
        let path = "\(root)/mailboxes/example.test/alice/\(MaildirMessageCache.fileName)"
        // Read back by a restarted store.
        let restarted = try await store().mailbox("alice@example.test")
        _ = try await restarted.snapshot()
        #expect(await restarted.cachedFacts(of: [a])[a] == Array("facts of a".utf8))
        // A crash mid-append: the torn record is cut off at the next load, the rest still read.
        var file = try #require(FileManager.default.contents(atPath: path))
        let whole = file.count
        file += Data([9, 0, 0, 0, 200, 0, 0, 0, 1, 2])
        try file.write(to: URL(fileURLWithPath: path))
        let afterTear = try await store().mailbox("alice@example.test")
        _ = try await afterTear.snapshot()
        #expect(await afterTear.cachedFacts(of: [a, b]).count == 2)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == whole)
        // A flipped octet in b's payload (the last record): b is a miss, a is not.
        file = try #require(FileManager.default.contents(atPath: path))
        file[file.count - 1] ^= 0xFF
        try file.write(to: URL(fileURLWithPath: path))
        let damaged = try await store().mailbox("alice@example.test")
        _ = try await damaged.snapshot()
        #expect(await damaged.cachedFacts(of: [a, b]) == [a: Array("facts of a".utf8)])
        // A cache of another UIDVALIDITY is not read, and is replaced.
        file = try #require(FileManager.default.contents(atPath: path))
        let header = try #require(file.firstIndex(of: UInt8(ascii: "\n")))
        try (Data("tern-cache 1 7\n".utf8) + file[(header + 1)...]).write(to: URL(fileURLWithPath: path))
        let foreign = try await store().mailbox("alice@example.test")
        _ = try await foreign.snapshot()
        #expect(await foreign.cachedFacts(of: [a, b]).isEmpty)
        await foreign.cacheFacts([b: [1]])
        #expect(await foreign.cachedFacts(of: [a, b]) == [b: [1]])
        // Removed by tern repair while the server runs: misses, then kept anew.
        _ = try MaildirMailboxStore.repair(root: "\(root)/mailboxes", now: 1_800_000_000)
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(await foreign.cachedFacts(of: [a, b]).isEmpty)
        await foreign.cacheFacts([a: [2]])
        #expect(await foreign.cachedFacts(of: [a, b]) == [a: [2]])
    }

    @Test("tern-cache is written anew once replaced records outweigh the live ones")
    func factsCacheCompaction() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let mailbox = try await store().mailbox("alice@example.test")
        let a = try #require(try await mailbox.append(message("a", id: "K1")).uid)
        _ = try await mailbox.snapshot()
        let path = "\(root)/mailboxes/example.test/alice/\(MaildirMessageCache.fileName)"
        for round in 0..<100 {
            await mailbox.cacheFacts([a: [UInt8](repeating: UInt8(round), count: 4096)])
        }
        let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(size < 64 * 1024 + 3 * 4108, "\(size) octets for one live record of 4 KB")
        #expect(await mailbox.cachedFacts(of: [a])[a] == [UInt8](repeating: 99, count: 4096))
        let restarted = try await store().mailbox("alice@example.test")
        _ = try await restarted.snapshot()
        #expect(await restarted.cachedFacts(of: [a])[a] == [UInt8](repeating: 99, count: 4096))
    }

    @Test("past keptOpen, the least recently used mailboxes are let go, and reopened afresh only once nobody holds them")
    func keptOpen() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = MaildirMailboxStore(
            root: "\(root)/mailboxes", hostname: "mx.test", sync: StoreSync(mode: .default, pool: Self.pool),
            clock: .fixed(seconds: 1_800_000_000), keptOpen: 2)
        // alice is appended to and let go; bob stays held by this test (a selected session).
        let first = try #require(try await store.mailbox("alice@example.test").append(message("a", id: "K1")).uid)
        let bob = try await store.mailbox("bob@example.test")
        _ = try await bob.append(message("b", id: "K2"))
        _ = try await store.mailbox("carol@example.test").snapshot()
        _ = try await store.mailbox("dave@example.test").snapshot()
        _ = try await store.mailbox("erin@example.test").snapshot()
        // bob was let go by the registry but is held here: the same instance comes back.
        #expect(try await store.mailbox("bob@example.test") === bob)
        #expect(store.openedMailbox("bob@example.test") === bob)
        // alice was let go and is gone: a new instance, reading the same Maildir and UID list.
        let alice = try await store.mailbox("alice@example.test")
        #expect(try await alice.snapshot().messages.map(\.uid) == [first])
        let second = try #require(try await alice.append(message("a2", id: "K3")).uid)
        #expect(second > first)
        #expect(try await alice.contents(of: first) == octets("a"))
    }

    @Test("a message removed by another reader is skipped by flag changes and reported as expunged")
    func vanished() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try store()
        let mailbox = try await store.mailbox("alice@example.test")
        let uid = try #require(try await mailbox.append(message("a", id: "K1")).uid)
        _ = try await mailbox.snapshot()
        var changes = mailbox.changes().makeAsyncIterator()
        let maildir = try #require(store.path(of: "alice@example.test"))
        for name in try FileManager.default.contentsOfDirectory(atPath: "\(maildir)/new") {
            try FileManager.default.removeItem(atPath: "\(maildir)/new/\(name)")
        }
        #expect(try await mailbox.updateFlags([uid], .add([.seen])).isEmpty)
        #expect(await changes.next() == .expunged([uid]))
        #expect(try await mailbox.contents(of: uid) == nil)
    }

    @Test("opening a mailbox numbers what an earlier run left unnumbered and clears its tmp/")
    func opening() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let maildir = try aliceMaildir()
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(maildir)/new/1700000000.A.mx.test,S=1"))
        try Data("half".utf8).write(to: URL(fileURLWithPath: "\(maildir)/tmp/1700000001.B.mx.test"))
        let mailbox = try await store().mailbox("alice@example.test")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(maildir)/tmp").isEmpty)
        let listing = try await mailbox.snapshot()
        #expect(try await mailbox.keys(of: listing.messages.map(\.uid)) == [1: "1700000000.A.mx.test"])
        #expect(listing.messages.map(\.uid) == [1])
    }

    @Test("a first listing numbers keys in octet order, each once, and the copy in cur/ wins")
    func firstListingOrder() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let maildir = try aliceMaildir()
        // Keys that agree in their first 16 octets and differ after, keys that are the start of
        // longer ones, a non-ASCII key, and one message caught mid-move from new/ to cur/.
        let files = [
            "new/1800000000.AAAAAAAAAAAB.mx,S=1", "cur/1800000000.AAAAAAAAAAAA.mx,S=1:2,", "new/170",
            "cur/17:2,F", "new/1700000000.Z", "new/b\u{e9}", "new/b\u{301}x", "new/1800000001.M.mx",
            "cur/1800000001.M.mx:2,S", "new/.hidden",
        ]
        for file in files { try Data("x".utf8).write(to: URL(fileURLWithPath: "\(maildir)/\(file)")) }
        let mailbox = try await store().mailbox("alice@example.test")
        let listing = try await mailbox.snapshot()
        let expected = [
            "17", "170", "1700000000.Z", "1800000000.AAAAAAAAAAAA.mx", "1800000000.AAAAAAAAAAAB.mx", "1800000001.M.mx",
            "b\u{e9}", "b\u{301}x",  // U+00E9 is C3 A9 in UTF-8, U+0301 CC 81
        ]
        #expect(listing.messages.map(\.uid) == Array(1...UInt32(expected.count)))
        let keys = try await mailbox.keys(of: listing.messages.map(\.uid))
        #expect(listing.messages.map { keys[$0.uid] ?? "none" } == expected)
        #expect(listing.messages.map(\.flags) == [[.flagged], [], [], [], [], [.seen], [], []])
    }

    @Test("repair walks every Maildir below the root, IMAP folders included")
    func repair() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try store()
        _ = try await store.mailbox("alice@example.test").append(message("a", id: "K1"))
        _ = try await store.mailbox("bob@other.test").snapshot()
        let folders = try #require(MaildirFolders(store: store, address: "alice@example.test"))
        try await folders.create("Work")
        _ = try await folders.open("Work")?.append(message("w", id: "K2"))
        let reports = try MaildirMailboxStore.repair(root: "\(root)/mailboxes", now: 1_800_000_000)
        // Opening a folder made the special-use ones too (a COPY to Trash needs no LIST first).
        let specials = ["Archive", "Drafts", "Junk", "Sent", "Trash"].map { "example.test/alice/.\($0)" }
        #expect(reports.map(\.mailbox) == ["example.test/alice"] + specials + ["example.test/alice/.Work", "other.test/bob"])
        #expect(reports.first { $0.mailbox.hasSuffix(".Work") }?.uids.messages == 1)
    }

    @Test("file names: key, stated size, arrival and flags, other letters kept")
    func fileNames() {
        let name = MaildirFileName("1800000000.K1.mx.test,S=120,W=124:2,FSa")
        #expect(name.key == "1800000000.K1.mx.test")
        #expect(name.statedSize == 120)
        #expect(name.arrival == 1_800_000_000)
        #expect(name.flags == [.flagged, .seen])
        #expect(name.settingFlags([.draft]) == "1800000000.K1.mx.test,S=120,W=124:2,Da")
        #expect(MaildirFileName("x").settingFlags([]) == "x:2,")
        // Numbers from the disk are bounded or ignored, never trusted.
        #expect(MaildirFileName("99999999999999999999.K,S=99999999999999999999").statedSize == nil)
        #expect(MaildirFileName("99999999999999999999.K").arrival == nil)
        #expect(MaildirFileName("-5.K,S=-1").statedSize == nil)
        #expect(MaildirFileName("a.b:1,S").flags.isEmpty)
        // Split on scalars: a mark that would join a separator into one character does not
        // hide it, and only ASCII letters are kept as keywords.
        #expect(MaildirFileName("b\u{0600}:2,S").flags == [.seen])
        #expect(MaildirFileName("b\u{0600}:2,S").key == "b\u{0600}")
        // The base is the first field even when empty (found by fuzzing facts against statedSize).
        #expect(MaildirFileName(",,S=129").statedSize == 129 && MaildirFileName(",,S=129").facts.statedSize == 129)
        #expect(MaildirFileName("a,S=9x,S=5").statedSize == nil && MaildirFileName("a,S=9x,S=5").facts.statedSize == nil)
        #expect(MaildirFileName("b\u{0600}:2,Sa").facts == MaildirFileName.Facts(flags: [.seen], keywordBits: 1, statedSize: nil))
        #expect(MaildirFileName("b:2,\u{301}S").flags == [.seen])
        #expect(MaildirFileName("b:2,\u{301}Sé").settingFlags([.flagged]) == "b:2,F")
        #expect(MaildirFileName(MaildirFileName("b,\u{301}x:2,a").settingFlags([.seen])).key == "b")
    }

    /// alice@example.test's Maildir, made empty as another program (or an earlier run) would
    /// have left it, before the store opens it.
    private func aliceMaildir() throws -> String {
        let maildir = "\(root)/mailboxes/example.test/alice"
        for sub in ["tmp", "new", "cur"] {
            try FileManager.default.createDirectory(atPath: "\(maildir)/\(sub)", withIntermediateDirectories: true)
        }
        return maildir
    }

    private func octets(_ body: String) -> [UInt8] { MailboxStoreContract.octets(body) }

    private func message(_ body: String, id: String) -> NewMessage {
        NewMessage(source: .octets(octets(body)), id: id, receivedAt: 1_800_000_000)
    }
}
