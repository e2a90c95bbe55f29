import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import TernMail
import TernStore

/// Mailpit's WebSocket `/api/events`, beside Tern's server-sent `/api/v1/events`: each change
/// as one text message `{"Type": ..., "Data": ...}`: `new` (a message summary), `update`
/// (`{"ID", "Read"}`), `delete` (`{"ID"}`), and `stats` (`{"Total", "Unread", "Version"}`) after
/// changes, at most four times a second.
///
/// Security notes: a WebSocket is not bound by the same-origin policy, so the upgrade is checked
/// here, before the router (which never sees it): the `Host` must name the catcher as
/// `LocalOnly` wants, and a browser's `Origin` must be the catcher's own (a page elsewhere
/// could otherwise read the mail as it arrives). Clients outside a browser send no `Origin`.
/// Streams count against `Catcher.Limits.listeners` with the server-sent ones; past it the
/// socket is closed at once with 1013 (try again later).
enum CatcherWebSocket {
    static let path = "/api/events"

    typealias Upgrade = ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>>

    static func shouldUpgrade(catcher: Catcher, allowedHosts: Set<String>)
        -> @Sendable (HTTPRequest, any Channel, Logger) async throws -> Upgrade
    {
        { request, _, _ in
            guard request.path?.split(separator: "?", maxSplits: 1).first == Substring(path),
                mayUpgrade(authority: request.authority, origin: request.headerFields[.origin], allowedHosts: allowedHosts)
            else { return .dontUpgrade }
            return .upgrade([:]) { inbound, outbound, _ in
                guard let events = await catcher.events() else {
                    try await outbound.close(.unknown(1013), reason: "too many event streams")
                    return
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // Reading is what notices the client's close (and answers its pings).
                    group.addTask { for try await _ in inbound {} }
                    group.addTask { try await forward(events, catcher: catcher, to: outbound) }
                    try await group.next()
                    group.cancelAll()
                }
            }
        }
    }

    /// Whether an upgrade request may become an event stream: `Host` local or allowed, and
    /// `Origin` (when a browser sends one) naming the same host and port as `Host`.
    static func mayUpgrade(authority: String?, origin: String?, allowedHosts: Set<String>) -> Bool {
        typealias Guard = LocalOnly<BasicRequestContext>
        guard let authority, Guard.isLocalName(authority) || Guard(allowedHosts: allowedHosts).allows(authority) else {
            return false
        }
        guard let origin else { return true }
        guard let scheme = origin.range(of: "://"), ["http", "https"].contains(origin[..<scheme.lowerBound].lowercased())
        else { return false }
        return origin[scheme.upperBound...].lowercased() == authority.lowercased()
    }

    /// One item of the merged stream: a catcher event, or the tick that may send stats.
    private enum Item: Sendable {
        case event(CatcherEvent)
        case tick
    }

    private static func forward(
        _ events: AsyncStream<CatcherEvent>, catcher: Catcher, to outbound: WebSocketOutboundWriter
    ) async throws {
        let (items, feed) = AsyncStream<Item>.makeStream(bufferingPolicy: .bufferingNewest(1000))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in events { feed.yield(.event(event)) }
                feed.finish()
            }
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: .milliseconds(250))
                    feed.yield(.tick)
                }
            }
            var changed = false
            for await item in items {
                switch item {
                case .event(let event):
                    try await outbound.write(.text(try notification(event)))
                    changed = true
                case .tick:
                    guard changed else { continue }
                    changed = false
                    let inboxes = try await catcher.inboxes()
                    let stats = Stats(
                        total: inboxes.reduce(0) { $0 + $1.total }, unread: inboxes.reduce(0) { $0 + $1.unread },
                        version: TernVersion.current)
                    try await outbound.write(.text(try encode(type: "stats", stats)))
                }
            }
            group.cancelAll()
        }
    }

    static func notification(_ event: CatcherEvent) throws -> String {
        switch event {
        case .stored(let message): try encode(type: "new", APIMessageSummary(message))
        case .updated(let message): try encode(type: "update", ReadState(id: message.id, read: message.read))
        case .deleted(let id): try encode(type: "delete", ["ID": id])
        }
    }

    private static func encode(type: String, _ data: some Encodable) throws -> String {
        String(decoding: try CatcherHTTP.encoder.encode(Notification(type: type, data: data)), as: UTF8.self)
    }

    private struct Notification<Payload: Encodable>: Encodable {
        var type: String
        var data: Payload

        enum CodingKeys: String, CodingKey {
            case type = "Type"
            case data = "Data"
        }
    }

    private struct ReadState: Encodable {
        var id: String
        var read: Bool

        enum CodingKeys: String, CodingKey {
            case id = "ID"
            case read = "Read"
        }
    }

    private struct Stats: Encodable {
        var total: Int
        var unread: Int
        var version: String

        enum CodingKeys: String, CodingKey {
            case total = "Total"
            case unread = "Unread"
            case version = "Version"
        }
    }
}
