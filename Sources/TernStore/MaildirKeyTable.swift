/// The UID list's keys and their UIDs, in memory for as long as the mailbox is open.
///
/// A `[String: UInt32]` costs a heap string per key and a hash table sized for Swift's load
/// factor, about 130 octets per message in all; a mailbox of 100,000 messages kept 13 MB for
/// it. Here each key is a record in chunks of 64 KiB (`Storage`: the UID, the key's length,
/// the key; a key is a file name's start, at most `NAME_MAX` = 255 octets), in the order they
/// were added, and an open-addressing index of 32-bit record offsets finds a key: about 40
/// octets per message for Tern's keys.
///
/// The mailbox's listing reads its file names' keys from the same `Storage` (`Ref`), so a key
/// is held once. Keys are only added: a key leaves the list only when `MaildirUIDList.rebuild`
/// writes the list anew, which makes a new table. The index hashes with Swift's `Hasher`,
/// seeded per process, so file names chosen to collide cannot make lookups quadratic.
struct MaildirKeyTable {
    /// Where a key's octets are in a `Storage`: the chunk in the high 16 bits of `offset`, the
    /// place in it in the low 16.
    struct Ref: Sendable, Hashable {
        var offset: UInt32
        var length: UInt8
    }

    /// Records end to end in chunks that are only appended to. A copy of this value (a
    /// listing's) costs a reference per chunk, and the table appending after it copies at most
    /// the last chunk: a growing array of octets would be copied whole, and a doubling one
    /// would leave up to half of its capacity unused.
    struct Storage: Sendable {
        static let chunkSize = 1 << 16
        /// A record: the UID (4 octets, little-endian), the key's length (1), the key.
        static let headerSize = 5
        private var chunks: [[UInt8]] = []

        subscript(ref: Ref) -> ArraySlice<UInt8> {
            let start = Int(ref.offset & 0xFFFF)
            return chunks[Int(ref.offset >> 16)][start..<start + Int(ref.length)]
        }

        /// The record at `offset` (its first octet): the UID and where its key is.
        func record(at offset: UInt32) -> (uid: UInt32, key: Ref) {
            let chunk = chunks[Int(offset >> 16)]
            let start = Int(offset & 0xFFFF)
            let uid = (0..<4).reduce(UInt32(0)) { $0 | UInt32(chunk[start + $1]) << (8 * $1) }
            return (uid, Ref(offset: offset + UInt32(Self.headerSize), length: chunk[start + 4]))
        }

        /// Appends the record of `key` (1 to 255 octets) and `uid` and says where it starts;
        /// nil once 65,536 chunks (4 GiB) are full.
        mutating func append(_ key: some Collection<UInt8>, uid: UInt32) -> UInt32? {
            let length = key.count
            guard (1...MaildirKeyTable.longestKey).contains(length) else { return nil }
            if chunks.isEmpty || chunks[chunks.count - 1].count + Self.headerSize + length > Self.chunkSize {
                guard chunks.count < 1 << 16 else { return nil }
                var chunk: [UInt8] = []
                chunk.reserveCapacity(Self.chunkSize)
                chunks.append(chunk)
            }
            let last = chunks.count - 1
            let start = chunks[last].count
            // Octet by octet: an array literal here would be a heap allocation per record.
            for shift in stride(from: 0, to: 32, by: 8) { chunks[last].append(UInt8(truncatingIfNeeded: uid >> shift)) }
            chunks[last].append(UInt8(length))
            chunks[last].appendOctets(key)
            return UInt32(last) << 16 | UInt32(start)
        }

        /// Every record's offset, in the order they were appended.
        func forEachRecord(_ body: (UInt32) throws -> Void) rethrows {
            for (number, chunk) in chunks.enumerated() {
                var start = 0
                while start < chunk.count {
                    try body(UInt32(number) << 16 | UInt32(start))
                    start += Self.headerSize + Int(chunk[start + 4])
                }
            }
        }

        mutating func reserveChunks(forOctets octets: Int) {
            chunks.reserveCapacity(chunks.count + octets / Self.chunkSize + 1)
        }
    }

    /// The longest key: a file name's longest (`NAME_MAX` on Linux).
    static let longestKey = 255

