import ArgumentParser
import Foundation
import TernDirectory
import TernApp

// `tern user|domain|alias`: the directory database in the data directory. A running server
// picks every change up within a second.

/// Where the directory is, and how to report its refusals.
struct DirectoryLocation: ParsableArguments {
    @OptionGroup var location: Queue.Location

    func run(_ body: (DirectoryAdministration) async throws -> Void) async throws {
        let configuration = try location.config.map { path in try exitOnError { try ConfigurationLoader.load(path: path) } }
        do {
            let administration = try DirectoryAdministration.open(
                dataDirectory: try location.dataDirectory(), configuration: configuration)
            try await body(administration)
        } catch let error as DirectoryError {
            fail(error.description)
        }
    }
}

/// Reads a new password: the terminal without echo (asked twice), or one line of standard input.
private func newPassword(_ command: String) -> String {
    guard let password = PasswordPrompt.read(prompt: "Password: "), !password.isEmpty else {
        fail("\(command): no password given")
    }
    return password
}

struct User: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accounts that log in and send: each is also a mailbox.",
        discussion: """
            Passwords are read from the terminal without echo, or from standard input (one line) \
            when it is not a terminal; never from the command line, where `ps` would show them.
            """,
        subcommands: [Add.self, Passwd.self, Set.self, Del.self, List.self, Show.self, Hash.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user (the domain must be local).")
        @OptionGroup var directory: DirectoryLocation
        @Argument(help: "The address, which is also the login name.") var address: String
        @Option(name: .long, help: "The user's name.") var name: String?
        @Option(name: .customLong("send-as"), help: "Another address the user may send as (repeatable).")
        var sendAs: [String] = []
        @Option(name: .long, help: "The mailbox quota in bytes.") var quota: Int64?
        @Flag(name: .long, help: "Create the account disabled (no login, mail still delivered).") var disabled = false

        func run() async throws {
            try await directory.run { administration in
                try await administration.addUser(
                    address, password: { newPassword("user add") }, displayName: name, sendAs: sendAs, quotaBytes: quota,
                    enabled: !disabled)
                print("\(address.lowercased()): added")
            }
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a user's password.")
        @OptionGroup var directory: DirectoryLocation
        @Argument(help: "The user's address.") var address: String

        func run() async throws {
            try await directory.run { administration in
                try await administration.setPassword(address, password: { newPassword("user passwd") })
                print("\(address.lowercased()): password changed")
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a user's name, send-as addresses, quota or state.")
        @OptionGroup var directory: DirectoryLocation
        @Argument(help: "The user's address.") var address: String
        @Option(name: .long, help: "The user's name (empty removes it).") var name: String?
        @Option(name: .customLong("send-as"), help: "Replaces the send-as addresses (repeatable).")
        var sendAs: [String] = []
        @Flag(name: .customLong("clear-send-as"), help: "Remove every send-as address.") var clearSendAs = false
        @Option(name: .long, help: "The mailbox quota in bytes (0 removes it).") var quota: Int64?
        @Flag(exclusivity: .exclusive, help: "Allow or refuse logins.") var state: State?

        enum State: String, EnumerableFlag {
            case enable, disable
        }

        func run() async throws {
            try await directory.run { administration in
                try await administration.updateUser(
                    address, displayName: name, sendAs: clearSendAs ? [] : (sendAs.isEmpty ? nil : sendAs),
                    quotaBytes: quota, enabled: state.map { $0 == .enable })
                print("\(address.lowercased()): changed")
            }
        }
    }

    struct Del: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a user. Their mailbox stays on disk; mail to them is refused from now on.")
        @OptionGroup var directory: DirectoryLocation
        @Argument(help: "The user's address.") var address: String

        func run() async throws {
            try await directory.run { administration in
                try await administration.removeUser(address)
                print("\(address.lowercased()): deleted")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per user.")
        @OptionGroup var directory: DirectoryLocation
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            try await directory.run { print(try await $0.listUsers(json: json), terminator: "") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A user's settings (never the password hash).")
        @OptionGroup var directory: DirectoryLocation
        @Argument(help: "The user's address.") var address: String
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            try await directory.run { print(try await $0.showUser(address, json: json), terminator: "") }
        }
    }

    struct Hash: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the password hash for a [[user]] entry in the configuration (password_hash).")

        func run() throws {
            print(try PasswordHash.make(password: newPassword("user hash")))
        }
    }
}

struct Domain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The domains this server receives mail for.", subcommands: [Add.self, Del.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a local domain.")
        @OptionGroup var directory: DirectoryLocation
        @Argument(help: "The domain.") var domain: String

        func run() async throws {
            try await directory.run { administration in
                try await administration.addDomain(domain)
                print("\(domain.lowercased()): added")
            }
        }
    }

    struct Del: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a local domain that has no users or aliases left.")
        @OptionGroup var directory: DirectoryLocation
        @Argument(help: "The domain.") var domain: String

        func run() async throws {
            try await directory.run { administration in
                try await administration.removeDomain(domain)
                print("\(domain.lowercased()): deleted")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per local domain.")
        @OptionGroup var directory: DirectoryLocation
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            try await directory.run { print(try await $0.listDomains(json: json), terminator: "") }
        }
    }
}

struct Alias: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Addresses that forward to others (@domain: the domain's catch-all).",
        subcommands: [Add.self, Del.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forward an address to one or more others; its owners may send as it.")
        @OptionGroup var directory: DirectoryLocation
        @Argument(help: "The alias address, or @domain.") var address: String
        @Argument(help: "Where its mail goes (local or remote addresses).") var targets: [String]

        func run() async throws {
            try await directory.run { administration in
                try await administration.addAlias(address, targets: targets)
                print("\(address.lowercased()): -> \(targets.map { $0.lowercased() }.joined(separator: ", "))")
            }
        }
    }

    struct Del: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an alias, or one of its targets.")
        @OptionGroup var directory: DirectoryLocation
        @Argument(help: "The alias address, or @domain.") var address: String
        @Argument(help: "Only this target.") var target: String?

        func run() async throws {
            try await directory.run { administration in
                try await administration.removeAlias(address, target: target)
                print("\(address.lowercased()): deleted")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per alias.")
        @OptionGroup var directory: DirectoryLocation
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            try await directory.run { print(try await $0.listAliases(json: json), terminator: "") }
        }
    }
}
