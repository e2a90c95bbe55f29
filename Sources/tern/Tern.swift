import ArgumentParser
import Foundation
import Logging
import TernDirectory
import TernApp
import TernMail
import TernQueue

/// `tern`: the Tern mail server. Without a subcommand it runs dev mode.
@main
struct Tern: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tern",
        abstract: "Tern, a complete mail server. With no arguments: a mail catcher for developers.",
        version: TernVersion.current,
        subcommands: [
            Dev.self, Serve.self, CheckConfig.self, Queue.self, Repair.self, User.self, Domain.self, Alias.self, DKIM.self, DNSRecordsCommand.self,
            Sendmail.self,
        ],
        defaultSubcommand: Dev.self)
}

/// Options every server mode shares.
struct ServerOptions: ParsableArguments {
    @Option(name: .long, help: "A configuration file (TOML). See docs/configuration.md.")
    var config: String?

    @Option(name: .long, help: "The data directory (default ./tern-data).")
    var data: String?

    @Option(name: .long, help: "The host name used in greetings and Received headers.")
    var hostname: String?

    func load() throws -> TernConfiguration {
        var configuration: TernConfiguration
        if let config {
            configuration = try ConfigurationLoader.load(path: config)
        } else {
            configuration = TernConfiguration()
        }
        if let data { configuration.dataDirectory = data }
        if let hostname { configuration.hostname = hostname }
        return configuration
    }
}

struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Catch every message in a local Maildir (SMTP on 127.0.0.1:1025 by default).")

    @OptionGroup var options: ServerOptions

    @Option(name: .long, help: "Where SMTP listens, ADDRESS:PORT (default 127.0.0.1:1025).")
    var smtp: String?

    @Option(name: .long, help: "Where the web UI and API listen, ADDRESS:PORT (default 127.0.0.1:8025), or off.")
    var http: String?

    @Option(
        name: .customLong("http-allow-host"),
        help: "A host name the web UI and API may be reached by besides 127.0.0.1, [::1] and localhost (repeatable).")
    var httpAllowHosts: [String] = []

    @Option(
        name: .customLong("webhook-url"),
        help: "Post each caught message's summary (JSON) to this http:// or https:// URL.")
    var webhookURL: String?

    @Option(
        name: .long,
        help: "Where IMAP listens, ADDRESS:PORT (default 127.0.0.1:1143), or off. Any login reads its catcher inbox.")
    var imap: String?

    @Option(
        name: .long,
        help: "Where POP3 listens, ADDRESS:PORT (default 127.0.0.1:1110), or off. Any login reads its catcher inbox.")
    var pop3: String?

    func run() async throws {
        var configuration = try exitOnError { try options.load() }
        if let smtp {
            guard let listener = parseAddress(smtp) else {
                fail("--smtp: expected ADDRESS:PORT, got '\(smtp)'")
            }
            configuration.listeners = [listener]
        } else if configuration.listeners.isEmpty {
            configuration.listeners = [TernConfiguration.devListener()]
        }
        if imap != "off", !configuration.listeners.contains(where: { $0.role.imap != nil }) {
            if let imap {
                guard let listener = parseAddress(imap) else { fail("--imap: expected ADDRESS:PORT or off, got '\(imap)'") }
                configuration.listeners.append(TernConfiguration.devIMAPListener(address: listener.address, port: listener.port))
            } else {
                configuration.listeners.append(TernConfiguration.devIMAPListener())
            }
        } else if imap == "off" {
            configuration.listeners.removeAll { $0.role.imap != nil }
        }
        if pop3 != "off", !configuration.listeners.contains(where: { $0.role.pop3 != nil }) {
            if let pop3 {
                guard let listener = parseAddress(pop3) else { fail("--pop3: expected ADDRESS:PORT or off, got '\(pop3)'") }
                configuration.listeners.append(TernConfiguration.devPOP3Listener(address: listener.address, port: listener.port))
            } else {
                configuration.listeners.append(TernConfiguration.devPOP3Listener())
            }
        } else if pop3 == "off" {
            configuration.listeners.removeAll { $0.role.pop3 != nil }
        }
        if let http {
            if http == "off" {
                configuration.http = nil
            } else {
                guard let listener = parseAddress(http) else { fail("--http: expected ADDRESS:PORT or off, got '\(http)'") }
                configuration.http = .init(address: listener.address, port: listener.port)
            }
        }
        for host in httpAllowHosts {
            do {
                configuration.catcher.allowedHosts.append(try ConfigurationLoader.allowedHost(host, key: "--http-allow-host"))
            } catch {
                fail(error.description)
            }
        }
        if let webhookURL {
            do {
                configuration.catcher.webhook = try ConfigurationLoader.webhook(webhookURL, key: "--webhook-url")
            } catch {
                fail(error.description)
            }
        }
        try await serve(configuration, mode: .dev)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the listeners of a configuration file.")

    @OptionGroup var options: ServerOptions

    func run() async throws {
        guard options.config != nil else { fail("serve needs --config FILE") }
        let configuration = try exitOnError { try options.load() }
        try await serve(configuration, mode: .serve)
    }
}

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate a configuration file and exit.")

    @Option(name: .long, help: "The configuration file (TOML).")
    var config: String

    func run() async throws {
        let configuration = try exitOnError { try ConfigurationLoader.load(path: config) }
        // Warnings go to standard error: the file is valid, but mail will suffer.
        for domain in configuration.mail.domains
        where !DKIMKeyring.publishedKeys(domain: domain, dataDirectory: configuration.dataDirectory).contains(where: \.signing) {
            FileHandle.standardError.write(
                Data("warning: \(domain) has no DKIM key: its mail goes out unsigned (tern dkim generate \(domain))\n".utf8))
        }
        print("ok")
    }
}

