import NIOConcurrencyHelpers
public import NIOCore
public import NIOPosix

import TernSystem

/// A write-ahead journal: an entry is durable once `append` completes, after one overwrite of
/// already-allocated blocks and one `fdatasync` shared by every entry of the batch (group
/// commit). No file is created, renamed or grown on that path, so the sync touches no
/// metadata: it is the cheapest durable write a filesystem offers.
///
/// What an entry stands for (a message for a Maildir) is then put in place without syncs, and
/// reported with `applied`. `checkpoint` makes everything applied durable with one `syncfs` per
/// filesystem, and retires the entries: a checkpoint record says up to which sequence number
/// nothing needs replaying. After a crash, `unretired()` returns the entries to apply again
/// (applying must be idempotent).
///
/// On disk: `<directory>/<segment number, 16 hex digits>.journal`, files of `segmentSize`
/// octets, zero-filled once and reused once retired. A segment starts with a header naming its
/// number and first sequence number; records follow back to back:
///
///     magic "TJR1" | payload length u32 | sequence u64 | kind u8 | 0 0 0 | CRC-32C u32 | payload
///
/// (little-endian; the CRC covers everything after the magic but the CRC itself, and the
/// payload). A scan stops at the first record whose magic, CRC or sequence (consecutive from
/// the header's) is wrong: the torn end of a crashed write, or what a reused segment held.
public final class MessageJournal: Sendable {
    /// One entry an earlier run appended and did not retire.
    public struct Entry: Sendable, Hashable {
        public var sequence: UInt64
        public var payload: [UInt8]
    }

    enum Kind: UInt8 {
        case entry = 1
        case checkpoint = 2
    }

    static let recordMagic: UInt32 = 0x3152_4A54  // "TJR1"
    static let segmentMagic: UInt32 = 0x3153_4A54  // "TJS1"
    static let recordHeaderSize = 24
    static let segmentHeaderSize = 32
    /// The largest sequence or segment number a valid journal holds. A run appending a million
    /// entries a second for 290,000 years stays below it; a larger number read from disk is
    /// damage, and refusing it keeps `+ 1` on what was read from overflowing.
    static let maximumNumber = UInt64(Int64.max)

    public static let defaultSegmentSize = 32 << 20

    public let directory: String
    /// The largest payload `append` takes (a quarter of a segment).
    public let maximumPayload: Int
    private let segmentSize: Int
    private let pool: NIOThreadPool
    private let directoryDescriptor: CInt
    private let state: NIOLockedValueBox<State>
    /// The segment being written: only the batches touch it, one at a time (`GroupCommit`), so
    /// its lock is never contended and never held by anyone else during a sync.
    private let writer: NIOLockedValueBox<Writer>
    private let appends: GroupCommit<(Kind, ByteBuffer), UInt64>

    private struct Segment {
        var number: UInt64
        var path: String
        var descriptor: CInt
        /// Where the next record goes; 0 until the header is written with the first batch.
        var offset = 0
        var firstSequence: UInt64 = 0
        var lastSequence: UInt64 = 0
    }

    private struct Writer {
        var current: Segment?
        var nextSegment: UInt64 = 1
    }

    private struct State {
        var nextSequence: UInt64 = 1
        /// Full segments, oldest first, kept until a checkpoint retires their last record.
        var sealed: [Segment] = []
        /// Retired segment files, to be renamed and overwritten instead of created anew.
        var spares: [String] = []
        /// Entries appended and not yet applied.
        var unapplied: Set<UInt64> = []
        /// Applied since the last checkpoint: one directory per filesystem to `syncfs` through.
        var toSync: [UInt64: DirectorySync] = [:]
        var retiredThrough: UInt64 = 0
        var recovered = false
    }

