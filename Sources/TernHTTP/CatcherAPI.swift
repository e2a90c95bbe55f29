import Foundation
import Hummingbird
public import Logging
public import NIOCore
public import Prometheus
public import ServiceLifecycle
import HTTPTypes
import TernMIME
import TernMail
import TernStore

/// The catcher's HTTP server: the JSON API under `/api/v1` (docs/api.md) and the health
/// checks, as a Service of the server's ServiceGroup.
public enum CatcherHTTP {
    /// The longest `/api/v1/wait` may hold a request.
    static let maximumWait: Duration = .seconds(300)

    public static func service(
        catcher: Catcher, host: String, port: Int, metrics: PrometheusCollectorRegistry?,
        release: (any MessageReleasing)?, group: any EventLoopGroup, logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void
    ) -> any Service {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: LocalOnly())
        routes(router, catcher: catcher)
        releaseRoute(router, catcher: catcher, release: release)
        if let metrics {
            router.get("metrics") { _, _ in
                var text = metrics.emitToString()
                text += "# HELP tern_catcher_messages Messages in the catcher, per inbox.\n"
                text += "# TYPE tern_catcher_messages gauge\n"
                let inboxes = try await catcher.inboxes()
                for inbox in inboxes { text += "tern_catcher_messages{inbox=\"\(labelValue(inbox.name))\"} \(inbox.total)\n" }
                text += "# HELP tern_catcher_unread_messages Unread messages in the catcher, per inbox.\n"
                text += "# TYPE tern_catcher_unread_messages gauge\n"
                for inbox in inboxes { text += "tern_catcher_unread_messages{inbox=\"\(labelValue(inbox.name))\"} \(inbox.unread)\n" }
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: text)))
            }
        }
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "Tern"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            eventLoopGroupProvider: .shared(group), logger: logger)
    }

    static func routes(_ router: Router<BasicRequestContext>, catcher: Catcher) {
        router.get("/") { _, _ in asset(WebPage.html, "text/html; charset=utf-8", policy: pagePolicy) }
        router.get("ui/app.css") { _, _ in asset(WebPage.css, "text/css; charset=utf-8", policy: pagePolicy) }
        router.get("ui/app.js") { _, _ in asset(WebPage.script, "text/javascript; charset=utf-8", policy: pagePolicy) }
        router.get("view/{id}") { request, context in
            guard let (_, content) = try await load(context, request, catcher) else { return notFound() }
            let remote = request.uri.queryParameters.get("remote") == "1"
            return asset(
                MessageView.html(content), "text/html; charset=utf-8", policy: MessageView.policy(remoteImages: remote))
        }
        router.get("healthz") { _, _ in plain("ok") }
        router.get("livez") { _, _ in plain("ok") }
        router.get("readyz") { _, _ in plain("ok") }

        let api = router.group("api/v1")
        api.get("messages") { request, _ in
            let (start, limit) = page(request)
            let filter = filter(request, query: nil)
            return try json(APIMessageList(try await catcher.search(filter, offset: start, limit: limit), start: start))
        }
        api.get("search") { request, _ in
            let (start, limit) = page(request)
            let query = request.uri.queryParameters.get("query").map { String($0) } ?? ""
            let filter = filter(request, query: query)
            return try json(APIMessageList(try await catcher.search(filter, offset: start, limit: limit), start: start))
        }
        api.delete("search") { request, _ in
            let query = request.uri.queryParameters.get("query").map { String($0) } ?? ""
            guard !query.trimmingCharacters(in: .whitespaces).isEmpty else { return plain("query is required", .badRequest) }
            _ = try await catcher.delete(matching: filter(request, query: query))
            return plain("ok")
        }
        api.delete("messages") { request, context in
            let selection = try await selection(request, context)
            if let ids = selection.ids, !ids.isEmpty {
                try await catcher.delete(ids: ids)
            } else {
                _ = try await catcher.delete(matching: filter(request, query: selection.search))
            }
            return plain("ok")
        }
        api.put("messages") { request, context in
            let selection = try await selection(request, context)
            let read = selection.read ?? true
            var ids = selection.ids ?? []
            if ids.isEmpty {
                ids = try await catcher.search(filter(request, query: selection.search), offset: 0, limit: Int.max)
                    .messages.map(\.id)
            }
            try await catcher.setRead(ids: ids, read: read)
            return plain("ok")
        }
        api.get("inboxes") { _, _ in
            try json(try await catcher.inboxes().map { APIInbox(name: $0.name, total: $0.total, unread: $0.unread) })
        }
        api.get("message/{id}") { request, context in
            guard let (message, content) = try await load(context, request, catcher) else { return notFound() }
            // As in Mailpit, opening a message marks it read.
            if !message.read { try await catcher.setRead(ids: [message.id], read: true) }
            var shown = message
            shown.read = true
            return try json(APIMessage(shown, content: content))
        }
        api.get("message/{id}/raw") { request, context in
            guard let (message, content) = try await load(context, request, catcher) else { return notFound() }
            var headers: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
            if request.uri.queryParameters.get("dl") == "1" {
                headers[.contentDisposition] = "attachment; filename=\"\(message.id).eml\""
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: content.raw)))
        }
        api.get("message/{id}/headers") { request, context in
            guard let (_, content) = try await load(context, request, catcher) else { return notFound() }
            var headers: [String: [String]] = [:]
            for field in content.root.header { headers[field.name, default: []].append(field.value) }
            return try json(headers)
        }
        api.get("message/{id}/part/{part}") { request, context in
            guard let (_, content) = try await load(context, request, catcher),
                let part = content.root.part(try context.parameters.require("part")), part.children.isEmpty
                    || part.contentType.isEmbeddedMessage
            else { return notFound() }
            var contentType = part.contentType.essence
            if let charset = part.contentType.parameter("charset") { contentType += "; charset=\(charset)" }
            var headers: HTTPFields = [.contentType: contentType]
            if let filename = part.filename {
                let ascii = String(filename.unicodeScalars.filter { $0.isASCII && $0 != "\"" && $0 != "\\" })
                let encoded = filename.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ascii
                headers[.contentDisposition] = "attachment; filename=\"\(ascii)\"; filename*=UTF-8''\(encoded)"
            }
            // A part is never rendered by the browser as a page of this origin.
            headers[.contentSecurityPolicy] = "sandbox"
            headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
            let body = part.contentType.isEmbeddedMessage ? Array(content.raw[part.bodyRange]) : content.decodedBody(part)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        api.get("wait") { request, _ in
            let query = request.uri.queryParameters.get("query").map { String($0) } ?? ""
            guard let timeout = waitTimeout(request.uri.queryParameters.get("timeout")) else {
                return plain("timeout must be a number of seconds", .badRequest)
            }
            let found = await cancelWhenGracefulShutdown {
                await catcher.waitForNext(filter(request, query: query), timeout: timeout)
            }
            guard let message = found, let raw = try await catcher.raw(message) else {
                return plain("no matching message arrived within \(timeout)", .requestTimeout)
            }
            return try json(APIMessage(message, content: MessageContent(raw: raw)))
        }
        api.get("events") { _, _ in
            let events = await catcher.events()
            let body = ResponseBody { writer in
                try await writer.write(ByteBuffer(string: ": Tern catcher events\n\n"))
                for await event in events.cancelOnGracefulShutdown() {
                    try await writer.write(ByteBuffer(string: try serverSentEvent(event)))
                }
                try await writer.finish(nil)
            }
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
        }
    }

    /// `POST /api/v1/message/{ID}/release` with `{"To": [...]}`.
    static func releaseRoute(_ router: Router<BasicRequestContext>, catcher: Catcher, release: (any MessageReleasing)?) {
        router.post("api/v1/message/{id}/release") { request, context in
            guard let release else {
                return plain("release is not configured ([catcher.release] in the configuration)", .serviceUnavailable)
            }
            var request = request
            let body = try await request.collectBody(upTo: 64 * 1024)
            guard let asked = try? JSONDecoder().decode(APIRelease.self, from: Data(body.readableBytesView)),
                !asked.to.isEmpty, asked.to.allSatisfy({ $0.contains("@") && !$0.contains(where: \.isWhitespace) })
            else { return plain("the body must be {\"To\": [\"address\", ...]}", .badRequest) }
            let refused = release.disallowed(asked.to)
            guard refused.isEmpty else {
                return plain("not in an allowed domain: \(refused.joined(separator: ", "))", .badRequest)
            }
            guard let (message, _) = try await load(context, request, catcher), let path = await catcher.absolutePath(message)
            else { return notFound() }
            let sender = message.from?.address ?? ""
            do {
                let failures = try await release.release(path: path, size: message.size, sender: sender, recipients: asked.to)
                guard failures.isEmpty else {
                    let text = failures.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
                    return plain("the server refused: \(text)", .badGateway)
                }
                return plain("ok")
            } catch {
                return plain("release failed: \(error)", .badGateway)
            }
        }
    }

    // MARK: Helpers

    /// `wait`'s `timeout`: seconds, 30 when absent, clamped to 0...`maximumWait`; nil when it is
    /// not a finite number. The clamp comes before any conversion: `1e300` seconds in
    /// milliseconds does not fit an `Int64`, and that conversion traps.
    static func waitTimeout<Text: StringProtocol>(_ text: Text?) -> Duration? {
        guard let text else { return .seconds(30) }
        guard let seconds = Double(String(text)), seconds.isFinite else { return nil }
        let maximum = Double(maximumWait.components.seconds)
        return .milliseconds(Int64((min(max(seconds, 0), maximum) * 1000).rounded()))
    }

    /// `start` and `limit` as Mailpit takes them: bad or negative values fall back to 0 and 50.
    static func page(_ request: Request) -> (Int, Int) {
        let start = request.uri.queryParameters.get("start").flatMap { ASCIIDecimal.parse($0, in: 0...Int.max) } ?? 0
        let limit = request.uri.queryParameters.get("limit").flatMap { ASCIIDecimal.parse($0, in: 1...Int.max) } ?? 50
        return (start, min(limit, 10_000))
    }

    /// The search query plus `?inbox=NAME`.
    static func filter(_ request: Request, query: String?) -> MessageFilter {
        var filter = SearchQuery.parse(query ?? "")
        if let inbox = request.uri.queryParameters.get("inbox"), !inbox.isEmpty {
            filter.conditions.append(.contains(.inbox, CatcherStore.inboxName(login: String(inbox))))
        }
        return filter
    }

    /// The message named by `{id}`, or the newest one for `latest` (within `?query=` and
    /// `?inbox=`), with its parsed content.
    static func load(_ context: BasicRequestContext, _ request: Request, _ catcher: Catcher) async throws
        -> (IndexedMessage, MessageContent)?
    {
        let id = try context.parameters.require("id")
        let message: IndexedMessage?
        if id == "latest" {
            let query = request.uri.queryParameters.get("query").map { String($0) }
            message = try await catcher.latest(filter(request, query: query))
        } else {
            message = try await catcher.message(id: id)
        }
        guard let message, let raw = try await catcher.raw(message) else { return nil }
        return (message, MessageContent(raw: raw))
    }

    static func selection(_ request: Request, _ context: BasicRequestContext) async throws -> APISelection {
        var request = request
        let body = try await request.collectBody(upTo: 16 * 1024 * 1024)
        guard body.readableBytes > 0 else { return APISelection() }
        do {
            return try JSONDecoder().decode(APISelection.self, from: Data(body.readableBytesView))
        } catch {
            throw HTTPError(.badRequest, message: "the body is not {\"IDs\": [...]} JSON")
        }
    }

    static func serverSentEvent(_ event: CatcherEvent) throws -> String {
        let (name, data): (String, Data)
        switch event {
        case .stored(let message): (name, data) = ("stored", try encoder.encode(APIMessageSummary(message)))
        case .updated(let message): (name, data) = ("updated", try encoder.encode(APIMessageSummary(message)))
        case .deleted(let id): (name, data) = ("deleted", try encoder.encode(["ID": id]))
        }
        return "event: \(name)\ndata: \(String(decoding: data, as: UTF8.self))\n\n"
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    static func json(_ value: some Encodable) throws -> Response {
        let data = try encoder.encode(value)
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func plain(_ text: String, _ status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A Prometheus label value: backslash, quote and line feed escaped.
    static func labelValue(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func notFound() -> Response { plain("404 page not found", .notFound) }

    /// The UI's own files may come only from here; the message view is framed from here too.
    static let pagePolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

    static func asset(_ text: String, _ type: String, policy: String) -> Response {
        var headers: HTTPFields = [.contentType: type, .contentSecurityPolicy: policy, .cacheControl: "no-cache"]
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
