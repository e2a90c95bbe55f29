import TernSystem
import Foundation
import NIOPosix
import TernMail
import TernStore

/// The files Tern reads back from its data directory: after a crash, a disk error or a hand
/// edit they may hold anything, and a file that traps the reader would stop every restart
/// (hostile-inputs 46). Each target writes the input to a fresh directory and runs the real
/// reader on it, as at start.
enum StoreTargets {
    /// A queue record (`spool/queue/<id>.json`) through `Spool.contents(in:)`: JSON decoding,
    /// the range checks of `SpoolRecord.problem` and the typed `QueuedMessage` it becomes (stored
    /// replies, NOTIFY, ORCPT, BODY, RET); a message that passes is written back and read
    /// again, and must come back the same.
    static let spool = FuzzTarget(
        name: "spool",
        summary: "Spool.contents(in:) reading queue/<id>.json (SpoolRecord JSON, range checks, typed message)",
        maximumLength: 8 * 1024
    ) { bytes in
        withScratchDirectory { root in
            try FileManager.default.createDirectory(atPath: "\(root)/queue", withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: "\(root)/queue/\(seedQueueID).json"))
            let contents = try Spool.contents(in: root)
            for message in contents.messages {
                _ = message.isComplete
                for delivery in message.deliveries {
                    _ = message.envelopeRecipient(of: delivery)
                    _ = delivery.lastReply?.storedLine
                }
                try Data(Spool.recordJSON(message).utf8).write(to: URL(fileURLWithPath: "\(root)/queue/\(seedQueueID).json"))
                let again = try Spool.contents(in: root).messages
                fuzzCheck(again == [message], "a queue record changed when written back: \(message)")
            }
        }
    }

    /// A journal segment (`journal/0000000000000001.journal`) through
    /// `MessageJournal.unretired()`: segment header, records, sequence numbers, checkpoints.
    ///
    /// Input: `mode`, then the segment's octets. Records carry CRC-32C checksums a fuzzer cannot
    /// guess, so with mode bit 0 set the target first writes the segment header's magic,
    /// version, number and checksum and every record's magic, padding and checksum, keeping
    /// the lengths (cut to what is there), sequence numbers, kinds and payloads of the input:
    /// the reader then gets past the checksums to the numbers behind them.
    static let journal = FuzzTarget(
        name: "journal",
        summary: "MessageJournal.unretired() reading a segment (with checksums repaired, or raw)",
        maximumLength: 4096
    ) { bytes in
        var input = FuzzInput(bytes)
        let mode = input.byte()
        var segment = Array(input.rest)
        if mode & 1 != 0 { JournalFormat.repair(&segment, number: 1) }
        withScratchDirectory { root in
            try Data(segment).write(to: URL(fileURLWithPath: "\(root)/0000000000000001.journal"))
            let journal = try MessageJournal(directory: root, pool: NIOThreadPool.singleton)
            _ = try journal.unretired()
        }
    }

    /// A Maildir's UID list (`tern-uidlist`) through `MaildirUIDList`: reading it, assigning
    /// the UID of a new message (an append after the last valid line) and a rebuild against
    /// the messages in `new/` and `cur/`.
    static let uidList = FuzzTarget(
        name: "uidlist",
        summary: "MaildirUIDList reading tern-uidlist, then assign and rebuild",
        maximumLength: 4096
    ) { bytes in
        withScratchDirectory { maildir in
            for folder in ["new", "cur", "tmp"] {
                try FileManager.default.createDirectory(atPath: "\(maildir)/\(folder)", withIntermediateDirectories: true)
            }
            _ = FileManager.default.createFile(atPath: "\(maildir)/new/1795383379.\(seedQueueID).mx,S=10", contents: nil)
            _ = FileManager.default.createFile(atPath: "\(maildir)/cur/1795383380.K0WH2982MWBWQ4QN.mx,S=12:2,S", contents: nil)
            try Data(bytes).write(to: URL(fileURLWithPath: "\(maildir)/\(MaildirUIDList.fileName)"))
            let list = MaildirUIDList(maildir: maildir)
            _ = try? list.entries()
            _ = try? list.assign(["1795383381.K0WH2982MWBWQ4QP.mx", "1795383379.\(seedQueueID).mx"], now: 1_795_383_381)
            _ = try? list.rebuild(now: 1_795_383_382)
            _ = try? list.entries()
        }
    }

    /// `tern-modseq` as a crash or another program may have left it (`MaildirModseqs`): what
    /// parses is bounded (no MODSEQ above HIGHESTMODSEQ or 2^63 - 1), the next MODSEQ is above
    /// all of them, and the file written anew from the entries reads back as the same entries.
    static let maildirModseq = FuzzTarget(
        name: "maildir-modseq",
        summary: "MaildirModseqs reading tern-modseq, giving the next MODSEQ, compacting",
        maximumLength: 8192
    ) { bytes in
        var (entries, state) = MaildirModseqs.parse(Array(bytes))
        let highest = state.highest
        fuzzCheck(highest <= MaildirModseqs.largest, "HIGHESTMODSEQ \(highest) past 2^63 - 1")
        fuzzCheck(entries.values.allSatisfy { $0.modseq <= highest }, "an entry above HIGHESTMODSEQ")
        let next = state.next(clock: .fixed(seconds: 0))
        fuzzCheck(next > highest || highest == MaildirModseqs.largest, "next MODSEQ \(next) not above \(highest)")
        if let uid = entries.keys.first { entries[uid]?.modseq = next }
        state.record(uid: 1, modseq: next, signature: 0)
        // Records far past the entries (an 8 KB input holds under 1,400): the file is compacted.
        for _ in 0..<5000 { state.record(uid: 1, modseq: next, signature: 0) }
        guard case .rewrite(let text) = state.takeFlush(count: entries.count, current: { entries }) else {
            fuzzCheck(false, "5,001 records over \(entries.count) entries did not compact")
            return
        }
        let (reread, _) = MaildirModseqs.parse(text)
        fuzzCheck(reread == entries, "a compacted file does not read back as its entries")
    }

    /// Maildir file names as another program may have left them (`MaildirFileName`): each line
    /// of the input is one name. Every part parses into a bounded value or nothing; setting
    /// flags gives a name with exactly those system flags, the same base and every other letter
    /// kept.
    static let maildirName = FuzzTarget(
        name: "maildir-name",
        summary: "MaildirFileName: base, ,S= size, arrival, :2, flags, and setting flags",
        maximumLength: 1024
    ) { bytes in
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let name = MaildirFileName(String(decoding: line, as: UTF8.self))
            _ = (name.statedSize, name.arrival, name.withoutInfo)
            // The one-pass reading a listing uses says what the separate readings say.
            let facts = name.facts
            fuzzCheck(facts.flags == name.flags, "facts' flags \(facts.flags) differ for \(name.name)")
            fuzzCheck(facts.keywordLetters == name.keywordLetters, "facts' keywords differ for \(name.name)")
            if let size = facts.statedSize {
                fuzzCheck(size >= 0 && name.name.utf8.split(separator: UInt8(ascii: ":"), maxSplits: 1, omittingEmptySubsequences: false)[0]
                    .split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).dropFirst()
                    .first(where: { $0.starts(with: "S=".utf8) }).map { field in
                        let digits = field.dropFirst(2)
                        return digits.allSatisfy { (0x30...0x39).contains($0) } && Int(String(decoding: digits, as: UTF8.self)) == size
                    } ?? false,
                    "size \(size) is not the first S= field of \(name.name)")
            }
            let others = name.otherLetters
            for bits: UInt8 in [0, 1, 0b10101, 0b11111, (line.first ?? 0) & 0b11111] {
                let wanted = MessageFlags(rawValue: bits)
                let renamed = MaildirFileName(name.settingFlags(wanted))
                fuzzCheck(renamed.flags == wanted, "flags \(wanted) set on \(name.name) gave \(renamed.name)")
                fuzzCheck(renamed.key == name.key, "setting flags changed the base of \(name.name)")
                fuzzCheck(renamed.otherLetters == others, "setting flags lost a letter of \(name.name)")
            }
        }
    }

    /// Maildir++ folder names as another program may have made them (`MaildirFolderName`), each
    /// line of the input one name: a folder Tern would have made decodes to the one name that
    /// encodes to it, any other decodes to nothing; any name encodes to a folder within the
    /// length limit, made of kept octets and `%XX`, that decodes back to it.
    static let maildirFolder = FuzzTarget(
        name: "maildir-folder",
        summary: "MaildirFolderName and MaildirFolders: inbox and IMAP folder names, decoded and encoded",
        maximumLength: 1024
    ) { bytes in
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let text = String(decoding: line, as: UTF8.self)
            if let name = MaildirFolderName.name(ofFolder: text) {
                fuzzCheck(MaildirFolderName.folder(of: name) == text, "folder \(text) is not the folder of its name \(name)")
            }
            if let folder = MaildirFolderName.folder(of: text) {
                fuzzCheck(folder.utf8.count <= MaildirFolderName.maximumLength, "folder of \(text) is too long")
                fuzzCheck(!folder.contains(".") && !folder.contains("/"), "folder of \(text) can make a path: \(folder)")
                fuzzCheck(MaildirFolderName.name(ofFolder: folder) == text, "folder \(folder) does not decode to \(text)")
            }
            // An IMAP folder name (levels split at "/") and its Maildir++ directory `.a.b`.
            if let directory = MaildirFolders.directory(of: text) {
                fuzzCheck(directory.hasPrefix(".") && !directory.contains("/"), "directory of \(text) can make a path: \(directory)")
                fuzzCheck(MaildirFolders.name(ofDirectory: directory) == text, "directory \(directory) does not name \(text)")
            }
            if let name = MaildirFolders.name(ofDirectory: text) {
                fuzzCheck(MaildirFolders.directory(of: name) == text, "\(text) is not the directory of its name \(name)")
            }
        }
    }

    /// A Maildir's `tern-cache` (`MaildirMessageCache`) as a crash, a full disk or another
    /// program may have left it: whatever it holds, a lookup returns only intact records of the
    /// UIDs asked, a record kept now reads back (in this process and the next), and a forgotten
    /// one is not returned. Input: `mode`, then the file. Records carry CRC-32C checksums a
    /// fuzzer cannot guess: with mode bit 0 set, the target writes a valid header line and
    /// repairs each record's checksum (lengths cut to what is there), so the lookups get past them.
    static let maildirCache = FuzzTarget(
        name: "maildir-cache",
        summary: "MaildirMessageCache reading tern-cache (checksums repaired, or raw), then keep, forget, reload",
        maximumLength: 8192
    ) { bytes in
        var input = FuzzInput(bytes)
        let mode = input.byte()
        var file = Array(input.rest)
        if mode & 1 != 0 { file = MessageCacheFormat.repaired(file, uidValidity: 5) }
        withScratchDirectory { root in
            try Data(file).write(to: URL(fileURLWithPath: "\(root)/\(MaildirMessageCache.fileName)"))
            let cache = MaildirMessageCache(root: root)
            let asked = Array(UInt32(0)...64) + [.max]
            let found = cache.records(of: asked, uidValidity: 5)
            fuzzCheck(Set(found.keys).isSubset(of: Set(asked)), "records of UIDs not asked: \(found.keys.sorted())")
            cache.keep([3: [1, 2, 3], 70: []], uidValidity: 5)
            fuzzCheck(cache.records(of: [3, 70], uidValidity: 5) == [3: [1, 2, 3], 70: []], "a record just kept does not read back")
            let reloaded = MaildirMessageCache(root: root).records(of: [3, 70], uidValidity: 5)
            fuzzCheck(reloaded == [3: [1, 2, 3], 70: []], "a record kept does not read back after a restart: \(reloaded)")
            cache.forget([3])
            fuzzCheck(cache.records(of: [3], uidValidity: 5).isEmpty, "a forgotten record is returned")
        }
    }

    /// The queue ID of the seed records: a record must carry its file's ID to be read.
    static let seedQueueID = "K0WH2982MWBWQ4QM"

    /// Runs `body` in a new empty directory (in /dev/shm where there is one, so the fsyncs of
    /// the writers cost nothing) and removes it afterwards. I/O errors are outcomes, not crashes.
    private static func withScratchDirectory(_ body: (String) throws -> Void) {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        var template = Array("\(base)/tern-fuzz-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            fatalError("fuzz harness: cannot make a directory in \(base)")
        }
        let directory = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try? body(directory)
    }
}

