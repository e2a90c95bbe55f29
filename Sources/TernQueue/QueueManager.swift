public import Logging
public import NIOCore
public import ServiceLifecycle
import TernMIME
public import TernDirectory
public import TernMail
public import TernStore

/// The queue manager (Postfix's qmgr): takes accepted messages into the spool with one
/// delivery per final destination, hands due deliveries to the delivery agents, records every
/// outcome durably, retries deferred ones on the `RetrySchedule`, and removes a message when
/// all its deliveries are final.
///
/// It is the `MessageStore` the SMTP server writes into, and a `Service` in the server's
/// group. It keeps messages and their states in a `QueueStore` (the `Spool`, on the embedded
/// default) and never touches files itself. After a restart it resumes from the store: a delivery whose outcome was not yet
/// recorded is tried again (the local agent's deterministic file names make that harmless).
public final class QueueManager: MessageStore, Service {
    public struct Configuration: Sendable {
        public var retry: RetrySchedule
        /// Delivery jobs in flight at once.
        public var concurrency: Int
        /// Jobs in flight at once to one destination (a remote domain, a local mailbox), so
        /// one slow or busy domain cannot take every slot. Default 20, as Postfix's
        /// default_destination_concurrency_limit.
        public var destinationConcurrency: Int
        /// This server's name in DSNs (`Reporting-MTA`, `MAILER-DAEMON@`).
        public var hostname: String
        /// Seconds after arrival when a sender whose message is still deferred gets one delay
        /// DSN; nil sends none. Default 4 hours.
        public var delayWarning: Int64?
        /// Signs a report (the whole message, and the time) before it is queued: DKIM for the
        /// host name's domain, so that reports pass DMARC where they go. Nil sends them unsigned.
        public var signReport: (@Sendable ([UInt8], Int64) -> [UInt8])?

        public init(
            retry: RetrySchedule = RetrySchedule(), concurrency: Int = 100, destinationConcurrency: Int = 20,
            hostname: String = "localhost", delayWarning: Int64? = 4 * 3600
        ) {
            self.retry = retry
            self.concurrency = concurrency
            self.destinationConcurrency = destinationConcurrency
            self.hostname = hostname
            self.delayWarning = delayWarning
        }
    }

    public let store: any QueueStore
    public let routing: RoutingTable
    private let agents: [QueuedDelivery.Route: any DeliveryAgent]
    private let configuration: Configuration
    private let logger: Logger
    private let clock: WallClock
    private let state: QueueState
    private let wakeup = WakeupSignal()
    private let persistence = SerialTasks()
    private let metrics = QueueMetrics()

    public init(
        store: any QueueStore, routing: RoutingTable, agents: [QueuedDelivery.Route: any DeliveryAgent],
        configuration: Configuration = Configuration(), logger: Logger,
        clock: WallClock = .system
    ) {
        self.store = store
        self.routing = routing
        self.agents = agents
        self.state = QueueState(routes: Set(agents.keys))
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
    }

    // MARK: MessageStore

    public var location: String { store.location }

    public func recover() throws -> RecoveryReport {
        try store.recover()
    }

    public func begin(_ message: IncomingMessage, prefix: ByteBuffer, on eventLoop: any EventLoop) -> any MessageWriter {
        let deliveries = plan(message.envelope)
        if let writer = beginDirectDelivery(message, deliveries: deliveries, prefix: prefix, on: eventLoop) {
            return writer
        }
        let state = self.state
        let wakeup = self.wakeup
        return store.begin(message, deliveries: deliveries, prefix: prefix, on: eventLoop) { queued in
            Task {
                await state.add(queued)
                // Nothing left to try (every recipient failed in planning): finish it now.
                if queued.isComplete { await self.persist(queued.id) }
                wakeup.signal()
            }
        }
    }

    /// Hands a message with exactly one destination, a local mailbox, to the local agent while
    /// it is received (`DirectDelivering`), so it never enters the spool. Everything else is
    /// queued: several destinations share one spooled copy and each gets its own outcome, a
    /// recipient who asked for a success DSN (RFC 3461 NOTIFY=SUCCESS) gets it from the queue,
    /// and a message whose folder is decided at its commit (`awaitsFiling`) is filed by it.
    private func beginDirectDelivery(
        _ message: IncomingMessage, deliveries: [QueuedDelivery], prefix: ByteBuffer, on eventLoop: any EventLoop
    ) -> (any MessageWriter)? {
        guard !message.awaitsFiling, deliveries.count == 1, let delivery = deliveries.first, delivery.route == .local,
            delivery.status == .pending, !message.envelope.recipients.contains(where: { $0.notify?.success == true }),
            let agent = agents[.local] as? any DirectDelivering
        else { return nil }
        let (clock, arrival) = (self.clock, message.trace.receivedAt)
        return agent.beginDirect(message, mailbox: delivery.recipient, prefix: prefix, on: eventLoop) { result in
            self.logAttempt(
                messageID: message.id, delivery: delivery, arrival: arrival, result: result, status: .delivered,
                now: clock.seconds)
        }
    }

