import Foundation
import Logging
import NIOCore
import NIOPosix
import TernDelivery
import TernDirectory
import TernMail
import TernStore
import Testing

@testable import TernQueue

@Suite("RetrySchedule")
struct RetryScheduleTests {
    @Test("doubling from 5 minutes up to 4 hours, expiry after 5 days")
    func schedule() {
        let schedule = RetrySchedule()
        #expect((1...8).map(schedule.delay(afterAttempts:)) == [300, 600, 1200, 2400, 4800, 9600, 14_400, 14_400])
        #expect(schedule.delay(afterAttempts: 1000) == 14_400)
        #expect(!schedule.hasExpired(arrival: 0, now: 5 * 86_400 - 1))
        #expect(schedule.hasExpired(arrival: 0, now: 5 * 86_400))
    }
}

/// The queue with the real spool and the real local delivery agent on the file system.
@Suite("QueueManager")
struct QueueManagerTests {
    let directory = NSTemporaryDirectory() + "tern-queue-\(UUID().uuidString)"

    let routing = MailRouting(
        localDomains: ["example.test"],
        mailboxes: [.init(localPart: "alice", domain: "example.test"), .init(localPart: "bob", domain: "example.test")],
        aliases: [
            "team@example.test": [
                MailAddress(localPart: "alice", domain: "example.test"),
                MailAddress(localPart: "bob", domain: "example.test"),
            ]
        ])

    private func incoming(_ recipients: [String]) -> IncomingMessage {
        var generator = SystemRandomNumberGenerator()
        return IncomingMessage(
            id: QueueID(microsecondsSinceEpoch: UInt64(Date().timeIntervalSince1970 * 1_000_000), using: &generator),
            envelope: Envelope(
                sender: MailAddress(localPart: "s", domain: "remote.test"),
                recipients: recipients.map { text in
                    let parts = text.split(separator: "@")
                    return EnvelopeRecipient(address: MailAddress(localPart: String(parts[0]), domain: String(parts[1])))
                }),
            trace: ArrivalTrace(
                clientName: "c", clientAddress: "127.0.0.1", receivedProtocol: "ESMTP",
                receivedAt: Int64(Date().timeIntervalSince1970)))
    }

    /// The real spool and local delivery agent under `directory`.
    private func localQueue(_ pool: NIOThreadPool) throws -> QueueManager {
        let mailboxes = MaildirMailboxStore(
            root: "\(directory)/mailboxes", hostname: "mx.test", sync: StoreSync(mode: .default, pool: pool))
        return QueueManager(
            store: try Spool(root: "\(directory)/spool", sync: StoreSync(mode: .default, pool: pool)), routing: RoutingTable(routing),
            agents: [
                .local: LocalDeliveryAgent(mailboxes: mailboxes) { MaildirFolders(store: mailboxes, address: $0) }
            ],
            logger: Logger(label: "test"), clock: .system)
    }

    @Test("plan: one delivery per destination, aliases expanded once, remote kept")
    func plan() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let manager = QueueManager(
            store: try Spool(root: "\(directory)/spool", sync: StoreSync(mode: .default, pool: pool)), routing: RoutingTable(routing), agents: [:],
            logger: Logger(label: "test"), clock: .fixed(seconds: 0))
        let deliveries = manager.plan(incoming(["team@example.test", "alice@example.test", "x@remote.test"]).envelope)
        #expect(deliveries.map(\.recipient) == ["alice@example.test", "bob@example.test", "x@remote.test"])
        #expect(deliveries.map(\.route) == [.local, .local, .remote])
        #expect(deliveries.map(\.original) == ["team@example.test", "team@example.test", "x@remote.test"])
        try await pool.shutdownGracefully()
    }

    @Test("a committed message is delivered to each mailbox and leaves the spool")
    func deliversAndEmpties() async throws {
        try await withLocalQueue { manager, loop in
            let runner = Task { try await manager.run() }
            let message = incoming(["team@example.test"])
            try await send(message, to: manager, on: loop)

            for user in ["alice", "bob"] {
                let newDirectory = "\(directory)/mailboxes/example.test/\(user)/new"
                var names: [String] = []
                for _ in 0..<200 {
                    names = (try? FileManager.default.contentsOfDirectory(atPath: newDirectory)) ?? []
                    if !names.isEmpty { break }
                    try await Task.sleep(for: .milliseconds(25))
                }
                #expect(names.count == 1)
                let content = try String(contentsOfFile: "\(newDirectory)/\(names[0])", encoding: .utf8)
                #expect(
                    content
                        == "Return-Path: <s@remote.test>\r\nDelivered-To: \(user)@example.test\r\nReceived: x\r\nSubject: \(message.id)\r\n\r\nbody\r\n")
            }
            var remaining: [String] = ["x"]
            for _ in 0..<200 where !remaining.isEmpty {
                remaining = try FileManager.default.contentsOfDirectory(atPath: "\(directory)/spool/queue")
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(remaining.isEmpty)
            runner.cancel()
            _ = await runner.result
        }
    }
}

