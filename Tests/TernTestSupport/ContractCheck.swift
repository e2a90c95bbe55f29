/// One check of a backend contract (`MailboxStoreContract`, `QueueStoreContract`): a name the
/// test lists as an argument, and what it runs against the backend's environment. Checks throw
/// `ContractFailure`, so the suites need no particular test framework.
public struct ContractCheck<Environment: Sendable>: Sendable {
    public var name: String
    public var run: @Sendable (Environment) async throws -> Void

    public init(name: String, run: @escaping @Sendable (Environment) async throws -> Void) {
        self.name = name
        self.run = run
    }

    /// Runs the check called `name` among `checks`.
    public static func run(_ name: String, of checks: [Self], in environment: Environment) async throws {
        guard let check = checks.first(where: { $0.name == name }) else {
            throw ContractFailure(description: "no check \(name)")
        }
        try await check.run(environment)
    }
}

/// What a contract check found wrong.
public struct ContractFailure: Error, CustomStringConvertible {
    public var description: String

    public init(description: String) {
        self.description = description
    }
}

/// Fails the check with `what` unless `condition` holds.
func require(_ condition: Bool, _ what: @autoclosure () -> String) throws {
    guard condition else { throw ContractFailure(description: what()) }
}
