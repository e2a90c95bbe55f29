import Foundation
public import NIOCore
import TernMail
public import TernStore

/// What every `QueueStore` backend must do, as checks any test target runs against its backend
/// (TernStoreTests for the `Spool`; a PostgreSQL store's tests the same way):
///
///     @Test(arguments: QueueStoreContract.checks.map(\.name))
///     func contract(_ name: String) async throws {
///         try await QueueStoreContract.run(name, in: environment)
///     }
///
/// The queue manager keeps the states and the store keeps them durable, so every check that
/// writes reads back through a new store over the same data (a restart).
public enum QueueStoreContract {
    /// What a check needs from the backend under test.
    public struct Environment: Sendable {
        /// A store over the backend's data: called again within one check, it must give a store
        /// over the same data (a restart). Its `recover()` has not run yet.
        public var makeStore: @Sendable () throws -> any QueueStore
        /// For the writers of `begin`.
        public var eventLoop: any EventLoop

        public init(makeStore: @escaping @Sendable () throws -> any QueueStore, eventLoop: any EventLoop) {
            self.makeStore = makeStore
            self.eventLoop = eventLoop
        }
    }

    public typealias Check = ContractCheck<Environment>

    public static func run(_ name: String, in environment: Environment) async throws {
        try await Check.run(name, of: checks, in: environment)
    }

