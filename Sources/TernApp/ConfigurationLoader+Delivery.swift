import Foundation
import TOMLKit
import TernDelivery
import TernStore

/// `[queue]`, `[outbound]`, `[[route]]`, `[dns]` and `[storage]`: how accepted mail is kept and
/// sent on.
extension ConfigurationLoader {
    static let queueKeys: Set<String> = [
        "retry_delay", "retry_max_delay", "max_lifetime", "concurrency", "destination_concurrency", "delay_warning",
    ]

    /// `[queue]`: retries of deferred deliveries (RFC 5321 §4.5.4.1) and how many run at once.
    static func queue(_ reader: Reader) throws(ConfigurationError) -> TernConfiguration.Queue {
        var queue = TernConfiguration.Queue()
        if let section = try reader.table("queue") {
            try reader.rejectUnknown(in: section, allowed: queueKeys, prefix: "queue.")
        }
        if let delay = try reader.duration("queue.retry_delay", positive: true) { queue.retryDelay = delay }
        if let delay = try reader.duration("queue.retry_max_delay", positive: true) {
            queue.retryMaximumDelay = delay
        }
        if let lifetime = try reader.duration("queue.max_lifetime", positive: true) {
            queue.maximumLifetime = lifetime
        }
        if let warning = try reader.duration("queue.delay_warning") { queue.delayWarning = warning }
        if let concurrency = try reader.int("queue.concurrency") {
            guard concurrency >= 1 else {
                throw ConfigurationError(key: "queue.concurrency", problem: "must be at least 1")
            }
            queue.concurrency = concurrency
        }
        if let concurrency = try reader.int("queue.destination_concurrency") {
            guard concurrency >= 1 else {
                throw ConfigurationError(key: "queue.destination_concurrency", problem: "must be at least 1")
            }
            queue.destinationConcurrency = concurrency
        }
        guard queue.retryMaximumDelay >= queue.retryDelay else {
            throw ConfigurationError(key: "queue.retry_max_delay", problem: "must not be shorter than queue.retry_delay")
        }
        return queue
    }

    static let outboundKeys: Set<String> = ["port", "tls", "cleartext_fallback", "connect_timeout", "connection_idle_time"]
    static let routeKeys: Set<String> = [
        "domain", "relay", "security", "username", "password", "password_file", "tls_verify", "tls_ca_file",
    ]

