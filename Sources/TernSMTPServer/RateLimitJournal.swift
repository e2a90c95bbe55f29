import TernSystem
import Foundation
public import Logging
public import ServiceLifecycle

/// Keeps the submission rate-limit counts across restarts: they are loaded from
/// `<data_dir>/rate-limits.json` at start, and saved every `interval` and when the server
/// stops (after the listeners, so the last messages count). A crash loses at most `interval`
/// of counting; a restart no longer hands every sender a fresh allowance. (The brute-force
/// brake's counts are not kept: a restart only resets delays.)
public struct RateLimitJournal: Service {
    public let path: String
    private let limiters: [String: RateLimiter]
    private let interval: Duration
    private let logger: Logger

    public static func path(dataDirectory: String) -> String { "\(dataDirectory)/rate-limits.json" }

    /// Restores what the file holds into `limiters` (by name) right away.
    public init(path: String, limiters: [String: RateLimiter], interval: Duration = .seconds(30), logger: Logger) {
        self.path = path
        self.limiters = limiters
        self.interval = interval
        self.logger = logger
        load()
    }

    public func run() async throws {
        defer { save() }
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    try await Task.sleep(for: interval)
                    save()
                }
            }
        } catch is CancellationError {}
    }

    /// The file: `{"messages": {"bucket_ms": 60000, "keys": {"user:alice@x": [[bucket, count], ...]}}, ...}`.
    private struct Saved: Codable {
        var bucketMilliseconds: Int64
        var keys: [String: [[Int64]]]

        enum CodingKeys: String, CodingKey {
            case bucketMilliseconds = "bucket_ms"
            case keys
        }
    }

    func save() {
        var file: [String: Saved] = [:]
        for (name, limiter) in limiters {
            let counts = limiter.counts()
            file[name] = Saved(
                bucketMilliseconds: counts.bucketMilliseconds,
                keys: counts.keys.mapValues { $0.map { [$0.bucket, Int64($0.count)] } })
        }
        do {
            let data = try JSONEncoder().encode(file)
            let temporary = path + ".tmp"
            guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600])
            else { throw CocoaError(.fileWriteUnknown) }
            // rename(2) replaces the old file atomically: a reader sees the old counts or the new.
            guard rename(temporary, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
        } catch {
            logger.warning("rate-limit counts not saved", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    private func load() {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        guard let file = try? JSONDecoder().decode([String: Saved].self, from: data) else {
            logger.warning("rate-limit counts unreadable; starting from zero", metadata: ["path": "\(path)"])
            return
        }
        for (name, saved) in file {
            let keys = saved.keys.mapValues { pairs in
                pairs.compactMap { pair in pair.count == 2 ? (bucket: pair[0], count: Int(pair[1])) : nil }
            }
            limiters[name]?.restore(RateLimiter.Counts(bucketMilliseconds: saved.bucketMilliseconds, keys: keys))
        }
    }
}
