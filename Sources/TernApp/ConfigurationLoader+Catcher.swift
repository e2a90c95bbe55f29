import Foundation
import NIOCore
import TOMLKit
import TernHTTP
import TernSMTPServer

/// `[catcher]`: the developers' mail catcher.
extension ConfigurationLoader {
    /// `[catcher]` and `[catcher.release]`: the dev catcher's web UI and API, retention, and
    /// where a caught message may be released to.
    static func catcher(_ reader: Reader, into configuration: inout TernConfiguration) throws(ConfigurationError) {
        if let section = try reader.table("catcher") {
            try reader.rejectUnknown(
                in: section,
                allowed: [
                    "http", "http_idle_timeout", "max_messages", "max_age", "release", "allowed_hosts", "webhook", "chaos",
                ],
                prefix: "catcher.")
            if let releaseValue = section["release"] {
                guard let releaseTable = releaseValue.table else {
                    throw ConfigurationError(key: "catcher.release", problem: "must be a table ([catcher.release])")
                }
                configuration.catcher.release = try release(releaseTable)
            }
        }
        if let http = try reader.string("catcher.http") {
            if http == "off" {
                configuration.http = nil
            } else {
                guard let (host, port) = parseHostPort(http, defaultPort: 8025, ports: 0...65535),
                    isIPAddress(host) || host == "localhost"
                else {
                    throw ConfigurationError(key: "catcher.http", problem: "expected ADDRESS:PORT or off, got '\(http)'")
                }
                configuration.http = .init(address: host, port: port)
            }
        }
        for (index, host) in try reader.strings("catcher.allowed_hosts").enumerated() {
            configuration.catcher.allowedHosts.append(try allowedHost(host, key: "catcher.allowed_hosts[\(index)]"))
        }
        if let section = try reader.table("catcher"), let value = section["chaos"] {
            guard let list = value.array else {
                throw ConfigurationError(key: "catcher.chaos", problem: "must be an array of tables ([[catcher.chaos]])")
            }
            for (index, entry) in list.enumerated() {
                configuration.catcher.chaos.append(try chaosRule(entry.table, key: "catcher.chaos[\(index)]"))
            }
        }
        if let webhook = try reader.string("catcher.webhook") {
            configuration.catcher.webhook = try Self.webhook(webhook, key: "catcher.webhook")
        }
        if let http = configuration.http, !mayListen(http.address, allowedHosts: configuration.catcher.allowedHosts) {
            throw ConfigurationError(key: "catcher.http", problem: catcherLoopbackOnly(http.address))
        }
        if let maximum = try reader.int("catcher.max_messages") {
            guard maximum >= 0 else {
                throw ConfigurationError(key: "catcher.max_messages", problem: "must not be negative (0: no limit)")
            }
            configuration.catcher.maximumMessages = maximum
        }
        if let age = try reader.duration("catcher.max_age", positive: false) { configuration.catcher.maximumAge = age }
        if let idle = try reader.duration("catcher.http_idle_timeout", positive: true) {
            configuration.catcher.httpIdleTimeout = idle
        }
    }

    /// `[catcher.release]`: where the catcher may send a caught message on.
    static func release(_ table: TOMLTable) throws(ConfigurationError) -> TernConfiguration.Catcher.Release {
        let key = "catcher.release"
        let allowed: Set<String> = [
            "relay", "security", "username", "password", "password_file", "allowed_domains", "tls_verify",
            "tls_ca_file",
        ]
        for name in table.keys where !allowed.contains(name) {
            throw ConfigurationError(key: "\(key).\(name)", problem: "unknown key")
        }
        guard let relay = table["relay"]?.string else {
            throw ConfigurationError(key: "\(key).relay", problem: "missing (host:port of an SMTP server)")
        }
        guard let (host, port) = parseHostPort(relay, defaultPort: 587), isHostname(host) || isIPAddress(host) else {
            throw ConfigurationError(key: "\(key).relay", problem: "'\(relay)' is not host, host:port or [address]:port")
        }
        let security = table["security"]?.string ?? "starttls"
        guard ["starttls", "tls", "none"].contains(security) else {
            throw ConfigurationError(key: "\(key).security", problem: "'\(security)' is not starttls, tls or none")
        }
        let (username, password) = try credentials(table, key: key)
        let (verify, caFile) = try certificateCheck(
            table, key: key, checked: security != "none", otherwise: "only with security = \"starttls\" or \"tls\"")
        guard let domains = table["allowed_domains"]?.array, !domains.isEmpty else {
            throw ConfigurationError(
                key: "\(key).allowed_domains", problem: "missing: name the recipient domains a release may reach (\"*\": any)")
        }
        var allowedDomains: [String] = []
        for (index, value) in domains.enumerated() {
            guard let domain = value.string?.lowercased(), domain == "*" || isHostname(domain) else {
                throw ConfigurationError(key: "\(key).allowed_domains[\(index)]", problem: "not a domain")
            }
            allowedDomains.append(domain)
        }
        return .init(
            host: host, port: port, security: security, username: username, password: password,
            allowedDomains: allowedDomains, tlsVerify: verify, tlsCAFile: caFile)
    }

