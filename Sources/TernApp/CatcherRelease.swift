import Foundation
import TernDelivery
import TernHTTP
import TernMail
import TernSMTPCore

/// The catcher's release (TernHTTP's `MessageReleasing`) over TernDelivery's `RelayClient`.
struct CatcherRelease: MessageReleasing {
    let client: RelayClient
    let allowedDomains: [String]

    func release(path: String, size: Int, sender: String, recipients: [String]) async throws -> [String: String] {
        let addresses = try recipients.map { text -> MailAddress in
            guard let address = MailAddress(stored: text) else { throw RelayClient.Failure(description: "'\(text)' is not an address") }
            return address
        }
        let results = try await client.send(
            path: path, size: size, sender: MailAddress(stored: sender), recipients: addresses)
        var refused: [String: String] = [:]
        for result in results {
            if case .delivered = result.outcome { continue }
            refused["\(result.recipient.address)"] = result.outcome.reply.description
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return refused
    }
}
