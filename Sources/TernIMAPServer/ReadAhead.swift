/// Reads what a FETCH or SEARCH walks through, a batch at a time, with the next batch read on
/// the store's threads while the session renders the current one: the disk and the CPU work
/// side by side instead of taking turns.
///
/// Batches start small, so the first responses go out early, and grow to `largestBatch`.
struct ReadAhead<Batch: Sendable>: ~Copyable {
    typealias Read = @Sendable (_ uids: [UInt32]) async throws -> Batch

    static var firstBatch: Int { 32 }
    static var largestBatch: Int { 256 }

    private let uids: [UInt32]
    private let read: Read
    /// Where the batch being read starts in `uids`, and how many it holds.
    private var pending: (start: Int, count: Int, task: Task<Batch, any Error>)?

    init(_ uids: [UInt32], read: @escaping Read) {
        self.uids = uids
        self.read = read
        pending = Self.start(uids, at: 0, count: Self.firstBatch, read: read)
    }

    deinit { pending?.task.cancel() }

    /// The next batch, with the range of `uids` it covers; nil after the last.
    mutating func next() async throws -> (range: Range<Int>, batch: Batch)? {
        guard let current = pending else { return nil }
        let end = current.start + current.count
        pending = Self.start(uids, at: end, count: min(current.count * 2, Self.largestBatch), read: read)
        return (current.start..<end, try await current.task.value)
    }

    private static func start(_ uids: [UInt32], at start: Int, count: Int, read: @escaping Read)
        -> (start: Int, count: Int, task: Task<Batch, any Error>)?
    {
        guard start < uids.count else { return nil }
        let count = min(count, uids.count - start)
        let slice = Array(uids[start..<start + count])
        // Detached: started from the session's actor, it must not wait for that actor to be free.
        return (start, count, Task.detached { try await read(slice) })
    }
}
