import TernSystem
import Foundation
import NIOCore
import NIOPosix
import TernMail
import Testing

@testable import TernStore

/// The message journal on the real file system: what was appended and not retired comes back
/// after a "crash" (a new journal on the same directory), checkpoints retire only what was
/// applied, segments roll over and are reused, and damaged or stale bytes end a scan cleanly.
@Suite("Message journal")
struct MessageJournalTests {
    let directory = NSTemporaryDirectory() + "tern-journal-\(UUID().uuidString)"

    private func withPool(_ body: (NIOThreadPool, any EventLoop) async throws -> Void) async throws {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: "\(directory)/applied", withIntermediateDirectories: true)
        do {
            try await body(pool, group.next())
        } catch {
            try? await pool.shutdownGracefully()
            try? await group.shutdownGracefully()
            throw error
        }
        try await pool.shutdownGracefully()
        try await group.shutdownGracefully()
    }

    private func payload(_ n: Int, size: Int = 100) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ n) }
    }

    private func append(_ journal: MessageJournal, _ payloads: [[UInt8]], on loop: any EventLoop) async throws -> [UInt64] {
        try await withThrowingTaskGroup(of: (Int, UInt64).self) { group in
            for (index, bytes) in payloads.enumerated() {
                group.addTask { (index, try await journal.append(ByteBuffer(bytes: bytes), on: loop).get()) }
            }
            var sequences = [UInt64](repeating: 0, count: payloads.count)
            for try await (index, sequence) in group { sequences[index] = sequence }
            return sequences
        }
    }

    private func segmentFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/journal")) ?? [])
            .filter { $0.hasSuffix(".journal") }.sorted()
    }

    @Test("CRC-32C matches the standard check value")
    func crc() {
        let check = Array("123456789".utf8)
        #expect(check.withUnsafeBytes { tern_crc32c(0, $0.baseAddress, $0.count) } == 0xE306_9283)
        // Continuing from a partial CRC is the same as one pass.
        let split = check.withUnsafeBytes { raw in
            tern_crc32c(tern_crc32c(0, raw.baseAddress, 4), raw.baseAddress! + 4, 5)
        }
        #expect(split == 0xE306_9283)
    }

    @Test("appended entries come back after a crash, in order, byte for byte")
    func replayAfterCrash() async throws {
        try await withPool { pool, loop in
            let written = [payload(1), payload(2, size: 5000), payload(3, size: 0)]
            do {
                let journal = try MessageJournal(directory: "\(directory)/journal", pool: pool)
                #expect(try journal.unretired().isEmpty)
                let sequences = try await append(journal, written, on: loop)
                #expect(Set(sequences).count == 3)
            }
            let reopened = try MessageJournal(directory: "\(directory)/journal", pool: pool)
            let entries = try reopened.unretired()
            #expect(Set(entries.map(\.payload)) == Set(written))
            #expect(entries.map(\.sequence) == entries.map(\.sequence).sorted())
        }
    }

    @Test("a checkpoint retires the applied entries up to the first unapplied one")
    func checkpointRetiresApplied() async throws {
        try await withPool { pool, loop in
            var sequences: [UInt64] = []
            do {
                let journal = try MessageJournal(directory: "\(directory)/journal", pool: pool)
                _ = try journal.unretired()
                let applied = try DirectorySync(path: "\(directory)/applied", pool: pool)
                for n in 0..<4 { sequences += try await append(journal, [payload(n)], on: loop) }
                journal.applied(sequences[0], syncing: applied)
                journal.applied(sequences[1], syncing: applied)
                journal.applied(sequences[3], syncing: applied)
                try await journal.checkpoint()
            }
            let reopened = try MessageJournal(directory: "\(directory)/journal", pool: pool)
            let left = try reopened.unretired()
            // The third was never applied, so it and everything after it is replayed.
            #expect(left.map(\.sequence) == [sequences[2], sequences[3]])
            #expect(left.map(\.payload) == [payload(2), payload(3)])
        }
    }

    @Test("segments roll over, are reused once retired, and the journal stays bounded")
    func segmentsRollAndAreReused() async throws {
        try await withPool { pool, loop in
            let segmentSize = 64 * 1024
            let journal = try MessageJournal(directory: "\(directory)/journal", pool: pool, segmentSize: segmentSize)
            _ = try journal.unretired()
            try await journal.prepareSpares()
            let all = { (try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/journal")) ?? [] }
            #expect(all().filter { $0.hasPrefix(MessageJournal.sparePrefix) }.count == MessageJournal.spareCount)
            let applied = try DirectorySync(path: "\(directory)/applied", pool: pool)
            var last: [UInt64] = []
            for round in 0..<6 {
                let sequences = try await append(journal, (0..<30).map { payload(round * 100 + $0, size: 3000) }, on: loop)
                for sequence in sequences { journal.applied(sequence, syncing: applied) }
                try await journal.checkpoint()
                last = sequences
            }
            // 540 KB went through 64 KB segments: the live one plus at most two spares remain.
            #expect(segmentFiles().count <= 3, "\(segmentFiles())")
            #expect(all().count <= 3 + MessageJournal.spareCount, "\(all())")
            #expect(all().filter { $0.hasPrefix(MessageJournal.sparePrefix) }.isEmpty, "the prepared spares were used first")
            let pendingPayloads = (0..<5).map { payload(900 + $0, size: 3000) }
            let pending = try await append(journal, pendingPayloads, on: loop)
            #expect(pending.min()! > last.max()!)

            let reopened = try MessageJournal(directory: "\(directory)/journal", pool: pool, segmentSize: segmentSize)
            let left = try reopened.unretired()
            #expect(left.map(\.sequence) == pending.sorted())
            #expect(Set(left.map(\.payload)) == Set(pendingPayloads))
        }
    }

    @Test("a torn or damaged record ends the replay just before it")
    func tornRecord() async throws {
        try await withPool { pool, loop in
            var sequences: [UInt64] = []
            do {
                let journal = try MessageJournal(directory: "\(directory)/journal", pool: pool)
                _ = try journal.unretired()
                for n in 0..<3 { sequences += try await append(journal, [payload(n, size: 1000)], on: loop) }
            }
            let file = "\(directory)/journal/\(try #require(segmentFiles().last))"
            let handle = try #require(FileHandle(forUpdatingAtPath: file))
            // The third record starts after the 32-octet header and two 1,024-octet records; hit its payload.
            try handle.seek(toOffset: UInt64(32 + 2 * 1024 + 24 + 500))
            try handle.write(contentsOf: Data([0xFF]))
            try handle.close()
            let reopened = try MessageJournal(directory: "\(directory)/journal", pool: pool)
            #expect(try reopened.unretired().map(\.sequence) == Array(sequences.prefix(2)))
            // The journal goes on after the damage: new entries land in a segment of their own.
            let more = try await append(reopened, [payload(7)], on: loop)
            #expect(more[0] > sequences[1])
        }
    }

    @Test("scanning arbitrary bytes, or a segment cut anywhere, never yields a record that was not written whole")
    func scanIsRobust() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let noise = (0..<Int.random(in: 0..<4096, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(MessageJournal.scan(noise, segment: 1).records.isEmpty)
        }
        for _ in 0..<200 {
            var segment = ByteBuffer()
            segment.writeSegmentHeader(number: 7, firstSequence: 40)
            var ends: [Int] = []
            var written: [MessageJournal.ScannedRecord] = []
            for n in 0..<Int.random(in: 1...8, using: &generator) {
                let bytes = (0..<Int.random(in: 0..<300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                segment.writeRecord(kind: .entry, sequence: UInt64(40 + n), payload: ByteBuffer(bytes: bytes))
                written.append(.init(kind: .entry, sequence: UInt64(40 + n), payload: bytes))
                ends.append(segment.readableBytes)
            }
            let bytes = Array(segment.readableBytesView)
            #expect(MessageJournal.scan(bytes, segment: 7).records == written)
            #expect(MessageJournal.scan(bytes, segment: 8).records.isEmpty, "a segment of another number is stale")
            let cut = Int.random(in: 0...bytes.count, using: &generator)
            let whole = ends.filter { $0 <= cut }.count
            #expect(MessageJournal.scan(Array(bytes[..<cut]), segment: 7).records == Array(written.prefix(whole)))
        }
    }

    @Test("sequence and segment numbers no journal reaches are damage, not an overflow")
    func largestNumbers() async throws {
        var segment = ByteBuffer()
        segment.writeSegmentHeader(number: 7, firstSequence: .max)
        segment.writeRecord(kind: .entry, sequence: .max, payload: ByteBuffer(bytes: [1, 2, 3]))
        #expect(MessageJournal.scan(Array(segment.readableBytesView), segment: 7).records.isEmpty)
        var last = ByteBuffer()
        last.writeSegmentHeader(number: 7, firstSequence: MessageJournal.maximumNumber)
        last.writeRecord(kind: .entry, sequence: MessageJournal.maximumNumber, payload: ByteBuffer(bytes: [1]))
        #expect(MessageJournal.scan(Array(last.readableBytesView), segment: 7).records.isEmpty)

        try await withPool { pool, loop in
            // A segment named with the largest number, holding a record of the largest sequence:
            // the journal starts, skips it, and goes on appending.
            try FileManager.default.createDirectory(atPath: "\(directory)/journal", withIntermediateDirectories: true)
            var hostile = ByteBuffer()
            hostile.writeSegmentHeader(number: .max, firstSequence: .max)
            hostile.writeRecord(kind: .entry, sequence: .max, payload: ByteBuffer(bytes: payload(1)))
            let name = MessageJournal.segmentName(.max)
            try Data(hostile.readableBytesView).write(to: URL(fileURLWithPath: "\(directory)/journal/\(name)"))
            let journal = try MessageJournal(directory: "\(directory)/journal", pool: pool)
            #expect(try journal.unretired().isEmpty)
            let appended = try await append(journal, [payload(2)], on: loop)
            #expect(appended.count == 1)
        }
    }

    @Test("a Maildir journal entry parses back; noise and names that could leave the Maildir do not")
    func maildirEntryParsing() throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        let maildir = try Maildir(root: "\(directory)/box", hostname: "mx", sync: StoreSync(mode: .file, pool: pool))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let entry = maildir.journalEntry(name: "1.ABC.mx,S=3", content: ByteBuffer(string: "x\r\n"))
        let parsed = try #require(Maildir.parseJournalEntry(Array(entry.readableBytesView)))
        #expect(parsed.root == "\(directory)/box")
        #expect(parsed.name == "1.ABC.mx,S=3")
        #expect(Array(parsed.content) == Array("x\r\n".utf8))
        for name in ["../escape", "a/b", ".", "..", ""] {
            let bad = maildir.journalEntry(name: name, content: ByteBuffer(string: "x"))
            #expect(Maildir.parseJournalEntry(Array(bad.readableBytesView)) == nil, "\(name)")
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            var noise = (0..<Int.random(in: 0..<200, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if !noise.isEmpty, Bool.random(using: &generator) { noise[0] = 1 }
            if let parsed = Maildir.parseJournalEntry(noise) {
                #expect(!parsed.name.contains("/") && parsed.name != "." && parsed.name != "..")
            }
        }
    }

    @Test("Maildir through the journal: acknowledged, then in new/ with its name; a big message spills to a synced file")
    func journaledMaildir() async throws {
        try await withPool { pool, loop in
            let journal = try MessageJournal(directory: "\(directory)/journal", pool: pool)
            _ = try journal.unretired()
            let maildir = try Maildir(root: "\(directory)/box", hostname: "mx", sync: StoreSync(mode: .filesystem, pool: pool))
            var generator = SystemRandomNumberGenerator()
            let small = String(repeating: "small line\r\n", count: 100)
            let big = String(repeating: "big line of the message\r\n", count: 20_000)  // 500 KB: past the inline limit
            var names: [String: String] = [:]
            for content in [small, big] {
                let message = IncomingMessage(
                    id: QueueID(microsecondsSinceEpoch: 1_795_383_379_000_000, using: &generator),
                    envelope: Envelope(sender: MailAddress(localPart: "a", domain: "b.test")),
                    trace: ArrivalTrace(clientName: "c", clientAddress: "127.0.0.1", receivedProtocol: "ESMTP", receivedAt: 1_795_383_379))
                let stored = AsyncStream<String>.makeStream()
                try await loop.submit {
                    let writer = maildir.begin(
                        message, prefix: ByteBuffer(string: "Received: x\r\n"), on: loop, journal: journal,
                        stored: { stored.continuation.yield($0) }, failed: { Issue.record("materialize failed: \($0)") })
                    writer.append(ByteBuffer(string: content))
                    return writer.commit()
                }.flatMap { $0 }.get()
                var iterator = stored.stream.makeAsyncIterator()
                names[content] = await iterator.next()
            }
            for (content, name) in names {
                let stored = try String(contentsOfFile: "\(directory)/box/new/\(name)", encoding: .utf8)
                #expect(stored == "Received: x\r\n" + content)
                #expect(name.hasSuffix(",S=\(stored.utf8.count)"))
            }
            // Only the small one went through the journal; replaying it again adds nothing.
            let reopened = try MessageJournal(directory: "\(directory)/journal", pool: pool)
            let entries = try reopened.unretired()
            #expect(entries.count == 1)
            var known: [String: Set<String>] = [:]
            for entry in entries { _ = try Maildir.replay(entry.payload, known: &known) }
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(directory)/box/new").count == 2)
            // A replay into an empty Maildir puts the message back whole.
            try FileManager.default.removeItem(atPath: "\(directory)/box/new/\(try #require(names[small]))")
            known = [:]
            _ = try Maildir.replay(try #require(entries.first).payload, known: &known)
            let replayed = try String(contentsOfFile: "\(directory)/box/new/\(try #require(names[small]))", encoding: .utf8)
            #expect(replayed == "Received: x\r\n" + small)
        }
    }
}