/// The journal's on-disk format, as `MessageJournal` documents it, for repairing checksums.
enum JournalFormat {
    static let segmentMagic: UInt32 = 0x3153_4A54  // "TJS1"
    static let recordMagic: UInt32 = 0x3152_4A54  // "TJR1"
    static let segmentHeaderSize = 24 + 4 + 4  // magic, version, number, first sequence, CRC, padding
    static let recordHeaderSize = 24  // magic, length, sequence, kind, 3 zero octets, CRC

    /// Makes the checksums, magics and fixed fields of `bytes` valid for segment `number`,
    /// keeping every other octet.
    static func repair(_ bytes: inout [UInt8], number: UInt64) {
        guard bytes.count >= segmentHeaderSize else { return }
        store(segmentMagic, at: 0, in: &bytes)
        store(UInt32(1), at: 4, in: &bytes)
        store(number, at: 8, in: &bytes)
        store(crc(bytes, 4..<24), at: 24, in: &bytes)
        var position = segmentHeaderSize
        while bytes.count - position >= recordHeaderSize {
            store(recordMagic, at: position, in: &bytes)
            let declared = Int(load(UInt32.self, at: position + 4, in: bytes))
            let length = min(declared, bytes.count - position - recordHeaderSize)
            store(UInt32(length), at: position + 4, in: &bytes)
            bytes[position + 17] = 0
            bytes[position + 18] = 0
            bytes[position + 19] = 0
            let header = crc(bytes, position + 4..<position + 20)
            let payloadStart = position + recordHeaderSize
            let checksum = bytes.withUnsafeBytes { raw in
                tern_crc32c(header, raw.baseAddress! + payloadStart, length)
            }
            store(checksum, at: position + 20, in: &bytes)
            position = payloadStart + length
        }
    }

