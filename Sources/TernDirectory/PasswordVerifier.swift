import NIOConcurrencyHelpers
import NIOCore
import NIOPosix


/// Checks passwords against their stored hashes on threads of its own, a bounded number at
/// once.
///
/// A stored hash costs 65,536 PBKDF2 rounds (tens of milliseconds of one core), on purpose.
/// On the thread pool that writes the spool and the Maildirs, fifty concurrent AUTHs from one
/// address would hold up every 250 of the server; here they take at most `threads` cores, at
/// most `waiting` more wait their turn, and any beyond that are refused at once (the caller
/// answers `454 4.7.0`, RFC 4954 §6), so a flood of logins can neither starve mail nor queue
/// without bound.
public final class PasswordVerifier: Sendable {
    /// Hashes computed at once. Default: half the cores, at least one.
    public let threads: Int
    /// Verifications that may wait for a thread. Default 64.
    public let waiting: Int
    private let pool: NIOThreadPool
    private let admitted = NIOLockedValueBox(0)

    /// - Parameter threads: nil for half the cores, at least one.
    public init(threads: Int? = nil, waiting: Int = 64) {
        self.threads = max(1, threads ?? System.coreCount / 2)
        self.waiting = max(0, waiting)
        pool = NIOThreadPool(numberOfThreads: self.threads)
        pool.start()
    }

    /// Whether `password` matches `hash`; nil when too many verifications are already running
    /// or waiting (the caller should answer with a temporary failure).
    public func verify(password: String, against hash: String) async throws -> Bool? {
        let limit = threads + waiting
        let admittedNow = admitted.withLockedValue { count -> Bool in
            guard count < limit else { return false }
            count += 1
            return true
        }
        guard admittedNow else { return nil }
        defer { admitted.withLockedValue { $0 -= 1 } }
        return try await pool.runIfActive { PasswordHash.verify(password: password, against: hash) }
    }

    /// Stops the threads once the verifications in progress have finished.
    public func shutdown() async {
        try? await pool.shutdownGracefully()
    }
}