extension QueueManagerTests {
    private func send(
        _ message: IncomingMessage, to manager: QueueManager, on loop: any EventLoop, folder: SpecialUse? = nil
    ) async throws {
        try await loop.submit {
            let writer = manager.begin(message, prefix: ByteBuffer(string: "Received: x\r\n"), on: loop)
            writer.append(ByteBuffer(string: "Subject: \(message.id)\r\n\r\nbody\r\n"))
            return writer.commit(adding: ByteBuffer(), folder: folder)
        }.flatMap { $0 }.get()
    }

    /// Runs `body` with the queue of `localQueue`, recovered, and an event loop to write on.
    private func withLocalQueue(_ body: (QueueManager, any EventLoop) async throws -> Void) async throws {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let manager = try localQueue(pool)
        _ = try manager.recover()
        try await body(manager, group.next())
        try await pool.shutdownGracefully()
        try await group.shutdownGracefully()
    }

    /// Sends alice's first message, which the queue delivers and so opens her mailbox, then
    /// stops the queue's scheduler: what comes after is delivered as it arrives or not at all.
    private func openAlicesMailbox(_ manager: QueueManager, on loop: any EventLoop) async throws {
        let alice = "\(directory)/mailboxes/example.test/alice"
        let runner = Task { try await manager.run() }
        try await send(incoming(["alice@example.test"]), to: manager, on: loop)
        for _ in 0..<200 where !files("\(directory)/spool/queue").isEmpty || files("\(alice)/new").isEmpty {
            try await Task.sleep(for: .milliseconds(25))
        }
        runner.cancel()
        _ = await runner.result
    }

    private func files(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    @Test("a message for one open local mailbox goes straight into it, never into the spool")
    func directDelivery() async throws {
        try await withLocalQueue { manager, loop in
            let alice = "\(directory)/mailboxes/example.test/alice"
            let queue = "\(directory)/spool/queue"
            try await openAlicesMailbox(manager, on: loop)
            #expect(files("\(alice)/new").count == 1)
            // With the scheduler stopped, only a direct delivery can put a message in the mailbox.

            let direct = incoming(["alice@example.test"])
            try await send(direct, to: manager, on: loop)
            #expect(files(queue).isEmpty)
            let delivered = files("\(alice)/new")
            #expect(delivered.count == 2)
            let name = try #require(delivered.first { $0.contains(direct.id.rawValue) })
            #expect(name.hasPrefix("\(direct.trace.receivedAt).\(direct.id.rawValue).mx.test,S="))
            let content = try String(contentsOfFile: "\(alice)/new/\(name)", encoding: .utf8)
            #expect(
                content
                    == "Return-Path: <s@remote.test>\r\nDelivered-To: alice@example.test\r\nReceived: x\r\nSubject: \(direct.id)\r\n\r\nbody\r\n")
            #expect(name.hasSuffix(",S=\(content.utf8.count)"))
            // The 250 does not wait for the UID; the number follows the file.
            for _ in 0..<200 where (try? MaildirUIDList(maildir: alice).entries().entries.count) != 2 {
                try await Task.sleep(for: .milliseconds(25))
            }
            let uids = try MaildirUIDList(maildir: alice).entries().entries
            #expect(uids.map(\.uid) == [1, 2])
            #expect(uids.last?.key == MaildirUIDList.key(ofFileName: name))

            // Two mailboxes share one spooled copy; a success DSN is the queue's job.
            try await send(incoming(["team@example.test"]), to: manager, on: loop)
            var notify = incoming(["alice@example.test"])
            notify.envelope.recipients[0].notify = DSNNotify(success: true)
            try await send(notify, to: manager, on: loop)
            #expect(files(queue).filter { $0.hasSuffix(".json") }.count == 2)
            #expect(files("\(alice)/new").count == 2)
        }
    }
}

