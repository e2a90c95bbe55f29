import NIOConcurrencyHelpers

/// Wakes the scheduler loop: when a message arrives, an attempt ends, the next retry is due,
/// or the service shuts down. A signal sent while nobody waits is kept for the next wait.
final class WakeupSignal: Sendable {
    private struct State {
        var pending = false
        var shutDown = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = NIOLockedValueBox(State())

    var isShutDown: Bool { state.withLockedValue { $0.shutDown } }

    func signal() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            defer { state.waiter = nil }
            if state.waiter == nil { state.pending = true }
            return state.waiter
        }
        waiter?.resume()
    }

    func shutDown() {
        state.withLockedValue { $0.shutDown = true }
        signal()
    }

    /// Returns on a signal, or at `deadline` (seconds since 1970, per `now`) if one is given.
    func wait(untilSecondsSince1970 deadline: Int64?, now: @Sendable () -> Int64) async {
        let timer: Task<Void, Never>?
        if let deadline {
            let seconds = max(deadline - now(), 0)
            timer = Task { [weak self] in
                try? await Task.sleep(for: .seconds(seconds))
                if !Task.isCancelled { self?.signal() }
            }
        } else {
            timer = nil
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLockedValue { state -> Bool in
                if state.pending || state.shutDown {
                    state.pending = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
        timer?.cancel()
    }
}
