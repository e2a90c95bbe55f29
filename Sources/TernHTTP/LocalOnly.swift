import HTTPTypes
import Hummingbird

/// Defends a catcher on a developer's machine against the web pages that developer visits:
///
/// - **DNS rebinding**: a page of `evil.example` whose name is made to resolve to 127.0.0.1
///   would be same-origin with the catcher and could read every message. Requests must name the
///   catcher by an IP address or `localhost` (`Host`), as a browser on this machine does, or by
///   a name the configuration allows (`[catcher] allowed_hosts`, `--http-allow-host`: an
///   /etc/hosts alias, a docker-compose service name), which no page elsewhere controls.
/// - **Cross-site writes**: a page may POST a "simple" request (text/plain) anywhere without a
///   preflight. Requests with a body must say `application/json`, which no page can send
///   cross-site without the preflight the catcher never grants.
struct LocalOnly<Context: RequestContext>: RouterMiddleware {
    /// Host names (lower case, without a port) requests may use besides the local ones.
    var allowedHosts: Set<String> = []

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let authority = request.head.authority, Self.isLocalName(authority) || allows(authority) else {
            let name = request.head.authority.map { Self.hostName($0) } ?? "NAME"
            throw HTTPError(
                .misdirectedRequest,
                message: "use the catcher by its address (127.0.0.1, [::1] or localhost), or allow the name "
                    + "\(name): [catcher] allowed_hosts = [\"\(name)\"] or tern dev --http-allow-host \(name)")
        }
        if [.post, .put, .delete, .patch].contains(request.method), Self.hasBody(request) {
            let type = request.headers[.contentType]?.lowercased() ?? ""
            guard type.hasPrefix("application/json") else {
                throw HTTPError(.unsupportedMediaType, message: "the body must be application/json")
            }
        }
        return try await next(request, context)
    }

    /// Whether `authority` names an allowed host.
    func allows(_ authority: String) -> Bool {
        !allowedHosts.isEmpty && allowedHosts.contains(Self.hostName(authority))
    }

    /// The host of an authority (`Host`), lower case, without its port: `tern.test:8025` →
    /// `tern.test`. What the 421 tells a developer to allow, so only a host name's characters
    /// are kept.
    static func hostName(_ authority: String) -> String {
        var host = Substring(authority.lowercased())
        if !host.hasPrefix("["), let colon = host.lastIndex(of: ":") { host = host[..<colon] }
        return String(host.filter { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }.prefix(253))
    }

    static func hasBody(_ request: Request) -> Bool {
        if let length = request.headers[.contentLength] { return length != "0" }
        return request.headers[.transferEncoding] != nil
    }

    /// `127.0.0.1:8025`, `[::1]:8025`, `localhost`, `app.localhost`: an IP literal or a name
    /// that can only mean this machine.
    static func isLocalName(_ authority: String) -> Bool {
        var host = Substring(authority.lowercased())
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            return host[host.index(after: host.startIndex)..<close].allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
        }
        if let colon = host.lastIndex(of: ":") { host = host[..<colon] }
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isNumber) }
    }
}
