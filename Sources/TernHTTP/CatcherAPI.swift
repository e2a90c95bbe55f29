import Foundation
import Hummingbird
import HummingbirdWebSocket
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
///
/// Security notes: it listens on loopback only (TernApp refuses another address: the API has
/// no authentication); `LocalOnly` keeps web pages elsewhere out; every response says
/// `nosniff` (`NoSniff`); a connection that sends no complete request within `idleTimeout`
/// (a slow header) or stays idle that long between requests is closed; at most
/// `Catcher.Limits` clients wait or listen to events at once (503 beyond); a known path asked
/// with another method gets 405 (`Routes`).
public enum CatcherHTTP {
    /// The longest `/api/v1/wait` may hold a request.
    static let maximumWait: Duration = .seconds(300)

    /// How long a connection may take to send a whole request header, and stay idle between
    /// requests, by default. A response being written (a `wait`, an event stream) is not idle.
    public static let defaultIdleTimeout: Duration = .seconds(30)

    public static func service(
        catcher: Catcher, host: String, port: Int, metrics: PrometheusCollectorRegistry?,
        release: (any MessageReleasing)?, authentication: CatcherAuthentication? = nil,
        information: CatcherInformation? = nil, chaos: (any CatcherChaos)? = nil, allowedHosts: [String] = [],
        idleTimeout: Duration = defaultIdleTimeout, group: any EventLoopGroup,
        logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void
    ) -> any Service {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: NoSniff())
        router.add(middleware: LocalOnly(allowedHosts: Set(allowedHosts.map { $0.lowercased() })))
        var routes = Routes(router)
        self.routes(&routes, catcher: catcher)
        releaseRoute(&routes, catcher: catcher, release: release)
        sendRoute(&routes, catcher: catcher)
        if let chaos { chaosRoutes(&routes, chaos: chaos) }
        authenticationRoute(&routes, catcher: catcher, authentication: authentication)
        if let information {
            informationRoutes(&routes, catcher: catcher, information: information, release: release, chaos: chaos != nil)
        }
        if let metrics {
            routes.get("metrics") { _, _ in
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
        router.add(middleware: routes.methodCheck)
        let hosts = Set(allowedHosts.map { $0.lowercased() })
        return Application(
            router: router,
            server: CatcherChildChannel.builder(
                idleTimeout: timeAmount(idleTimeout),
                shouldUpgrade: CatcherWebSocket.shouldUpgrade(catcher: catcher, allowedHosts: hosts)),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "Tern"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            eventLoopGroupProvider: .shared(group), logger: logger)
    }

    static func routes(_ routes: inout Routes, catcher: Catcher) {
        routes.get("/") { _, _ in asset(WebPage.html, "text/html; charset=utf-8", policy: pagePolicy) }
        routes.get("ui/app.css") { _, _ in asset(WebPage.css, "text/css; charset=utf-8", policy: pagePolicy) }
        routes.get("ui/app.js") { _, _ in asset(WebPage.script, "text/javascript; charset=utf-8", policy: pagePolicy) }
        // `/view/{ID}` (the web UI's frame), and Mailpit's `/view/{ID}.html` and `/view/{ID}.txt`.
        routes.get("view/{id}") { request, context in
            var id = try context.parameters.require("id")
            var text = false
            if id.hasSuffix(".html") {
                id.removeLast(5)
            } else if id.hasSuffix(".txt") {
                id.removeLast(4)
                text = true
            }
            guard let (_, content) = try await load(id, request, catcher) else { return notFound() }
            if text {
                var response = plain(content.textBody ?? "")
                response.headers[.contentSecurityPolicy] = "sandbox"
                return response
            }
            let remote = request.form["remote"] == "1"
            return asset(
                MessageView.html(content), "text/html; charset=utf-8", policy: MessageView.policy(remoteImages: remote))
        }
        routes.get("healthz") { _, _ in plain("ok") }
        routes.get("livez") { _, _ in plain("ok") }
        routes.get("readyz") { _, _ in plain("ok") }

        routes.get("api/v1/messages") { request, _ in
            let (start, limit) = page(request)
            let filter = filter(request, query: nil)
            return try json(APIMessageList(try await catcher.search(filter, offset: start, limit: limit), start: start))
        }
        routes.get("api/v1/search") { request, _ in
            let (start, limit) = page(request)
            let query = request.form["query"] ?? ""
            let filter = filter(request, query: query)
            return try json(APIMessageList(try await catcher.search(filter, offset: start, limit: limit), start: start))
        }
        routes.delete("api/v1/search") { request, _ in
            let query = request.form["query"] ?? ""
            // Never "delete everything" for want of a term: a query of white space and quotes
            // is refused, as a missing one is.
            guard !SearchQuery.terms(query).isEmpty else { return plain("query needs a search term", .badRequest) }
            _ = try await catcher.delete(matching: filter(request, query: query))
            return plain("ok")
        }
        routes.delete("api/v1/messages") { request, context in
            let selection = try await selection(request, context)
            if let ids = selection.ids, !ids.isEmpty {
                try await catcher.delete(ids: ids)
            } else {
                _ = try await catcher.delete(matching: filter(request, query: selection.search))
            }
            return plain("ok")
        }
        routes.put("api/v1/messages") { request, context in
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
        routes.get("api/v1/inboxes") { _, _ in
            try json(try await catcher.inboxes().map { APIInbox(name: $0.name, total: $0.total, unread: $0.unread) })
        }
        routes.get("api/v1/message/{id}") { request, context in
            guard let (message, content) = try await load(context, request, catcher) else { return notFound() }
            // As in Mailpit, opening a message marks it read.
            if !message.read { try await catcher.setRead(ids: [message.id], read: true) }
            var shown = message
            shown.read = true
            return try json(APIMessage(shown, content: content))
        }
        routes.get("api/v1/message/{id}/raw") { request, context in
            guard let (message, content) = try await load(context, request, catcher) else { return notFound() }
            var headers: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
            if request.form["dl"] == "1" {
                headers[.contentDisposition] = "attachment; filename=\"\(message.id).eml\""
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: content.raw)))
        }
        routes.get("api/v1/message/{id}/headers") { request, context in
            guard let (_, content) = try await load(context, request, catcher) else { return notFound() }
            var headers: [String: [String]] = [:]
            for field in content.root.header { headers[field.name, default: []].append(field.value) }
            return try json(headers)
        }
        routes.get("api/v1/message/{id}/part/{part}") { request, context in
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
            let body = part.contentType.isEmbeddedMessage ? Array(content.raw[part.bodyRange]) : content.decodedBody(part)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        routes.get("api/v1/wait") { request, _ in
            let query = request.form["query"] ?? ""
            guard let timeout = waitTimeout(request.form["timeout"]) else {
                return plain("timeout must be a number of seconds", .badRequest)
            }
            let filter = filter(request, query: query)
            // A client that goes away ends its wait (and frees its place) at once.
            let result =
                (try? await request.body.consumeWithCancellationOnInboundClose { _ in
                    await cancelWhenGracefulShutdown { await catcher.waitForNext(filter, timeout: timeout) }
                }) ?? .timedOut
            // The wait watched the connection for its close, which ends it for more requests:
            // say so (RFC 9112 §9.6).
            var response: Response
            switch result {
            case .busy:
                response = busy("too many clients are waiting (at most \(catcher.limits.waiters))")
            case .timedOut:
                response = plain("no matching message arrived within \(timeout)", .requestTimeout)
            case .arrived(let message):
                if let raw = try await catcher.raw(message) {
                    response = try json(APIMessage(message, content: MessageContent(raw: raw)))
                } else {
                    response = plain("no matching message arrived within \(timeout)", .requestTimeout)
                }
            }
            response.headers[.connection] = "close"
            return response
        }
        routes.get("api/v1/events") { request, _ in
            guard let events = await catcher.events() else {
                return busy("too many event streams are open (at most \(catcher.limits.listeners))")
            }
            let body = ResponseBody { writer in
                try await writer.write(ByteBuffer(string: ": Tern catcher events\n\n"))
                // A client that goes away ends its stream (and frees its place) at once, not at
                // the next event that fails to reach it.
                try? await request.body.consumeWithCancellationOnInboundClose { _ in
                    for await event in events.cancelOnGracefulShutdown() {
                        try await writer.write(ByteBuffer(string: try serverSentEvent(event)))
                    }
                }
                try await writer.finish(nil)
            }
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
        }
    }

    /// `POST /api/v1/message/{ID}/release` with `{"To": [...]}`.
    static func releaseRoute(_ routes: inout Routes, catcher: Catcher, release: (any MessageReleasing)?) {
        routes.post("api/v1/message/{id}/release") { request, context in
            guard let release else {
                return plain("release is not configured ([catcher.release] in the configuration)", .serviceUnavailable)
            }
            var request = request
            let body = try await request.collectBody(upTo: 64 * 1024)
            guard let asked = try? JSONDecoder().decode(APIRelease.self, from: Data(body.readableBytesView)),
                !asked.to.isEmpty
            else { return plain("the body must be {\"To\": [\"address\", ...]}", .badRequest) }
            if let malformed = asked.to.first(where: { !APIRelease.isAddress($0) }) {
                return plain("not an address (local@domain.example): \(malformed)", .badRequest)
            }
            let refused = release.disallowed(asked.to)
            guard refused.isEmpty else {
                return plain("not in an allowed domain: \(refused.joined(separator: ", "))", .badRequest)
            }
            guard let (message, _) = try await load(context, request, catcher), let source = await catcher.source(message)
            else { return notFound() }
            let sender = message.from?.address ?? ""
            do {
                let failures = try await release.release(source, sender: sender, recipients: asked.to)
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

    /// `GET /api/v1/message/{ID}/authentication`: DKIM, SPF and DMARC as a receiving MX would
    /// find them now (`CatcherAuthentication`).
    static func authenticationRoute(_ routes: inout Routes, catcher: Catcher, authentication: CatcherAuthentication?) {
        routes.get("api/v1/message/{id}/authentication") { request, context in
            guard let authentication else {
                return plain("mail authentication checks need a DNS resolver ([dns] in the configuration)", .serviceUnavailable)
            }
            guard let (_, content) = try await load(context, request, catcher) else { return notFound() }
            return try json(await authentication.report(content))
        }
    }

    // MARK: Helpers

    /// `wait`'s `timeout`: seconds, 30 when absent, clamped to 0...`maximumWait`; nil when it is
    /// not a number as JSON writes one (RFC 8259 §6, what docs/openapi.yaml's `type: number`
    /// means: no `inf`, `nan`, hexadecimal, `+5` or `.5`) or too large for a `Double`. The clamp
    /// comes before any conversion: `1e300` seconds in milliseconds does not fit an `Int64`,
    /// and that conversion traps.
    static func waitTimeout<Text: StringProtocol>(_ text: Text?) -> Duration? {
        guard let text else { return .seconds(30) }
        guard isJSONNumber(text), let seconds = Double(String(text)), seconds.isFinite else { return nil }
        let maximum = Double(maximumWait.components.seconds)
        return .milliseconds(Int64((min(max(seconds, 0), maximum) * 1000).rounded()))
    }

    /// `number = [ "-" ] int [ frac ] [ exp ]` of RFC 8259 §6: `int = "0" / ( digit1-9 *DIGIT )`,
    /// `frac = "." 1*DIGIT`, `exp = ( "e" / "E" ) [ "-" / "+" ] 1*DIGIT`.
    static func isJSONNumber(_ text: some StringProtocol) -> Bool {
        let octets = Array(text.utf8)
        var index = 0
        func digits() -> Int {
            let start = index
            while index < octets.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(octets[index]) { index += 1 }
            return index - start
        }
        if index < octets.count, octets[index] == UInt8(ascii: "-") { index += 1 }
        guard index < octets.count else { return false }
        if octets[index] == UInt8(ascii: "0") {
            index += 1
        } else if digits() == 0 {
            return false
        }
        if index < octets.count, octets[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return false }
        }
        if index < octets.count, octets[index] == UInt8(ascii: "e") || octets[index] == UInt8(ascii: "E") {
            index += 1
            if index < octets.count, octets[index] == UInt8(ascii: "+") || octets[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { return false }
        }
        return index == octets.count
    }

    /// A `Duration` as NIO's `TimeAmount`, saturating instead of trapping.
    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return .zero }
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, overflowAgain) = nanoseconds.addingReportingOverflow(attoseconds / 1_000_000_000)
        return .nanoseconds(overflow || overflowAgain ? .max : total)
    }

    /// `start` and `limit` as Mailpit takes them: bad or negative values fall back to 0 and 50.
    static func page(_ request: Request) -> (Int, Int) {
        let form = request.form
        let start = form["start"].flatMap { ASCIIDecimal.parse($0, in: 0...Int.max) } ?? 0
        let limit = form["limit"].flatMap { ASCIIDecimal.parse($0, in: 1...Int.max) } ?? 50
        return (start, min(limit, 10_000))
    }

    /// The search query plus `?inbox=NAME`.
    static func filter(_ request: Request, query: String?) -> MessageFilter {
        var filter = SearchQuery.parse(query ?? "")
        if let inbox = request.form["inbox"], !inbox.isEmpty {
            filter.conditions.append(.contains(.inbox, CatcherStore.inboxName(login: inbox)))
        }
        return filter
    }

    /// The message named by `{id}`, or the newest one for `latest` (within `?query=` and
    /// `?inbox=`), with its parsed content.
    static func load(_ context: BasicRequestContext, _ request: Request, _ catcher: Catcher) async throws
        -> (IndexedMessage, MessageContent)?
    {
        try await load(try context.parameters.require("id"), request, catcher)
    }

    /// The message `id` names (`latest`: the newest matching `?query=` and `?inbox=`), read.
    static func load(_ id: String, _ request: Request, _ catcher: Catcher) async throws -> (IndexedMessage, MessageContent)? {
        let message: IndexedMessage?
        if id == "latest" {
            let query = request.form["query"]
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

    /// 503 for a client past a limit, with when to try again.
    static func busy(_ text: String) -> Response {
        var response = plain(text, .serviceUnavailable)
        response.headers[.retryAfter] = "5"
        return response
    }

    /// The UI's own files may come only from here; the message view is framed from here too.
    static let pagePolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

    static func asset(_ text: String, _ type: String, policy: String) -> Response {
        var headers: HTTPFields = [.contentType: type, .contentSecurityPolicy: policy, .cacheControl: "no-cache"]
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
