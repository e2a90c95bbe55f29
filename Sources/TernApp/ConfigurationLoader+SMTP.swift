import TOMLKit
import TernSMTPServer

/// `[[listener]]`, `[tls]`, `[limits]`, `[rate_limits]` and `[auth]`: what the SMTP listeners are
/// and how they guard themselves.
extension ConfigurationLoader {
    static let listenerKeys: Set<String> = ["address", "port", "role", "cleartext_auth"]

    static func listeners(_ table: TOMLTable, reader: Reader) throws(ConfigurationError)
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
            guard let role = TernConfiguration.ListenerRole(rawValue: roleName) else {
                throw ConfigurationError(
                    key: "\(key).role", problem: "unknown role '\(roleName)' (mx, submission, submissions, imap, imaps, pop3 or pop3s)")
            }
            let cleartext = try local.bool("cleartext_auth") ?? false
            if cleartext {
                guard role != .mx else {
                    throw ConfigurationError(
                        key: "\(key).cleartext_auth", problem: "only for the submission, IMAP and POP3 roles (mx offers no AUTH)")
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

    static let tlsKeys: Set<String> = ["certificate", "private_key"]

    /// `[tls]`: the certificate and key every TLS listener presents (PEM files).
    static func tls(_ reader: Reader) throws(ConfigurationError) -> TernConfiguration.TLSFiles? {
        guard let section = try reader.table("tls") else { return nil }
        try reader.rejectUnknown(in: section, allowed: tlsKeys, prefix: "tls.")
        guard let certificate = try reader.string("tls.certificate") else {
            throw ConfigurationError(key: "tls.certificate", problem: "missing (a PEM file)")
        }
        guard let privateKey = try reader.string("tls.private_key") else {
            throw ConfigurationError(key: "tls.private_key", problem: "missing (a PEM file)")
        }
        return TernConfiguration.TLSFiles(certificate: certificate, privateKey: privateKey)
    }

    static let limitKeys: Set<String> = [
        "message_size", "recipients", "command_line_length", "text_line_length", "errors", "soft_errors", "error_delay",
        "commands_without_mail", "connections", "connections_per_ip", "connections_per_user", "greeting_delay", "command_timeout",
        "data_timeout", "shutdown_grace", "max_hops",
    ]

    static func limits(_ reader: Reader) throws(ConfigurationError) -> TernConfiguration.Limits {
        if let section = try reader.table("limits") {
            try reader.rejectUnknown(in: section, allowed: limitKeys, prefix: "limits.")
        }
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
        try positive("connections_per_user") { limits.connectionsPerUser = $0 }
        if let delay = try reader.duration("limits.greeting_delay") { limits.greetingDelay = delay }
        if let timeout = try reader.duration("limits.command_timeout", positive: true) { limits.commandTimeout = timeout }
        if let timeout = try reader.duration("limits.data_timeout", positive: true) { limits.dataTimeout = timeout }
        if let grace = try reader.duration("limits.shutdown_grace") { limits.shutdownGrace = grace }
        return limits
    }

    /// `[rate_limits]`: messages and recipients per authenticated user and client address.
    static func rateLimits(_ reader: Reader) throws(ConfigurationError) -> TernConfiguration.RateLimits {
        var rateLimits = TernConfiguration.RateLimits()
        if let section = try reader.table("rate_limits") {
            try reader.rejectUnknown(in: section, allowed: ["messages", "recipients", "window"], prefix: "rate_limits.")
        }
        if let messages = try reader.int("rate_limits.messages") { rateLimits.messages = messages }
        if let recipients = try reader.int("rate_limits.recipients") { rateLimits.recipients = recipients }
        if let window = try reader.duration("rate_limits.window", positive: true) { rateLimits.window = window }
        for key in ["messages", "recipients"] where (try reader.int("rate_limits.\(key)") ?? 0) < 0 {
            throw ConfigurationError(key: "rate_limits.\(key)", problem: "must not be negative (0 turns it off)")
        }
        return rateLimits
    }

    /// `[auth]`: the brake on failed logins.
    static func authentication(_ reader: Reader) throws(ConfigurationError) -> TernConfiguration.Authentication {
        var authentication = TernConfiguration.Authentication()
        if let section = try reader.table("auth") {
            try reader.rejectUnknown(
                in: section, allowed: ["failure_delay", "max_failure_delay", "failure_window"], prefix: "auth.")
        }
        if let delay = try reader.duration("auth.failure_delay", positive: false) {
            authentication.failureDelay = delay
        }
        if let delay = try reader.duration("auth.max_failure_delay", positive: false) {
            authentication.maximumFailureDelay = delay
        }
        if let window = try reader.duration("auth.failure_window", positive: true) {
            authentication.failureWindow = window
        }
        guard authentication.maximumFailureDelay >= authentication.failureDelay else {
            throw ConfigurationError(key: "auth.max_failure_delay", problem: "must not be shorter than auth.failure_delay")
        }
        return authentication
    }
}
