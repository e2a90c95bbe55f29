public import NIOCore
public import NIOPosix

/// Group commit for one directory: every caller whose rename completed before a sync started
/// is made durable by that one `fsync` of the directory (`GroupCommit`).
public final class DirectorySync: Sendable {
    public let path: String
    /// Open for as long as this lives: the `fsync`s go through it.
    let descriptor: CInt
    /// The filesystem the directory is on (`StoreSync` groups data syncs by it).
    let device: UInt64
    private let commit: GroupCommit<Void, Void>

    public init(path: String, pool: NIOThreadPool) throws {
        self.path = path
        let descriptor = try POSIXFile.openDirectory(path)
        self.descriptor = descriptor
        do {
            self.device = try POSIXFile.device(descriptor)
        } catch {
            POSIXFile.close(descriptor)
            throw error
        }
        self.commit = GroupCommit(pool: pool) { batch in
            try POSIXFile.sync(descriptor)
            return batch
        }
    }

    deinit {
        POSIXFile.close(descriptor)
    }

    /// Completes once the directory's entries, as they are now, are on stable storage.
    public func sync(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        commit.submit((), on: eventLoop)
    }

    /// Returns once the directory's entries, as they are now, are on stable storage.
    public func sync() async throws {
        try await commit.submit(())
    }
}
