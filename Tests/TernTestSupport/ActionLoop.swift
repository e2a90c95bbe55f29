/// How a driver executes a sans-IO session's actions: in order, each once, with the actions a
/// handler's answer produces (a decision, a body chunk) queued behind those already waiting,
/// never run re-entrantly. `ServerConnection` does this on a channel; the test harnesses and fuzz
/// drivers that play a driver's part share this copy.
public enum ActionLoop {
    /// Runs `actions`; `handle` gets each one and may append follow-up actions to `more`.
    public static func run<Action>(_ actions: [Action], _ handle: (Action, _ more: inout [Action]) -> Void) {
        var queue = actions
        var index = 0
        while index < queue.count {
            let action = queue[index]
            index += 1
            handle(action, &queue)
        }
    }
}
