import Foundation
import Hummingbird
import Logging
import NIOPosix
import TernStore
import Testing

@testable import TernHTTP

/// The index in memory, for tests of the `Catcher` actor.
actor MemoryIndex: MessageIndex {
    var rows: [String: IndexedMessage] = [:]

    func upsert(_ messages: [IndexedMessage]) { for message in messages { rows[message.id] = message } }
    func remove(ids: [String]) { for id in ids { rows[id] = nil } }
    func entries() -> [String: IndexEntry] { rows.mapValues { IndexEntry(inbox: $0.inbox, key: $0.key, read: $0.read) } }
    func message(id: String) -> IndexedMessage? { rows[id] }
    func inboxes() -> [InboxCount] { [] }
    func tagCounts() -> [String: Int] {
        var counts: [String: Int] = [:]
        for message in rows.values { for tag in Set(message.tags) { counts[tag, default: 0] += 1 } }
        return counts
    }

    func search(_ filter: MessageFilter, offset: Int, limit: Int) -> MessagePage {
        let all = rows.values.sorted { ($0.receivedAt, $0.id) > ($1.receivedAt, $1.id) }
        let matched = all.filter { MessageMatcher.matches($0, filter) }
        return MessagePage(
            total: all.count, unread: all.filter { !$0.read }.count, matched: matched.count,
            matchedUnread: matched.filter { !$0.read }.count, messages: Array(matched.dropFirst(offset).prefix(limit)))
    }
}

/// A catcher on a fresh temporary Maildir.
struct CatcherFixture {
    let root: String
    let store: CatcherStore
    let index = MemoryIndex()
    let catcher: Catcher
    let pool: NIOThreadPool

    init(limits: Catcher.Limits = Catcher.Limits()) async throws {
        root = NSTemporaryDirectory() + "tern-catcher-\(UUID().uuidString)"
        pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        store = try await CatcherStore.open(root: root, hostname: "mx.test", sync: StoreSync(mode: .file, pool: pool))
        catcher = Catcher(store: store, index: index, pool: pool, limits: limits, logger: Logger(label: "test"))
    }