struct Repair: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild the mailboxes' UID lists from their Maildir files (safe while Tern runs).")

    @OptionGroup var location: Queue.Location

    func run() throws {
        do {
            print(MailboxRepair.describe(try MailboxRepair.run(dataDirectory: location.dataDirectory())), terminator: "")
        } catch {
            fail("repair: \(error)")
        }
    }
}

struct Queue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look at and manage the mail queue of a serving Tern.",
        subcommands: [List.self, Show.self, Retry.self, Hold.self, Release.self, Delete.self])

    struct Location: ParsableArguments {
        @Option(name: .long, help: "The configuration file (its data_dir is used).")
        var config: String?

        @Option(name: .long, help: "The data directory (default ./tern-data).")
        var data: String?

        func dataDirectory() throws -> String {
            if let data { return data }
            if let config { return try exitOnError { try ConfigurationLoader.load(path: config) }.dataDirectory }
            return TernConfiguration().dataDirectory
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per queued message and its open deliveries.")

        @OptionGroup var location: Location
        @Flag(name: .long, help: "Print the queue records as JSON.") var json = false

        func run() throws {
            print(try QueueReport.list(dataDirectory: location.dataDirectory(), json: json), terminator: "")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A message's envelope and the state of each delivery.")

        @OptionGroup var location: Location
        @Argument(help: "The queue ID.") var id: String
        @Flag(name: .long, help: "Print the queue record as JSON.") var json = false

        func run() throws {
            do {
                print(try QueueReport.show(dataDirectory: location.dataDirectory(), id: id, json: json), terminator: "")
            } catch let error as QueueReport.ReportError {
                fail(error.description)
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Try the open deliveries of a message (or all) now instead of at their scheduled time.")
        @OptionGroup var target: Target
        func run() async throws { try await target.run(.retry) }
    }

    struct Hold: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put a message (or all) on hold: nothing is tried until it is released.")
        @OptionGroup var target: Target
        func run() async throws { try await target.run(.hold) }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release a held message (or all); its deliveries are tried now.")
        @OptionGroup var target: Target
        func run() async throws { try await target.run(.release) }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a message (or all) from the queue, undelivered and without a bounce.")
        @OptionGroup var target: Target
        func run() async throws { try await target.run(.delete) }
    }

    /// A queue ID or `all`, and where the queue is.
    struct Target: ParsableArguments {
        @OptionGroup var location: Location
        @Argument(help: "A queue ID, or all.") var id: String

        func run(_ command: QueueCommand) async throws {
            do {
                let changed = try await QueueControlClient.run(
                    command, id, dataDirectory: location.dataDirectory())
                if changed.isEmpty, id != "all" {
                    fail("\(command.rawValue): no message \(id) in the queue (or nothing to change)")
                }
                for changedID in changed { print("\(changedID): \(Self.pastTense(command))") }
            } catch let error as QueueControlClient.ControlError {
                fail(error.description)
            }
        }

        static func pastTense(_ command: QueueCommand) -> String {
            switch command {
            case .retry: "scheduled for delivery now"
            case .hold: "on hold"
            case .release: "released"
            case .delete: "deleted"
            }
        }
    }
}

private func serve(_ configuration: TernConfiguration, mode: TernServer.Mode) async throws {
    let level = Logger.Level(rawValue: ProcessInfo.processInfo.environment["TERN_LOG_LEVEL"] ?? configuration.logLevel)
        ?? .info
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    let logger = Logger(label: "tern")
    let metrics = TernServer.bootstrapMetrics()
    do {
        try await TernServer.run(configuration: configuration, mode: mode, logger: logger, metrics: metrics) { line in
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
    } catch {
        fail("\(error)")
    }
}

/// ArgumentParser prints its own errors; ours (configuration, start-up) go to stderr as one
/// line and exit 1.
func exitOnError<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ConfigurationError {
        fail("configuration error: \(error)")
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("tern: \(message)\n".utf8))
    exit(1)
}

/// `ADDRESS:PORT`, `[IPv6]:PORT`.
private func parseAddress(_ text: String) -> TernConfiguration.ListenerConfiguration? {
    guard let colon = text.lastIndex(of: ":") else { return nil }
    var host = String(text[..<colon])
    if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port), !host.isEmpty else {
        return nil
    }
    return TernConfiguration.devListener(address: host, port: port)
}
