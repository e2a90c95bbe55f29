import Foundation
import TernDirectory
import TernHTTP
import TernQueue

/// The admin API's side in a running server: the queue through the queue manager (the same
/// commands as `tern queue`), the directory through `DirectoryAdministration` (the same checks
/// and JSON as `tern domain|user|alias`). A change to the directory reaches the running
/// server as a CLI change does, within a second (`LiveDirectory`).
struct ServerAdministrator: ServerAdministration {
    let queue: QueueManager
    let dataDirectory: String
    let directory: DirectoryAdministration

    func queueList() async throws -> Data {
        Data(try QueueReport.list(dataDirectory: dataDirectory, json: true).utf8)
    }

    func queueMessage(_ id: String) async throws -> Data? {
        (try? QueueReport.show(dataDirectory: dataDirectory, id: id, json: true)).map { Data($0.utf8) }
    }

    func queueControl(_ command: String, _ selector: String) async throws -> [String] {
        guard let command = QueueCommand(rawValue: command) else { throw AdminError(.badRequest, "no command \(command)") }
        return try await queue.control(command, QueueSelector(selector))
    }

    func queueDepth() async -> [(state: String, count: Int)] {
        await queue.depth().states
    }

    func domains() async throws -> Data {
        try await refusals { Data(try await directory.listDomains(json: true).utf8) }
    }

    func addDomain(_ name: String) async throws {
        try await refusals { try await directory.addDomain(name) }
    }

    func removeDomain(_ name: String) async throws {
        try await refusals { try await directory.removeDomain(name) }
    }

    func users() async throws -> Data {
        try await refusals { Data(try await directory.listUsers(json: true).utf8) }
    }

    func user(_ address: String) async throws -> Data {
        try await refusals { Data(try await directory.showUser(address, json: true).utf8) }
    }

    func addUser(_ user: AdminUser) async throws {
        guard let address = user.address, let password = user.password, !password.isEmpty else {
            throw AdminError(.badRequest, "a new user needs \"address\" and \"password\"")
        }
        try await refusals {
            try await directory.addUser(
                address, password: { password }, displayName: user.displayName, sendAs: user.sendAs ?? [],
                quotaBytes: user.quotaBytes, enabled: user.enabled ?? true)
        }
    }

    func changeUser(_ address: String, _ change: AdminUser) async throws {
        try await refusals {
            try await directory.updateUser(
                address, displayName: change.displayName, sendAs: change.sendAs, quotaBytes: change.quotaBytes,
                enabled: change.enabled)
            if let password = change.password {
                guard !password.isEmpty else { throw AdminError(.badRequest, "the password is empty") }
                try await directory.setPassword(address, password: { password })
            }
        }
    }

    func removeUser(_ address: String) async throws {
        try await refusals { try await directory.removeUser(address) }
    }

    func aliases() async throws -> Data {
        try await refusals { Data(try await directory.listAliases(json: true).utf8) }
    }

    func addAlias(_ address: String, targets: [String]) async throws {
        try await refusals { try await directory.addAlias(address, targets: targets) }
    }

    func removeAlias(_ address: String, target: String?) async throws {
        try await refusals { try await directory.removeAlias(address, target: target) }
    }

    /// The directory's refusals as the API's: what does not exist is 404, what exists already
    /// or is still in use 409, anything malformed 400.
    private func refusals<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as DirectoryError {
            switch error {
            case .noSuchDomain, .noSuchAccount, .noSuchAlias: throw AdminError(.notFound, error.description)
            case .domainExists, .accountExists, .aliasExists, .domainInUse: throw AdminError(.conflict, error.description)
            case .invalidAddress: throw AdminError(.badRequest, error.description)
            }
        }
    }
}
