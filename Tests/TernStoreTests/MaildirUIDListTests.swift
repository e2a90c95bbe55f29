import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TernTestSupport
import Testing

@testable import TernStore

/// The UID list on the real file system: UIDs ascend and stay, a crash's torn line is cut,
/// `rebuild` follows the Maildir, and a damaged list starts over with a new UIDVALIDITY.
@Suite("MaildirUIDList")
struct MaildirUIDListTests {
    let maildir: String

    init() throws {
        maildir = NSTemporaryDirectory() + "tern-uidlist-\(UUID().uuidString)"
        for sub in ["tmp", "new", "cur"] {
            try FileManager.default.createDirectory(atPath: "\(maildir)/\(sub)", withIntermediateDirectories: true)
        }
    }

    private var listPath: String { "\(maildir)/\(MaildirUIDList.fileName)" }

    private func text() throws -> String { try String(contentsOfFile: listPath, encoding: .utf8) }

    private func touch(_ name: String) {
        _ = FileManager.default.createFile(atPath: "\(maildir)/\(name)", contents: Data("x".utf8))
    }

    @Test("keys: up to the first ',' or ':'")
    func keys() {
        #expect(MaildirUIDList.key(ofFileName: "1795.K0W.mx,S=120") == "1795.K0W.mx")
        #expect(MaildirUIDList.key(ofFileName: "1795.K0W.mx,S=120:2,S") == "1795.K0W.mx")
        #expect(MaildirUIDList.key(ofFileName: "1795.other:2,") == "1795.other")
    }

    @Test("UIDs ascend from 1, a known key keeps its UID, and a second reader sees the same")
    func assigns() throws {
        let list = MaildirUIDList(maildir: maildir)
        #expect(try list.assign("a", now: 1000) == 1)
        #expect(try list.assign("b", now: 1001) == 2)
        #expect(try list.assign("a", now: 1002) == 1)
        #expect(try text() == "tern-uidlist 1 V1000 N1\n1 a\n2 b\n")
        let other = MaildirUIDList(maildir: maildir)
        #expect(try other.assign("c", now: 0) == 3)
        // The first instance notices the other's append.
        #expect(try list.assign("d", now: 0) == 4)
        let (validity, entries) = try list.entries()
        #expect(validity == 1000)
        #expect(entries.map(\.key) == ["a", "b", "c", "d"])
    }

    @Test("a batch is one append: new keys numbered in order, known and repeated keys keep theirs")
    func batch() throws {
        let list = MaildirUIDList(maildir: maildir)
        #expect(try list.assign("a", now: 1000) == 1)
        #expect(try list.assign(["b", "a", "c", "b"], now: 0) == [2, 1, 3, 2])
        #expect(try list.assign([], now: 0) == [])
        #expect(try list.assign(["d"], now: 0) == [4])
        #expect(try text() == "tern-uidlist 1 V1000 N1\n1 a\n2 b\n3 c\n4 d\n")
    }

    @Test("group commit: concurrent deliveries share batches and each gets its own UID")
    func groupCommit() async throws {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        let list = MaildirUIDList(maildir: maildir)
        let batches = BatchCounter()
        let commit = GroupCommit<String, UInt32>(pool: pool) { keys in
            batches.add(keys.count)
            return try list.assign(keys, now: 1)
        }
        let uids = try await withThrowingTaskGroup(of: UInt32.self) { group in
            for n in 0..<200 { group.addTask { try await commit.submit("key\(n)") } }
            return try await group.reduce(into: [UInt32]()) { $0.append($1) }
        }
        #expect(uids.sorted() == Array(1...200))
        #expect(batches.requests == 200)
        // One batch runs at a time; whoever arrives meanwhile waits for the next one.
        #expect(batches.count < 200)
        try await pool.shutdownGracefully()
    }

    @Test("deliveries racing to create the list each get their own UID")
    func concurrentCreation() async throws {
        let maildir = self.maildir
        let uids = try await withThrowingTaskGroup(of: UInt32.self) { group in
            for n in 0..<16 {
                group.addTask { try MaildirUIDList(maildir: maildir).assign("key\(n)", now: 1) }
            }
            return try await group.reduce(into: [UInt32]()) { $0.append($1) }
        }
        #expect(uids.sorted() == Array(1...16))
    }

    @Test("a line torn by a crash is cut before the next append")
    func tornLine() throws {
        try "tern-uidlist 1 V7 N3\n1 a\n2 b\n3 c".write(toFile: listPath, atomically: true, encoding: .utf8)
        let list = MaildirUIDList(maildir: maildir)
        #expect(try list.assign("d", now: 0) == 3)
        #expect(try text() == "tern-uidlist 1 V7 N3\n1 a\n2 b\n3 d\n")
    }