    public static let checks: [Check] = [
        Check(name: "a committed message is loaded after a restart as it was accepted") { environment in
            let store = try started(environment)
            let incoming = message(1, envelope: richEnvelope)
            let committed = try await accept(incoming, deliveries: twoDeliveries, into: store, on: environment.eventLoop)
            try require(committed.id == incoming.id, "the committed message has the accepted ID")
            try require(committed.envelope == incoming.envelope, "the committed envelope is the accepted one")
            try require(committed.trace == incoming.trace, "the committed trace is the accepted one")
            try require(committed.deliveries == twoDeliveries, "the deliveries as planned")
            try require(committed.size == prefix.readableBytes + body.count, "the size counts prefix and body")
            try require(!committed.hold && !committed.delayWarned, "neither held nor warned")
            let loaded = try await started(environment).load()
            try require(loaded.unreadable.isEmpty, "nothing unreadable: \(loaded.unreadable)")
            try require(loaded.messages == [committed], "loaded as committed: \(loaded.messages) vs \(committed)")
        },
        Check(name: "the null sender and a bare recipient survive") { environment in
            let store = try started(environment)
            let envelope = Envelope(
                sender: nil, recipients: [EnvelopeRecipient(address: MailAddress(localPart: "Postmaster", domain: ""))])
            let committed = try await accept(message(2, envelope: envelope), deliveries: [], into: store, on: environment.eventLoop)
            let loaded = try await started(environment).load().messages
            try require(loaded == [committed], "loaded as committed: \(loaded)")
            try require(loaded.first?.envelope.sender == nil, "the null sender stays null")
        },
        Check(name: "content is the prefix and the appended octets, whole, in chunks and by prefix") { environment in
            let store = try started(environment)
            let committed = try await accept(message(3), deliveries: twoDeliveries, into: store, on: environment.eventLoop)
            let expected = Array(prefix.readableBytesView) + body
            let source = try await started(environment).content(of: committed.id)
            try require(source.size == expected.count, "the source's size: \(source.size)")
            var read: [UInt8] = []
            while read.count < source.size {
                let chunk = try await source.read(at: read.count, count: 7, on: environment.eventLoop).get()
                guard chunk.readableBytes > 0 else { break }
                read += chunk.readableBytesView
            }
            try require(read == expected, "read in chunks of 7, the octets as appended")
            let end = try await source.read(at: source.size, count: 10, on: environment.eventLoop).get()
            try require(end.readableBytes == 0, "nothing past the end")
            let start = try await store.contentPrefix(of: committed.id, limit: 10)
            try require(start == Array(expected.prefix(10)), "the first 10 octets: \(start)")
            let all = try await store.contentPrefix(of: committed.id, limit: 1 << 20)
            try require(all == expected, "a limit past the end gives the whole content")
        },
        Check(name: "an aborted message leaves nothing behind") { environment in
            let store = try started(environment)
            try await environment.eventLoop.submit {
                let writer = store.begin(
                    message(4), deliveries: twoDeliveries, prefix: prefix, on: environment.eventLoop
                ) { _ in }
                writer.append(ByteBuffer(bytes: body))
                writer.abort()
            }.get()
            let restarted = try environment.makeStore()
            _ = try restarted.recover()
            let loaded = try await restarted.load()
            try require(loaded.messages.isEmpty && loaded.unreadable.isEmpty, "nothing queued: \(loaded.messages)")
        },
        Check(name: "saved states replace the old ones durably: replies, history, hold, delay warning") { environment in
            let store = try started(environment)
            var queued = try await accept(message(5), deliveries: twoDeliveries, into: store, on: environment.eventLoop)
            let remote = SMTPReply(451, EnhancedStatusCode(4, 7, 1), ["greylisted,", "try again later"])
            queued.deliveries[0].status = .deferred
            queued.deliveries[0].attempts = 2
            queued.deliveries[0].nextAttempt = 1_800_000_900
            queued.deliveries[0].lastReply = remote
            queued.deliveries[0].record(DeliveryAttempt(at: 1_800_000_100, relay: "mx.far.test[192.0.2.1]:25", tls: true, reply: remote))
            queued.deliveries[1].status = .delivered
            queued.deliveries[1].attempts = 1
            queued.deliveries[1].lastReply = SMTPReply(250, EnhancedStatusCode(2, 0, 0), "delivered to maildir (uid 7)")
            queued.deliveries[1].remoteDSN = false
            queued.hold = true
            queued.delayWarned = true
            try await store.save(queued)
            let loaded = try await started(environment).load().messages
            try require(loaded.count == 1, "one message: \(loaded)")
            let state = try loaded.first.orThrow("the saved message")
            try require(state.deliveries[1] == queued.deliveries[1], "the delivered state: \(state.deliveries[1])")
            try require(state.hold && state.delayWarned, "held and warned")
            let reply = try state.deliveries[0].lastReply.orThrow("a last reply")
            try require(reply.code == remote.code && reply.enhancedCode == remote.enhancedCode, "the reply's codes: \(reply)")
            try require(reply.storedLine == remote.storedLine, "the reply's text: \(reply.storedLine)")
            try require(state.deliveries[0].history?.map(\.relay) == ["mx.far.test[192.0.2.1]:25"], "the attempt's relay")
            try require(state.deliveries[0].nextAttempt == 1_800_000_900, "the next attempt")
            queued.hold = false
            try await started(environment).save(queued)
            try require(try await started(environment).load().messages.first?.hold == false, "a later save replaces it")
        },
        Check(name: "a removed message is gone, content and all") { environment in
            let store = try started(environment)
            let kept = try await accept(message(6), deliveries: twoDeliveries, into: store, on: environment.eventLoop)
            let removed = try await accept(message(7), deliveries: twoDeliveries, into: store, on: environment.eventLoop)
            try await store.remove(removed.id)
            let loaded = try await started(environment).load().messages
            try require(loaded.map(\.id) == [kept.id], "only the kept message: \(loaded.map(\.id))")
            let gone: Bool
            do {
                _ = try await store.content(of: removed.id)
                gone = false
            } catch {
                gone = true
            }
            try require(gone, "the removed message's content cannot be opened")
        },
        Check(name: "a message made here is durable when enqueue returns, and listed oldest first") { environment in
            let store = try started(environment)
            let report = Array("Subject: report\r\n\r\nwhat happened\r\n".utf8)
            let later = try await store.enqueue(message(9), content: report, deliveries: twoDeliveries)
            let earlier = try await accept(message(8), deliveries: twoDeliveries, into: store, on: environment.eventLoop)
            try require(later.size == report.count, "the size of the content")
            let restarted = try started(environment)
            let loaded = try await restarted.load().messages
            try require(loaded.map(\.id) == [earlier.id, later.id], "oldest first: \(loaded.map(\.id))")
            try require(loaded.last == later, "loaded as enqueued")
            let content = try await restarted.contentPrefix(of: later.id, limit: 1 << 20)
            try require(content == report, "the content as enqueued")
        },
    ]

