public import NIOCore
import NIOConcurrencyHelpers
public import NIOPosix

/// Group commit for one directory: every caller whose rename completed before a sync started
/// is made durable by that one `fsync` of the directory (Postfix pays one per message; under
/// load Tern pays one per batch).
///
/// A caller arriving while a sync runs waits for the next one, which starts as soon as the
/// running one ends and serves everybody who queued meanwhile.
public final class DirectorySync: Sendable {
    private typealias Waiter = @Sendable (Result<Void, any Error>) -> Void

    private struct State {
        var running = false
        var waiting: [Waiter] = []
    }

    public let path: String
    private let descriptor: CInt
    private let pool: NIOThreadPool
    private let state = NIOLockedValueBox(State())

    public init(path: String, pool: NIOThreadPool) throws {
        self.path = path
        self.pool = pool
        self.descriptor = try POSIXFile.openDirectory(path)
    }

    deinit {
        POSIXFile.close(descriptor)
    }

    /// Completes once the directory's entries, as they are now, are on stable storage.
    public func sync(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        enqueue { promise.completeWith($0) }
        return promise.futureResult
    }

    /// Returns once the directory's entries, as they are now, are on stable storage.
    public func sync() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enqueue { continuation.resume(with: $0) }
        }
    }

    private func enqueue(_ waiter: @escaping Waiter) {
        let start = state.withLockedValue { state -> Bool in
            state.waiting.append(waiter)
            guard !state.running else { return false }
            state.running = true
            return true
        }
        if start { runBatch() }
    }

    private func runBatch() {
        let batch = state.withLockedValue { state -> [Waiter] in
            defer { state.waiting.removeAll(keepingCapacity: true) }
            return state.waiting
        }
        let descriptor = self.descriptor
        pool.submit { workState in
            let result: Result<Void, any Error>
            if case .active = workState {
                result = Result { try POSIXFile.sync(descriptor) }
            } else {
                result = .failure(StoreError.closed)
            }
            for waiter in batch { waiter(result) }
            let again = self.state.withLockedValue { state -> Bool in
                if state.waiting.isEmpty {
                    state.running = false
                    return false
                }
                return true
            }
            if again { self.runBatch() }
        }
    }
}
