import NIOCore
public import NIOPosix

import TernSystem

/// How the stores make a new file durable before it gets its final name.
///
/// Both modes keep the rule every store relies on: a name in `new/` or `queue/` means complete
/// data on stable storage. The data is synced while the file is still in `tmp/`, then it is
/// renamed, then its directory is synced; only then does `commit` complete (and the 250 go
/// out). Renaming first and syncing after would let a crash leave an empty file under the final
/// name (ext4 allocates blocks late).
///
/// - `file`: each writer `fdatasync`s its own file; renames into one directory share a
///   directory `fsync` (`DirectorySync`). Two syncs per message under any load, on any POSIX
///   filesystem.
/// - `filesystem`: writers only write. One group commit serves every file that finished while
///   the previous batch ran: one `syncfs(2)` per filesystem makes all their data durable (a
///   lone file gets a plain `fdatasync`), every file is renamed, and each directory named is
///   `fsync`ed once. Two syncs per batch. `syncfs` also flushes whatever else is dirty on that
///   filesystem, so this suits a filesystem that mail has mostly to itself (Linux only).
public final class StoreSync: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        case file
        case filesystem

        /// `filesystem` where the system has `syncfs(2)`, `file` elsewhere.
        public static var `default`: Mode {
            #if os(Linux)
            .filesystem
            #else
            .file
            #endif
        }

        /// Whether this system can run the mode.
        public var isAvailable: Bool { self == .file || Self.default == .filesystem }
    }

    /// A finished file (or set of files) in `tmp/` and how to give it its final name.
    struct Publication: Sendable {
        /// The files in `tmp/` whose data must be durable before `rename` runs.
        var files: [String]
        /// The directory `rename` puts them in (one filesystem: a rename cannot cross one).
        var directory: DirectorySync
        /// Gives the files their final names; on failure it leaves no final name behind.
        var rename: @Sendable () throws -> Void
    }

    public let mode: Mode
    /// Where the stores' blocking file calls run.
    public let pool: NIOThreadPool
    private let batches: GroupCommit<Publication, Result<Void, any Error>>?

    public init(mode: Mode, pool: NIOThreadPool) {
        self.mode = mode
        self.pool = pool
        switch mode {
        case .file: batches = nil
        case .filesystem: batches = GroupCommit(pool: pool) { batch in try Self.publishBatch(batch) }
        }
    }

    /// Ends the writing of a file in `tmp/` (on the pool): in `file` mode its data is synced
    /// now; in `filesystem` mode the batch that publishes it syncs it.
    func finishWriting(_ descriptor: CInt) throws(StoreError) {
        if mode == .file { try POSIXFile.dataSync(descriptor) }
    }

    /// Creates `path` in `tmp/` holding `bytes`, ended by `finishWriting` (on the pool).
    func writeFile(_ bytes: [UInt8], to path: String) throws {
        let descriptor = try POSIXFile.create(path)
        defer { POSIXFile.close(descriptor) }
        try bytes.withUnsafeBytes { try POSIXFile.writeAll(descriptor, $0) }
        try finishWriting(descriptor)
    }

    /// Renames the publication's files into place and completes once data and names are on
    /// stable storage. The files must be closed and ended by `finishWriting`.
    func publish(_ publication: Publication, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        guard let batches else {
            return pool.runIfActive(eventLoop: eventLoop) { try publication.rename() }
                .flatMap { publication.directory.sync(on: eventLoop) }
        }
        return batches.submit(publication, on: eventLoop).flatMapResult { $0 }
    }

    /// As `publish`, for callers off the event loops.
    func publish(_ publication: Publication) async throws {
        guard let batches else {
            try await pool.runIfActive { try publication.rename() }
            try await publication.directory.sync()
            return
        }
        try await batches.submit(publication).get()
    }

    /// One batch of the `filesystem` mode: data, then names, then directories. A failed data
    /// or directory sync fails the whole batch (nothing is acknowledged); a failed rename fails
    /// only its own publication.
    private static func publishBatch(_ batch: [Publication]) throws -> [Result<Void, any Error>] {
        var byFilesystem: [UInt64: [Publication]] = [:]
        for publication in batch { byFilesystem[publication.directory.device, default: []].append(publication) }
        for publications in byFilesystem.values {
            let files = publications.flatMap(\.files)
            switch files.count {
            case 0: break
            case 1: try POSIXFile.dataSync(path: files[0])
            default: try POSIXFile.syncFilesystem(publications[0].directory.descriptor)
            }
        }
        let results = batch.map { publication in
            Result { try publication.rename() }
        }
        var synced = Set<ObjectIdentifier>()
        for (publication, result) in zip(batch, results) {
            guard case .success = result, synced.insert(ObjectIdentifier(publication.directory)).inserted else { continue }
            try POSIXFile.sync(publication.directory.descriptor)
        }
        return results
    }
}
