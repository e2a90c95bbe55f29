public import TernStore

/// Sends a caught message on to a real mailbox through the SMTP server the configuration names
/// (`[catcher.release]`), for the moment a developer wants to see it in a real mail client.
/// Only recipients in allowed domains may be named: a catcher must never become a way to mail
/// the world.
public protocol MessageReleasing: Sendable {
    /// Lower-case domains recipients must be in; `*` allows any.
    var allowedDomains: [String] { get }
    /// Sends the message `source` holds from `sender` to `recipients`; returns the refusal text
    /// of each recipient the server refused (empty: all accepted). Throws when no session could
    /// be had.
    func release(_ source: any MessageSource, sender: String, recipients: [String]) async throws -> [String: String]
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

    /// The characters of an RFC 5322 `atext` besides letters and digits.
    private static let atextSymbols = Set("!#$%&'*+-/=?^_`{|}~".utf8)

    /// An address a release may name: `Dot-string "@" Domain` of RFC 5321 §4.1.2 in US-ASCII,
    /// within the limits of §4.5.3.1 (a local part of at most 64 octets, at most 254 in all,
    /// labels of at most 63), as Tern's SMTP client sends it (it refuses a path it could not
    /// parse itself). Anything else (a quoted local part, an address literal, an
    /// internationalized address, a second `@`) is refused here, with a 400, rather than
    /// reported as the relay's refusal. docs/openapi.yaml's `ReleaseAddress` is this.
    static func isAddress(_ text: String) -> Bool {
        let octets = Array(text.utf8)
        guard octets.count <= 254, let at = octets.firstIndex(of: UInt8(ascii: "@")), at <= 64 else { return false }
        func isLetterOrDigit(_ octet: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(octet) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(octet)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(octet)
        }
        // Dot-string = Atom *("." Atom); Atom = 1*atext
        let atoms = octets[..<at].split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard atoms.allSatisfy({ atom in !atom.isEmpty && atom.allSatisfy { isLetterOrDigit($0) || atextSymbols.contains($0) } })
        else { return false }
        // Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str], here 1 to 63 octets
        let labels = octets[(at + 1)...].split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            guard let first = label.first, let last = label.last, label.count <= 63 else { return false }
            return isLetterOrDigit(first) && isLetterOrDigit(last)
                && label.allSatisfy { isLetterOrDigit($0) || $0 == UInt8(ascii: "-") }
        }
    }
}
