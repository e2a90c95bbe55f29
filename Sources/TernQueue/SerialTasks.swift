/// Runs operations one after another per key (here: per message), each after the previous
/// one for the same key has finished; different keys run concurrently.
actor SerialTasks {
    private var tails: [String: Task<Void, Never>] = [:]

    func run(for key: String, _ operation: @escaping @Sendable () async -> Void) async {
        let previous = tails[key]
        let task = Task {
            await previous?.value
            await operation()
        }
        tails[key] = task
        await task.value
        if tails[key] == task { tails[key] = nil }
    }
}
