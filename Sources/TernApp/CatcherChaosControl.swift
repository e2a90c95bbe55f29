import Foundation
import TernHTTP
import TernSMTPServer

/// The catcher API's chaos routes over the SMTP listeners' `ChaosRules`: JSON in and out,
/// every change checked before it applies.
struct CatcherChaosControl: CatcherChaos {
    let store: ChaosRules

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    func triggers() throws -> Data {
        try Self.encoder.encode(store.triggers)
    }

    func setTriggers(_ json: Data) throws -> Data {
        let triggers: ChaosTriggers
        do {
            triggers = try JSONDecoder().decode(ChaosTriggers.self, from: json)
        } catch {
            throw ChaosRefusal("the body is not Mailpit's ChaosTriggers JSON")
        }
        do {
            try store.replace(triggers)
        } catch {
            throw ChaosRefusal(error.description)
        }
        return try self.triggers()
    }

    func rules() throws -> Data {
        try Self.encoder.encode(store.rules)
    }

    func setRules(_ json: Data) throws -> Data {
        let list: [ChaosRule]
        do {
            list = try JSONDecoder().decode([ChaosRule].self, from: json)
        } catch {
            throw ChaosRefusal("the body is not a JSON array of rules: {\"Stage\": \"rcpt\", \"Reply\": \"451 4.3.0 ...\"}")
        }
        do {
            try store.replace(list)
        } catch {
            throw ChaosRefusal(error.description)
        }
        return try self.rules()
    }
}
