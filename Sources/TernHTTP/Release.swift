/// Sends a caught message on to a real mailbox through the SMTP server the configuration names
/// (`[catcher.release]`), for the moment a developer wants to see it in a real mail client.
/// Only recipients in allowed domains may be named: a catcher must never become a way to mail
/// the world.
public protocol MessageReleasing: Sendable {
    /// Lower-case domains recipients must be in; `*` allows any.
    var allowedDomains: [String] { get }
    /// Sends the file at `path` from `sender` to `recipients`; returns the refusal text of each
    /// recipient the server refused (empty: all accepted). Throws when no session could be had.
    func release(path: String, size: Int, sender: String, recipients: [String]) async throws -> [String: String]
}

extension MessageReleasing {
    /// The recipients whose domain is not allowed.
    func disallowed(_ recipients: [String]) -> [String] {
        guard !allowedDomains.contains("*") else { return [] }
        return recipients.filter { recipient in
            guard let at = recipient.lastIndex(of: "@") else { return true }
            let domain = recipient[recipient.index(after: at)...].lowercased()
            return !allowedDomains.contains { domain == $0 || domain.hasSuffix("." + $0) }
        }
    }
}

/// `{"To": ["a@example.org"]}` (Mailpit's release body).
struct APIRelease: Codable {
    var to: [String]

    enum CodingKeys: String, CodingKey {
        case to = "To"
    }
}
