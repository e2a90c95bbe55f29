import AsyncHTTPClient
import Foundation
public import Logging
public import NIOCore
import NIOHTTP1
public import ServiceLifecycle
import TernMail
import TernStore

/// `[catcher] webhook`: one `POST` of each caught message's summary (Mailpit's webhook: the
/// `MessageSummary` JSON) to a URL, as a CI job or a chat bot wants to hear of new mail.
///
/// The SMTP side never waits for it: the webhook follows the catcher's events, which come after
/// the message is stored and indexed. Messages are posted one at a time, in the order they
/// arrived. A refusal that may pass later (a connection that fails, a timeout, `408`, `429`,
/// a `5xx`) is tried again after `retryDelays` (0.5 s doubling to 32 s: seven tries in about a
/// minute); any other answer (`2xx` success, a `4xx` refusal) ends that message's delivery. At
/// most `backlog` messages wait while a slow receiver is retried; past that the oldest are
/// dropped, with a warning, rather than memory growing without bound.
public struct CatcherWebhook: Service {
    public let url: String
    let catcher: Catcher
    let client: HTTPClient
    let logger: Logger
    var retryDelays: [Duration] = (0..<7).map { .milliseconds(500 << $0) }
    var backlog = 1_000
    var requestTimeout: Duration = .seconds(10)

    public init(url: String, catcher: Catcher, group: any EventLoopGroup, logger: Logger) {
        self.url = url
        self.catcher = catcher
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(10))
        self.client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
        self.logger = logger
    }

    /// The URLs a webhook may post to: `http` or `https` with a host.
    public static func isValid(_ url: String) -> Bool {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = parsed.host, !host.isEmpty
        else { return false }
        return true
    }

    public func run() async throws {
        let events = await catcher.subscribe(bufferingNewest: backlog)
        await cancelWhenGracefulShutdown {
            for await event in events {
                guard case .stored(let message) = event else { continue }
                await post(message)
            }
        }
        try await client.shutdown()
    }

    /// Posts one message's summary, trying again as the type says; gives up quietly on
    /// cancellation (the server stopping).
    func post(_ message: IndexedMessage) async {
        let body: Data
        do {
            body = try CatcherHTTP.encoder.encode(APIMessageSummary(message))
        } catch {
            logger.error("webhook: cannot encode the summary", metadata: ["id": "\(message.id)", "error": "\(error)"])
            return
        }
        for attempt in 0...retryDelays.count {
            if attempt > 0 {
                do {
                    try await Task.sleep(for: retryDelays[attempt - 1])
                } catch {
                    return
                }
            }
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "Tern/\(TernVersion.current)")
            request.body = .bytes(ByteBuffer(bytes: body))
            let problem: String
            do {
                let response = try await client.execute(request, timeout: CatcherHTTP.timeAmount(requestTimeout))
                _ = try? await response.body.collect(upTo: 64 * 1024)
                let code = Int(response.status.code)
                if (200..<300).contains(code) {
                    logger.info("webhook delivered", metadata: ["id": "\(message.id)", "status": "\(code)", "attempts": "\(attempt + 1)"])
                    return
                }
                guard Self.mayPassLater(code) else {
                    logger.warning("webhook refused", metadata: ["id": "\(message.id)", "status": "\(code)"])
                    return
                }
                problem = "HTTP \(code)"
            } catch {
                if Task.isCancelled { return }
                problem = "\(error)"
            }
            logger.notice(
                "webhook failed; trying again", metadata: ["id": "\(message.id)", "attempt": "\(attempt + 1)", "problem": "\(problem)"])
        }
        logger.error("webhook gave up", metadata: ["id": "\(message.id)", "attempts": "\(retryDelays.count + 1)"])
    }

    /// RFC 9110 §15: a server error, `408 Request Timeout` and `429 Too Many Requests` may pass
    /// when asked again; any other `4xx` will not.
    static func mayPassLater(_ code: Int) -> Bool {
        code >= 500 || code == 408 || code == 429 || code < 200
    }
}