    /// One delivery per final destination: alias expansion happens once, here, so a mailbox
    /// reached through two aliases gets one copy.
    func plan(_ envelope: Envelope) -> [QueuedDelivery] {
        var deliveries: [QueuedDelivery] = []
        var seen: Set<String> = []
        for recipient in envelope.recipients {
            let original = recipient.address.description
            switch routing.current.resolve(recipient.address) {
            case .deliver(let local, let remote):
                for mailbox in local where seen.insert("local:\(mailbox.address)").inserted {
                    deliveries.append(QueuedDelivery(recipient: mailbox.address, original: original, route: .local))
                }
                for address in remote where seen.insert("remote:\(address)").inserted {
                    deliveries.append(QueuedDelivery(recipient: address.description, original: original, route: .remote))
                }
            case .remote(let address):
                if seen.insert("remote:\(address)").inserted {
                    deliveries.append(QueuedDelivery(recipient: address.description, original: original, route: .remote))
                }
            case .unknownUser:
                // Refused at RCPT time; only a configuration change in between lands here.
                var delivery = QueuedDelivery(recipient: original, original: original, route: .local)
                delivery.status = .failed
                delivery.lastReply = .noSuchUserHere
                deliveries.append(delivery)
            }
        }
        return deliveries
    }

    // MARK: Service