    static func outbound(_ table: TOMLTable, reader: Reader) throws(ConfigurationError)
        -> TernConfiguration.Outbound
    {
        var outbound = TernConfiguration.Outbound()
        if let section = try reader.table("outbound") {
            try reader.rejectUnknown(in: section, allowed: outboundKeys, prefix: "outbound.")
        }
        if let port = try reader.int("outbound.port") {
            guard (1...65535).contains(port) else {
                throw ConfigurationError(key: "outbound.port", problem: "must be between 1 and 65535")
            }
            outbound.port = port
        }
        if let tls = try reader.string("outbound.tls") {
            guard ["opportunistic", "required", "none"].contains(tls) else {
                throw ConfigurationError(key: "outbound.tls", problem: "'\(tls)' is not opportunistic, required or none")
            }
            outbound.tls = tls
        }
        if let fallback = try reader.bool("outbound.cleartext_fallback") { outbound.cleartextFallback = fallback }
        if let timeout = try reader.duration("outbound.connect_timeout", positive: true) {
            outbound.connectTimeout = timeout
        }
        if let idle = try reader.duration("outbound.connection_idle_time") { outbound.connectionIdleTime = idle }
        var seen: Set<String> = []
        for (index, entry) in try tables(table, "route", allowed: routeKeys, reader: reader).enumerated() {
            let key = "route[\(index)]"
            guard let domain = entry["domain"]?.string?.lowercased() else {
                throw ConfigurationError(key: "\(key).domain", problem: "missing (a domain, or * for all)")
            }
            guard domain == "*" || isHostname(domain) else {
                throw ConfigurationError(key: "\(key).domain", problem: "'\(domain)' is not a domain name or *")
            }
            guard seen.insert(domain).inserted else {
                throw ConfigurationError(key: "\(key).domain", problem: "'\(domain)' has two routes")
            }
            guard let relay = entry["relay"]?.string else {
                throw ConfigurationError(key: "\(key).relay", problem: "missing (host or host:port)")
            }
            guard let (host, port) = parseHostPort(relay, defaultPort: 25), isHostname(host) || isIPAddress(host) else {
                throw ConfigurationError(key: "\(key).relay", problem: "'\(relay)' is not host, host:port or [address]:port")
            }
            let security = entry["security"]?.string ?? "opportunistic"
            guard ["opportunistic", "required", "implicit", "none"].contains(security) else {
                throw ConfigurationError(
                    key: "\(key).security", problem: "'\(security)' is not opportunistic, required, implicit or none")
            }
            let (username, password) = try credentials(entry, key: key)
            if username != nil, security == "none" {
                throw ConfigurationError(
                    key: "\(key).security", problem: "credentials are only sent over TLS; 'none' cannot carry them")
            }
            if username != nil, security == "opportunistic" {
                // Opportunistic TLS checks no certificate: anyone who offers STARTTLS would get the password.
                throw ConfigurationError(
                    key: "\(key).security",
                    problem: "credentials need a checked TLS session: security = \"required\" or \"implicit\"")
            }
            let (verify, caFile) = try certificateCheck(
                entry, key: key, checked: ["required", "implicit"].contains(security),
                otherwise:
                    "only with security = \"required\" or \"implicit\" (opportunistic TLS checks no certificate)")
            outbound.routes.append(
                .init(
                    domain: domain, host: host, port: port, security: security, username: username, password: password,
                    tlsVerify: verify, tlsCAFile: caFile))
        }
        return outbound
    }