    func finish() async {
        try? await pool.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Waits (yielding, a bounded number of times) until `condition` holds.
    func eventually(_ condition: () async -> Bool) async -> Bool {
        for _ in 0..<10_000 {
            if await condition() { return true }
            await Task.yield()
        }
        return await condition()
    }
}

@Suite("Catcher limits")
struct CatcherLimitsTests {
    @Test("event streams past the limit are refused; a dropped stream frees its place")
    func listeners() async throws {
        let fixture = try await CatcherFixture(limits: .init(waiters: 4, listeners: 2))
        let catcher = fixture.catcher
        var streams = [try #require(await catcher.events()), try #require(await catcher.events())]
        #expect(await catcher.events() == nil)
        #expect(await catcher.clients.listeners == 2)
        streams.removeLast()
        #expect(await fixture.eventually { await catcher.clients.listeners == 1 })
        streams.append(try #require(await catcher.events()))
        #expect(streams.count == 2)
        await fixture.finish()
    }

    @Test("waits past the limit are refused (busy); a cancelled wait frees its place")
    func waiters() async throws {
        let fixture = try await CatcherFixture(limits: .init(waiters: 3, listeners: 2))
        let catcher = fixture.catcher
        let waits = (0..<3).map { _ in Task { await catcher.waitForNext(MessageFilter(), timeout: .seconds(600)) } }
        #expect(await fixture.eventually { await catcher.clients.waiters == 3 })
        #expect(await catcher.waitForNext(MessageFilter(), timeout: .seconds(600)) == .busy)
        waits[0].cancel()
        #expect(await waits[0].value == .timedOut)
        #expect(await fixture.eventually { await catcher.clients.waiters == 2 })
        #expect(await catcher.waitForNext(MessageFilter(), timeout: .zero) == .timedOut)
        for wait in waits { wait.cancel() }
        for wait in waits { _ = await wait.value }
        #expect(await catcher.clients.waiters == 0)
        await fixture.finish()
    }

    @Test("a large message is indexed from a bounded read, with the file's size")
    func boundedRead() async throws {
        let fixture = try await CatcherFixture()
        let name = "1700000000.ABCDEFGHJKLMNPQR.mx.test"
        let body = String(repeating: String(repeating: "x", count: 998) + "\r\n", count: 5000)
        let raw = rawMessage(["From: a@x.test", "To: b@x.test", "Subject: big one"], body: body)
        #expect(FileManager.default.createFile(atPath: "\(fixture.root)/new/\(name)", contents: Data(raw)))

        let inbox = try #require(fixture.store.inbox("default"))
        let uid = try #require(try await inbox.snapshot().messages.first?.uid)
        let (octets, size) = try #require(try await inbox.contents(of: uid, limit: MessageSummary.maximumIndexedOctets))
        #expect(octets.count == MessageSummary.maximumIndexedOctets && size == raw.count)
        #expect(octets[...] == raw.prefix(octets.count))

        await fixture.catcher.synchronize()
        let indexed = try #require(await fixture.index.message(id: "ABCDEFGHJKLMNPQR"))
        #expect(indexed.size == raw.count && indexed.subject == "big one" && indexed.toCount == 1)
        await fixture.finish()
    }

    @Test("a small or empty file is read whole")
    func smallRead() async throws {
        let fixture = try await CatcherFixture()
        for (name, contents) in [("1.AAAAAAAAAAAAAAAA.x", "Subject: s\r\n\r\nbody"), ("2.BBBBBBBBBBBBBBBB.x", "")] {
            #expect(FileManager.default.createFile(atPath: "\(fixture.root)/new/\(name)", contents: Data(contents.utf8)))
            let inbox = try #require(fixture.store.inbox("default"))
            let uids = try await inbox.snapshot().messages.map(\.uid)
            let uid = try #require(try await inbox.keys(of: uids).first { $0.value == name }?.key)
            let (octets, size) = try #require(try await inbox.contents(of: uid, limit: 1 << 21))
            #expect(octets == Array(contents.utf8) && size == contents.utf8.count)
        }
        await fixture.finish()
    }
}

@Suite("Routes")
struct RoutesTests {
    @Test("a known path with another method is 405 with its methods; unknown paths go on")
    func methodCheck() {
        let check = MethodNotAllowed<BasicRequestContext>(table: [
            (Routes.segments("api/v1/messages"), [.get, .put, .delete]),
            (Routes.segments("api/v1/message/{id}"), [.get]),
            (Routes.segments("api/v1/message/{id}/release"), [.post]),
            (Routes.segments("/"), [.get]),
        ])
        #expect(check.allowedMethods(path: "/api/v1/messages") == [.get, .put, .delete])
        #expect(check.allowedMethods(path: "/api/v1/messages/") == [.get, .put, .delete])
        #expect(check.allowedMethods(path: "/api/v1/message/ABC") == [.get])
        #expect(check.allowedMethods(path: "/api/v1/message/latest/release") == [.post])
        #expect(check.allowedMethods(path: "/") == [.get])
        #expect(check.allowedMethods(path: "/api/v1/nothing").isEmpty)
        #expect(check.allowedMethods(path: "/api/v1/message/ABC/raw/more").isEmpty)
    }

    @Test("errors are text/plain, as docs/openapi.yaml says, with their status and headers")
    func errorsAreText() async throws {
        let withMessage = NoSniff<BasicRequestContext>.plainText(
            HTTPError(.methodNotAllowed, headers: [.allow: "GET, PUT"], message: "POST is not a method of this path"))
        #expect(withMessage.status == .methodNotAllowed)
        #expect(withMessage.headers[.contentType] == "text/plain; charset=utf-8")
        #expect(withMessage.headers[.allow] == "GET, PUT")
        let bare = NoSniff<BasicRequestContext>.plainText(
            HTTPError(.contentTooLarge, headers: [.contentType: "application/json"]))
        #expect(bare.status == .contentTooLarge)
        #expect(bare.headers[values: .contentType] == ["text/plain; charset=utf-8"])
    }
}

@Suite("Release")
struct ReleaseTests {
    @Test("addresses a release may name: Dot-string @ host name, US-ASCII, within RFC 5321's limits", arguments: [
        "dev@example.org", "a@b", "first.last+tag@sub.example-1.test", "!#$%&'*+-/=?^_`{|}~@x.y",
        String(repeating: "l", count: 64) + "@example.org", "x@" + String(repeating: "d", count: 63) + ".test",
        "x@" + Array(repeating: String(repeating: "d", count: 63), count: 3).joined(separator: ".") + "." + String(repeating: "e", count: 60),
    ])
    func goodAddresses(address: String) {
        #expect(APIRelease.isAddress(address))
    }

    @Test("anything else is refused before any relay is asked", arguments: [
        "", "@", "dev", "dev@", "@example.org", "a..b@c", ".a@c", "a.@c", "a@b..c", "a@-b", "a@b-", "a@b.", "a@.b",
        "a b@c", "a@b c", "a@b\r\nRCPT TO:<x@y>", "\"q\"@c", "a@[127.0.0.1]", "ü@c", "a@ü.test", "a@b@c", "a<b>@c",
        String(repeating: "l", count: 65) + "@example.org", String(repeating: "l", count: 200) + "@example.org", "x@" + String(repeating: "d", count: 64) + ".test",
        "x@" + Array(repeating: String(repeating: "d", count: 63), count: 3).joined(separator: ".") + "." + String(repeating: "e", count: 61),
    ])
    func badAddresses(address: String) {
        #expect(!APIRelease.isAddress(address))
    }
}

@Suite("LocalOnly: the names the catcher answers to")
struct LocalOnlyTests {
    typealias Guard = LocalOnly<BasicRequestContext>

    @Test("loopback addresses and localhost always; other names only when allowed, port and case aside")
    func names() {
        for local in ["127.0.0.1:8025", "[::1]:8025", "localhost", "app.localhost:8025"] {
            #expect(Guard.isLocalName(local), "\(local)")
        }
        let allowing = Guard(allowedHosts: ["tern.test", "mailpit"])
        #expect(allowing.allows("tern.test:8025") && allowing.allows("TERN.TEST") && allowing.allows("mailpit"))
        #expect(!allowing.allows("tern.test.evil.example") && !allowing.allows("evil.example:8025"))
        #expect(!Guard().allows("tern.test"))
        // What the 421 names: the host, without port, and nothing a header could smuggle in.
        #expect(Guard.hostName("Tern.Test:8025") == "tern.test")
        #expect(Guard.hostName("evil\"]; x=\"y") == "evilxy")
    }
}
