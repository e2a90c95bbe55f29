import CoreMetrics

/// The SMTP counters (swift-metrics; exported by whichever backend the app bootstraps).
/// Created once and shared: looking up a metric is not free.
struct SMTPMetrics: Sendable {
    let connections: Counter
    let refusedConnections: Counter
    let messages: Counter
    let bytes: Counter

    init(listener: String) {
        let dimensions = [("listener", listener)]
        connections = Counter(label: "tern_smtp_connections_total", dimensions: dimensions)
        refusedConnections = Counter(label: "tern_smtp_connections_refused_total", dimensions: dimensions)
        messages = Counter(label: "tern_smtp_messages_total", dimensions: dimensions)
        bytes = Counter(label: "tern_smtp_message_bytes_total", dimensions: dimensions)
    }

    /// A rejection by reply code and enhanced code, e.g. `550` / `5.5.2`.
    func rejection(code: Int, enhanced: String) {
        Counter(label: "tern_smtp_rejections_total", dimensions: [("code", String(code)), ("status", enhanced)])
            .increment()
    }
}