    private(set) var storage = Storage()
    private(set) var count = 0
    /// A record's offset per slot, `empty` for none; a power of two, at most half full.
    private var slots: [UInt32] = []
    /// No record starts there: a record needs more than the one octet left before a chunk's end.
    private static let empty = UInt32.max

    var isEmpty: Bool { count == 0 }

    /// The UID of `key` and where the table holds it, nil when it has none.
    func find(_ key: some Collection<UInt8>) -> (uid: UInt32, key: Ref)? {
        guard !slots.isEmpty else { return nil }
        let mask = slots.count - 1
        var slot = Self.hash(key) & mask
        while slots[slot] != Self.empty {
            let record = storage.record(at: slots[slot])
            if storage[record.key].elementsEqual(key) { return record }
            slot = (slot + 1) & mask
        }
        return nil
    }

    /// The UID of `key`, nil when it has none.
    func uid(of key: some Collection<UInt8>) -> UInt32? { find(key)?.uid }

    func uid(of key: String) -> UInt32? { uid(of: key.utf8) }

    /// Adds `key` with `uid` and says where it is held. Nil when the key is already there, is
    /// empty or longer than `longestKey`, or the table would pass 4 GiB of keys (the list must
    /// then be rebuilt).
    @discardableResult
    mutating func insert(_ key: some Collection<UInt8>, uid: UInt32) -> Ref? {
        guard let entry = findOrInsert(key, uid: uid), entry.inserted else { return nil }
        return entry.key
    }

    /// The UID of `key` and where it is held, adding it with `uid` when the table has no such
    /// key (`inserted`): one probe of the index for both. Nil when the key is empty or longer
    /// than `longestKey`, or the table would pass 4 GiB of keys.
    mutating func findOrInsert(_ key: some Collection<UInt8>, uid: UInt32) -> (uid: UInt32, key: Ref, inserted: Bool)? {
        guard (1...Self.longestKey).contains(key.count), count < Int(UInt32.max) / 2 else { return nil }
        if slots.isEmpty || (count + 1) * 2 > slots.count { grow(to: (count + 1) * 2) }
        let mask = slots.count - 1
        var slot = Self.hash(key) & mask
        while slots[slot] != Self.empty {
            let record = storage.record(at: slots[slot])
            if storage[record.key].elementsEqual(key) { return (record.uid, record.key, false) }
            slot = (slot + 1) & mask
        }
        guard let offset = storage.append(key, uid: uid) else { return nil }
        slots[slot] = offset
        count += 1
        return (uid, storage.record(at: offset).key, true)
    }

    @discardableResult
    mutating func insert(_ key: String, uid: UInt32) -> Ref? { insert(key.utf8, uid: uid) }

    /// Room for `count` more keys of `keyOctets` octets in all, so that a batch of known size
    /// (a list read at open, a mailbox numbered for the first time) is indexed without growing
    /// the index step by step.
    mutating func reserveCapacity(adding count: Int, keyOctets: Int) {
        let total = self.count + count
        storage.reserveChunks(forOctets: keyOctets + count * Storage.headerSize)
        if total * 2 > slots.count { grow(to: total * 2) }
    }

    /// Every key and its UID, in the order they were added.
    func forEach(_ body: (String, UInt32) throws -> Void) rethrows {
        try storage.forEachRecord { offset in
            let record = storage.record(at: offset)
            try body(String(decoding: storage[record.key], as: UTF8.self), record.uid)
        }
    }

    // MARK: The index

    private static func hash(_ key: some Collection<UInt8>) -> Int {
        var hasher = Hasher()
        if key.withContiguousStorageIfAvailable({ hasher.combine(bytes: UnsafeRawBufferPointer($0)) }) == nil {
            Array(key).withUnsafeBytes { hasher.combine(bytes: $0) }
        }
        return hasher.finalize()
    }

    /// Makes the index at least `wanted` slots (a power of two) and files every record again.
    private mutating func grow(to wanted: Int) {
        var size = max(16, slots.count)
        while size < wanted { size *= 2 }
        guard size != slots.count else { return }
        var fresh = [UInt32](repeating: Self.empty, count: size)
        let mask = size - 1
        storage.forEachRecord { offset in
            var slot = Self.hash(storage[storage.record(at: offset).key]) & mask
            while fresh[slot] != Self.empty { slot = (slot + 1) & mask }
            fresh[slot] = offset
        }
        slots = fresh
    }
}