    @Test("rebuild keeps UIDs, numbers new messages in arrival order, drops vanished ones")
    func rebuild() throws {
        let list = MaildirUIDList(maildir: maildir)
        touch("new/100.A.mx,S=1")
        touch("cur/101.B.mx,S=1:2,S")
        _ = try list.assign("100.A.mx", now: 50)
        _ = try list.assign("101.B.mx", now: 50)
        _ = try list.assign("099.gone.mx", now: 50)
        touch("new/103.D.mx,S=1")
        touch("new/102.C.mx,S=1")
        let report = try list.rebuild(now: 60)
        #expect(report == .init(messages: 4, added: 2, removed: 1, renumbered: false, uidValidity: 50))
        #expect(try text() == "tern-uidlist 1 V50 N6\n1 100.A.mx\n2 101.B.mx\n4 102.C.mx\n5 103.D.mx\n")
        #expect(try list.assign("104.E.mx", now: 70) == 6)
    }

    @Test("a damaged or missing list is made anew with a new UIDVALIDITY", arguments: [
        "garbage\n", "tern-uidlist 1 V0 N1\n", "tern-uidlist 1 V5 N9\n2 a\n1 b\n", "tern-uidlist 1 V5 N9\n1 a\n2 a\n",
        "tern-uidlist 2 V5 N1\n", "",
    ])
    func damaged(contents: String) throws {
        if !contents.isEmpty { try contents.write(toFile: listPath, atomically: true, encoding: .utf8) }
        touch("new/200.X.mx,S=1")
        let list = MaildirUIDList(maildir: maildir)
        let report = try list.rebuild(now: 4242)
        #expect(report.renumbered)
        #expect(report.uidValidity == 4242)
        #expect(try text() == "tern-uidlist 1 V4242 N2\n1 200.X.mx\n")
    }

    /// RFC 9051 §2.3.1.1: UIDs are 32-bit and never reused, so a list that reaches the last one
    /// refuses to number more, and rebuild starts over with a new UIDVALIDITY; never a wrap to 0.
    @Test("UIDs that would pass 2^32 - 1 are refused, and rebuild starts over with a new UIDVALIDITY")
    func exhausted() throws {
        try "tern-uidlist 1 V5000 N4294967293\n4294967290 old\n".write(toFile: listPath, atomically: true, encoding: .utf8)
        let list = MaildirUIDList(maildir: maildir)
        #expect(try list.assign("a", now: 0) == 4_294_967_293)
        #expect(try list.assign("b", now: 0) == 4_294_967_294)
        #expect(throws: StoreError.self) { try list.assign("c", now: 0) }
        #expect(try list.assign("a", now: 0) == 4_294_967_293)  // known keys keep their UIDs
        touch("new/1.a.mx,S=1")
        let report = try list.rebuild(now: 4000)
        #expect(report.renumbered)
        #expect(report.uidValidity == 5001)  // later than the old one, though the clock says earlier
        #expect(try text() == "tern-uidlist 1 V5001 N2\n1 1.a.mx\n")
    }

    @Test("a list holding the largest UID is damaged: it is made anew")
    func largestUID() throws {
        try "tern-uidlist 1 V5000 N1\n4294967295 x\n".write(toFile: listPath, atomically: true, encoding: .utf8)
        let list = MaildirUIDList(maildir: maildir)
        #expect(throws: StoreError.self) { try list.entries() }
        touch("new/1.x.mx,S=1")
        #expect(try list.rebuild(now: 6000).renumbered)
        #expect(try list.assign("1.x.mx", now: 0) == 1)
    }

    @Test("a file whose name has a space is left out, and the list stays readable")
    func spacedName() throws {
        touch("new/1.a.mx,S=1")
        touch("cur/2 b.mx:2,S")
        let list = MaildirUIDList(maildir: maildir)
        #expect(try list.rebuild(now: 1).messages == 1)
        #expect(throws: StoreError.self) { try list.assign("2 b.mx", now: 0) }
        #expect(try list.entries().entries.map(\.key) == ["1.a.mx"])
    }

    @Test("parsing random bytes never crashes, and what parses has ascending UIDs")
    func fuzz() {
        var generator = SeededGenerator(seed: 0x7E57)
        let alphabet = Array("tern-uidlist 1 V5 N9\n0123456789 ab\n".utf8)
        for _ in 0..<5000 {
            let length = Int.random(in: 0..<80, using: &generator)
            let bytes = (0..<length).map { _ in
                Bool.random(using: &generator)
                    ? alphabet[Int.random(in: 0..<alphabet.count, using: &generator)]
                    : UInt8.random(in: 0...255, using: &generator)
            }
            let prefixed = Array("tern-uidlist 1 V5 N9\n".utf8) + bytes
            for input in [bytes, prefixed] {
                guard let contents = MaildirUIDList.parse(input[...]) else { continue }
                var uids: [UInt32] = []
                contents.uids.forEach { _, uid in uids.append(uid) }
                #expect(uids == uids.sorted() && Set(uids).count == uids.count)
                #expect(contents.nextUID > (uids.last ?? 0))
            }
        }
    }
}