    // MARK: Helpers

    /// A store after its start-up recovery, as the server has it.
    static func started(_ environment: Environment) throws -> any QueueStore {
        let store = try environment.makeStore()
        _ = try store.recover()
        return store
    }

    static let prefix = ByteBuffer(string: "Received: from client (127.0.0.1) by tern.test with ESMTP id X\r\n")
    static let body = Array("Subject: queued\r\n\r\none line\r\n".utf8)

    static let twoDeliveries = [
        QueuedDelivery(recipient: "friend@far.test", original: "friend@far.test", route: .remote),
        QueuedDelivery(recipient: "alice@example.test", original: "team@example.test", route: .local),
    ]

    /// An envelope with every parameter a record keeps.
    static let richEnvelope = Envelope(
        sender: MailAddress(localPart: "\"quoted sender\"", domain: "example.test"),
        recipients: [
            EnvelopeRecipient(
                address: MailAddress(localPart: "friend", domain: "far.test"),
                notify: DSNNotify(success: true, delay: true),
                originalRecipient: OriginalRecipient(addressType: "rfc822", encodedAddress: "Friend+2B@far.test")),
            EnvelopeRecipient(address: MailAddress(localPart: "team", domain: "example.test"), notify: DSNNotify(never: true)),
        ],
        body: .eightBitMIME, smtpUTF8: true, dsnReturn: .headers, envelopeID: "abc+2Bdef")

    /// The `n`th test message, its IDs ascending with `n`.
    static func message(_ n: UInt64, envelope: Envelope? = nil) -> IncomingMessage {
        var generator = SystemRandomNumberGenerator()
        return IncomingMessage(
            id: QueueID(microsecondsSinceEpoch: 1_800_000_000_000_000 + n * 1_000_000, using: &generator),
            envelope: envelope
                ?? Envelope(
                    sender: MailAddress(localPart: "sender", domain: "example.test"),
                    recipients: [EnvelopeRecipient(address: MailAddress(localPart: "friend", domain: "far.test"))]),
            trace: ArrivalTrace(
                clientName: "client.example.test", clientAddress: "192.0.2.9", receivedProtocol: "ESMTPSA",
                receivedAt: 1_800_000_000 + Int64(n), authenticatedUser: "sender@example.test"))
    }

    /// Accepts `incoming` through `begin` (the SMTP path) and returns what the store committed.
    static func accept(
        _ incoming: IncomingMessage, deliveries: [QueuedDelivery], into store: any QueueStore, on eventLoop: any EventLoop
    ) async throws -> QueuedMessage {
        let committed = eventLoop.makePromise(of: QueuedMessage.self)
        do {
            try await eventLoop.flatSubmit {
                let writer = store.begin(incoming, deliveries: deliveries, prefix: prefix, on: eventLoop) {
                    committed.succeed($0)
                }
                writer.append(ByteBuffer(bytes: body))
                return writer.commit()
            }.get()
        } catch {
            committed.fail(error)
            throw error
        }
        return try await committed.futureResult.get()
    }
}

extension Optional {
    /// The value, or a contract failure naming what was missing.
    func orThrow(_ what: String) throws -> Wrapped {
        guard let self else { throw ContractFailure(description: "missing: \(what)") }
        return self
    }
}