    /// Opens (creating) the journal in `directory`. Read what an earlier run left with
    /// `unretired()` before the first `append`.
    public init(directory: String, pool: NIOThreadPool, segmentSize: Int = MessageJournal.defaultSegmentSize) throws {
        precondition(segmentSize >= 64 * 1024, "a journal segment must hold some messages")
        self.directory = directory
        self.segmentSize = segmentSize
        self.maximumPayload = segmentSize / 4
        self.pool = pool
        try POSIXFile.makeDirectories(directory)
        directoryDescriptor = try POSIXFile.openDirectory(directory)
        let state = NIOLockedValueBox(State())
        let writer = NIOLockedValueBox(Writer())
        self.state = state
        self.writer = writer
        let (directory, descriptor) = (directory, directoryDescriptor)
        appends = GroupCommit(pool: pool) { batch in
            try writer.withLockedValue { writer in
                try Self.write(
                    batch, writer: &writer, state: state, directory: directory, directoryDescriptor: descriptor,
                    segmentSize: segmentSize)
            }
        }
    }

    deinit {
        writer.withLockedValue { writer in
            if let current = writer.current { POSIXFile.close(current.descriptor) }
        }
        state.withLockedValue { state in
            for segment in state.sealed { POSIXFile.close(segment.descriptor) }
        }
        POSIXFile.close(directoryDescriptor)
    }

    // MARK: Recovery

    /// The entries an earlier run appended and no checkpoint retired, in order (blocking: call
    /// at start, on a thread). Apply them, then `checkpoint()`; until then their segments stay.
    public func unretired() throws -> [Entry] {
        var entries: [Entry] = []
        var retired: UInt64 = 0
        var lastSequence: UInt64 = 0
        var lastSegment: UInt64 = 0
        var segments: [Segment] = []
        let files = try POSIXFile.list(directory)
        let names = files.compactMap { name -> (UInt64, String)? in
            guard name.hasSuffix(".journal"), let number = UInt64(name.dropLast(8), radix: 16),
                number <= Self.maximumNumber
            else { return nil }
            return (number, name)
        }.sorted { $0.0 < $1.0 }
        let spares = files.filter { $0.hasPrefix(Self.sparePrefix) }.map { "\(directory)/\($0)" }
        for (number, name) in names {
            let path = "\(directory)/\(name)"
            lastSegment = max(lastSegment, number)
            let bytes = try POSIXFile.readAll(path)
            let scan = Self.scan(bytes, segment: number)
            for record in scan.records {
                lastSequence = max(lastSequence, record.sequence)
                switch record.kind {
                case .entry: entries.append(Entry(sequence: record.sequence, payload: record.payload))
                case .checkpoint: retired = max(retired, Self.checkpointSequence(record.payload) ?? 0)
                }
            }
            let descriptor = try POSIXFile.openReadWrite(path)
            var segment = Segment(number: number, path: path, descriptor: descriptor)
            segment.firstSequence = scan.records.first?.sequence ?? 0
            segment.lastSequence = scan.records.last?.sequence ?? 0
            segments.append(segment)
        }
        writer.withLockedValue { $0.nextSegment = lastSegment + 1 }
        state.withLockedValue { state in
            precondition(!state.recovered, "unretired() is called once, before the first append")
            state.recovered = true
            state.nextSequence = lastSequence + 1
            state.retiredThrough = retired
            // Every old segment is sealed: appends start a segment of their own, never after
            // a torn record. The checkpoint after replay retires them all.
            state.sealed = segments
            state.spares = spares
            state.unapplied = Set(entries.lazy.filter { $0.sequence > retired }.map(\.sequence))
        }
        return entries.filter { $0.sequence > retired }
    }

    // MARK: Appending

    /// Completes with the entry's sequence number once it is on stable storage.
    public func append(_ payload: ByteBuffer, on eventLoop: any EventLoop) -> EventLoopFuture<UInt64> {
        guard payload.readableBytes <= maximumPayload else {
            return eventLoop.makeFailedFuture(StoreError(code: .io, errno: EFBIG, operation: "journal append"))
        }
        return appends.submit((.entry, payload), on: eventLoop)
    }

    /// The entry's effect is in place; `directory`'s filesystem holds it, and a checkpoint's
    /// `syncfs` of it makes it durable.
    public func applied(_ sequence: UInt64, syncing directory: DirectorySync) {
        state.withLockedValue { state in
            state.unapplied.remove(sequence)
            state.toSync[directory.device] = state.toSync[directory.device] ?? directory
        }
    }

