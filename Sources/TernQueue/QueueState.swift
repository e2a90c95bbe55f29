import DequeModule
import HeapModule
import TernMail
import TernStore

/// The queue's in-memory view of the spool: every message's record, which deliveries are being
/// attempted, and the scheduler's queues. The spool files stay the truth; this is rebuilt from
/// them at start.
///
/// Scheduling follows Postfix's queue manager: due deliveries wait in one FIFO per destination
/// (`DeliveryJob.destination`: a remote domain or a local mailbox), and destinations take turns
/// (round robin), each with at most `perDestination` jobs in flight, so one busy domain cannot
/// starve the others and a slow one cannot take every slot. Deferred deliveries wait in a heap by
/// due time. Finding the next job costs O(1) amortised, whatever the size of the queue.
///
/// The queues hold message IDs only and are checked lazily: an entry whose message was
/// delivered, deleted, held or rescheduled meanwhile is dropped when it comes up, so a message
/// may safely be queued twice.
actor QueueState {
    struct DeliveryKey: Hashable {
        var id: String
        var index: Int
    }

    /// Deliveries due later: when, and whose.
    struct Timer: Comparable {
        var due: Int64
        var id: String

        static func < (lhs: Timer, rhs: Timer) -> Bool {
            (lhs.due, lhs.id) < (rhs.due, rhs.id)
        }
    }

    struct Destination {
        /// Messages with deliveries due here, oldest first.
        var waiting: Deque<String> = []
        var queued: Set<String> = []
        var busy = 0
    }

    /// The routes that have an agent; deliveries on other routes are never scheduled.
    private let routes: Set<QueuedDelivery.Route>
    private var records: [String: QueuedMessage] = [:]
    private var inFlight: Set<DeliveryKey> = []
    private var inFlightJobs = 0
    private var destinations: [String: Destination] = [:]
    /// Destinations with waiting messages and a free slot, in turn order (each once).
    private var ready: Deque<String> = []
    private var readySet: Set<String> = []
    private var timers = Heap<Timer>()

    init(routes: Set<QueuedDelivery.Route> = [.local, .remote]) {
        self.routes = routes
    }

    func load(_ loaded: [QueuedMessage]) {
        for message in loaded { add(message) }
    }

    func add(_ message: QueuedMessage) {
        records[message.id.rawValue] = message
        schedule(message.id.rawValue)
    }

    func remove(_ id: String) {
        records[id] = nil
    }

    /// Due jobs, in turn, until `limit` jobs are in flight in all; and the earliest time a
    /// deferred delivery becomes due (the scheduler sleeps until then or until signalled).
    func takeDue(now: Int64, limit: Int, perDestination: Int, store: any QueueStore) -> ([DeliveryJob], Int64?) {
        while let timer = timers.min, timer.due <= now {
            _ = timers.removeMin()
            schedule(timer.id, now: now)
        }
        var jobs: [DeliveryJob] = []
        while inFlightJobs < limit, let name = ready.popFirst() {
            readySet.remove(name)
            guard var destination = destinations[name] else { continue }
            while destination.busy < perDestination, let id = destination.waiting.popFirst() {
                destination.queued.remove(id)
                guard let record = records[id] else { continue }
                let items = dueItems(record, destination: name, now: now)
                guard !items.isEmpty else { continue }
                for item in items { inFlight.insert(DeliveryKey(id: id, index: item.index)) }
                destination.busy += 1
                inFlightJobs += 1
                jobs.append(
                    DeliveryJob(message: record, store: store, destination: name, items: items))
                break  // one job per turn: the next destination's turn
            }
            destinations[name] = destination
            makeReadyIfWaiting(name, perDestination: perDestination)
        }
        return (jobs, timers.min?.due)
    }

    /// Ends a job: records each item's result (and the attempt in its history), puts deferred
    /// deliveries on the timer heap; returns the items' new statuses, in order.
    func complete(_ job: DeliveryJob, results: [DeliveryResult], now: Int64, retry: RetrySchedule, perDestination: Int)
        -> [QueuedDelivery.Status]
    {
        inFlightJobs -= 1
        destinations[job.destination]?.busy -= 1
        let id = job.messageID.rawValue
        for item in job.items { inFlight.remove(DeliveryKey(id: id, index: item.index)) }
        makeReadyIfWaiting(job.destination, perDestination: perDestination)
        guard var record = records[id] else { return job.items.map { _ in .pending } }
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
                    delivery.lastReply = .deliveryTimeExpired(lastError: reply)
                } else {
                    delivery.status = .deferred
                    let due = now + retry.delay(afterAttempts: delivery.attempts)
                    delivery.nextAttempt = due
                    timers.insert(Timer(due: due, id: id))
                }
            }
            record.deliveries[item.index] = delivery
            statuses.append(delivery.status)
        }
        records[id] = record
        return statuses
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
            guard !record.hold else { return false }
            for index in record.deliveries.indices where !record.deliveries[index].status.isFinal {
                record.deliveries[index].nextAttempt = nil
            }
        case .hold:
            guard !record.hold else { return false }
            record.hold = true
        case .release:
            guard record.hold else { return false }
            record.hold = false
            for index in record.deliveries.indices where !record.deliveries[index].status.isFinal {
                record.deliveries[index].nextAttempt = nil
            }
        case .delete:
            records[id] = nil
            return true
        }
        records[id] = record
        schedule(id)
        return true
    }

    func record(_ id: String) -> QueuedMessage? {
        records[id]
    }

    /// The messages in the queue by state, as `QueueDepth` counts them.
    func depth() -> QueueDepth {
        var depth = QueueDepth()
        let busy = Set(inFlight.map(\.id))
        for (id, record) in records {
            if record.hold {
                depth.hold += 1
            } else if busy.contains(id) {
                depth.active += 1
            } else if record.deliveries.contains(where: { $0.status == .deferred }) {
                depth.deferred += 1
            } else {
                depth.incoming += 1
            }
        }
        return depth
    }

    /// The first time a message has waited `threshold` seconds with deliveries still deferred,
    /// marks it warned and returns it; nil otherwise.
    func takeDelayWarning(_ id: String, now: Int64, threshold: Int64) -> QueuedMessage? {
        guard var record = records[id], !record.delayWarned, now - record.arrival >= threshold,
            record.deliveries.contains(where: { $0.status == .deferred })
        else { return nil }
        record.delayWarned = true
        records[id] = record
        return record
    }

    // MARK: Scheduling

    /// Local deliveries go one mailbox at a time; remote ones share a transaction per domain.
    static func destination(of delivery: QueuedDelivery) -> String {
        switch delivery.route {
        case .local: "local:\(delivery.recipient.lowercased())"
        case .remote: "remote:\(DeliveryJob.domain(of: delivery.recipient))"
        }
    }

    /// Queues the message at each destination where a delivery is due by `now` (nil: any
    /// delivery without a scheduled time), and sets timers for the later ones.
    private func schedule(_ id: String, now: Int64? = nil) {
        guard let record = records[id], !record.hold else { return }
        for (index, delivery) in record.deliveries.enumerated() where !delivery.status.isFinal {
            guard routes.contains(delivery.route), !inFlight.contains(DeliveryKey(id: id, index: index)) else {
                continue
            }
            if let due = delivery.nextAttempt, due > (now ?? Int64.min) {
                timers.insert(Timer(due: due, id: id))
                continue
            }
            let name = Self.destination(of: delivery)
            var destination = destinations[name] ?? Destination()
            if destination.queued.insert(id).inserted { destination.waiting.append(id) }
            destinations[name] = destination
            if !readySet.contains(name) {
                readySet.insert(name)
                ready.append(name)
            }
        }
    }

    /// The message's deliveries to `destination` that may start now.
    private func dueItems(_ record: QueuedMessage, destination: String, now: Int64) -> [DeliveryJob.Item] {
        guard !record.hold else { return [] }
        var items: [DeliveryJob.Item] = []
        for (index, delivery) in record.deliveries.enumerated() where !delivery.status.isFinal {
            guard routes.contains(delivery.route), (delivery.nextAttempt ?? Int64.min) <= now,
                !inFlight.contains(DeliveryKey(id: record.id.rawValue, index: index)),
                Self.destination(of: delivery) == destination
            else { continue }
            items.append(DeliveryJob.Item(index: index, delivery: delivery))
        }
        return items
    }

    private func makeReadyIfWaiting(_ name: String, perDestination: Int) {
        guard let destination = destinations[name] else { return }
        if destination.waiting.isEmpty {
            // Forget idle destinations, so the table does not grow with every domain ever seen.
            if destination.busy == 0 { destinations[name] = nil }
            return
        }
        guard destination.busy < perDestination, readySet.insert(name).inserted else { return }
        ready.append(name)
    }
}