extension QueueManagerTests {
    @Test("a message filed at its commit is queued, never written as it arrives, and delivered into Junk")
    func filedIntoJunk() async throws {
        try await withLocalQueue { manager, loop in
            let alice = "\(directory)/mailboxes/example.test/alice"
            let queue = "\(directory)/spool/queue"
            try await openAlicesMailbox(manager, on: loop)

            var quarantined = incoming(["alice@example.test"])
            quarantined.awaitsFiling = true
            try await send(quarantined, to: manager, on: loop, folder: .junk)
            let record = try #require(files(queue).first { $0.hasSuffix(".json") })
            let json = try String(contentsOfFile: "\(queue)/\(record)", encoding: .utf8)
            #expect(json.contains(#""folder":"\\Junk""#))

            // A queue started again (as after a restart) delivers it.
            let restarted = try localQueue(.singleton)
            _ = try restarted.recover()
            let resumed = Task { try await restarted.run() }
            for _ in 0..<200 where !files(queue).isEmpty {
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(files("\(alice)/new").count == 1)
            let junk = files("\(alice)/.Junk/new")
            #expect(junk.count == 1 && junk.first?.contains(quarantined.id.rawValue) == true)
            // The folder was made as IMAP's first listing makes it, with its special use.
            let folders = try #require(MaildirFolders(
                store: MaildirMailboxStore(root: "\(directory)/mailboxes", hostname: "mx.test", sync: StoreSync(mode: .default, pool: .singleton)),
                address: "alice@example.test"))
            #expect(try await folders.list().contains { $0.name == "Junk" && $0.specialUse == .junk })
            resumed.cancel()
            _ = await resumed.result
        }
    }

    @Test("a mailbox opened after a crash numbers the messages its UID list missed, before new ones")
    func missedUIDs() async throws {
        try await withLocalQueue { manager, loop in
            let alice = "\(directory)/mailboxes/example.test/alice"
            for sub in ["tmp", "new", "cur"] {
                try FileManager.default.createDirectory(atPath: "\(alice)/\(sub)", withIntermediateDirectories: true)
            }
            // Two messages from an earlier run; the crash lost the second one's line.
            for key in ["1700000000.A.mx.test", "1700000001.B.mx.test"] {
                _ = FileManager.default.createFile(atPath: "\(alice)/new/\(key),S=3", contents: Data("x\r\n".utf8))
            }
            try "tern-uidlist 1 V1700000000 N2\n1 1700000000.A.mx.test\n".write(
                toFile: "\(alice)/\(MaildirUIDList.fileName)", atomically: true, encoding: .utf8)

            let runner = Task { try await manager.run() }
            let fresh = incoming(["alice@example.test"])
            try await send(fresh, to: manager, on: loop)
            for _ in 0..<200 where (try? MaildirUIDList(maildir: alice).entries().entries.count) != 3 {
                try await Task.sleep(for: .milliseconds(25))
            }
            let list = try MaildirUIDList(maildir: alice).entries()
            #expect(list.uidValidity == 1_700_000_000)
            #expect(list.entries.map(\.uid) == [1, 2, 3])
            #expect(list.entries.map(\.key).prefix(2) == ["1700000000.A.mx.test", "1700000001.B.mx.test"])
            #expect(list.entries.last?.key.contains(fresh.id.rawValue) == true)
            runner.cancel()
            _ = await runner.result
        }
    }
}

/// The scheduler's view: due deliveries grouped into one job per destination, with the
/// total and per-destination limits.
@Suite("QueueState scheduling")
struct QueueStateTests {
    let directory = NSTemporaryDirectory() + "tern-queue-state-\(UUID().uuidString)"

    private func enqueue(_ spool: Spool, _ deliveries: [QueuedDelivery]) async throws -> QueuedMessage {
        var generator = SystemRandomNumberGenerator()
        let message = IncomingMessage(
            id: QueueID(microsecondsSinceEpoch: UInt64(Date().timeIntervalSince1970 * 1_000_000), using: &generator),
            envelope: Envelope(sender: MailAddress(localPart: "s", domain: "example.test")),
            trace: ArrivalTrace(clientName: "c", clientAddress: "127.0.0.1", receivedProtocol: "ESMTP", receivedAt: 0))
        return try await spool.enqueue(message, content: Array("Subject: x\r\n\r\nx\r\n".utf8), deliveries: deliveries)
    }

    @Test("one job per destination; a busy destination waits for its slot")
    func groupsAndLimits() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let spool = try Spool(root: directory, sync: StoreSync(mode: .default, pool: pool))
        let first = try await enqueue(
            spool,
            [
                QueuedDelivery(recipient: "a@x.test", original: "a@x.test", route: .remote),
                QueuedDelivery(recipient: "alice@example.test", original: "alice@example.test", route: .local),
                QueuedDelivery(recipient: "b@X.test", original: "b@X.test", route: .remote),
                QueuedDelivery(recipient: "c@y.test", original: "c@y.test", route: .remote),
            ])
        let second = try await enqueue(spool, [QueuedDelivery(recipient: "d@x.test", original: "d@x.test", route: .remote)])
        let state = QueueState()
        await state.load([first, second])

