import Foundation
import NIOCore
import NIOPosix
import TernMail
import TernTestSupport
import Testing

@testable import TernStore

/// The file stores on the real file system, in both sync modes: commit leaves exactly the
/// message, abort leaves nothing, recovery removes what an interrupted run left in tmp/.
@Suite("File stores")
struct StoreTests {
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "tern-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    private func message(_ seed: UInt64) -> IncomingMessage {
        var generator = SystemRandomNumberGenerator()
        return IncomingMessage(
            id: QueueID(microsecondsSinceEpoch: 1_795_383_379_000_000 + seed, using: &generator),
            envelope: Envelope(
                sender: MailAddress(localPart: "a", domain: "b.test"),
                recipients: [
                    EnvelopeRecipient(
                        address: MailAddress(localPart: "c", domain: "d.test"), notify: DSNNotify(failure: true))
                ]),
            trace: ArrivalTrace(
                clientName: "client", clientAddress: "127.0.0.1", receivedProtocol: "ESMTP", receivedAt: 1_795_383_379))
    }

    private func withPool<T>(_ body: (NIOThreadPool, any EventLoop) async throws -> T) async throws -> T {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let result = try await body(pool, group.next())
            try await pool.shutdownGracefully()
            try await group.shutdownGracefully()
            return result
        } catch {
            try? await pool.shutdownGracefully()
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private func write(
        _ store: any MessageStore, _ message: IncomingMessage, chunks: [String], on loop: any EventLoop,
        commit: Bool = true, adding fields: String = ""
    ) async throws {
        try await loop.submit {
            let writer = store.begin(message, prefix: ByteBuffer(string: "Received: x\r\n"), on: loop)
            for chunk in chunks { writer.append(ByteBuffer(string: chunk)) }
            if commit {
                return writer.commit(adding: ByteBuffer(string: fields))
            }
            writer.abort()
            return loop.makeSucceededVoidFuture()
        }.flatMap { $0 }.get()
    }

    @Test("Maildir: commit puts the exact bytes in new/, with the queue ID and size in the name",
        arguments: StoreSync.Mode.allCases)
    func maildirCommit(mode: StoreSync.Mode) async throws {
        try await withPool { pool, loop in
            let maildir = try Maildir(root: "\(directory)/box", hostname: "mx/te:st", sync: StoreSync(mode: mode, pool: pool))
            let incoming = message(1)
            try await write(maildir, incoming, chunks: ["Subject: a\r\n", "\r\nbody\r\n"], on: loop)
            let names = try FileManager.default.contentsOfDirectory(atPath: "\(directory)/box/new")
            #expect(names.count == 1)
            let name = try #require(names.first)
            #expect(name.contains(incoming.id.rawValue))
            #expect(name.contains("mx\\057te\\072st"))
            let content = try String(contentsOfFile: "\(directory)/box/new/\(name)", encoding: .utf8)
            #expect(content == "Received: x\r\nSubject: a\r\n\r\nbody\r\n")
            #expect(name.hasSuffix(",S=\(content.utf8.count)"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(directory)/box/tmp").isEmpty)
        }
    }

    @Test(
        "fields added at commit go right under the prefix, the message still in memory or already on disk",
        arguments: [false, true])
    func fieldsAddedAtCommit(large: Bool) async throws {
        try await withPool { pool, loop in
            let sync = StoreSync(mode: .file, pool: pool)
            // Over the flush threshold the writer has written the file before the commit.
            let body = large ? String(repeating: "y", count: 700 * 1024) + "\r\n" : "body\r\n"
            let fields = "DKIM-Signature: v=1; b=abc\r\nAuthentication-Results: mx; dkim=none\r\n"
            let expected = "Received: x\r\n" + fields + "Subject: a\r\n\r\n" + body

            let maildir = try Maildir(root: "\(directory)/box", hostname: "mx", sync: sync)
            try await write(maildir, message(10), chunks: ["Subject: a\r\n", "\r\n", body], on: loop, adding: fields)
            let name = try #require(try FileManager.default.contentsOfDirectory(atPath: "\(directory)/box/new").first)
            #expect(try String(contentsOfFile: "\(directory)/box/new/\(name)", encoding: .utf8) == expected)
            #expect(name.hasSuffix(",S=\(expected.utf8.count)"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(directory)/box/tmp").isEmpty)

            let spool = try Spool(root: "\(directory)/spool", sync: sync)
            let queued = message(11)
            try await write(spool, queued, chunks: ["Subject: a\r\n", "\r\n", body], on: loop, adding: fields)
            #expect(try String(contentsOfFile: "\(directory)/spool/queue/\(queued.id).eml", encoding: .utf8) == expected)

            // Through the journal (small messages) or spilled to a file of its own (large ones),
            // behind Return-Path and Delivered-To as local delivery writes them.
            let journal = try MessageJournal(directory: "\(directory)/journal", pool: pool)
            _ = try journal.unretired()
            let journaled = try Maildir(root: "\(directory)/journaled", hostname: "mx", sync: sync)
            let stored = try await loop.submit {
                let promise = loop.makePromise(of: String.self)
                let writer = journaled.begin(
                    message(12), prefix: ByteBuffer(string: "Return-Path: <a@b.test>\r\nReceived: x\r\n"), on: loop,
                    journal: journal, stored: { promise.succeed($0) }, failed: { promise.fail($0) })
                for chunk in ["Subject: a\r\n", "\r\n", body] { writer.append(ByteBuffer(string: chunk)) }
                return writer.commit(adding: ByteBuffer(string: fields)).flatMap { promise.futureResult }
            }.flatMap { $0 }.get()
            #expect(
                try String(contentsOfFile: "\(directory)/journaled/new/\(stored)", encoding: .utf8)
                    == "Return-Path: <a@b.test>\r\n" + expected)
        }
    }

    @Test("Maildir: abort leaves nothing behind", arguments: StoreSync.Mode.allCases)
    func maildirAbort(mode: StoreSync.Mode) async throws {
        try await withPool { pool, loop in
            let maildir = try Maildir(root: "\(directory)/box", hostname: "mx", sync: StoreSync(mode: mode, pool: pool))
            let big = String(repeating: "x", count: 600 * 1024)  // forces a write before the abort
            try await write(maildir, message(2), chunks: [big, big], on: loop, commit: false)
            try await Task.sleep(for: .milliseconds(200))
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(directory)/box/tmp").isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(directory)/box/new").isEmpty)
        }
    }

    @Test("Maildir: large messages arrive whole; concurrent commits all land (group commit)",
        arguments: StoreSync.Mode.allCases)
    func maildirConcurrent(mode: StoreSync.Mode) async throws {
        try await withPool { pool, loop in
            let maildir = try Maildir(root: "\(directory)/box", hostname: "mx", sync: StoreSync(mode: mode, pool: pool))
            let big = String(repeating: "0123456789abcdef\r\n", count: 200_000)  // 3.6 MB
            try await withThrowingTaskGroup(of: Void.self) { group in
                for seed in 0..<20 {
                    group.addTask { try await write(maildir, message(UInt64(10 + seed)), chunks: [big], on: loop) }
                }
                try await group.waitForAll()
            }
            let names = try FileManager.default.contentsOfDirectory(atPath: "\(directory)/box/new")
            #expect(names.count == 20)
            for name in names {
                let size = try FileManager.default.attributesOfItem(atPath: "\(directory)/box/new/\(name)")[.size] as? Int
                #expect(size == big.utf8.count + "Received: x\r\n".utf8.count)
            }
        }
    }

    @Test("Maildir: recovery removes temporary files and counts the messages")
    func maildirRecovery() async throws {
        try await withPool { pool, loop in
            let maildir = try Maildir(root: "\(directory)/box", hostname: "mx", sync: StoreSync(mode: .file, pool: pool))
            try await write(maildir, message(3), chunks: ["x\r\n"], on: loop)
            _ = FileManager.default.createFile(atPath: "\(directory)/box/tmp/interrupted", contents: Data("partial".utf8))
            let report = try maildir.recover()
            #expect(report == RecoveryReport(messages: 1, removedTemporaryFiles: 1))
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(directory)/box/tmp").isEmpty)
        }
    }

    @Test("Spool: the QueueStore contract", arguments: StoreSync.Mode.allCases, QueueStoreContract.checks.map(\.name))
    func spoolContract(mode: StoreSync.Mode, check: String) async throws {
        try await withPool { pool, loop in
            let root = "\(directory)/spool"
            let environment = QueueStoreContract.Environment(
                makeStore: { try Spool(root: root, sync: StoreSync(mode: mode, pool: pool)) }, eventLoop: loop)
            try await QueueStoreContract.run(check, in: environment)
        }
    }

    @Test("Spool: message and envelope side by side; orphans removed at recovery", arguments: StoreSync.Mode.allCases)
    func spool(mode: StoreSync.Mode) async throws {
        try await withPool { pool, loop in
            let spool = try Spool(root: "\(directory)/spool", sync: StoreSync(mode: mode, pool: pool))
            let incoming = message(4)
            try await write(spool, incoming, chunks: ["hello\r\n"], on: loop)
            let queue = "\(directory)/spool/queue"
            let content = try String(contentsOfFile: "\(queue)/\(incoming.id).eml", encoding: .utf8)
            #expect(content == "Received: x\r\nhello\r\n")
            let json = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(queue)/\(incoming.id).json")))
                    as? [String: Any])
            #expect(json["from"] as? String == "a@b.test")
            #expect(json["size"] as? Int == content.utf8.count)
            let recipients = try #require(json["recipients"] as? [[String: Any]])
            #expect(recipients.first?["address"] as? String == "c@d.test")
            #expect(recipients.first?["notify"] as? [String] == ["FAILURE"])

            _ = FileManager.default.createFile(atPath: "\(queue)/ORPHAN0000000000.eml", contents: Data("x".utf8))
            _ = FileManager.default.createFile(atPath: "\(directory)/spool/tmp/A.eml", contents: Data("x".utf8))
            let report = try spool.recover()
            #expect(report == RecoveryReport(messages: 1, removedTemporaryFiles: 2))
            #expect(!FileManager.default.fileExists(atPath: "\(queue)/ORPHAN0000000000.eml"))
        }
    }

    @Test("Spool: damaged records are moved to corrupt/ with their message; the rest load")
    func spoolQuarantine() async throws {
        try await withPool { pool, _ in
            let spool = try Spool(root: "\(directory)/spool", sync: StoreSync(mode: .file, pool: pool))
            let good = message(1)
            let queued = try await spool.enqueue(
                good, content: Array("Subject: x\r\n\r\nx\r\n".utf8),
                deliveries: [QueuedDelivery(recipient: "c@d.test", original: "c@d.test", route: .remote)])
            let (recordID, arrival) = (queued.id.rawValue, queued.arrival)
            let queue = "\(directory)/spool/queue"
            let json = try String(contentsOfFile: "\(queue)/\(recordID).json", encoding: .utf8)
            var generator = SystemRandomNumberGenerator()
            func hostile(_ n: UInt64, _ text: String) throws -> String {
                let id = QueueID(microsecondsSinceEpoch: 1_795_383_380_000_000 + n, using: &generator).rawValue
                try text.replacingOccurrences(of: recordID, with: id).write(
                    toFile: "\(queue)/\(id).json", atomically: false, encoding: .utf8)
                try "Subject: y\r\n\r\ny\r\n".write(toFile: "\(queue)/\(id).eml", atomically: false, encoding: .utf8)
                return id
            }
            let damaged = [
                try hostile(1, String(json.prefix(json.count / 2))),  // truncated
                try hostile(2, "not json"),
                try hostile(3, json.replacingOccurrences(of: "\"arrival\":\(arrival)", with: "\"arrival\":9223372036854775807")),
                try hostile(4, json.replacingOccurrences(of: "\"attempts\":0", with: "\"attempts\":9223372036854775807")),
                try hostile(5, json.replacingOccurrences(of: "\"id\":\"\(recordID)\"", with: "\"id\":\"..\\/..\\/x\"")),
                try hostile(6, json.replacingOccurrences(
                    of: "\"route\":\"remote\"", with: "\"last_reply\":\"999 not a reply\",\"route\":\"remote\"")),
                try hostile(7, json.replacingOccurrences(of: "\"FAILURE\"", with: "\"SOMETIMES\"")),
                try hostile(8, json.replacingOccurrences(of: "\"from\":", with: "\"body\":\"9BIT\",\"from\":")),
            ].sorted()
            let contents = try Spool.contents(in: "\(directory)/spool")
            #expect(contents.messages.map(\.id.rawValue) == [recordID])
            #expect(contents.unreadable.map(\.id) == damaged)

            let loaded = try spool.load()
            #expect(loaded.messages.map(\.id.rawValue) == [recordID])
            #expect(try Spool.quarantined(in: "\(directory)/spool") == damaged)
            #expect(try FileManager.default.contentsOfDirectory(atPath: queue).sorted() == ["\(recordID).eml", "\(recordID).json"])
            #expect(try spool.load().unreadable.isEmpty, "moved once, not found again")
        }
    }

    @Test("Spool: enqueue, save and remove leave only complete files", arguments: StoreSync.Mode.allCases)
    func spoolLifecycle(mode: StoreSync.Mode) async throws {
        try await withPool { pool, _ in
            let spool = try Spool(root: "\(directory)/spool", sync: StoreSync(mode: mode, pool: pool))
            let incoming = message(5)
            var record = try await spool.enqueue(
                incoming, content: Array("Subject: dsn\r\n\r\nx\r\n".utf8),
                deliveries: [QueuedDelivery(recipient: "c@d.test", original: "c@d.test", route: .remote)])
            record.deliveries[0].status = .deferred
            record.deliveries[0].attempts = 1
            try await spool.save(record)
            let loaded = try #require(try spool.load().messages.first)
            #expect(loaded.deliveries[0].status == .deferred)
            #expect(loaded.size == "Subject: dsn\r\n\r\nx\r\n".utf8.count)
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(directory)/spool/tmp").isEmpty)
            try await spool.remove(incoming.id)
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(directory)/spool/queue").isEmpty)
        }
    }

    @Test("filesystem sync: one batch serves a Maildir and a spool, and a failed rename fails only its own message")
    func filesystemBatch() async throws {
        try await withPool { pool, loop in
            let sync = StoreSync(mode: .filesystem, pool: pool)
            let maildir = try Maildir(root: "\(directory)/box", hostname: "mx", sync: sync)
            let spool = try Spool(root: "\(directory)/spool", sync: sync)
            let directory = try DirectorySync(path: "\(self.directory)/box/new", pool: pool)
            let failing = StoreSync.Publication(files: [], directory: directory) {
                throw StoreError.posix("rename", errno: 2)
            }
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for seed in 0..<30 {
                    group.addTask {
                        try await write(seed.isMultiple(of: 2) ? maildir : spool, message(UInt64(100 + seed)), chunks: ["x\r\n"], on: loop)
                        return true
                    }
                }
                for _ in 0..<5 {
                    group.addTask { (try? await sync.publish(failing)) != nil }
                }
                var results: [Bool] = []
                for try await result in group { results.append(result) }
                #expect(results.filter { $0 }.count == 30)
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(self.directory)/box/new").count == 15)
            #expect(try spool.load().messages.count == 15)
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(self.directory)/box/tmp").isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(self.directory)/spool/tmp").isEmpty)
        }
    }
}
