import NIOCore

/// Idle outbound SMTP sessions kept for the next message to the same server (Postfix's
/// scache): a busy destination gets one TCP and TLS handshake per many messages instead of
/// one per message.
///
/// Sessions are keyed by the server's address and port, so domains that share an MX share its
/// sessions. A session waits at most `idleTime`, carries at most `maximumMessages` messages
/// and lives at most `maximumAge`, so a peer's limits and DNS changes take effect soon.
actor ConnectionCache {
    struct Limits: Sendable {
        var idleTime: Duration = .seconds(2)
        var maximumMessages = 100
        var maximumAge: Duration = .seconds(300)
        var maximumIdle = 1000
    }

    private struct Entry {
        let connection: SMTPClientConnection
        let generation: UInt64
    }

    private struct Usage {
        var messages: Int
        let opened: ContinuousClock.Instant
    }

    private let limits: Limits
    private var idle: [String: [Entry]] = [:]
    private var idleCount = 0
    private var usage: [ObjectIdentifier: Usage] = [:]
    private var generation: UInt64 = 0

    init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// An idle session to `key`, taken out of the cache.
    func take(_ key: String) -> SMTPClientConnection? {
        guard var entries = idle[key], let entry = entries.popLast() else { return nil }
        idle[key] = entries.isEmpty ? nil : entries
        idleCount -= 1
        return entry.connection
    }

    /// Counts the message just sent on `connection`, then keeps it for the next message to
    /// `key`, or ends it when it has done its share or the cache is full.
    func put(_ connection: SMTPClientConnection, key: String) {
        let id = ObjectIdentifier(connection)
        usage[id, default: Usage(messages: 0, opened: .now)].messages += 1
        let use = usage[id] ?? Usage(messages: 0, opened: .now)
        guard use.messages < limits.maximumMessages, use.opened.duration(to: .now) < limits.maximumAge,
            idleCount < limits.maximumIdle
        else {
            forget(connection)
            connection.finish()
            return
        }
        generation += 1
        let entry = Entry(connection: connection, generation: generation)
        idle[key, default: []].append(entry)
        idleCount += 1
        let idleTime = limits.idleTime
        Task { [generation] in
            try? await Task.sleep(for: idleTime)
            self.expire(key: key, generation: generation)
        }
    }

    /// Forgets a connection that is closed or finished.
    func forget(_ connection: SMTPClientConnection) {
        usage[ObjectIdentifier(connection)] = nil
    }

    /// Ends every idle session (at shutdown).
    func finishAll() {
        for entry in idle.values.joined() { entry.connection.finish() }
        idle = [:]
        idleCount = 0
        usage = [:]
    }

    private func expire(key: String, generation: UInt64) {
        guard var entries = idle[key], let index = entries.firstIndex(where: { $0.generation == generation }) else {
            return
        }
        let entry = entries.remove(at: index)
        idle[key] = entries.isEmpty ? nil : entries
        idleCount -= 1
        forget(entry.connection)
        entry.connection.finish()
    }
}