        let (jobs, _) = await state.takeDue(now: 0, limit: 10, perDestination: 1, store: spool)
        let taken = jobs.map { "\($0.messageID == first.id ? 1 : 2) \($0.destination) \($0.items.map(\.index))" }
        #expect(taken == ["1 remote:x.test [0, 2]", "1 local:alice@example.test [1]", "1 remote:y.test [3]"])

        // x.test is busy: the second message waits, and the loop is told to wait for a completion.
        let (none, nextDue) = await state.takeDue(now: 0, limit: 10, perDestination: 1, store: spool)
        #expect(none.isEmpty)
        #expect(nextDue == nil)

        let xJob = try #require(jobs.first)
        let statuses = await state.complete(
            xJob, results: [DeliveryResult(.delivered(SMTPReply(250, EnhancedStatusCode(2, 0, 0), "ok")), relay: "mx.x.test[192.0.2.1]:25", tls: true),
                            DeliveryResult(.deferred(SMTPReply(451, EnhancedStatusCode(4, 3, 0), "later")))],
            now: 100, retry: RetrySchedule(), perDestination: 1)
        #expect(statuses == [.delivered, .deferred])
        let record = try #require(await state.record(first.id.rawValue))
        #expect(record.deliveries[0].history?.first?.relay == "mx.x.test[192.0.2.1]:25")
        #expect(record.deliveries[2].nextAttempt == 400)

        let (next, laterDue) = await state.takeDue(now: 0, limit: 10, perDestination: 1, store: spool)
        #expect(next.map(\.messageID) == [second.id])
        #expect(next.first?.items.map(\.delivery.recipient) == ["d@x.test"])
        // The deferred delivery comes back when its time comes, not before.
        #expect(laterDue == 400)
        let (early, _) = await state.takeDue(now: 399, limit: 10, perDestination: 2, store: spool)
        #expect(early.isEmpty)
        let (due, _) = await state.takeDue(now: 400, limit: 10, perDestination: 2, store: spool)
        #expect(due.map { "\($0.destination) \($0.items.map(\.index))" } == ["remote:x.test [2]"])
        try await pool.shutdownGracefully()
    }

    @Test("destinations take turns: a domain with many messages does not starve the others")
    func roundRobin() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let spool = try Spool(root: directory, sync: StoreSync(mode: .default, pool: pool))
        var loaded: [QueuedMessage] = []
        for n in 0..<6 {
            loaded.append(
                try await enqueue(spool, [QueuedDelivery(recipient: "u\(n)@busy.test", original: "u\(n)@busy.test", route: .remote)]))
        }
        loaded.append(try await enqueue(spool, [QueuedDelivery(recipient: "v@quiet.test", original: "v@quiet.test", route: .remote)]))
        let state = QueueState()
        await state.load(loaded)
        let (jobs, _) = await state.takeDue(now: 0, limit: 3, perDestination: 10, store: spool)
        #expect(jobs.map(\.destination) == ["remote:busy.test", "remote:quiet.test", "remote:busy.test"])
        // Held and deleted messages are skipped when their turn comes.
        #expect(await state.apply(.hold, to: loaded[2].id.rawValue))
        #expect(await state.apply(.delete, to: loaded[3].id.rawValue))
        let (more, _) = await state.takeDue(now: 0, limit: 10, perDestination: 10, store: spool)
        #expect(more.map(\.messageID) == [loaded[4].id, loaded[5].id])
        try await pool.shutdownGracefully()
    }

    @Test("the total limit counts jobs, not deliveries")
    func totalLimit() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let spool = try Spool(root: directory, sync: StoreSync(mode: .default, pool: pool))
        let record = try await enqueue(
            spool,
            (0..<5).map { QueuedDelivery(recipient: "u\($0)@x.test", original: "u\($0)@x.test", route: .remote) }
                + [QueuedDelivery(recipient: "v@y.test", original: "v@y.test", route: .remote)])
        let state = QueueState()
        await state.load([record])
        let (jobs, _) = await state.takeDue(now: 0, limit: 1, perDestination: 20, store: spool)
        #expect(jobs.count == 1)
        #expect(jobs.first?.items.count == 5)
        try await pool.shutdownGracefully()
    }
}