    private static func crc(_ bytes: [UInt8], _ range: Range<Int>) -> UInt32 {
        bytes.withUnsafeBytes { tern_crc32c(0, $0.baseAddress! + range.lowerBound, range.count) }
    }

    private static func store<T: FixedWidthInteger>(_ value: T, at offset: Int, in bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { octets in
            for (index, octet) in octets.enumerated() { bytes[offset + index] = octet }
        }
    }

    private static func load<T: FixedWidthInteger>(_: T.Type, at offset: Int, in bytes: [UInt8]) -> T {
        var value: T = 0
        for index in (0..<MemoryLayout<T>.size).reversed() {
            value = value << 8 | T(bytes[offset + index])
        }
        return value
    }
}

/// `tern-cache`'s format, as `MaildirMessageCache` documents it, for repairing checksums.
enum MessageCacheFormat {
    /// `octets` as records (uid, length, checksum, payload) under a valid header, each length
    /// cut to the octets left and each checksum made right.
    static func repaired(_ octets: [UInt8], uidValidity: UInt32) -> [UInt8] {
        var out = Array("tern-cache 1 \(uidValidity)\n".utf8)
        var rest = octets[...]
        while rest.count >= 12 {
            let header = Array(rest.prefix(12))
            rest = rest.dropFirst(12)
            let stated = Int(header[4]) | Int(header[5]) << 8 | Int(header[6]) << 16 | Int(header[7]) << 24
            let payload = Array(rest.prefix(stated))
            rest = rest.dropFirst(payload.count)
            let crc = payload.withUnsafeBytes { tern_crc32c(0, $0.baseAddress, $0.count) }
            out += header[0..<4]
            for value in [UInt32(payload.count), crc] { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
            out += payload
        }
        return out + rest
    }
}
