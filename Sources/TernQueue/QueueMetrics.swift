import CoreMetrics
import TernStore

/// The queue's swift-metrics: each delivery attempt by route and result, and how long a message
/// took from arrival to its final result. Made once per queue, after the metrics backend is
/// bootstrapped.
struct QueueMetrics: Sendable {
    /// `tern_queue_deliveries_total{route, result}`: result is `sent`, `deferred` or `bounced`,
    /// as in the delivery log lines.
    private let attempts: [String: Counter]
    /// `tern_queue_delivery_delay_seconds{route, result}`: arrival to delivery or bounce.
    private let delays: [String: Timer]

    static let delayLabel = "tern_queue_delivery_delay_seconds"

    init() {
        var attempts: [String: Counter] = [:]
        var delays: [String: Timer] = [:]
        for route in [QueuedDelivery.Route.local, .remote] {
            for result in ["sent", "deferred", "bounced"] {
                let dimensions = [("route", route.rawValue), ("result", result)]
                attempts["\(route.rawValue) \(result)"] = Counter(label: "tern_queue_deliveries_total", dimensions: dimensions)
                if result != "deferred" {
                    delays["\(route.rawValue) \(result)"] = Timer(label: Self.delayLabel, dimensions: dimensions)
                }
            }
        }
        self.attempts = attempts
        self.delays = delays
    }

    func attempt(route: QueuedDelivery.Route, result: String, delaySeconds: Int64) {
        let key = "\(route.rawValue) \(result)"
        attempts[key]?.increment()
        delays[key]?.recordSeconds(max(0, delaySeconds))
    }
}