    /// Makes every applied entry durable where it was applied, then retires the entries up to
    /// the first one still unapplied, and reuses the segments that hold no live entry.
    public func checkpoint() async throws {
        let (through, toSync) = state.withLockedValue { state -> (UInt64, [UInt64: DirectorySync]) in
            let through = (state.unapplied.min() ?? state.nextSequence) - 1
            guard through > state.retiredThrough else { return (through, [:]) }
            defer { state.toSync.removeAll() }
            return (through, state.toSync)
        }
        guard through > state.withLockedValue({ $0.retiredThrough }) else { return }
        do {
            try await pool.runIfActive {
                for directory in toSync.values { try POSIXFile.syncFilesystem(directory.descriptor) }
            }
        } catch {
            // Still to be synced by the next checkpoint.
            state.withLockedValue { state in state.toSync.merge(toSync) { newer, _ in newer } }
            throw error
        }
        var record = ByteBuffer()
        record.writeInteger(through, endianness: .little)
        _ = try await appends.submit((.checkpoint, record))
        let retired = state.withLockedValue { state -> [Segment] in
            state.retiredThrough = max(state.retiredThrough, through)
            let retired = state.sealed.filter { $0.lastSequence <= through }
            state.sealed.removeAll { $0.lastSequence <= through }
            return retired
        }
        guard !retired.isEmpty else { return }
        try await pool.runIfActive { [state] in
            for segment in retired { POSIXFile.close(segment.descriptor) }
            state.withLockedValue { state in
                for segment in retired {
                    if state.spares.count < Self.spareCount {
                        state.spares.append(segment.path)
                    } else {
                        POSIXFile.remove(segment.path)
                    }
                }
            }
        }
    }

    /// Checkpoints every `interval` until the task is cancelled, then once more. Starts by
    /// zero-filling the spare segments, so no append waits for one.
    public func run(interval: Duration = .milliseconds(200), onError: @Sendable (any Error) -> Void) async {
        do { try await prepareSpares() } catch { onError(error) }
        repeat {
            try? await Task.sleep(for: interval)
            // In a task of its own: a checkpoint, the last one above all, runs to its end even
            // when this task is cancelled meanwhile.
            do { try await Task { try await self.checkpoint() }.value } catch { onError(error) }
        } while !Task.isCancelled
    }

    /// Spare segments kept ready: a retired segment becomes one, and `prepareSpares` makes new
    /// ones up to this many.
    static let spareCount = 2
    static let sparePrefix = "spare-"

    /// Zero-fills spare segments (`spare-<n>`, not yet journal segments) until there are
    /// `spareCount`.
    func prepareSpares() async throws {
        let (directory, descriptor, segmentSize, state) = (self.directory, directoryDescriptor, self.segmentSize, self.state)
        try await pool.runIfActive {
            var made = 0
            while state.withLockedValue({ $0.spares.count }) < Self.spareCount {
                let path = "\(directory)/\(Self.sparePrefix)\(getpid())-\(made)-\(UInt32.random(in: 0...UInt32.max))"
                try Self.createZeroFilled(path, size: segmentSize)
                try POSIXFile.sync(descriptor)
                state.withLockedValue { $0.spares.append(path) }
                made += 1
            }
        }
    }

    // MARK: The batch (on the pool, under the state lock)

    private static func write(
        _ batch: [(Kind, ByteBuffer)], writer: inout Writer, state: NIOLockedValueBox<State>, directory: String,
        directoryDescriptor: CInt, segmentSize: Int
    ) throws -> [UInt64] {
        // Numbered under the shared lock, so a checkpoint sees every entry numbered so far
        // either unapplied or applied.
        let first = state.withLockedValue { state -> UInt64 in
            precondition(state.recovered, "call unretired() before appending")
            let first = state.nextSequence
            state.nextSequence += UInt64(batch.count)
            for (offset, (kind, _)) in batch.enumerated() where kind == .entry {
                state.unapplied.insert(first + UInt64(offset))
            }
            return first
        }
        do {
            try write(batch, first: first, writer: &writer, state: state, directory: directory,
                directoryDescriptor: directoryDescriptor, segmentSize: segmentSize)
        } catch {
            // Nothing of the batch was acknowledged. Later records must not follow a hole in the
            // sequence, so the segment is left as it is and the next batch starts another.
            state.withLockedValue { state in
                for offset in 0..<batch.count { state.unapplied.remove(first + UInt64(offset)) }
                if let current = writer.current { state.sealed.append(current) }
            }
            writer.current = nil
            throw error
        }
        return (0..<batch.count).map { first + UInt64($0) }
    }

