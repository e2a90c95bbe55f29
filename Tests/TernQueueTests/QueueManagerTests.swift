import Foundation
import Logging
import NIOCore
import NIOPosix
import TernDelivery
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

    @Test("plan: one delivery per destination, aliases expanded once, remote kept")
    func plan() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let manager = QueueManager(
            spool: try Spool(root: "\(directory)/spool", pool: pool), routing: routing, agents: [:],
            logger: Logger(label: "test"), clock: { 0 })
        let deliveries = manager.plan(incoming(["team@example.test", "alice@example.test", "x@remote.test"]).envelope)
        #expect(deliveries.map(\.recipient) == ["alice@example.test", "bob@example.test", "x@remote.test"])
        #expect(deliveries.map(\.route) == [.local, .local, .remote])
        #expect(deliveries.map(\.original) == ["team@example.test", "team@example.test", "x@remote.test"])
        try await pool.shutdownGracefully()
    }

    @Test("a committed message is delivered to each mailbox and leaves the spool")
    func deliversAndEmpties() async throws {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let manager = QueueManager(
            spool: try Spool(root: "\(directory)/spool", pool: pool), routing: routing,
            agents: [.local: LocalDeliveryAgent(root: "\(directory)/mailboxes", hostname: "mx.test", pool: pool)],
            logger: Logger(label: "test"), clock: { Int64(Date().timeIntervalSince1970) })
        _ = try manager.recover()
        let runner = Task { try await manager.run() }

        let message = incoming(["team@example.test"])
        let loop = group.next()
        try await loop.submit {
            let writer = manager.begin(message, prefix: ByteBuffer(string: "Received: x\r\n"), on: loop)
            writer.append(ByteBuffer(string: "Subject: hi\r\n\r\nbody\r\n"))
            return writer.commit()
        }.flatMap { $0 }.get()

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
                    == "Return-Path: <s@remote.test>\r\nDelivered-To: \(user)@example.test\r\nReceived: x\r\nSubject: hi\r\n\r\nbody\r\n")
        }
        var remaining: [String] = ["x"]
        for _ in 0..<200 where !remaining.isEmpty {
            remaining = try FileManager.default.contentsOfDirectory(atPath: "\(directory)/spool/queue")
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(remaining.isEmpty)
        runner.cancel()
        _ = await runner.result
        try await pool.shutdownGracefully()
        try await group.shutdownGracefully()
    }
}