    public func run() async throws {
        let contents = try await store.load()
        let records = contents.messages
        for (id, problem) in contents.unreadable {
            logger.error(
                "damaged queue record moved to spool/corrupt/",
                metadata: ["tern_queue_id": "\(id)", "problem": "\(problem)"])
        }
        await state.load(records)
        if !records.isEmpty { logger.info("queue loaded", metadata: ["messages": "\(records.count)"]) }
        for record in records where record.isComplete { await persist(record.id) }
        // Graceful shutdown and cancellation both stop the scheduling; attempts in flight
        // finish (the task group waits for them) so their outcomes are recorded.
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withDiscardingTaskGroup { group in
                    while !wakeup.isShutDown {
                        let now = clock.seconds
                        let (jobs, nextDue) = await state.takeDue(
                            now: now, limit: configuration.concurrency,
                            perDestination: configuration.destinationConcurrency, store: store)
                        for job in jobs {
                            group.addTask { await self.attempt(job) }
                        }
                        await wakeup.wait(untilSecondsSince1970: nextDue, now: { clock.seconds })
                    }
                }
            } onGracefulShutdown: {
                self.wakeup.shutDown()
            }
        } onCancel: {
            self.wakeup.shutDown()
        }
    }

    private func attempt(_ job: DeliveryJob) async {
        guard let route = job.items.first?.delivery.route, let agent = agents[route] else { return }
        var results = await agent.deliver(job)
        if results.count != job.items.count {
            // An agent bug must not lose or invent outcomes: try the whole job again later.
            logger.error("delivery agent returned a wrong number of results", metadata: ["tern_queue_id": "\(job.messageID)"])
            results = job.items.map { _ in DeliveryResult(.deferred(.internalDeliveryError)) }
        }
        let now = clock.seconds
        let statuses = await state.complete(
            job, results: results, now: now, retry: configuration.retry,
            perDestination: configuration.destinationConcurrency)
        // The slot is free: the next job need not wait for this one's outcome to reach the disk
        // (writes for one message stay in order, `persist`).
        wakeup.signal()
        for (item, (result, status)) in zip(job.items, zip(results, statuses)) {
            logAttempt(
                messageID: job.messageID, delivery: item.delivery, arrival: job.arrival, result: result,
                status: status, now: now)
        }
        if statuses.contains(.deferred), let threshold = configuration.delayWarning,
            let record = await state.takeDelayWarning(job.messageID.rawValue, now: now, threshold: threshold)
        {
            await notifySender(record, action: .delayed)
        }
        await persist(job.messageID)
    }

    // MARK: Postmaster commands

    /// The messages in the queue by state (the `tern_queue_messages` gauge).
    public func depth() async -> QueueDepth {
        await state.depth()
    }

    /// Runs `tern queue retry|hold|release|delete` on the running queue; returns the IDs of
    /// the messages it changed. A deleted message leaves the spool without a DSN (as Postfix's
    /// `postsuper -d`); an attempt already in flight for it still ends, and its outcome is
    /// dropped.
    public func control(_ command: QueueCommand, _ selector: QueueSelector) async throws -> [String] {
        var changed: [String] = []
        for id in await state.ids(selector) where await state.apply(command, to: id) {
            changed.append(id)
            switch command {
            case .delete: try await remove(id)
            // An earlier try is a scheduling choice, not state worth a write per message (a
            // restart keeps the old schedule, as Postfix's `postqueue -f` does).
            case .retry: wakeup.signal()
            case .hold, .release: await persist(id)
            }
        }
        if !changed.isEmpty {
            logger.info(
                "postmaster command", metadata: ["command": "\(command.rawValue)", "messages": "\(changed.count)"])
        }
        wakeup.signal()
        return changed
    }

    /// Runs a postmaster command on a store no server is using (`tern queue ...` while Tern is
    /// stopped): the same rules, applied to the store.
    public static func control(_ command: QueueCommand, _ selector: QueueSelector, store: any QueueStore)
        async throws -> [String]
    {
        let state = QueueState()
        await state.load(try await store.load().messages)
        var changed: [String] = []
        for id in await state.ids(selector) where await state.apply(command, to: id) {
            changed.append(id)
            if let message = await state.record(id) {
                try await store.save(message)
            } else if let queueID = QueueID(id) {
                try await store.remove(queueID)
            }
        }
        return changed
    }

    /// Removes a message after earlier writes of its state have finished.
    private func remove(_ id: String) async throws {
        guard let queueID = QueueID(id) else { return }
        let store = self.store
        let outcome = ResultBox()
        await persistence.run(for: id) {
            do {
                try await store.remove(queueID)
            } catch {
                await outcome.set(error)
            }
        }
        if let error = await outcome.error { throw error }
    }

    /// Writes the message's current state to the spool, or removes it when every delivery is
    /// final. Writes of one message run one after another and each takes the newest state, so
    /// a slower earlier write can never bring back an older state or a removed message.
    private func persist(_ id: QueueID) async {
        await persist(id.rawValue)
    }

    private func persist(_ id: String) async {
        await persistence.run(for: id) { [store, state, logger] in
            guard let record = await state.record(id) else { return }
            do {
                if record.isComplete {
                    await self.notifySender(record, action: .failed)
                    await self.notifySender(record, action: .delivered)
                    await self.notifySender(record, action: .relayed)
                    try await store.remove(record.id)
                    await state.remove(id)
                } else {
                    try await store.save(record)
                }
            } catch {
                logger.error(
                    "cannot record a delivery outcome", metadata: ["tern_queue_id": "\(id)", "error": "\(error)"])
            }
        }
    }

    /// Sends the sender one DSN about the deliveries in the state `action` names, when the
    /// sender may get one: never to the null sender (RFC 5321 §6.1, §4.5.5); failures and
    /// delays unless the recipient's NOTIFY excludes them, successes only when NOTIFY asks
    /// (RFC 3461 §4.1). A success is `delivered` for a local mailbox, `relayed` for a remote
    /// server without DSN, and no report from Tern at all for a server that offered DSN: the
    /// NOTIFY went on with the message and that server reports (RFC 3461 §6.2.2). Who may get
    /// one, what it names and what it returns follow `NotificationPolicy` (backscatter, alias
    /// expansion).
    private func notifySender(_ record: QueuedMessage, action: DeliveryStatusNotification.Action) async {
        guard let sender = record.envelope.sender else { return }
        let trusted = record.trace.trusted
        let policy = NotificationPolicy(routing: routing.current)
        let wanted: QueuedDelivery.Status
        let keyword: String
        switch action {
        case .failed: (wanted, keyword) = (.failed, "FAILURE")
        case .delayed: (wanted, keyword) = (.deferred, "DELAY")
        case .delivered, .relayed: (wanted, keyword) = (.delivered, "SUCCESS")
        }
        var named: Set<String> = []
        let recipients = record.deliveries.filter { delivery in
            guard delivery.status == wanted else { return false }
            switch action {
            case .delivered: return delivery.remoteDSN == nil
            case .relayed: return delivery.remoteDSN == false
            default: return true
            }
        }.compactMap {
            delivery -> DeliveryStatusNotification.Recipient? in
            let envelopeRecipient = record.envelopeRecipient(of: delivery)
            // Without NOTIFY, failures and delays are reported, successes are not.
            let wantsReport = envelopeRecipient?.notify.map { $0.keywords.contains(keyword) } ?? (wanted != .delivered)
            guard wantsReport else { return nil }
            let reported = NotificationPolicy.reported(delivery, action: action, trusted: trusted)
            // An address that expanded to several deliveries is named once.
            guard named.insert(reported.recipient).inserted else { return nil }
            return .init(
                recipient: reported.recipient, originalRecipient: envelopeRecipient?.originalRecipient,
                reply: reported.reply,
                remoteMTA: reported.remoteMTA)
        }
        guard !recipients.isEmpty else { return }
        if let refusal = policy.refusal(sender: sender, trusted: trusted) {
            logger.notice(
                "no delivery status notification",
                metadata: [
                    "tern_queue_id": "\(record.id)", "to": "<\(sender)>", "action": "\(action.rawValue)",
                    "reason": "\(refusal)",
                ])
            return
        }
        do {
            let original = try await store.contentPrefix(
                of: record.id, limit: DeliveryStatusNotification.returnedMessageLimit + 1)
            let now = clock.seconds
            var generator = SystemRandomNumberGenerator()
            let id = QueueID(
                microsecondsSinceEpoch: UInt64(now) * 1_000_000 + UInt64.random(in: 0..<1_000_000), using: &generator)
            let report = DeliveryStatusNotification(
                reportingMTA: configuration.hostname, queueID: record.id.rawValue,
                envelopeID: record.envelope.envelopeID,
                arrivalDate: record.arrival, recipients: recipients,
                dsnReturn: policy.returned(record.envelope.dsnReturn, trusted: trusted), action: action,
                willRetryUntil: record.arrival + configuration.retry.maximumLifetime)
            let trace = "Received: by \(configuration.hostname) (Tern) id \(id); \(MessageDate.format(secondsSince1970: now))\r\n"
            var content = Array(trace.utf8)
                + report.render(to: sender.description, original: original, now: now, boundary: "=_tern_\(id)")
            if let sign = configuration.signReport { content = sign(content, now) }
            let envelope = Envelope(sender: nil, recipients: [EnvelopeRecipient(address: sender)])
            let message = IncomingMessage(
                id: id, envelope: envelope,
                trace: ArrivalTrace(
                    clientName: configuration.hostname, clientAddress: "127.0.0.1", receivedProtocol: "local",
                    receivedAt: now))
            let queued = try await store.enqueue(message, content: content, deliveries: plan(envelope))
            await state.add(queued)
            logger.info(
                "sender delivery status notification",
                metadata: [
                    "tern_queue_id": "\(record.id)", "tern_dsn_id": "\(id)", "to": "<\(sender)>",
                    "action": "\(action.rawValue)",
                ])
            wakeup.signal()
        } catch {
            logger.error("cannot queue a DSN", metadata: ["tern_queue_id": "\(record.id)", "error": "\(error)"])
        }
    }

    /// One line per attempt, like Postfix's `to=<...>, relay=..., delay=..., dsn=..., status=...`.
    private func logAttempt(
        messageID: QueueID, delivery: QueuedDelivery, arrival: Int64, result: DeliveryResult,
        status: QueuedDelivery.Status, now: Int64
    ) {
        let reply = result.outcome.reply
        let dsn = reply.enhancedCodeOrGeneric.description
        let outcome = status == .delivered ? "sent" : status == .failed ? "bounced" : "deferred"
        // The arrival comes from a spool file: checked, never trusted to subtract.
        let (elapsed, overflowed) = now.subtractingReportingOverflow(arrival)
        let delay = overflowed ? 0 : elapsed
        metrics.attempt(route: delivery.route, result: outcome, delaySeconds: delay)
        var metadata: Logger.Metadata = [
            "tern_queue_id": "\(messageID)",
            "to": "<\(delivery.recipient)>",
            "orig_to": "<\(delivery.original)>",
            "relay": "\(result.relay ?? "none")",
            "delay": "\(delay)",
            "dsn": "\(dsn)",
            "status": "\(outcome)",
            "reply": "\(reply.storedLine)",
        ]
        if let tls = result.tls { metadata["tls"] = "\(tls)" }
        logger.info("delivery", metadata: metadata)
    }
}
