import Crypto
public import Foundation
import HTTPTypes
import Hummingbird
public import Logging
public import NIOCore
public import Prometheus
public import ServiceLifecycle

/// What the admin API asks of a running server (`tern serve`): its queue and its directory.
/// TernApp implements it over the queue manager and the directory database; listings come back
/// as the JSON `tern queue list --json`, `tern user list --json`, ... print, so the API and the
/// command line say the same thing the same way.
public protocol ServerAdministration: Sendable {
    func queueList() async throws -> Data
    /// Nil for a message not in the queue.
    func queueMessage(_ id: String) async throws -> Data?
    /// `retry`, `hold`, `release` or `delete` on a queue ID or `all`; the IDs it changed.
    func queueControl(_ command: String, _ selector: String) async throws -> [String]
    /// What the queue holds by state, for `/metrics`.
    func queueDepth() async -> [(state: String, count: Int)]

    func domains() async throws -> Data
    func addDomain(_ name: String) async throws
    func removeDomain(_ name: String) async throws
    func users() async throws -> Data
    func user(_ address: String) async throws -> Data
    func addUser(_ user: AdminUser) async throws
    func changeUser(_ address: String, _ change: AdminUser) async throws
    func removeUser(_ address: String) async throws
    func aliases() async throws -> Data
    func addAlias(_ address: String, targets: [String]) async throws
    func removeAlias(_ address: String, target: String?) async throws
}

/// A user as the admin API takes one (`POST /api/v1/users`, `PUT /api/v1/users/{address}`):
/// the fields of `tern user add|set`, each optional on a change.
public struct AdminUser: Codable, Sendable {
    public var address: String?
    public var password: String?
    public var displayName: String?
    public var sendAs: [String]?
    public var quotaBytes: Int64?
    public var enabled: Bool?

    enum CodingKeys: String, CodingKey {
        case address, password, enabled
        case displayName = "display_name"
        case sendAs = "send_as"
        case quotaBytes = "quota_bytes"
    }
}

/// A refusal of the admin API with its status: what the directory or the queue said was wrong.
public struct AdminError: Error, Sendable {
    public enum Kind: Sendable {
        case badRequest, notFound, conflict
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

/// Serve mode's HTTP listener (`[http]`): `/metrics` for Prometheus, `/healthz` and `/readyz`,
/// and, with an `admin_token`, the JSON admin API under `/api/v1` (docs/admin-api.md).
///
/// Security notes: the admin API wants `Authorization: Bearer <admin_token>` on every request,
/// compared in constant time; anything else gets `401` with `WWW-Authenticate`, and nothing is
/// said about what exists. Without a token the admin routes are not served at all. Bodies are
/// JSON of at most 64 KB. The listener is off by default and on loopback when the
/// configuration gives no address.
public enum OperationsHTTP {
    public static func service(
        host: String, port: Int, metrics: PrometheusCollectorRegistry?, administration: any ServerAdministration,
        adminToken: String?, idleTimeout: Duration = CatcherHTTP.defaultIdleTimeout, group: any EventLoopGroup,
        logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void
    ) -> any Service {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: NoSniff())
        var routes = Routes(router)
        routes.get("healthz") { _, _ in CatcherHTTP.plain("ok") }
        routes.get("livez") { _, _ in CatcherHTTP.plain("ok") }
        routes.get("readyz") { _, _ in CatcherHTTP.plain("ok") }
        routes.get("metrics") { _, _ in
            var text = metrics?.emitToString() ?? ""
            text += "# HELP tern_queue_messages Messages in the queue, by state.\n"
            text += "# TYPE tern_queue_messages gauge\n"
            for (state, count) in await administration.queueDepth() {
                text += "tern_queue_messages{state=\"\(state)\"} \(count)\n"
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        if let adminToken {
            adminRoutes(&routes, administration: administration, token: adminToken)
        }
        router.add(middleware: routes.methodCheck)
        return Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: CatcherHTTP.timeAmount(idleTimeout))),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "Tern"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            eventLoopGroupProvider: .shared(group), logger: logger)
    }

