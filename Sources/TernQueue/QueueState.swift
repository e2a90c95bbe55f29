import TernStore

/// The queue's in-memory view of the spool: every message's record, and which deliveries are
/// being attempted right now. The spool files stay the truth; this is rebuilt from them at
/// start.
actor QueueState {
    private var records: [String: SpoolRecord] = [:]
    private var inFlight: Set<DeliveryKey> = []
    private var inFlightJobs = 0
    private var busyDestinations: [String: Int] = [:]

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

    /// Jobs due at `now` on routes that have an agent: a message's due deliveries grouped by
    /// destination (`DeliveryJob.destination`). At most `limit` jobs are in flight in all and
    /// `perDestination` per destination. Also returns the earliest time something not taken
    /// becomes due (nil when a limit stopped the scan: the next completion signals the loop).
    func takeDue(
        now: Int64, routes: Set<QueuedDelivery.Route>, limit: Int, perDestination: Int, spool: Spool
    ) -> ([DeliveryJob], Int64?) {
        var jobs: [DeliveryJob] = []
        var nextDue: Int64?
        var limited = false
        for id in records.keys.sorted() {
            guard let record = records[id], record.hold != true else { continue }
            var groups: [String: [DeliveryJob.Item]] = [:]
            var order: [String] = []
            for (index, delivery) in record.deliveries.enumerated() where !delivery.status.isFinal {
                guard routes.contains(delivery.route) else { continue }
                guard !inFlight.contains(DeliveryKey(id: id, index: index)) else { continue }
                let due = delivery.nextAttempt ?? 0
                guard due <= now else {
                    nextDue = min(nextDue ?? due, due)
                    continue
                }
                let destination = Self.destination(of: delivery)
                if groups[destination] == nil { order.append(destination) }
                groups[destination, default: []].append(DeliveryJob.Item(index: index, delivery: delivery))
            }
            for destination in order {
                guard inFlightJobs < limit else { return (jobs, nil) }
                guard busyDestinations[destination, default: 0] < perDestination else {
                    limited = true
                    continue
                }
                let items = groups[destination] ?? []
                for item in items { inFlight.insert(DeliveryKey(id: id, index: item.index)) }
                busyDestinations[destination, default: 0] += 1
                inFlightJobs += 1
                jobs.append(
                    DeliveryJob(record: record, messagePath: spool.messagePath(id), destination: destination, items: items))
            }
        }
        return (jobs, limited ? nil : nextDue)
    }

    /// Local deliveries go one mailbox at a time; remote ones share a transaction per domain.
    static func destination(of delivery: QueuedDelivery) -> String {
        switch delivery.route {
        case .local: "local:\(delivery.recipient.lowercased())"
        case .remote: "remote:\(DeliveryJob.domain(of: delivery.recipient))"
        }
    }

    /// The IDs `selector` names that are in the queue: one, or all.
    func ids(_ selector: QueueSelector) -> [String] {
        switch selector {
        case .all: records.keys.sorted()
        case .message(let id): records[id] == nil ? [] : [id]
        }
    }

    /// Applies a postmaster's command to one message; returns whether it changed anything.
    /// `retry` makes every open delivery due now; `hold` stops scheduling the message;
    /// `release` ends a hold and makes its deliveries due now; `delete` drops it from the
    /// queue (the caller removes the files).
    func apply(_ command: QueueCommand, to id: String) -> Bool {
        guard var record = records[id] else { return false }
        switch command {
        case .retry:
            guard record.hold != true else { return false }
            for index in record.deliveries.indices where !record.deliveries[index].status.isFinal {
                record.deliveries[index].nextAttempt = nil
            }
        case .hold:
            guard record.hold != true else { return false }
            record.hold = true
        case .release:
            guard record.hold == true else { return false }
            record.hold = nil
            for index in record.deliveries.indices where !record.deliveries[index].status.isFinal {
                record.deliveries[index].nextAttempt = nil
            }
        case .delete:
            records[id] = nil
            return true
        }
        records[id] = record
        return true
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

    /// Ends a job: records each item's result (and the attempt in its history); returns the
    /// items' new statuses, in order.
    func complete(_ job: DeliveryJob, results: [DeliveryResult], now: Int64, retry: RetrySchedule)
        -> [QueuedDelivery.Status]
    {
        inFlightJobs -= 1
        busyDestinations[job.destination, default: 1] -= 1
        if busyDestinations[job.destination] == 0 { busyDestinations[job.destination] = nil }
        for item in job.items { inFlight.remove(DeliveryKey(id: job.messageID, index: item.index)) }
        guard var record = records[job.messageID] else { return job.items.map { _ in .pending } }
        var statuses: [QueuedDelivery.Status] = []
        for (item, result) in zip(job.items, results) where item.index < record.deliveries.count {
            var delivery = record.deliveries[item.index]
            delivery.attempts += 1
            delivery.record(DeliveryAttempt(at: now, relay: result.relay, tls: result.tls, reply: result.outcome.reply))
            switch result.outcome {
            case .delivered(let reply):
                delivery.status = .delivered
                delivery.lastReply = reply
                delivery.nextAttempt = nil
                delivery.remoteDSN = result.remoteSupportsDSN
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
            record.deliveries[item.index] = delivery
            statuses.append(delivery.status)
        }
        records[job.messageID] = record
        return statuses
    }
}
