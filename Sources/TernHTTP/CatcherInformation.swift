import Foundation
import Hummingbird
import TernMail
import TernStore

/// What `/api/v1/info` and `/api/v1/webui` tell about the catcher besides its messages: the
/// figures of the SMTP side (read through a closure, so this module needs no SMTP server), the
/// index file, the release relay.
public struct CatcherInformation: Sendable {
    /// Messages accepted, their octets, and refused commands, since the process started.
    public struct SMTPCounts: Sendable {
        public var accepted: Int
        public var acceptedSize: Int
        public var refused: Int

        public init(accepted: Int = 0, acceptedSize: Int = 0, refused: Int = 0) {
            self.accepted = accepted
            self.acceptedSize = acceptedSize
            self.refused = refused
        }
    }

    /// The catcher's index (Mailpit's "Database").
    public var databasePath: String
    public var smtpCounts: @Sendable () -> SMTPCounts
    /// `[catcher] label`: a name for this catcher in the web UI.
    public var label: String
    /// Where a release goes (`host:port`), nil when `[catcher.release]` is not set.
    public var releaseServer: String?
    let started = ContinuousClock.now

    public init(
        databasePath: String, label: String = "", releaseServer: String? = nil,
        smtpCounts: @escaping @Sendable () -> SMTPCounts = { SMTPCounts() }
    ) {
        self.databasePath = databasePath
        self.label = label
        self.releaseServer = releaseServer
        self.smtpCounts = smtpCounts
    }

    /// Whole seconds since the catcher started.
    var uptime: Int { Int(clamping: (ContinuousClock.now - started).components.seconds) }

    /// The process's resident memory (`/proc/self/statm`'s second field, in pages), 0 where
    /// there is no such file.
    static func residentMemory() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]), pages >= 0 else { return 0 }
        let (octets, overflowed) = pages.multipliedReportingOverflow(by: max(1, sysconf(Int32(_SC_PAGESIZE))))
        return overflowed ? .max : octets
    }
}

/// Mailpit's `AppInformation`.
struct APIAppInformation: Encodable {
    struct RuntimeStats: Encodable {
        var memory: Int
        var messagesDeleted: Int
        var smtpAccepted: Int
        var smtpAcceptedSize: Int
        var smtpRejected: Int
        var smtpIgnored: Int
        var uptime: Int

        enum CodingKeys: String, CodingKey {
            case memory = "Memory"
            case messagesDeleted = "MessagesDeleted"
            case smtpAccepted = "SMTPAccepted"
            case smtpAcceptedSize = "SMTPAcceptedSize"
            case smtpRejected = "SMTPRejected"
            case smtpIgnored = "SMTPIgnored"
            case uptime = "Uptime"
        }
    }

    var version: String
    var latestVersion: String
    var database: String
    var databaseSize: Int
    var messages: Int
    var unread: Int
    var tags: [String: Int]
    var runtimeStats: RuntimeStats

    enum CodingKeys: String, CodingKey {
        case version = "Version"
        case latestVersion = "LatestVersion"
        case database = "Database"
        case databaseSize = "DatabaseSize"
        case messages = "Messages"
        case unread = "Unread"
        case tags = "Tags"
        case runtimeStats = "RuntimeStats"
    }
}

/// Mailpit's `WebUIConfiguration`.
struct APIWebUIConfiguration: Encodable {
    struct MessageRelay: Encodable {
        var enabled: Bool
        var smtpServer: String
        var allowedRecipients: String
        var blockedRecipients: String
        var overrideFrom: String
        var preserveMessageIDs: Bool
        var returnPath: String

        enum CodingKeys: String, CodingKey {
            case enabled = "Enabled"
            case smtpServer = "SMTPServer"
            case allowedRecipients = "AllowedRecipients"
            case blockedRecipients = "BlockedRecipients"
            case overrideFrom = "OverrideFrom"
            case preserveMessageIDs = "PreserveMessageIDs"
            case returnPath = "ReturnPath"
        }
    }

    var label: String
    var messageRelay: MessageRelay
    var spamAssassin: Bool
    var chaosEnabled: Bool
    var duplicatesIgnored: Bool
    var hideDeleteAllButton: Bool

    enum CodingKeys: String, CodingKey {
        case label = "Label"
        case messageRelay = "MessageRelay"
        case spamAssassin = "SpamAssassin"
        case chaosEnabled = "ChaosEnabled"
        case duplicatesIgnored = "DuplicatesIgnored"
        case hideDeleteAllButton = "HideDeleteAllButton"
    }

    /// The release's allowed domains as Mailpit's AllowedRecipients regular expression: an
    /// address ending in `@` one of them or a subdomain of one; empty for any (`*`) or none.
    static func allowedRecipients(_ domains: [String]) -> String {
        guard !domains.isEmpty, !domains.contains("*") else { return "" }
        let escaped = domains.map { NSRegularExpression.escapedPattern(for: $0) }
        return "(?i)@(.+\\.)?(\(escaped.joined(separator: "|")))$"
    }
}

extension CatcherHTTP {
    static func informationRoutes(
        _ routes: inout Routes, catcher: Catcher, information: CatcherInformation, release: (any MessageReleasing)?,
        chaos: Bool
    ) {
        routes.get("api/v1/info") { _, _ in
            let inboxes = try await catcher.inboxes()
            let counts = information.smtpCounts()
            let databaseSize = ["", "-wal"].compactMap { suffix in
                (try? FileManager.default.attributesOfItem(atPath: information.databasePath + suffix))?[.size] as? Int
            }.reduce(0) { $0.addingReportingOverflow($1).overflow ? .max : $0 + $1 }
            return try json(
                APIAppInformation(
                    // Tern never asks the Internet for a newer release: the latest it knows is itself.
                    version: TernVersion.current, latestVersion: TernVersion.current,
                    database: information.databasePath, databaseSize: databaseSize,
                    messages: inboxes.reduce(0) { $0 + $1.total }, unread: inboxes.reduce(0) { $0 + $1.unread },
                    tags: try await catcher.tagCounts(),
                    runtimeStats: .init(
                        memory: CatcherInformation.residentMemory(), messagesDeleted: await catcher.deletedCount,
                        smtpAccepted: counts.accepted, smtpAcceptedSize: counts.acceptedSize, smtpRejected: counts.refused,
                        smtpIgnored: 0, uptime: information.uptime)))
        }
        routes.get("api/v1/webui") { _, _ in
            try json(
                APIWebUIConfiguration(
                    label: information.label,
                    messageRelay: .init(
                        enabled: release != nil, smtpServer: information.releaseServer ?? "",
                        allowedRecipients: APIWebUIConfiguration.allowedRecipients(release?.allowedDomains ?? []),
                        blockedRecipients: "", overrideFrom: "", preserveMessageIDs: true, returnPath: ""),
                    spamAssassin: false, chaosEnabled: chaos, duplicatesIgnored: false, hideDeleteAllButton: false))
        }
    }
}
