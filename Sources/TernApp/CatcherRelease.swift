import Foundation
import TernDelivery
import TernHTTP
import TernMail
import TernSMTPCore
import TernStore

/// The catcher's release (TernHTTP's `MessageReleasing`) over TernDelivery's `RelayClient`.
struct CatcherRelease: MessageReleasing {
    let client: RelayClient
    let allowedDomains: [String]

    func release(_ source: any MessageSource, sender: String, recipients: [String]) async throws -> [String: String] {
        let addresses = try recipients.map { text -> MailAddress in
            guard let address = MailAddress(stored: text) else { throw RelayClient.Failure(description: "'\(text)' is not an address") }
            return address
        }
        let results = try await client.send(source, sender: MailAddress(stored: sender), recipients: addresses)
        var refused: [String: String] = [:]
        for result in results {
            if case .delivered = result.outcome { continue }
            refused["\(result.recipient.address)"] = result.outcome.reply.description
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return refused
    }
}