    private static func write(
        _ batch: [(Kind, ByteBuffer)], first: UInt64, writer: inout Writer, state: NIOLockedValueBox<State>,
        directory: String, directoryDescriptor: CInt, segmentSize: Int
    ) throws {
        var pending = ByteBuffer()
        for (offset, (kind, payload)) in batch.enumerated() {
            let sequence = first + UInt64(offset)
            let size = recordHeaderSize + payload.readableBytes
            if writer.current == nil || writer.current!.offset + pending.readableBytes + size > segmentSize {
                if writer.current != nil, pending.readableBytes > 0 { try flush(&pending, to: &writer.current!) }
                try startSegment(&writer, state: state, directory: directory, directoryDescriptor: directoryDescriptor, segmentSize: segmentSize)
                pending.writeSegmentHeader(number: writer.current!.number, firstSequence: sequence)
                writer.current!.firstSequence = sequence
            }
            pending.writeRecord(kind: kind, sequence: sequence, payload: payload)
            writer.current!.lastSequence = sequence
        }
        try flush(&pending, to: &writer.current!)
    }

    /// Writes `pending` at the segment's offset and syncs it.
    private static func flush(_ pending: inout ByteBuffer, to segment: inout Segment) throws {
        let count = pending.readableBytes
        try pending.withUnsafeReadableBytes { bytes in
            try POSIXFile.writeAll(segment.descriptor, bytes, at: segment.offset)
        }
        try POSIXFile.dataSync(segment.descriptor)
        segment.offset += count
        pending.clear()
    }

    /// Seals the current segment and opens the next: a spare renamed, or a new zero-filled
    /// file. Either way the name is durable before a record goes in.
    private static func startSegment(
        _ writer: inout Writer, state: NIOLockedValueBox<State>, directory: String, directoryDescriptor: CInt,
        segmentSize: Int
    ) throws {
        let full = writer.current
        writer.current = nil
        let spare = state.withLockedValue { state -> String? in
            if let full { state.sealed.append(full) }
            return state.spares.popLast()
        }
        let number = writer.nextSegment
        writer.nextSegment += 1
        let path = "\(directory)/\(Self.segmentName(number))"
        if let spare {
            try POSIXFile.rename(spare, path)
        } else {
            try createZeroFilled(path, size: segmentSize)
        }
        try POSIXFile.sync(directoryDescriptor)
        writer.current = Segment(number: number, path: path, descriptor: try POSIXFile.openReadWrite(path))
    }