    static func adminRoutes(_ routes: inout Routes, administration: any ServerAdministration, token: String) {
        let check = BearerToken(token)
        func admin(_ handler: @escaping Routes.Handler) -> Routes.Handler {
            { request, context in
                guard check.allows(request.headers[.authorization]) else {
                    return unauthorized()
                }
                do {
                    return try await handler(request, context)
                } catch let error as AdminError {
                    let status: HTTPResponse.Status =
                        switch error.kind {
                        case .badRequest: .badRequest
                        case .notFound: .notFound
                        case .conflict: .conflict
                        }
                    return CatcherHTTP.plain(error.message, status)
                }
            }
        }

        routes.get("api/v1/queue", use: admin { _, _ in jsonData(try await administration.queueList()) })
        routes.get("api/v1/queue/{id}", use: admin { _, context in
            let id = try context.parameters.require("id")
            guard let record = try await administration.queueMessage(id) else { return CatcherHTTP.notFound() }
            return jsonData(record)
        })
        routes.delete("api/v1/queue/{id}", use: admin { _, context in
            try changed(try await administration.queueControl("delete", try context.parameters.require("id")))
        })
        for command in ["retry", "hold", "release"] {
            routes.post("api/v1/queue/{id}/\(command)", use: admin { _, context in
                try changed(try await administration.queueControl(command, try context.parameters.require("id")))
            })
        }

        routes.get("api/v1/domains", use: admin { _, _ in jsonData(try await administration.domains()) })
        routes.post("api/v1/domains", use: admin { request, _ in
            let body = try await decode([String: String].self, request)
            guard let name = body["name"] else { throw AdminError(.badRequest, "the body must be {\"name\": \"example.org\"}") }
            try await administration.addDomain(name)
            return CatcherHTTP.plain("ok", .created)
        })
        routes.delete("api/v1/domains/{name}", use: admin { _, context in
            try await administration.removeDomain(try context.parameters.require("name"))
            return CatcherHTTP.plain("ok")
        })

        routes.get("api/v1/users", use: admin { _, _ in jsonData(try await administration.users()) })
        routes.post("api/v1/users", use: admin { request, _ in
            try await administration.addUser(try await decode(AdminUser.self, request))
            return CatcherHTTP.plain("ok", .created)
        })
        routes.get("api/v1/users/{address}", use: admin { _, context in
            jsonData(try await administration.user(try context.parameters.require("address")))
        })
        routes.put("api/v1/users/{address}", use: admin { request, context in
            try await administration.changeUser(
                try context.parameters.require("address"), try await decode(AdminUser.self, request))
            return CatcherHTTP.plain("ok")
        })
        routes.delete("api/v1/users/{address}", use: admin { _, context in
            try await administration.removeUser(try context.parameters.require("address"))
            return CatcherHTTP.plain("ok")
        })

        routes.get("api/v1/aliases", use: admin { _, _ in jsonData(try await administration.aliases()) })
        routes.post("api/v1/aliases", use: admin { request, _ in
            struct NewAlias: Decodable {
                var address: String
                var targets: [String]
            }
            let alias = try await decode(NewAlias.self, request)
            try await administration.addAlias(alias.address, targets: alias.targets)
            return CatcherHTTP.plain("ok", .created)
        })
        routes.delete("api/v1/aliases/{address}", use: admin { request, context in
            try await administration.removeAlias(
                try context.parameters.require("address"), target: request.uri.queryParameters["target"].map(String.init))
            return CatcherHTTP.plain("ok")
        })
    }

    static func unauthorized() -> Response {
        var response = CatcherHTTP.plain("a valid admin token is required (Authorization: Bearer ...)", .unauthorized)
        response.headers[.wwwAuthenticate] = "Bearer realm=\"tern\""
        return response
    }

    static func jsonData(_ data: Data) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func changed(_ ids: [String]) throws -> Response {
        try CatcherHTTP.json(["changed": ids])
    }

    /// The request's JSON body, at most 64 KB, as `type`; `400` for anything else.
    static func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        var request = request
        let body = try await request.collectBody(upTo: 64 * 1024)
        do {
            return try JSONDecoder().decode(type, from: Data(body.readableBytesView))
        } catch {
            throw AdminError(.badRequest, "the body is not the JSON this request takes (docs/admin-api.md)")
        }
    }
}

/// `Authorization: Bearer <token>` (RFC 6750 §2.1), compared in constant time over the token's
/// SHA-256, so neither its length nor its content leaks through timing.
struct BearerToken: Sendable {
    private let digest: [UInt8]

    init(_ token: String) {
        digest = Array(SHA256.hash(data: Array(token.utf8)))
    }

    func allows(_ header: String?) -> Bool {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return false }
        let offered = Array(SHA256.hash(data: Array(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)))
        var difference: UInt8 = 0
        for (a, b) in zip(offered, digest) { difference |= a ^ b }
        return difference == 0
    }
}
