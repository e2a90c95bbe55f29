import TernSystem
import Foundation
public import Logging
public import NIOCore
import NIOPosix
public import ServiceLifecycle
import TernStore

/// The postmaster's line to a running queue: a Unix socket, `<data_dir>/control.sock` (mode
/// 0600, so only the server's user may use it), that takes one command per connection —
/// `retry|hold|release|delete <ID|all>` — and answers with one JSON line: the IDs changed, or
/// an error. The queue state lives in the server's memory, so changing the spool files behind
/// its back would be undone by its next write; this is how `tern queue` changes them instead.
public final class QueueControlServer: Service, Sendable {
    static let requestLimit = 256

    public let path: String
    private let channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let queue: QueueManager
    private let logger: Logger

    private init(
        path: String, channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>, queue: QueueManager,
        logger: Logger
    ) {
        self.path = path
        self.channel = channel
        self.queue = queue
        self.logger = logger
    }

    /// Binds the socket (replacing one a crashed server left behind).
    public static func bind(dataDirectory: String, queue: QueueManager, group: any EventLoopGroup, logger: Logger)
        async throws -> QueueControlServer
    {
        let path = QueueControlClient.socketPath(dataDirectory: dataDirectory)
        let channel = try await ServerBootstrap(group: group)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { child in
                child.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: child)
                }
            }
        chmod(path, 0o600)
        return QueueControlServer(path: path, channel: channel, queue: queue, logger: logger)
    }

    public func run() async throws {
        let server = channel.channel
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await channel.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask { await self.serve(connection) }
                    }
                }
            }
        } onGracefulShutdown: {
            server.close(promise: nil)
        }
        unlink(path)
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        try? await connection.executeThenClose { inbound, outbound in
            var request = ByteBuffer()
            for try await var chunk in inbound {
                request.writeBuffer(&chunk)
                if request.readableBytesView.contains(UInt8(ascii: "\n")) || request.readableBytes > Self.requestLimit {
                    break
                }
            }
            let answer = await self.answer(String(buffer: request))
            try await outbound.write(ByteBuffer(string: answer + "\n"))
        }
    }

    private func answer(_ request: String) async -> String {
        let words = request.split(whereSeparator: \.isWhitespace).map(String.init)
        guard words.count == 2, let command = QueueCommand(rawValue: words[0]) else {
            return QueueControlClient.encode(["error": "expected: retry|hold|release|delete <ID|all>"])
        }
        do {
            let changed = try await queue.control(command, QueueSelector(words[1]))
            return QueueControlClient.encode(["changed": changed])
        } catch {
            logger.error("postmaster command failed", metadata: ["command": "\(request)", "error": "\(error)"])
            return QueueControlClient.encode(["error": "\(error)"])
        }
    }
}

/// `tern queue retry|hold|release|delete`: sends the command to the running server through its
/// control socket, or, when no server runs on the data directory, applies it to the spool
/// files itself.
public enum QueueControlClient {
    public struct ControlError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func socketPath(dataDirectory: String) -> String {
        "\(dataDirectory)/control.sock"
    }

    public static func pidPath(dataDirectory: String) -> String {
        "\(dataDirectory)/tern.pid"
    }

    /// Runs `command` on `selector` (`all` or a queue ID); returns the IDs it changed.
    public static func run(_ command: QueueCommand, _ selector: String, dataDirectory: String) async throws
        -> [String]
    {
        let socket = socketPath(dataDirectory: dataDirectory)
        if let reply = try send("\(command.rawValue) \(selector)\n", to: socket) {
            guard let data = reply.data(using: .utf8),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { throw ControlError(description: "unexpected answer from the server: \(reply)") }
            if let error = object["error"] as? String { throw ControlError(description: error) }
            return object["changed"] as? [String] ?? []
        }
        if let pid = runningServer(dataDirectory: dataDirectory) {
            throw ControlError(
                description: "tern (pid \(pid)) is running on \(dataDirectory), but its control socket \(socket) "
                    + "does not answer")
        }
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let result: Result<[String], any Error>
        do {
            // One command, a few files: each synced on its own works on every filesystem.
            let spool = try Spool(root: "\(dataDirectory)/spool", sync: StoreSync(mode: .file, pool: pool))
            _ = try spool.recover()
            result = .success(try await QueueManager.control(command, QueueSelector(selector), store: spool))
        } catch {
            result = .failure(error)
        }
        try? await pool.shutdownGracefully()
        return try result.get()
    }

    /// The answer line, or nil when nobody listens on the socket.
    static func send(_ request: String, to path: String) throws -> String? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ControlError(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw ControlError(description: "control socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            if errno == ENOENT || errno == ECONNREFUSED { return nil }
            throw ControlError(description: "cannot connect to \(path): errno \(errno)")
        }
        var remaining = Array(request.utf8)[...]
        while !remaining.isEmpty {
            let written = remaining.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written > 0 else { throw ControlError(description: "cannot write to \(path): errno \(errno)") }
            remaining = remaining.dropFirst(written)
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            answer += buffer[0..<count]
        }
        return String(decoding: answer, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The pid of a live server on `dataDirectory`, from its pid file.
    static func runningServer(dataDirectory: String) -> Int32? {
        guard let text = try? String(contentsOfFile: pidPath(dataDirectory: dataDirectory), encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, kill(pid, 0) == 0
        else { return nil }
        return pid
    }

    static func encode(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
