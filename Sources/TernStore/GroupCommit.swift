import Dispatch
public import NIOCore
import NIOConcurrencyHelpers
public import NIOPosix

/// Group commit: requests that arrive while a batch runs on the thread pool wait for the next
/// batch, which starts as soon as the running one ends and serves all of them with one call of
/// `work`. One sync then makes many callers durable (Postfix pays one per message; under load
/// Tern pays one per batch), and at most one thread is ever blocked per resource.
public final class GroupCommit<Request: Sendable, Response: Sendable>: Sendable {
    /// Handles one batch on the pool; returns one response per request, in order.
    public typealias Work = @Sendable ([Request]) throws -> [Response]

    private typealias Waiter = @Sendable (Result<Response, any Error>) -> Void

    private struct State {
        var running = false
        var waiting: [(Request, Waiter)] = []
    }

    private let pool: NIOThreadPool
    private let work: Work
    private let linger: TimeAmount
    private let state = NIOLockedValueBox(State())

    /// With a `linger`, a batch starts that long after its first request rather than at once:
    /// for work nobody waits on (a reply does not), fewer and larger batches.
    public init(pool: NIOThreadPool, linger: TimeAmount = .zero, work: @escaping Work) {
        self.pool = pool
        self.linger = linger
        self.work = work
    }

    /// Completes with the response to `request` once the batch that took it has run.
    public func submit(_ request: Request, on eventLoop: any EventLoop) -> EventLoopFuture<Response> {
        let promise = eventLoop.makePromise(of: Response.self)
        enqueue(request) { promise.completeWith($0) }
        return promise.futureResult
    }

    /// Returns the response to `request` once the batch that took it has run.
    public func submit(_ request: Request) async throws -> Response {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Response, any Error>) in
            enqueue(request) { continuation.resume(with: $0) }
        }
    }

    private func enqueue(_ request: Request, _ waiter: @escaping Waiter) {
        let start = state.withLockedValue { state -> Bool in
            state.waiting.append((request, waiter))
            guard !state.running else { return false }
            state.running = true
            return true
        }
        guard start else { return }
        if linger > .zero {
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(linger.nanoseconds))) {
                self.runBatch()
            }
        } else {
            runBatch()
        }
    }

    private func runBatch() {
        let batch = state.withLockedValue { state in
            defer { state.waiting.removeAll(keepingCapacity: true) }
            return state.waiting
        }
        pool.submit { [work] workState in
            let responses: Result<[Response], any Error>
            if case .active = workState {
                responses = Result { try work(batch.map(\.0)) }
            } else {
                responses = .failure(StoreError.closed)
            }
            switch responses {
            case .success(let responses) where responses.count == batch.count:
                for ((_, waiter), response) in zip(batch, responses) { waiter(.success(response)) }
            case .success:
                for (_, waiter) in batch { waiter(.failure(StoreError(code: .io, errno: 0, operation: "group commit"))) }
            case .failure(let error):
                for (_, waiter) in batch { waiter(.failure(error)) }
            }
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
