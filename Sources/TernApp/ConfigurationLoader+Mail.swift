import NIOCore
import TOMLKit
import TernDirectory
import TernNet

/// `[mail]`, `[[mailbox]]`, `[[user]]` and `[[alias]]`: the domains, who lives there, who may
/// relay.
extension ConfigurationLoader {
    static let mailKeys: Set<String> = ["domains", "recipient_delimiter", "relay_networks", "quota_grace"]

    static func mail(_ table: TOMLTable, reader: Reader) throws(ConfigurationError) -> TernConfiguration.Mail {
        var mail = TernConfiguration.Mail()
        if let section = try reader.table("mail") {
            try reader.rejectUnknown(in: section, allowed: mailKeys, prefix: "mail.")
            for (index, domain) in try reader.strings("mail.domains").enumerated() {
                let name = domain.lowercased()
                guard isHostname(name) else {
                    throw ConfigurationError(key: "mail.domains[\(index)]", problem: "'\(domain)' is not a domain name")
                }
                mail.domains.append(name)
            }
            if let delimiter = try reader.string("mail.recipient_delimiter") {
                guard delimiter.count <= 1, delimiter != "@", delimiter != "." else {
                    throw ConfigurationError(
                        key: "mail.recipient_delimiter", problem: "must be one character (not @ or .) or empty")
                }
                mail.recipientDelimiter = delimiter
            }
            for (index, network) in try reader.strings("mail.relay_networks").enumerated() {
                guard IPNetwork(network) != nil else {
                    throw ConfigurationError(
                        key: "mail.relay_networks[\(index)]", problem: "'\(network)' is not an address or CIDR network")
                }
                mail.relayNetworks.append(network)
            }
            if let grace = try reader.duration("mail.quota_grace") { mail.quotaGrace = .nanoseconds(grace.nanoseconds) }
        }
        let domains = Set(mail.domains)
        for (index, entry) in try tables(table, "mailbox", allowed: ["address"], reader: reader).enumerated() {
            let key = "mailbox[\(index)].address"
            guard let address = entry["address"]?.string else { throw ConfigurationError(key: key, problem: "missing") }
            guard let (local, domain) = splitAddress(address), isSafeLocalPart(local) else {
                throw ConfigurationError(key: key, problem: "'\(address)' is not a mailbox address (user@domain)")
            }
            guard domains.contains(domain) else {
                throw ConfigurationError(key: key, problem: "domain '\(domain)' is not in mail.domains")
            }
            mail.mailboxes.append("\(local)@\(domain)")
        }
        let userKeys: Set<String> = ["address", "password_hash", "display_name", "send_as", "enabled", "quota"]
        for (index, entry) in try tables(table, "user", allowed: userKeys, reader: reader).enumerated() {
            let key = "user[\(index)]"
            guard let address = entry["address"]?.string else {
                throw ConfigurationError(key: "\(key).address", problem: "missing")
            }
            guard let (local, domain) = splitAddress(address), isSafeLocalPart(local) else {
                throw ConfigurationError(key: "\(key).address", problem: "'\(address)' is not a mailbox address (user@domain)")
            }
            guard domains.contains(domain) else {
                throw ConfigurationError(key: "\(key).address", problem: "domain '\(domain)' is not in mail.domains")
            }
            guard let hash = entry["password_hash"]?.string else {
                throw ConfigurationError(
                    key: "\(key).password_hash", problem: "missing (make one with: tern user hash)")
            }
            do {
                try PasswordHash.validate(hash)
            } catch {
                throw ConfigurationError(key: "\(key).password_hash", problem: "\(error) (make one with: tern user hash)")
            }
            var sendAs: [String] = []
            for (sendIndex, value) in (entry["send_as"]?.array.map(Array.init) ?? []).enumerated() {
                guard let text = value.string, splitAddress(text) != nil else {
                    throw ConfigurationError(key: "\(key).send_as[\(sendIndex)]", problem: "not an address")
                }
                sendAs.append(text)
            }
            var quota: Int64?
            if let value = entry["quota"] {
                guard let bytes = value.int, bytes >= 0, bytes <= ConfigurationLoader.maximumInteger else {
                    throw ConfigurationError(
                        key: "\(key).quota", problem: "must be a number of bytes from 0 (none) to \(ConfigurationLoader.maximumInteger)")
                }
                quota = bytes > 0 ? Int64(bytes) : nil
            }
            let enabled = entry["enabled"]?.bool ?? true
            let mailbox = "\(local)@\(domain)"
            if !mail.mailboxes.contains(mailbox) { mail.mailboxes.append(mailbox) }
            mail.users.append(
                Account(
                    address: mailbox, displayName: entry["display_name"]?.string, passwordHash: hash, sendAs: sendAs,
                    enabled: enabled, quotaBytes: quota))
        }
        for (index, entry) in try tables(table, "alias", allowed: ["address", "to"], reader: reader).enumerated() {
            let key = "alias[\(index)]"
            guard let address = entry["address"]?.string else {
                throw ConfigurationError(key: "\(key).address", problem: "missing")
            }
            let isCatchAll = address.hasPrefix("@")
            let parsed = isCatchAll ? ("", address.dropFirst().lowercased()) : splitAddress(address)
            guard let (local, domain) = parsed, isCatchAll || isSafeLocalPart(local), isHostname(domain) else {
                throw ConfigurationError(
                    key: "\(key).address", problem: "'\(address)' is not an address or @domain catch-all")
            }
            guard domains.contains(domain) else {
                throw ConfigurationError(key: "\(key).address", problem: "domain '\(domain)' is not in mail.domains")
            }
            guard let targetList = entry["to"]?.array else {
                throw ConfigurationError(key: "\(key).to", problem: "must be a list of addresses")
            }
            var targets: [String] = []
            for (targetIndex, target) in targetList.enumerated() {
                guard let text = target.string, let (targetLocal, targetDomain) = splitAddress(text),
                    isSafeLocalPart(targetLocal), isHostname(targetDomain)
                else {
                    throw ConfigurationError(key: "\(key).to[\(targetIndex)]", problem: "not an address")
                }
                targets.append("\(targetLocal)@\(targetDomain)")
            }
            guard !targets.isEmpty else { throw ConfigurationError(key: "\(key).to", problem: "must not be empty") }
            mail.aliases.append((isCatchAll ? "@\(domain)" : "\(local)@\(domain)", targets))
        }
        return mail
    }

    /// `local@domain`, lower-cased.
    static func splitAddress(_ address: String) -> (String, String)? {
        guard let at = address.lastIndex(of: "@") else { return nil }
        let local = address[..<at].lowercased()
        let domain = address[address.index(after: at)...].lowercased()
        guard !local.isEmpty, isHostname(domain) else { return nil }
        return (local, domain)
    }

    /// A dot-atom local part that is also safe as a directory name: RFC 5322 atext without
    /// `/`, no leading, trailing or double dot.
    static func isSafeLocalPart(_ local: String) -> Bool {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-=?^_`{|}~.".utf8)
        return local.utf8.count <= 64 && local.utf8.allSatisfy { allowed.contains($0) } && !local.hasPrefix(".")
            && !local.hasSuffix(".") && !local.contains("..")
    }
}