    /// A new file of `size` zeros, synced: later overwrites change no metadata. On failure
    /// nothing is left.
    private static func createZeroFilled(_ path: String, size: Int) throws {
        let descriptor = try POSIXFile.create(path)
        defer { POSIXFile.close(descriptor) }
        do {
            let zeros = [UInt8](repeating: 0, count: 1 << 20)
            var written = 0
            while written < size {
                let count = min(zeros.count, size - written)
                try zeros.withUnsafeBytes { try POSIXFile.writeAll(descriptor, UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                written += count
            }
            try POSIXFile.dataSync(descriptor)
        } catch {
            POSIXFile.remove(path)
            throw error
        }
    }

    static func segmentName(_ number: UInt64) -> String {
        let hex = String(number, radix: 16)
        return String(repeating: "0", count: max(0, 16 - hex.count)) + hex + ".journal"
    }

    // MARK: Format

    struct ScannedRecord: Hashable {
        var kind: Kind
        var sequence: UInt64
        var payload: [UInt8]
    }

    /// The valid records of one segment's bytes: after a header naming `segment`, consecutive
    /// sequence numbers with good CRCs, up to the first that is not.
    static func scan(_ bytes: [UInt8], segment: UInt64) -> (firstSequence: UInt64?, records: [ScannedRecord]) {
        var buffer = ByteBuffer(bytes: bytes)
        guard buffer.readableBytes >= segmentHeaderSize,
            buffer.readInteger(endianness: .little, as: UInt32.self) == segmentMagic,
            buffer.readInteger(endianness: .little, as: UInt32.self) == 1,
            buffer.readInteger(endianness: .little, as: UInt64.self) == segment,
            let first = buffer.readInteger(endianness: .little, as: UInt64.self), first <= maximumNumber,
            let crc = buffer.readInteger(endianness: .little, as: UInt32.self),
            crc == bytes.withUnsafeBytes({ tern_crc32c(0, $0.baseAddress! + 4, 20) })
        else { return (nil, []) }
        buffer.moveReaderIndex(to: segmentHeaderSize)
        var records: [ScannedRecord] = []
        var expected = first
        while buffer.readableBytes >= recordHeaderSize {
            let start = buffer.readerIndex
            guard buffer.readInteger(endianness: .little, as: UInt32.self) == recordMagic,
                let length = buffer.readInteger(endianness: .little, as: UInt32.self),
                Int(length) <= buffer.readableBytes - (recordHeaderSize - 8),
                let sequence = buffer.readInteger(endianness: .little, as: UInt64.self), sequence == expected,
                sequence < maximumNumber,
                let kindByte = buffer.readInteger(as: UInt8.self), let kind = Kind(rawValue: kindByte),
                buffer.readBytes(length: 3) == [0, 0, 0],
                let crc = buffer.readInteger(endianness: .little, as: UInt32.self),
                let payload = buffer.readBytes(length: Int(length))
            else { break }
            let computed = bytes.withUnsafeBytes { raw in
                let header = tern_crc32c(0, raw.baseAddress! + start + 4, 16)
                return tern_crc32c(header, raw.baseAddress! + start + recordHeaderSize, Int(length))
            }
            guard computed == crc else { break }
            records.append(ScannedRecord(kind: kind, sequence: sequence, payload: payload))
            expected += 1
        }
        return (first, records)
    }

    static func checkpointSequence(_ payload: [UInt8]) -> UInt64? {
        guard payload.count == 8 else { return nil }
        return payload.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }
}

extension ByteBuffer {
    mutating func writeSegmentHeader(number: UInt64, firstSequence: UInt64) {
        let start = writerIndex
        writeInteger(MessageJournal.segmentMagic, endianness: .little)
        writeInteger(UInt32(1), endianness: .little)
        writeInteger(number, endianness: .little)
        writeInteger(firstSequence, endianness: .little)
        let crc = withUnsafeReadableBytes { tern_crc32c(0, $0.baseAddress! + (start - readerIndex) + 4, 20) }
        writeInteger(crc, endianness: .little)
        writeRepeatingByte(0, count: MessageJournal.segmentHeaderSize - (writerIndex - start))
    }

    mutating func writeRecord(kind: MessageJournal.Kind, sequence: UInt64, payload: ByteBuffer) {
        let start = writerIndex
        writeInteger(MessageJournal.recordMagic, endianness: .little)
        writeInteger(UInt32(payload.readableBytes), endianness: .little)
        writeInteger(sequence, endianness: .little)
        writeInteger(kind.rawValue)
        writeRepeatingByte(0, count: 3)
        let crcIndex = writerIndex
        writeInteger(UInt32(0), endianness: .little)
        writeImmutableBuffer(payload)
        let crc = withUnsafeReadableBytes { raw in
            let base = raw.baseAddress! + (start - readerIndex)
            let header = tern_crc32c(0, base + 4, 16)
            return tern_crc32c(header, base + MessageJournal.recordHeaderSize, payload.readableBytes)
        }
        setInteger(crc, at: crcIndex, endianness: .little)
    }
}
