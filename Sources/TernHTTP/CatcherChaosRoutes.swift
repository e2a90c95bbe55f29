public import Foundation
import Hummingbird
import NIOCore

/// The catcher's failure injection as the API sees it: Mailpit's triggers and Tern's rules, as
/// JSON. TernApp implements it over the SMTP side's `ChaosRules`, so this module needs no SMTP
/// server.
public protocol CatcherChaos: Sendable {
    /// Mailpit's `ChaosTriggers`.
    func triggers() throws -> Data
    /// Replaces the triggers (omitted ones are off); the triggers now, or a `ChaosRefusal`.
    func setTriggers(_ json: Data) throws -> Data
    /// Tern's rules, `[ChaosRule]`.
    func rules() throws -> Data
    /// Replaces the rules; the rules now, or a `ChaosRefusal`.
    func setRules(_ json: Data) throws -> Data
}

/// A request the chaos routes refuse with `400` and this text.
public struct ChaosRefusal: Error, Sendable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }
}

extension CatcherHTTP {
    static func chaosRoutes(_ routes: inout Routes, chaos: any CatcherChaos) {
        routes.get("api/v1/chaos") { _, _ in OperationsHTTP.jsonData(try chaos.triggers()) }
        routes.put("api/v1/chaos") { request, _ in
            try await chaosChange(request) { try chaos.setTriggers($0) }
        }
        routes.get("api/v1/chaos/rules") { _, _ in OperationsHTTP.jsonData(try chaos.rules()) }
        routes.put("api/v1/chaos/rules") { request, _ in
            try await chaosChange(request) { try chaos.setRules($0) }
        }
        routes.delete("api/v1/chaos/rules") { _, _ in
            OperationsHTTP.jsonData(try chaos.setRules(Data("[]".utf8)))
        }
    }

    private static func chaosChange(_ request: Request, _ change: (Data) throws -> Data) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 1024 * 1024)
        do {
            return OperationsHTTP.jsonData(try change(Data(body.readableBytesView)))
        } catch let refusal as ChaosRefusal {
            return plain(refusal.message, .badRequest)
        }
    }
}
