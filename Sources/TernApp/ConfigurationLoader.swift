import Foundation
import NIOCore
import TOMLKit
import TernDirectory
import TernDelivery
import TernMail
import TernNet
import TernSMTPServer
import TernStore

/// A configuration problem, always naming the key (`limits.message_size: ...`).
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let key: String
    public let problem: String

    public init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }

    public var description: String { key.isEmpty ? problem : "\(key): \(problem)" }
}

/// Reads `tern.toml` (TOMLKit) with `TERN_*` environment overrides for scalar keys
/// (`TERN_HOSTNAME`, `TERN_DATA_DIR`, `TERN_LIMITS_MESSAGE_SIZE`, ...). The precedence is
/// command line > environment > file > defaults; the command line is applied by the caller.
///
/// Unknown keys are errors, not warnings: a typo in a limit must not silently leave the
/// default in force.
public enum ConfigurationLoader {
    static let topLevelKeys: Set<String> = [
        "hostname", "data_dir", "log_level", "listener", "tls", "limits", "mail", "mailbox", "alias", "queue",
        "outbound", "route", "dns", "user", "rate_limits", "auth", "catcher", "storage",
    ]
    static let queueKeys: Set<String> = [
        "retry_delay", "retry_max_delay", "max_lifetime", "concurrency", "destination_concurrency", "delay_warning",
    ]
    static let outboundKeys: Set<String> = ["port", "tls", "cleartext_fallback", "connect_timeout", "connection_idle_time"]
    static let routeKeys: Set<String> = [
        "domain", "relay", "security", "username", "password", "password_file", "tls_verify", "tls_ca_file",
    ]
    static let dnsKeys: Set<String> = ["servers", "timeout", "attempts"]
    static let mailKeys: Set<String> = ["domains", "recipient_delimiter", "relay_networks"]
    static let listenerKeys: Set<String> = ["address", "port", "role", "cleartext_auth"]
    static let tlsKeys: Set<String> = ["certificate", "private_key"]
    static let limitKeys: Set<String> = [
        "message_size", "recipients", "command_line_length", "text_line_length", "errors", "soft_errors", "error_delay",
        "commands_without_mail", "connections", "connections_per_ip", "greeting_delay", "command_timeout",
        "data_timeout", "shutdown_grace", "max_hops",
    ]

