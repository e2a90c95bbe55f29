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
///
/// `parse` reads the sections in order; each section's keys and parser live together, in
/// ConfigurationLoader+SMTP (listeners, TLS, limits, rate limits, auth), +Mail (domains,
/// mailboxes, users, aliases), +Delivery (queue, outbound, routes, DNS, storage) and +Catcher.
public enum ConfigurationLoader {
    static let topLevelKeys: Set<String> = [
        "hostname", "data_dir", "log_level", "listener", "tls", "limits", "mail", "mailbox", "alias", "queue",
        "outbound", "route", "dns", "dkim", "spf", "dmarc", "user", "rate_limits", "auth", "catcher", "storage",
        "http",
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
        if let malformed = TOMLTableHeaders.firstMalformed(in: text) {
            throw ConfigurationError(
                key: "", problem: "TOML syntax error at line \(malformed.line): \(malformed.problem)")
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
        configuration.tls = try tls(reader)
        configuration.limits = try limits(reader)
        configuration.mail = try mail(table, reader: reader)
        configuration.queue = try queue(reader)
        configuration.outbound = try outbound(table, reader: reader)
        configuration.dns = try dns(reader)
        configuration.dkim = try dkim(reader)
        configuration.spf = try spf(reader)
        configuration.dmarc = try dmarc(reader)
        configuration.storage = try storage(reader)
        configuration.rateLimits = try rateLimits(reader)
        try catcher(reader, into: &configuration)
        configuration.operationsHTTP = try operationsHTTP(reader)
        configuration.authentication = try authentication(reader)
        return configuration
    }

    /// `host`, `host:port`, `address`, `[v6-address]` or `[v6-address]:port`; `ports` is
    /// 0...65535 for a listener (0: any free port).
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

    static func tables(_ table: TOMLTable, _ name: String, allowed: Set<String>, reader: Reader)
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
