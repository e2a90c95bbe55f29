import NIOCore
import TernDNSCore

/// The resolver's answer cache: positive answers and negative ones (NXDOMAIN, NODATA; RFC 2308
/// §5), keyed by name (case-insensitively) and type, each kept until its TTL runs out. Time is
/// passed in, so the cache is a pure value and tests control the clock.
///
/// Bounded: TTLs are capped (`maximumTTL`, `maximumNegativeTTL`), answers with TTL 0 are not
/// stored (RFC 1035 §3.2.1: "should not be cached"), and at `capacity` entries the expired ones
/// are dropped first, then the tenth that would expire soonest.
struct DNSCache {
    struct Key: Hashable {
        var name: DNSName
        var type: DNSRecordType
    }

    private struct Entry {
        var answer: DNSAnswer<[DNSResourceRecord]>
        var expires: NIODeadline
    }

    let capacity: Int
    let maximumTTL: UInt32
    let maximumNegativeTTL: UInt32
    private var entries: [Key: Entry] = [:]

    init(capacity: Int, maximumTTL: UInt32, maximumNegativeTTL: UInt32) {
        self.capacity = max(0, capacity)
        self.maximumTTL = maximumTTL
        self.maximumNegativeTTL = maximumNegativeTTL
    }

    var count: Int { entries.count }

    /// The cached answer, its TTL lowered to the seconds left (rounded up), or nil when absent
    /// or expired (an expired entry is removed).
    mutating func answer(for key: Key, now: NIODeadline) -> DNSAnswer<[DNSResourceRecord]>? {
        guard let entry = entries[key] else { return nil }
        guard entry.expires > now else {
            entries[key] = nil
            return nil
        }
        let nanoseconds = (entry.expires - now).nanoseconds
        let remaining = UInt32(clamping: (nanoseconds + 999_999_999) / 1_000_000_000)
        switch entry.answer {
        case .records(let records, _): return .records(records, ttl: remaining)
        case .nameDoesNotExist: return .nameDoesNotExist(ttl: remaining)
        case .noData: return .noData(ttl: remaining)
        }
    }

    mutating func insert(_ answer: DNSAnswer<[DNSResourceRecord]>, for key: Key, now: NIODeadline) {
        let cap = answer.records == nil ? maximumNegativeTTL : maximumTTL
        let ttl = min(answer.ttl, cap)
        guard capacity > 0, ttl > 0 else { return }
        if entries[key] == nil, entries.count >= capacity {
            makeRoom(now: now)
        }
        entries[key] = Entry(answer: answer, expires: now + .seconds(Int64(ttl)))
    }

    mutating func removeAll() {
        entries.removeAll()
    }

    private mutating func makeRoom(now: NIODeadline) {
        entries = entries.filter { $0.value.expires > now }
        guard entries.count >= capacity else { return }
        // Evict a tenth at once so a flood of new names costs one sort per capacity/10 inserts.
        let evictions = max(1, capacity / 10)
        let soonest = entries.sorted { $0.value.expires < $1.value.expires }.prefix(evictions)
        for (key, _) in soonest { entries[key] = nil }
    }
}
