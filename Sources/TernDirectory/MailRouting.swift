public import TernMail
import NIOConcurrencyHelpers

/// Where a recipient address leads: the MTA's address resolution (Postfix's trivial-rewrite
/// with virtual_alias_maps and virtual_mailbox_maps).
///
/// Local domains hold mailboxes and aliases; an alias may point at several addresses, local or
/// remote, and at other aliases; `@domain` is a domain's catch-all. `user+tag@domain` reaches
/// `user@domain` when the recipient delimiter is `+`. Everything else is remote.
///
/// Security notes: a local address resolves only to a configured mailbox, never to a path
/// built from what the client wrote, so a local part like `../x` or `a/b` reaches nothing.
/// Expansion follows at most `maximumExpansionDepth` levels and skips addresses it has seen,
/// so an alias cycle ends.
public struct MailRouting: Sendable {
    /// A mailbox on this server, by its canonical (lower-case) address.
    public struct Mailbox: Hashable, Sendable, Comparable, CustomStringConvertible {
        public let localPart: String
        public let domain: String

        public init(localPart: String, domain: String) {
            self.localPart = localPart.lowercased()
            self.domain = domain.lowercased()
        }

        public var address: String { "\(localPart)@\(domain)" }
        public var description: String { address }

        public static func < (lhs: Mailbox, rhs: Mailbox) -> Bool { lhs.address < rhs.address }
    }

    /// The result of resolving one recipient.
    public enum Resolution: Hashable, Sendable {
        /// Deliver to these mailboxes here and relay to these remote addresses.
        case deliver(local: [Mailbox], remote: [MailAddress])
        /// A local domain without such a user (550 5.1.1 at RCPT time: no backscatter).
        case unknownUser
        /// Not one of our domains: relaying, allowed only to trusted clients.
        case remote(MailAddress)
    }

    public private(set) var localDomains: Set<String>
    public private(set) var mailboxes: Set<Mailbox>
    /// Alias address (lower case; `@domain` for a catch-all) → targets.
    public private(set) var aliases: [String: [MailAddress]]
    /// `+` in `user+tag@domain`; nil disables sub-addressing.
    public var recipientDelimiter: Character?
    public static let maximumExpansionDepth = 10

    public init(
        localDomains: Set<String> = [], mailboxes: Set<Mailbox> = [], aliases: [String: [MailAddress]] = [:],
        recipientDelimiter: Character? = "+"
    ) {
        self.localDomains = Set(localDomains.map { $0.lowercased() })
        self.mailboxes = mailboxes
        self.aliases = Dictionary(aliases.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { $0 + $1 })
        self.recipientDelimiter = recipientDelimiter
    }

    public func isLocal(domain: String) -> Bool {
        localDomains.contains(Self.canonicalDomain(domain))
    }

    /// Resolves a recipient to mailboxes and remote addresses.
    public func resolve(_ address: MailAddress) -> Resolution {
        guard isLocal(domain: address.domain) else { return .remote(address) }
        var local: Set<Mailbox> = []
        var remote: [MailAddress] = []
        var seen: Set<String> = []
        expand(address, depth: 0, seen: &seen, local: &local, remote: &remote)
        if local.isEmpty, remote.isEmpty { return .unknownUser }
        return .deliver(local: local.sorted(), remote: remote)
    }

    private func expand(
        _ address: MailAddress, depth: Int, seen: inout Set<String>, local: inout Set<Mailbox>,
        remote: inout [MailAddress]
    ) {
        let domain = Self.canonicalDomain(address.domain)
        guard localDomains.contains(domain) else {
            if !remote.contains(address) { remote.append(address) }
            return
        }
        // A quoted local part is compared in its unquoted form only if it needs no quotes.
        let localPart = address.localPart.lowercased()
        let key = "\(localPart)@\(domain)"
        guard depth <= Self.maximumExpansionDepth, seen.insert(key).inserted else { return }

        if let targets = aliases[key] {
            for target in targets { expand(target, depth: depth + 1, seen: &seen, local: &local, remote: &remote) }
            return
        }
        // The configured mailbox, not the client's spelling of it: String equality is Unicode
        // canonical equivalence, and the Maildir path must be the configured octets.
        if let index = mailboxes.firstIndex(of: Mailbox(localPart: localPart, domain: domain)) {
            local.insert(mailboxes[index])
            return
        }
        if let delimiter = recipientDelimiter, let cut = localPart.firstIndex(of: delimiter), cut != localPart.startIndex {
            let base = MailAddress(localPart: String(localPart[..<cut]), domain: domain)
            expand(base, depth: depth + 1, seen: &seen, local: &local, remote: &remote)
            return
        }
        if let catchAll = aliases["@\(domain)"], !seen.contains("@\(domain)") {
            seen.insert("@\(domain)")
            for target in catchAll { expand(target, depth: depth + 1, seen: &seen, local: &local, remote: &remote) }
        }
    }

    /// Lower case without a trailing dot.
    static func canonicalDomain(_ domain: String) -> String {
        var domain = domain.lowercased()
        if domain.hasSuffix(".") { domain.removeLast() }
        return domain
    }
}

/// The routing in force, replaced as a whole when the directory changes (`tern user add` on a
/// running server). Readers take the current value under a lock and use it without one: one
/// recipient is always resolved against one consistent routing.
public final class RoutingTable: Sendable {
    private let routing: NIOLockedValueBox<MailRouting>

    public init(_ routing: MailRouting) {
        self.routing = NIOLockedValueBox(routing)
    }

    public var current: MailRouting { routing.withLockedValue { $0 } }

    public func replace(with routing: MailRouting) {
        self.routing.withLockedValue { $0 = routing }
    }
}
