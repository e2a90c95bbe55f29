import NIOConcurrencyHelpers
import TernMail
import TernSystem

/// What readers derived from one Maildir's messages and asked to keep (IMAP keeps each
/// message's ENVELOPE, BODYSTRUCTURE and header length), in `tern-cache` beside the UID list, so
/// that a client's list view is answered without reading and parsing every message again.
/// Cyrus's `cyrus.cache` and Dovecot's `dovecot.index.cache` keep the same.
///
/// A cache, never the truth: nothing in it is synced, `tern repair` removes it, and a record
/// that fails its checksum, names another UID or belongs to another UIDVALIDITY is a miss. The
/// store does not interpret the records; their owner (the IMAP role) does.
///
/// Format: the line `tern-cache 1 <uidvalidity>`, then records appended as readers make them,
/// the last for a UID winning:
///
///     uid (UInt32, little-endian) · length (UInt32) · CRC-32C of the payload (UInt32) · payload
///
/// A torn record at the end (a crash mid-append) is cut off when the file is next loaded. When
/// the records of expunged or replaced messages outweigh the live ones, the file is written anew.
///
/// The methods block: call them on a thread pool.
package final class MaildirMessageCache: Sendable {
    package static let fileName = "tern-cache"
    static let recordHeaderSize = 12
    /// A record larger than this is not kept (the structure of a message of ten thousand parts
    /// is cheaper to parse again than to keep).
    static let largestPayload = 256 * 1024

    private let path: String
    private let state = NIOLockedValueBox(State())

    private struct State {
        /// What the file holds, once it has been read: the UIDVALIDITY it is for, and where each
        /// UID's last record is.
        var loaded: Loaded?
    }

    private struct Loaded {
        var uidValidity: UInt32
        var records: [UInt32: Location]
        /// Octets of the file, and of it those in records no UID points to any more.
        var fileSize: Int
        var deadSize: Int
    }

    package struct Location: Sendable, Hashable {
        package var offset: Int
        package var length: Int
    }

    package init(root: String) {
        path = "\(root)/\(Self.fileName)"
    }

    /// The payloads kept for `uids` (those found, intact).
    package func records(of uids: [UInt32], uidValidity: UInt32) -> [UInt32: [UInt8]] {
        state.withLockedValue { state in
            let loaded = load(&state, uidValidity: uidValidity)
            let wanted = uids.compactMap { uid in loaded.records[uid].map { (uid, $0) } }
            guard !wanted.isEmpty else { return [:] }
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                state.loaded = nil
                return [:]
            }
            defer { POSIXFile.close(fd) }
            var found: [UInt32: [UInt8]] = [:]
            found.reserveCapacity(wanted.count)
            for (uid, location) in wanted.sorted(by: { $0.1.offset < $1.1.offset }) {
                let total = Self.recordHeaderSize + location.length
                var bytes = [UInt8](repeating: 0, count: total)
                let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, total, off_t(location.offset)) }
                if count == total, let payload = Self.payload(of: bytes[...], uid: uid) {
                    found[uid] = payload
                } else {
                    // Changed under us (removed by `tern repair`, say): a miss, and forgotten.
                    state.loaded?.records[uid] = nil
                }
            }
            return found
        }
    }

    /// Keeps `payloads` for their UIDs, replacing what was kept for them. Best effort: a cache
    /// that cannot be written is only slower.
    package func keep(_ payloads: [UInt32: [UInt8]], uidValidity: UInt32) {
        let payloads = payloads.filter { $0.value.count <= Self.largestPayload }
        guard !payloads.isEmpty else { return }
        state.withLockedValue { state in
            var loaded = load(&state, uidValidity: uidValidity)
            let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return }
            defer { POSIXFile.close(fd) }
            let end = Int(lseek(fd, 0, SEEK_END))
            guard end >= 0 else { return }
            var octets: [UInt8] = []
            var offset = end
            if end == 0 {
                // A new file (or one `tern repair` removed): nothing we knew of it holds.
                octets = Self.header(uidValidity: uidValidity)
                offset = octets.count
                loaded = Loaded(uidValidity: uidValidity, records: [:], fileSize: 0, deadSize: 0)
            }
            var written: [UInt32: Location] = [:]
            for (uid, payload) in payloads.sorted(by: { $0.key < $1.key }) {
                Self.appendRecord(uid: uid, payload: payload, to: &octets)
                written[uid] = Location(offset: offset, length: payload.count)
                offset += Self.recordHeaderSize + payload.count
            }
            do {
                try octets.withUnsafeBytes { try POSIXFile.writeAll(fd, $0, at: end) }
            } catch {
                state.loaded = nil
                return
            }
            for (uid, location) in written {
                if let replaced = loaded.records.updateValue(location, forKey: uid) {
                    loaded.deadSize += Self.recordHeaderSize + replaced.length
                }
            }
            loaded.fileSize = offset
            state.loaded = loaded
            compactIfWasteful(&state)
        }
    }

    /// Forgets the records of expunged messages (their octets stay until the next compaction).
    package func forget(_ uids: [UInt32]) {
        state.withLockedValue { state in
            guard var loaded = state.loaded else { return }
            for uid in uids {
                if let gone = loaded.records.removeValue(forKey: uid) { loaded.deadSize += Self.recordHeaderSize + gone.length }
            }
            state.loaded = loaded
        }
    }

    /// Removes the cache of the Maildir at `root` (`tern repair`: it is rebuilt as it is read).
    static func remove(root: String) {
        POSIXFile.remove("\(root)/\(fileName)")
    }

    // MARK: The file

    /// What the file holds for `uidValidity`: read once, then kept; a file for another
    /// UIDVALIDITY (the UID list started over) is removed.
    private func load(_ state: inout State, uidValidity: UInt32) -> Loaded {
        if let loaded = state.loaded, loaded.uidValidity == uidValidity { return loaded }
        let fresh = Loaded(uidValidity: uidValidity, records: [:], fileSize: 0, deadSize: 0)
        guard let octets = try? POSIXFile.readAll(path), !octets.isEmpty else {
            state.loaded = fresh
            return fresh
        }
        guard let scan = Self.scan(octets), scan.uidValidity == uidValidity else {
            POSIXFile.remove(path)
            state.loaded = fresh
            return fresh
        }
        if scan.validLength < octets.count {
            // A torn last record: cut off, so that the next append starts on a boundary.
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            if fd >= 0 {
                if ftruncate(fd, off_t(scan.validLength)) != 0 { POSIXFile.remove(path) }
                POSIXFile.close(fd)
            }
        }
        let live = scan.records.values.reduce(0) { $0 + Self.recordHeaderSize + $1.length }
        let header = Self.header(uidValidity: uidValidity).count
        let loaded = Loaded(
            uidValidity: uidValidity, records: scan.records, fileSize: scan.validLength,
            deadSize: scan.validLength - header - live)
        state.loaded = loaded
        return loaded
    }

    /// Writes the file anew with only the live records once the dead ones outweigh them.
    private func compactIfWasteful(_ state: inout State) {
        guard let loaded = state.loaded, loaded.deadSize > 64 * 1024, loaded.deadSize > loaded.fileSize / 2 else { return }
        guard let octets = try? POSIXFile.readAll(path) else { return }
        var text = Self.header(uidValidity: loaded.uidValidity)
        var records: [UInt32: Location] = [:]
        for (uid, location) in loaded.records.sorted(by: { $0.key < $1.key }) {
            let start = location.offset
            let end = start + Self.recordHeaderSize + location.length
            guard end <= octets.count, Self.payload(of: octets[start..<end], uid: uid) != nil else { continue }
            records[uid] = Location(offset: text.count, length: location.length)
            text += octets[start..<end]
        }
        let temporary = "\(path).\(UInt64.random(in: 0...UInt64.max)).tmp"
        do {
            let fd = try POSIXFile.create(temporary)
            defer { POSIXFile.close(fd) }
            try text.withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
            try POSIXFile.rename(temporary, path)
        } catch {
            POSIXFile.remove(temporary)
            return
        }
        state.loaded = Loaded(uidValidity: loaded.uidValidity, records: records, fileSize: text.count, deadSize: 0)
    }

    static func header(uidValidity: UInt32) -> [UInt8] {
        Array("tern-cache 1 \(uidValidity)\n".utf8)
    }

    static func appendRecord(uid: UInt32, payload: [UInt8], to octets: inout [UInt8]) {
        let length = UInt32(payload.count)
        let crc = payload.withUnsafeBytes { tern_crc32c(0, $0.baseAddress, $0.count) }
        for value in [uid, length, crc] {
            withUnsafeBytes(of: value.littleEndian) { octets.append(contentsOf: $0) }
        }
        octets += payload
    }

    /// The payload of the record that starts `octets`, if it is whole, for `uid` and intact.
    static func payload(of octets: ArraySlice<UInt8>, uid: UInt32) -> [UInt8]? {
        guard let (recordUID, length, crc) = recordHeader(octets), recordUID == uid,
            octets.count >= recordHeaderSize + length
        else { return nil }
        let payload = Array(octets.dropFirst(recordHeaderSize).prefix(length))
        guard payload.withUnsafeBytes({ tern_crc32c(0, $0.baseAddress, $0.count) }) == crc else { return nil }
        return payload
    }

    private static func recordHeader(_ octets: ArraySlice<UInt8>) -> (uid: UInt32, length: Int, crc: UInt32)? {
        guard octets.count >= recordHeaderSize else { return nil }
        func word(_ at: Int) -> UInt32 {
            let start = octets.startIndex + at
            return UInt32(octets[start]) | UInt32(octets[start + 1]) << 8 | UInt32(octets[start + 2]) << 16 | UInt32(octets[start + 3]) << 24
        }
        return (word(0), Int(word(4)), word(8))
    }

    /// What a cache file holds: its UIDVALIDITY, where each UID's last intact record is, and
    /// how many octets from the start are whole records. Nil when the header is not a cache
    /// file's. Checksums are checked here too, so a damaged record is never pointed to.
    package static func scan(_ octets: [UInt8]) -> (uidValidity: UInt32, records: [UInt32: Location], validLength: Int)? {
        guard let newline = octets.prefix(64).firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let fields = octets[..<newline].split(separator: UInt8(ascii: " "))
        guard fields.count == 3, fields[0].elementsEqual("tern-cache".utf8), fields[1].elementsEqual("1".utf8),
            let validity = ASCIIDecimal.parse(octets: fields[2], in: 1...Int64(UInt32.max))
        else { return nil }
        var records: [UInt32: Location] = [:]
        var offset = newline + 1
        while let (uid, length, _) = recordHeader(octets[offset...]),
            length <= largestPayload, octets.count - offset - recordHeaderSize >= length
        {
            let end = offset + recordHeaderSize + length
            guard payload(of: octets[offset..<end], uid: uid) != nil else { break }
            if uid > 0 { records[uid] = Location(offset: offset, length: length) }
            offset = end
        }
        return (UInt32(validity), records, offset)
    }
}
