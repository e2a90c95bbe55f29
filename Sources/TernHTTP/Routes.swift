import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The catcher's routes as they are added to the router, remembered by path, so that a known
/// path asked with a method it does not answer gets `405 Method Not Allowed` with `Allow`
/// (RFC 9110 §15.5.6), not `404`: what the API's description (docs/openapi.yaml) promises to
/// a client such as schemathesis.
struct Routes {
    typealias Handler = @Sendable (Request, BasicRequestContext) async throws -> Response

    let router: Router<BasicRequestContext>
    /// Each path (as given to the router, `{name}` for a parameter) and its methods.
    private(set) var table: [(path: String, methods: [HTTPRequest.Method])] = []

    init(_ router: Router<BasicRequestContext>) {
        self.router = router
    }

    mutating func on(_ method: HTTPRequest.Method, _ path: String, use handler: @escaping Handler) {
        router.on(RouterPath(path), method: method, use: handler)
        if let index = table.firstIndex(where: { $0.path == path }) {
            table[index].methods.append(method)
        } else {
            table.append((path, [method]))
        }
    }

    mutating func get(_ path: String, use handler: @escaping Handler) { on(.get, path, use: handler) }
    mutating func put(_ path: String, use handler: @escaping Handler) { on(.put, path, use: handler) }
    mutating func post(_ path: String, use handler: @escaping Handler) { on(.post, path, use: handler) }
    mutating func delete(_ path: String, use handler: @escaping Handler) { on(.delete, path, use: handler) }

    /// The middleware that answers 405 for the paths recorded so far. Add it to the router after
    /// the last route: Hummingbird applies a middleware to the routes added after it and to the
    /// "no route" responder, so this one runs only for requests no route took.
    var methodCheck: MethodNotAllowed<BasicRequestContext> {
        MethodNotAllowed(table: table.map { (Self.segments($0.path), $0.methods) })
    }

    /// A path's segments, without empty ones (`/api/v1/` → `api`, `v1`).
    static func segments(_ path: some StringProtocol) -> [Substring] {
        Substring(path).split(separator: "/")
    }
}

/// `405` with `Allow` for a request whose path is a route's but whose method is none of that
/// route's; anything else goes on (to `404`).
struct MethodNotAllowed<Context: RequestContext>: RouterMiddleware {
    let table: [(segments: [Substring], methods: [HTTPRequest.Method])]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let allowed = allowedMethods(path: request.uri.path)
        guard !allowed.isEmpty, !allowed.contains(request.method) else { return try await next(request, context) }
        throw HTTPError(
            .methodNotAllowed, headers: [.allow: allowed.map(\.rawValue).joined(separator: ", ")],
            message: "\(request.method.rawValue) is not a method of this path")
    }

    /// The methods of every route whose path matches `path` (a `{name}` segment matches any one).
    func allowedMethods(path: String) -> [HTTPRequest.Method] {
        let segments = Routes.segments(path)
        var allowed: [HTTPRequest.Method] = []
        for route in table where route.segments.count == segments.count {
            let matches = zip(route.segments, segments).allSatisfy { pattern, segment in
                pattern == segment || (pattern.hasPrefix("{") && pattern.hasSuffix("}"))
            }
            if matches { allowed += route.methods.filter { !allowed.contains($0) } }
        }
        return allowed
    }
}

/// `X-Content-Type-Options: nosniff` on every response, errors included: no browser may take a
/// message part, a raw message or an error text for HTML or script of the catcher's origin.
/// Added first, so it wraps every other middleware and route; an error thrown below it becomes
/// its response here (with the header). Every error is answered as the routes answer theirs,
/// in `text/plain` (as Mailpit does, and as docs/openapi.yaml says), not in Hummingbird's JSON
/// `{"error": {"message": ...}}`: a 400, 405, 413 or 415 reads the same as a 404.
struct NoSniff<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPError {
            response = Self.plainText(error)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            response = Response(
                status: .internalServerError, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "internal error")))
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        return response
    }
}

extension NoSniff {
    /// An `HTTPError` as a `text/plain` response: its message (or its status's reason phrase),
    /// its status and its headers (`Allow` of a 405).
    static func plainText(_ error: HTTPError) -> Response {
        var response = CatcherHTTP.plain(error.body ?? error.status.reasonPhrase, error.status)
        for field in error.headers where field.name != .contentType { response.headers.append(field) }
        return response
    }
}
