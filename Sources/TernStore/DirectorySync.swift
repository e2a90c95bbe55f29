public import NIOCore
public import NIOPosix

/// Group commit for one directory: every caller whose rename completed before a sync started
/// is made durable by that one `fsync` of the directory (`GroupCommit`).
public final class DirectorySync: Sendable {
    public let path: String
    private let descriptor: CInt
    private let commit: GroupCommit<Void, Void>

    public init(path: String, pool: NIOThreadPool) throws {
        self.path = path
        let descriptor = try POSIXFile.openDirectory(path)
        self.descriptor = descriptor
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
