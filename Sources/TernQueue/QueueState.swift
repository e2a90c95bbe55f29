import TernStore

/// The queue's in-memory view of the spool: every message's record, and which deliveries are
/// being attempted right now. The spool files stay the truth; this is rebuilt from them at
/// start.
actor QueueState {
    private var records: [String: SpoolRecord] = [:]
    private var inFlight: Set<DeliveryKey> = []

    struct DeliveryKey: Hashable {
        var id: String
        var index: Int
    }

    func load(_ loaded: [SpoolRecord]) {
        for record in loaded { records[record.id] = record }
    }

    func add(_ record: SpoolRecord) {
        records[record.id] = record
    }

    func remove(_ id: String) {
        records[id] = nil
    }

    /// Deliveries due at `now` on routes that have an agent, at most `limit` in flight in all;
    /// and the earliest time something else becomes due.
    func takeDue(now: Int64, routes: Set<QueuedDelivery.Route>, limit: Int, spool: Spool) -> ([DeliveryJob], Int64?) {
        var jobs: [DeliveryJob] = []
        var nextDue: Int64?
        for id in records.keys.sorted() {
            guard let record = records[id] else { continue }
            for (index, delivery) in record.deliveries.enumerated() where !delivery.status.isFinal {
                guard routes.contains(delivery.route) else { continue }
                let key = DeliveryKey(id: id, index: index)
                guard !inFlight.contains(key) else { continue }
                let due = delivery.nextAttempt ?? 0
                guard due <= now else {
                    nextDue = min(nextDue ?? due, due)
                    continue
                }
                // At the limit: the next completion signals the loop.
                guard inFlight.count < limit else { return (jobs, nil) }
                inFlight.insert(key)
                jobs.append(
                    DeliveryJob(
                        messageID: id, messagePath: spool.messagePath(id), sender: record.from, index: index,
                        delivery: delivery, arrival: record.arrival))
            }
        }
        return (jobs, nextDue)
    }

    func record(_ id: String) -> SpoolRecord? {
        records[id]
    }

    /// The first time a message has waited `threshold` seconds with deliveries still deferred,
    /// marks it warned and returns it; nil otherwise.
    func takeDelayWarning(_ id: String, now: Int64, threshold: Int64) -> SpoolRecord? {
        guard var record = records[id], record.delay_warned != true, now - record.arrival >= threshold,
            record.deliveries.contains(where: { $0.status == .deferred })
        else { return nil }
        record.delay_warned = true
        records[id] = record
        return record
    }

    /// Records an outcome; returns the delivery's new status.
    func complete(_ job: DeliveryJob, outcome: DeliveryOutcome, now: Int64, retry: RetrySchedule)
        -> QueuedDelivery.Status
    {
        inFlight.remove(DeliveryKey(id: job.messageID, index: job.index))
        guard var record = records[job.messageID], job.index < record.deliveries.count else { return .pending }
        var delivery = record.deliveries[job.index]
        delivery.attempts += 1
        switch outcome {
        case .delivered(let reply):
            delivery.status = .delivered
            delivery.lastReply = reply
            delivery.nextAttempt = nil
        case .failed(let reply):
            delivery.status = .failed
            delivery.lastReply = reply
            delivery.nextAttempt = nil
        case .deferred(let reply):
            delivery.lastReply = reply
            if retry.hasExpired(arrival: record.arrival, now: now) {
                // RFC 3463 X.4.7: delivery time expired; the last error says why.
                delivery.status = .failed
                delivery.nextAttempt = nil
                delivery.lastReply = "554 5.4.7 delivery time expired (last error: \(reply))"
            } else {
                delivery.status = .deferred
                delivery.nextAttempt = now + retry.delay(afterAttempts: delivery.attempts)
            }
        }
        record.deliveries[job.index] = delivery
        records[job.messageID] = record
        return delivery.status
    }
}