    /// A host name the catcher may be reached by: letters, digits, hyphens, underscores and dots,
    /// lower-cased, as `Host` would carry it.
    public static func allowedHost(_ name: String, key: String) throws(ConfigurationError) -> String {
        let host = name.lowercased()
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...253).contains(host.utf8.count),
            labels.allSatisfy({ label in
                (1...63).contains(label.utf8.count) && label.utf8.allSatisfy { octet in
                    (0x30...0x39).contains(octet) || (0x61...0x7A).contains(octet) || octet == UInt8(ascii: "-") || octet == UInt8(ascii: "_")
                }
            })
        else {
            throw ConfigurationError(key: key, problem: "'\(name)' is not a host name")
        }
        return host
    }

    /// Why the catcher's web UI and API listen on loopback only: they have no authentication
    /// (anyone who reaches them reads and deletes all mail and can release it on).
    static func catcherLoopbackOnly(_ address: String) -> String {
        "'\(address)' is not a loopback address; the catcher's web UI and API have no authentication, "
            + "so they listen beyond 127.0.0.0/8, ::1 and localhost only for the clients named with "
            + "[catcher] allowed_hosts or --http-allow-host NAME (a container's service name, say); "
            + "otherwise reach them through an SSH tunnel"
    }

    /// Whether the catcher may listen on `address`: loopback always; any other address only
    /// once the names its clients use are allowed (`allowed_hosts`), which is the
    /// administrator saying that others are meant to reach it (a container's neighbours).
    static func mayListen(_ address: String, allowedHosts: [String]) -> Bool {
        isLoopback(address) || !allowedHosts.isEmpty
    }

    /// One `[[catcher.chaos]]` table: `stage` (mail, rcpt, data, auth), the patterns `sender`,
    /// `recipient`, `inbox`, and `reply`, `delay` (seconds or a duration), `drop`,
    /// `probability` (percent).
    static func chaosRule(_ table: TOMLTable?, key: String) throws(ConfigurationError) -> ChaosRule {
        guard let table else { throw ConfigurationError(key: key, problem: "must be a table") }
        let allowed: Set<String> = ["stage", "sender", "recipient", "inbox", "reply", "delay", "drop", "probability"]
        for name in table.keys where !allowed.contains(name) {
            throw ConfigurationError(key: "\(key).\(name)", problem: "unknown key")
        }
        guard let stageName = table["stage"]?.string, let stage = ChaosRule.Stage(rawValue: stageName) else {
            throw ConfigurationError(key: "\(key).stage", problem: "must be mail, rcpt, data or auth")
        }
        var delay: Double?
        if let value = table["delay"] {
            if let seconds = value.int {
                delay = Double(seconds)
            } else if let seconds = value.double {
                delay = seconds
            } else if let text = value.string, let amount = parseDuration(text) {
                delay = Double(amount.nanoseconds) / 1e9
            } else {
                throw ConfigurationError(key: "\(key).delay", problem: "must be seconds or a duration like 2s")
            }
        }
        var probability: Int?
        if let value = table["probability"] {
            guard let percent = value.int else { throw ConfigurationError(key: "\(key).probability", problem: "must be 0 to 100") }
            probability = percent
        }
        let rule = ChaosRule(
            stage: stage, sender: table["sender"]?.string, recipient: table["recipient"]?.string,
            inbox: table["inbox"]?.string, reply: table["reply"]?.string, delay: delay, drop: table["drop"]?.bool,
            probability: probability)
        do {
            _ = try rule.validated()
        } catch {
            throw ConfigurationError(key: key, problem: error.description)
        }
        return rule
    }

    /// A webhook's URL (`[catcher] webhook`, `--webhook-url`): `http` or `https` with a host.
    public static func webhook(_ url: String, key: String) throws(ConfigurationError) -> String {
        guard CatcherWebhook.isValid(url) else {
            throw ConfigurationError(key: key, problem: "'\(url)' is not an http:// or https:// URL")
        }
        return url
    }

    static func isLoopback(_ address: String) -> Bool {
        address == "::1" || address == "localhost" || (address.hasPrefix("127.") && isIPAddress(address))
    }
}

/// `[http]`: serve mode's operations listener.
extension ConfigurationLoader {
    /// The shortest admin token taken: 128 bits of a random hex or base64 string.
    static let minimumAdminTokenLength = 24

    /// `[http]`: off without the section or with `address = "off"`, else on `address` (default
    /// `127.0.0.1:8080`); `admin_token` (or `admin_token_file`, read now) turns the admin API on.
    static func operationsHTTP(_ reader: Reader) throws(ConfigurationError) -> TernConfiguration.OperationsHTTP? {
        guard let section = try reader.table("http") else { return nil }
        try reader.rejectUnknown(in: section, allowed: ["address", "admin_token", "admin_token_file"], prefix: "http.")
        let address = try reader.string("http.address") ?? "127.0.0.1:8080"
        guard address != "off" else { return nil }
        guard let (host, port) = parseHostPort(address, defaultPort: 8080, ports: 0...65535),
            isIPAddress(host) || host == "localhost"
        else {
            throw ConfigurationError(key: "http.address", problem: "expected ADDRESS:PORT or off, got '\(address)'")
        }
        var listener = TernConfiguration.OperationsHTTP(address: host, port: port)
        var token = try reader.string("http.admin_token")
        if let file = try reader.string("http.admin_token_file") {
            guard token == nil else {
                throw ConfigurationError(key: "http.admin_token_file", problem: "give admin_token or admin_token_file, not both")
            }
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ConfigurationError(key: "http.admin_token_file", problem: "cannot read \(file)")
            }
            token = text.trimmingCharacters(in: .newlines)
        }
        if let token {
            guard token.utf8.count >= minimumAdminTokenLength, token.utf8.count <= 512,
                token.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) })
            else {
                throw ConfigurationError(
                    key: "http.admin_token",
                    problem: "must be \(minimumAdminTokenLength) to 512 printable characters without spaces "
                        + "(make one with: openssl rand -hex 32)")
            }
            listener.adminToken = token
        }
        return listener
    }
}
