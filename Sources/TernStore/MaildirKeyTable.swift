/// The UID list's keys and their UIDs, in memory for as long as the mailbox is open.
///
/// A `[String: UInt32]` costs a heap string per key and a hash table sized for Swift's load
/// factor, about 130 octets per message in all; a mailbox of 100,000 messages kept 13 MB for
/// it. Here the keys lie end to end in one buffer (a key is a file name's start, at most
/// `NAME_MAX` = 255 octets), each entry is its key's place and its UID (12 octets), and an
/// open-addressing index of 32-bit entry numbers finds a key: about 55 octets per message
/// for Tern's keys, two allocations in all.
///
/// Keys are only added: a key leaves the list only when `MaildirUIDList.rebuild` writes the
/// list anew, which makes a new table. The index hashes with Swift's `Hasher`, seeded per
/// process, so file names chosen to collide cannot make lookups quadratic.
struct MaildirKeyTable {
    /// A key's place in `octets` and its UID.
    private struct Entry {
        var offset: UInt32
        var uid: UInt32
        var length: UInt8
    }

    /// The longest key: a file name's longest (`NAME_MAX` on Linux).
    static let longestKey = 255

    private var octets: [UInt8] = []
    private var entries: [Entry] = []
    /// Entry number + 1 per slot, 0 for an empty one; a power of two, at most half full.
    private var slots: [UInt32] = []

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }

    /// The UID of `key`, nil when it has none.
    func uid(of key: some Collection<UInt8>) -> UInt32? {
        guard !slots.isEmpty else { return nil }
        let mask = slots.count - 1
        var slot = Self.hash(key) & mask
        while slots[slot] != 0 {
            let entry = entries[Int(slots[slot] - 1)]
            if octets[Int(entry.offset)..<Int(entry.offset) + Int(entry.length)].elementsEqual(key) { return entry.uid }
            slot = (slot + 1) & mask
        }
        return nil
    }

    func uid(of key: String) -> UInt32? { uid(of: key.utf8) }

    /// Adds `key` with `uid`. False when the key is already there, is empty or longer than
    /// `longestKey`, or the table would pass 4 GiB of keys (the list must then be rebuilt).
    @discardableResult
    mutating func insert(_ key: some Collection<UInt8>, uid: UInt32) -> Bool {
        let length = key.count
        guard (1...Self.longestKey).contains(length), octets.count <= Int(UInt32.max) - length,
            entries.count < Int(UInt32.max) - 1
        else { return false }
        if slots.isEmpty || (entries.count + 1) * 2 > slots.count { grow(to: (entries.count + 1) * 2) }
        let mask = slots.count - 1
        var slot = Self.hash(key) & mask
        while slots[slot] != 0 {
            let entry = entries[Int(slots[slot] - 1)]
            if octets[Int(entry.offset)..<Int(entry.offset) + Int(entry.length)].elementsEqual(key) { return false }
            slot = (slot + 1) & mask
        }
        entries.append(Entry(offset: UInt32(octets.count), uid: uid, length: UInt8(length)))
        octets.append(contentsOf: key)
        slots[slot] = UInt32(entries.count)
        return true
    }

    @discardableResult
    mutating func insert(_ key: String, uid: UInt32) -> Bool { insert(key.utf8, uid: uid) }

    /// Room for `count` more keys of `keyOctets` octets in all, so that a batch of known size
    /// (a list read at open, a mailbox numbered for the first time) is stored without the
    /// arrays' doubling, which leaves up to half of each unused. Small batches should not call
    /// this: an exact reservation per batch would copy the table every time.
    mutating func reserveCapacity(adding count: Int, keyOctets: Int) {
        let total = entries.count + count
        entries.reserveCapacity(total)
        octets.reserveCapacity(octets.count + keyOctets)
        if total * 2 > slots.count { grow(to: total * 2) }
    }

    /// Every key and its UID, in the order they were added.
    func forEach(_ body: (String, UInt32) throws -> Void) rethrows {
        for entry in entries {
            try body(String(decoding: octets[Int(entry.offset)..<Int(entry.offset) + Int(entry.length)], as: UTF8.self), entry.uid)
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

    /// Makes the index at least `wanted` slots (a power of two) and files every entry again.
    private mutating func grow(to wanted: Int) {
        var size = max(16, slots.count)
        while size < wanted { size *= 2 }
        guard size != slots.count else { return }
        var fresh = [UInt32](repeating: 0, count: size)
        let mask = size - 1
        for (number, entry) in entries.enumerated() {
            var slot = Self.hash(octets[Int(entry.offset)..<Int(entry.offset) + Int(entry.length)]) & mask
            while fresh[slot] != 0 { slot = (slot + 1) & mask }
            fresh[slot] = UInt32(number + 1)
        }
        slots = fresh
    }
}