    /// `username` with `password` or `password_file` (read now, trailing line break dropped).
    static func credentials(_ entry: TOMLTable, key: String) throws(ConfigurationError) -> (String?, String?) {
        let username = entry["username"]?.string
        var password = entry["password"]?.string
        if let file = entry["password_file"]?.string {
            guard password == nil else {
                throw ConfigurationError(key: "\(key).password_file", problem: "give password or password_file, not both")
            }
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ConfigurationError(key: "\(key).password_file", problem: "cannot read \(file)")
            }
            password = text.trimmingCharacters(in: .newlines)
        }
        guard (username == nil) == (password == nil) else {
            throw ConfigurationError(
                key: "\(key).\(username == nil ? "username" : "password")", problem: "username and password go together")
        }
        return (username, password)
    }

    /// `tls_verify` (default true) and `tls_ca_file` of a relay that must speak TLS (`checked`):
    /// its certificate is checked against the system trust store, or against the CAs of
    /// `tls_ca_file` (a PEM bundle, read now so a bad path is named here), and the relay's name.
    /// Where no certificate is checked, either key is a mistake, explained by `otherwise`.
    static func certificateCheck(_ entry: TOMLTable, key: String, checked: Bool, otherwise: String)
        throws(ConfigurationError) -> (verify: Bool, caFile: String?)
    {
        let local = Reader(table: entry, environment: [:], prefix: "\(key).")
        let verify = try local.bool("tls_verify")
        let caFile = try local.string("tls_ca_file")
        guard checked else {
            guard verify == nil, caFile == nil else {
                let name = verify != nil ? "tls_verify" : "tls_ca_file"
                throw ConfigurationError(key: "\(key).\(name)", problem: otherwise)
            }
            return (true, nil)
        }
        if let caFile {
            guard verify != false else {
                throw ConfigurationError(key: "\(key).tls_ca_file", problem: "has no use with tls_verify = false")
            }
            if let problem = ServerCertificateCheck.problem(withCertificateAuthorities: caFile) {
                throw ConfigurationError(key: "\(key).tls_ca_file", problem: problem)
            }
        }
        return (verify ?? true, caFile)
    }

    static let dkimKeys: Set<String> = ["sign", "verify", "max_signatures", "expiry"]

    static func dkim(_ reader: Reader) throws(ConfigurationError) -> TernConfiguration.DKIM {
        var dkim = TernConfiguration.DKIM()
        guard let section = try reader.table("dkim") else { return dkim }
        try reader.rejectUnknown(in: section, allowed: dkimKeys, prefix: "dkim.")
        if let sign = try reader.bool("dkim.sign") { dkim.sign = sign }
        if let verify = try reader.bool("dkim.verify") { dkim.verify = verify }
        if let limit = try reader.int("dkim.max_signatures") {
            guard (1...50).contains(limit) else { throw ConfigurationError(key: "dkim.max_signatures", problem: "must be 1 to 50") }
            dkim.maximumSignatures = limit
        }
        if let expiry = try reader.duration("dkim.expiry") { dkim.expiry = expiry }
        return dkim
    }

    static func spf(_ reader: Reader) throws(ConfigurationError) -> TernConfiguration.SPF {
        var spf = TernConfiguration.SPF()
        guard let section = try reader.table("spf") else { return spf }
        try reader.rejectUnknown(in: section, allowed: ["verify"], prefix: "spf.")
        if let verify = try reader.bool("spf.verify") { spf.verify = verify }
        return spf
    }

    static func dmarc(_ reader: Reader) throws(ConfigurationError) -> TernConfiguration.DMARC {
        var dmarc = TernConfiguration.DMARC()
        guard let section = try reader.table("dmarc") else { return dmarc }
        try reader.rejectUnknown(in: section, allowed: ["verify", "reject", "quarantine", "public_suffix_list"], prefix: "dmarc.")
        if let verify = try reader.bool("dmarc.verify") { dmarc.verify = verify }
        if let reject = try reader.bool("dmarc.reject") { dmarc.reject = reject }
        switch try reader.string("dmarc.quarantine") {
        case nil, "junk": dmarc.quarantineToJunk = true
        case "inbox": dmarc.quarantineToJunk = false
        case let other?:
            throw ConfigurationError(key: "dmarc.quarantine", problem: "\"\(other)\" is neither \"junk\" nor \"inbox\"")
        }
        dmarc.publicSuffixList = try reader.string("dmarc.public_suffix_list")
        return dmarc
    }

    static let dnsKeys: Set<String> = ["servers", "timeout", "attempts"]

    static func dns(_ reader: Reader) throws(ConfigurationError) -> TernConfiguration.DNS {
        var dns = TernConfiguration.DNS()
        if let section = try reader.table("dns") {
            try reader.rejectUnknown(in: section, allowed: dnsKeys, prefix: "dns.")
        }
        for (index, server) in try reader.strings("dns.servers").enumerated() {
            guard let (host, _) = parseHostPort(server, defaultPort: 53), isIPAddress(host) else {
                throw ConfigurationError(
                    key: "dns.servers[\(index)]", problem: "'\(server)' is not an IP address or address:port")
            }
            dns.servers.append(server)
        }
        if let timeout = try reader.duration("dns.timeout", positive: true) { dns.timeout = timeout }
        if let attempts = try reader.int("dns.attempts") {
            guard attempts >= 1 else { throw ConfigurationError(key: "dns.attempts", problem: "must be at least 1") }
            dns.attempts = attempts
        }
        return dns
    }

    static func storage(_ reader: Reader) throws(ConfigurationError) -> TernConfiguration.Storage {
        var storage = TernConfiguration.Storage()
        if let section = try reader.table("storage") {
            try reader.rejectUnknown(in: section, allowed: ["sync"], prefix: "storage.")
        }
        if let name = try reader.string("storage.sync") {
            guard let mode = StoreSync.Mode(rawValue: name) else {
                throw ConfigurationError(key: "storage.sync", problem: "must be \"file\" or \"filesystem\", not '\(name)'")
            }
            guard mode.isAvailable else {
                throw ConfigurationError(key: "storage.sync", problem: "\"filesystem\" needs syncfs(2), which this system lacks")
            }
            storage.sync = mode
        }
        return storage
    }
}