@Suite("MaildirKeyTable")
struct MaildirKeyTableTests {
    @Test("agrees with a dictionary over random keys, duplicates refused, entries in insertion order")
    func model() {
        var generator = SeededGenerator(seed: 0x4B45)
        var table = MaildirKeyTable()
        var model: [String: UInt32] = [:]
        var order: [String] = []
        for uid in UInt32(1)...20_000 {
            // Short keys collide often, so duplicates and probe chains both happen.
            let key = String((0..<Int.random(in: 1...6, using: &generator)).map { _ in "abc.,:MP0".randomElement(using: &generator)! })
            let fresh = model[key] == nil
            let inserted = table.insert(key, uid: uid)
            #expect((inserted != nil) == fresh)
            if let inserted {
                // The table's storage holds the key where it says.
                #expect(table.storage[inserted].elementsEqual(key.utf8))
                #expect(table.find(key.utf8)?.key == inserted)
                model[key] = uid
                order.append(key)
            }
        }
        #expect(table.count == model.count)
        for (key, uid) in model { #expect(table.uid(of: key) == uid) }
        #expect(table.uid(of: "not.there") == nil)
        var seen: [String] = []
        table.forEach { key, uid in
            seen.append(key)
            #expect(model[key] == uid)
        }
        #expect(seen == order)
    }

    @Test("a key no file name can start with is refused; NAME_MAX octets are not")
    func bounds() {
        var table = MaildirKeyTable()
        let inserted = [
            table.insert("", uid: 1) != nil, table.insert(String(repeating: "k", count: 256), uid: 1) != nil,
            table.insert(String(repeating: "k", count: 255), uid: 1) != nil,
        ]
        #expect(inserted == [false, false, true])
        #expect(table.uid(of: String(repeating: "k", count: 255)) == 1)
        #expect(table.uid(of: Array("k".utf8)[...]) == nil)
        #expect(table.count == 1)
    }

    @Test("sized once from the file: no growth while it is read")
    func reserved() {
        var table = MaildirKeyTable()
        table.reserveCapacity(adding: 3, keyOctets: 6)
        let inserted = ["ab", "cd", "ef"].enumerated().map { table.insert($1, uid: UInt32($0 + 1)) != nil }
        #expect(inserted == [true, true, true])
        #expect(table.uid(of: "cd") == 2)
    }

    @Test("keys past a chunk's end start the next chunk; a copy of the storage keeps reading its keys")
    func chunks() throws {
        var table = MaildirKeyTable()
        var refs: [(String, MaildirKeyTable.Ref)] = []
        // Records of 255-octet keys take 260 octets: 252 fill a 64 KiB chunk, 600 take three.
        for number in 0..<600 {
            let key = String(format: "%05d", number) + String(repeating: "k", count: 250)
            let ref = table.insert(key, uid: UInt32(number + 1))
            refs.append((key, try #require(ref)))
        }
        let copy = table.storage
        for number in 600..<700 { table.insert(String(format: "%05d", number), uid: UInt32(number + 1)) }
        #expect(Set(refs.map { $0.1.offset >> 16 }) == [0, 1, 2])
        for (key, ref) in refs {
            #expect(copy[ref].elementsEqual(key.utf8) && table.storage[ref].elementsEqual(key.utf8))
        }
        #expect(table.uid(of: "00650") == 651 && table.uid(of: refs[599].0) == 600)
    }
}

/// Counts the batches a `GroupCommit` ran and the requests in them.
final class BatchCounter: Sendable {
    private let state = NIOLockedValueBox((batches: 0, requests: 0))
    func add(_ requests: Int) { state.withLockedValue { $0 = ($0.batches + 1, $0.requests + requests) } }
    var count: Int { state.withLockedValue { $0.batches } }
    var requests: Int { state.withLockedValue { $0.requests } }
}

@Suite("MessageFileReader")
struct MessageFileReaderTests {
    @Test("chunks from the prefetched head and from the file join up to the whole file", arguments: [0, 10, 65_536, 200_000])
    func reads(size: Int) async throws {
        let path = NSTemporaryDirectory() + "tern-reader-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let reader = try await MessageFileReader.open(path: path, pool: pool, prefetch: 4096)
        #expect(reader.size == size)
        var collected: [UInt8] = []
        while true {
            let chunk = try await reader.read(at: collected.count, count: 3000, on: loop).get()
            if chunk.readableBytes == 0 { break }
            collected += chunk.readableBytesView
        }
        #expect(collected == bytes)
        try await pool.shutdownGracefully()
    }
}