    public static func load(path: String, environment: [String: String]? = nil)
        throws(ConfigurationError) -> TernConfiguration
    {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(key: "", problem: "cannot read \(path): \(error.localizedDescription)")
        }
        return try parse(text, environment: environment ?? ProcessInfo.processInfo.environment)
    }

    public static func parse(_ text: String, environment: [String: String] = [:]) throws(ConfigurationError)
        -> TernConfiguration
    {
        if let line = TOMLTableHeaders.firstMalformedLine(in: text) {
            throw ConfigurationError(
                key: "",
                problem: "TOML syntax error at line \(line): a table header must start with a key "
                    + "(a letter, digit, '_', '-' or a quoted name)")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError(
                key: "", problem: "TOML syntax error at line \(error.source.begin.line): \(error.description)")
        } catch {
            throw ConfigurationError(key: "", problem: "TOML syntax error: \(error)")
        }
        let reader = Reader(table: table, environment: environment)
        try reader.rejectUnknown(in: table, allowed: topLevelKeys, prefix: "")

        var configuration = TernConfiguration()
        if let hostname = try reader.string("hostname") {
            guard isHostname(hostname) else {
                throw ConfigurationError(key: "hostname", problem: "'\(hostname)' is not a valid host name")
            }
            configuration.hostname = hostname
        }
        if let dataDirectory = try reader.string("data_dir") {
            guard !dataDirectory.isEmpty else { throw ConfigurationError(key: "data_dir", problem: "must not be empty") }
            configuration.dataDirectory = dataDirectory
        }
        if let level = try reader.string("log_level") {
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) else {
                throw ConfigurationError(key: "log_level", problem: "unknown level '\(level)'")
            }
            configuration.logLevel = level
        }
        configuration.listeners = try listeners(table, reader: reader)
        if let tls = try reader.table("tls") {
            try reader.rejectUnknown(in: tls, allowed: tlsKeys, prefix: "tls.")
            guard let certificate = try reader.string("tls.certificate") else {
                throw ConfigurationError(key: "tls.certificate", problem: "missing (a PEM file)")
            }
            guard let privateKey = try reader.string("tls.private_key") else {
                throw ConfigurationError(key: "tls.private_key", problem: "missing (a PEM file)")
            }
            configuration.tls = TernConfiguration.TLSFiles(certificate: certificate, privateKey: privateKey)
        }
        if let limits = try reader.table("limits") {
            try reader.rejectUnknown(in: limits, allowed: limitKeys, prefix: "limits.")
        }
        configuration.limits = try self.limits(reader)
        configuration.mail = try mail(table, reader: reader)
        if let queue = try reader.table("queue") {
            try reader.rejectUnknown(in: queue, allowed: queueKeys, prefix: "queue.")
        }
        if let delay = try reader.duration("queue.retry_delay", positive: true) { configuration.queue.retryDelay = delay }
        if let delay = try reader.duration("queue.retry_max_delay", positive: true) {
            configuration.queue.retryMaximumDelay = delay
        }
        if let lifetime = try reader.duration("queue.max_lifetime", positive: true) {
            configuration.queue.maximumLifetime = lifetime
        }
        if let warning = try reader.duration("queue.delay_warning") { configuration.queue.delayWarning = warning }
        if let concurrency = try reader.int("queue.concurrency") {
            guard concurrency >= 1 else {
                throw ConfigurationError(key: "queue.concurrency", problem: "must be at least 1")
            }
            configuration.queue.concurrency = concurrency
        }
        if let concurrency = try reader.int("queue.destination_concurrency") {
            guard concurrency >= 1 else {
                throw ConfigurationError(key: "queue.destination_concurrency", problem: "must be at least 1")
            }
            configuration.queue.destinationConcurrency = concurrency
        }
        configuration.outbound = try outbound(table, reader: reader)
        configuration.dns = try dns(reader)
        configuration.storage = try storage(reader)
        if let section = try reader.table("rate_limits") {
            try reader.rejectUnknown(in: section, allowed: ["messages", "recipients", "window"], prefix: "rate_limits.")
        }
        if let messages = try reader.int("rate_limits.messages") { configuration.rateLimits.messages = messages }
        if let recipients = try reader.int("rate_limits.recipients") { configuration.rateLimits.recipients = recipients }
        if let window = try reader.duration("rate_limits.window", positive: true) { configuration.rateLimits.window = window }
        for key in ["messages", "recipients"] where (try reader.int("rate_limits.\(key)") ?? 0) < 0 {
            throw ConfigurationError(key: "rate_limits.\(key)", problem: "must not be negative (0 turns it off)")
        }
        if let section = try reader.table("catcher") {
            try reader.rejectUnknown(
                in: section, allowed: ["http", "http_idle_timeout", "max_messages", "max_age", "release"], prefix: "catcher.")
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
                guard isLoopback(host) else {
                    throw ConfigurationError(key: "catcher.http", problem: catcherLoopbackOnly(host))
                }
                configuration.http = .init(address: host, port: port)
            }
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
        if let section = try reader.table("auth") {
            try reader.rejectUnknown(
                in: section, allowed: ["failure_delay", "max_failure_delay", "failure_window"], prefix: "auth.")
        }
        if let delay = try reader.duration("auth.failure_delay", positive: false) {
            configuration.authentication.failureDelay = delay
        }
        if let delay = try reader.duration("auth.max_failure_delay", positive: false) {
            configuration.authentication.maximumFailureDelay = delay
        }
        if let window = try reader.duration("auth.failure_window", positive: true) {
            configuration.authentication.failureWindow = window
        }
        guard configuration.authentication.maximumFailureDelay >= configuration.authentication.failureDelay else {
            throw ConfigurationError(key: "auth.max_failure_delay", problem: "must not be shorter than auth.failure_delay")
        }
        guard configuration.queue.retryMaximumDelay >= configuration.queue.retryDelay else {
            throw ConfigurationError(key: "queue.retry_max_delay", problem: "must not be shorter than queue.retry_delay")
        }
        return configuration
    }

    private static func listeners(_ table: TOMLTable, reader: Reader) throws(ConfigurationError)
        -> [TernConfiguration.ListenerConfiguration]
    {
        guard let value = table["listener"] else { return [] }
        guard let array = value.array else {
            throw ConfigurationError(key: "listener", problem: "must be an array of tables ([[listener]])")
        }
        var result: [TernConfiguration.ListenerConfiguration] = []
        for (index, element) in array.enumerated() {
            let key = "listener[\(index)]"
            guard let entry = element.table else {
                throw ConfigurationError(key: key, problem: "must be a table ([[listener]])")
            }
            try reader.rejectUnknown(in: entry, allowed: listenerKeys, prefix: "\(key).")
            let local = Reader(table: entry, environment: [:], prefix: "\(key).")
            let address = try local.string("address") ?? "127.0.0.1"
            guard isIPAddress(address) || address == "localhost" else {
                throw ConfigurationError(key: "\(key).address", problem: "'\(address)' is not an IP address")
            }
            guard let port = try local.int("port") else {
                throw ConfigurationError(key: "\(key).port", problem: "missing")
            }
            guard (0...65535).contains(port) else {
                throw ConfigurationError(key: "\(key).port", problem: "must be between 0 and 65535")
            }
            let roleName = try local.string("role") ?? "mx"
            guard let role = SMTPEndpoint.Role(rawValue: roleName) else {
                throw ConfigurationError(
                    key: "\(key).role", problem: "unknown role '\(roleName)' (mx, submission or submissions)")
            }
            let cleartext = try local.bool("cleartext_auth") ?? false
            if cleartext {
                guard role != .mx else {
                    throw ConfigurationError(
                        key: "\(key).cleartext_auth", problem: "only for the submission roles (mx offers no AUTH)")
                }
                guard isLoopback(address) else {
                    throw ConfigurationError(
                        key: "\(key).cleartext_auth",
                        problem: "only on a loopback address (127.0.0.0/8, ::1): passwords must not cross a network in clear")
                }
            }
            result.append(.init(address: address, port: port, role: role, cleartextAuthentication: cleartext))
        }
        return result
    }

    private static func mail(_ table: TOMLTable, reader: Reader) throws(ConfigurationError) -> TernConfiguration.Mail {
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
        let userKeys: Set<String> = ["address", "password_hash", "display_name", "send_as", "enabled"]
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
            let enabled = entry["enabled"]?.bool ?? true
            let mailbox = "\(local)@\(domain)"
            if !mail.mailboxes.contains(mailbox) { mail.mailboxes.append(mailbox) }
            mail.users.append(
                Account(
                    address: mailbox, displayName: entry["display_name"]?.string, passwordHash: hash, sendAs: sendAs,
                    enabled: enabled))
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

    private static func outbound(_ table: TOMLTable, reader: Reader) throws(ConfigurationError)
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

    private static func storage(_ reader: Reader) throws(ConfigurationError) -> TernConfiguration.Storage {
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

    private static func dns(_ reader: Reader) throws(ConfigurationError) -> TernConfiguration.DNS {
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

    /// `host`, `host:port`, `address`, `[v6-address]` or `[v6-address]:port`.
    /// `host`, `host:port`, `[v6]:port`; `ports` 0...65535 for a listener (0: any free port).
    static func parseHostPort(_ text: String, defaultPort: Int, ports: ClosedRange<Int> = 1...65535) -> (String, Int)? {
        var host = Substring(text)
        var portText: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                portText = rest.dropFirst()
            }
        } else if host.filter({ $0 == ":" }).count == 1, let colon = host.firstIndex(of: ":") {
            portText = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        var port = defaultPort
        if let portText {
            guard let number = ASCIIDecimal.parse(portText, in: ports) else { return nil }
            port = number
        }
        guard !host.isEmpty else { return nil }
        return (String(host), port)
    }

    private static func tables(_ table: TOMLTable, _ name: String, allowed: Set<String>, reader: Reader)
        throws(ConfigurationError) -> [TOMLTable]
    {
        guard let value = table[name] else { return [] }
        guard let array = value.array else {
            throw ConfigurationError(key: name, problem: "must be an array of tables ([[\(name)]])")
        }
        var result: [TOMLTable] = []
        for (index, element) in array.enumerated() {
            guard let entry = element.table else {
                throw ConfigurationError(key: "\(name)[\(index)]", problem: "must be a table ([[\(name)]])")
            }
            try reader.rejectUnknown(in: entry, allowed: allowed, prefix: "\(name)[\(index)].")
            result.append(entry)
        }
        return result
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

    private static func limits(_ reader: Reader) throws(ConfigurationError) -> TernConfiguration.Limits {
        var limits = TernConfiguration.Limits()
        func positive(_ key: String, minimum: Int = 1, _ apply: (Int) -> Void) throws(ConfigurationError) {
            guard let value = try reader.int("limits.\(key)") else { return }
            guard value >= minimum else {
                throw ConfigurationError(key: "limits.\(key)", problem: "must be at least \(minimum)")
            }
            apply(value)
        }
        try positive("message_size") { limits.messageSize = $0 }
        try positive("recipients") { limits.recipients = $0 }
        // RFC 5321 §4.5.3.1.4: a server must accept 512-octet command lines.
        try positive("command_line_length", minimum: 512) { limits.commandLineLength = $0 }
        if let value = try reader.int("limits.text_line_length") {
            guard value == 0 || value >= 1000 else {
                throw ConfigurationError(
                    key: "limits.text_line_length", problem: "must be 0 (no limit) or at least 1000 (RFC 5321 §4.5.3.1.6)")
            }
            limits.textLineLength = value
        }
        // RFC 5321 §6.3: a loop is detected by counting Received headers; at least 25.
        try positive("max_hops", minimum: 25) { limits.maximumHops = $0 }
        try positive("errors") { limits.errors = $0 }
        try positive("soft_errors") { limits.softErrors = $0 }
        if let delay = try reader.duration("limits.error_delay") { limits.errorDelay = delay }
        try positive("commands_without_mail") { limits.commandsWithoutMail = $0 }
        try positive("connections") { limits.connections = $0 }
        try positive("connections_per_ip") { limits.connectionsPerIP = $0 }
        if let delay = try reader.duration("limits.greeting_delay") { limits.greetingDelay = delay }
        if let timeout = try reader.duration("limits.command_timeout", positive: true) { limits.commandTimeout = timeout }
        if let timeout = try reader.duration("limits.data_timeout", positive: true) { limits.dataTimeout = timeout }
        if let grace = try reader.duration("limits.shutdown_grace") { limits.shutdownGrace = grace }
        return limits
    }

    /// The longest duration any key takes: ten years. Longer ones are refused by name, so no
    /// later sum of a duration and a time can overflow.
    static let maximumDuration = TimeAmount.hours(24 * 3650)
    /// The largest integer any key takes (1 TiB, as octets); larger ones are refused by name.
    static let maximumInteger = 1 << 40

    /// Durations are integer seconds or a number with a unit: `500ms`, `30s`, `5m`, `1h`, `2d`.
    /// A number too large for the unit gives a duration longer than `maximumDuration`, which
    /// the reader refuses; it never traps.
    static func parseDuration(_ text: String) -> TimeAmount? {
        let units: [(String, Int64)] = [
            ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
            ("d", 86_400_000_000_000),
        ]
        for (suffix, nanoseconds) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            guard !number.isEmpty, number.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            guard let value = ASCIIDecimal.parse(number, in: 0...Int64.max) else { return .nanoseconds(.max) }
            let (product, overflowed) = value.multipliedReportingOverflow(by: nanoseconds)
            return .nanoseconds(overflowed ? .max : product)
        }
        return nil
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

    /// Why the catcher's web UI and API listen on loopback only: they have no authentication
    /// (anyone who reaches them reads and deletes all mail and can release it on).
    static func catcherLoopbackOnly(_ address: String) -> String {
        "'\(address)' is not a loopback address; the catcher's web UI and API have no authentication, "
            + "so they listen only on 127.0.0.0/8, ::1 or localhost (reach them from elsewhere through an SSH tunnel)"
    }

    static func isLoopback(_ address: String) -> Bool {
        address == "::1" || address == "localhost" || (address.hasPrefix("127.") && isIPAddress(address))
    }

    static func isHostname(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D }
        }
    }

    static func isIPAddress(_ text: String) -> Bool {
        (try? SocketAddress(ipAddress: text, port: 0)) != nil
    }

    /// Looks up dotted keys in the TOML table, with an environment override per key.
    struct Reader {
        let table: TOMLTable
        let environment: [String: String]
        var prefix = ""

        func rejectUnknown(in table: TOMLTable, allowed: Set<String>, prefix: String) throws(ConfigurationError) {
            for key in table.keys.sorted() where !allowed.contains(key) {
                throw ConfigurationError(key: prefix + key, problem: "unknown key")
            }
        }

        func strings(_ key: String) throws(ConfigurationError) -> [String] {
            if let override = environmentValue(key) {
                return override.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            }
            guard let value = value(key) else { return [] }
            guard let array = value.array else { throw ConfigurationError(key: prefix + key, problem: "must be a list") }
            var result: [String] = []
            for (index, element) in array.enumerated() {
                guard let text = element.string else {
                    throw ConfigurationError(key: "\(prefix)\(key)[\(index)]", problem: "must be a string")
                }
                result.append(text)
            }
            return result
        }

        func table(_ key: String) throws(ConfigurationError) -> TOMLTable? {
            guard let value = table[key] else { return nil }
            guard let nested = value.table else { throw ConfigurationError(key: key, problem: "must be a table") }
            return nested
        }

        private func value(_ dotted: String) -> (any TOMLValueConvertible)? {
            let parts = dotted.split(separator: ".").map(String.init)
            var current: TOMLTable = table
            for part in parts.dropLast() {
                guard let next = current[part]?.table else { return nil }
                current = next
            }
            return parts.last.flatMap { current[$0] }
        }

        private func environmentValue(_ dotted: String) -> String? {
            guard prefix.isEmpty else { return nil }
            let name = "TERN_" + dotted.uppercased().replacingOccurrences(of: ".", with: "_")
            return environment[name]
        }

        func string(_ key: String) throws(ConfigurationError) -> String? {
            if let override = environmentValue(key) { return override }
            guard let value = value(key) else { return nil }
            guard let string = value.string else { throw ConfigurationError(key: prefix + key, problem: "must be a string") }
            return string
        }

        func bool(_ key: String) throws(ConfigurationError) -> Bool? {
            if let override = environmentValue(key) {
                switch override.lowercased() {
                case "true", "1", "yes": return true
                case "false", "0", "no": return false
                default: throw ConfigurationError(key: prefix + key, problem: "must be true or false (environment)")
                }
            }
            guard let value = value(key) else { return nil }
            guard value.type == .bool, let flag = value.bool else {
                throw ConfigurationError(key: prefix + key, problem: "must be true or false")
            }
            return flag
        }

        /// An integer of at most `ConfigurationLoader.maximumInteger` (negative ones are for the
        /// caller to refuse, with a message naming what 0 means for its key).
        func int(_ key: String) throws(ConfigurationError) -> Int? {
            let number: Int
            if let override = environmentValue(key) {
                guard let parsed = ASCIIDecimal.parse(override, in: 0...Int.max) else {
                    throw ConfigurationError(key: prefix + key, problem: "must be a non-negative integer (environment)")
                }
                number = parsed
            } else {
                guard let value = value(key) else { return nil }
                guard value.type == .int, let parsed = value.int else {
                    throw ConfigurationError(key: prefix + key, problem: "must be an integer")
                }
                number = parsed
            }
            guard number <= ConfigurationLoader.maximumInteger else {
                throw ConfigurationError(key: prefix + key, problem: "must be at most \(ConfigurationLoader.maximumInteger)")
            }
            return number
        }

        func duration(_ key: String, positive: Bool = false) throws(ConfigurationError) -> TimeAmount? {
            let amount: TimeAmount
            if let override = environmentValue(key) {
                guard let parsed = ConfigurationLoader.parseDuration(override) ?? ConfigurationLoader.parseDuration(override + "s") else {
                    throw ConfigurationError(key: prefix + key, problem: "must be a duration like 30s, 5m or 500ms")
                }
                amount = parsed
            } else {
                guard let value = value(key) else { return nil }
                if value.type == .int, let seconds = value.int {
                    guard seconds >= 0 else { throw ConfigurationError(key: prefix + key, problem: "must not be negative") }
                    let (nanoseconds, overflowed) = Int64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
                    amount = .nanoseconds(overflowed ? .max : nanoseconds)
                } else if let text = value.string, let parsed = ConfigurationLoader.parseDuration(text) {
                    amount = parsed
                } else {
                    throw ConfigurationError(key: prefix + key, problem: "must be a duration like 30s, 5m or 500ms")
                }
            }
            if positive, amount <= .zero {
                throw ConfigurationError(key: prefix + key, problem: "must be longer than zero")
            }
            guard amount <= ConfigurationLoader.maximumDuration else {
                throw ConfigurationError(key: prefix + key, problem: "must be at most 3650d (ten years)")
            }
            return amount
        }
    }
}
