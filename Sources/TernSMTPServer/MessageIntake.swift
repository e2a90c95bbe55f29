import Logging
import NIOCore
import TernMIME
import TernMail
import TernSMTPCore
import TernStore

/// What happens to one message between the session's "354" and its "250": Postfix's cleanup
/// role. The message gets its queue ID and Received header (RFC 5321 §4.4), is streamed into the
/// store, and on the submission roles its header section is held until it is whole, so that what
/// RFC 6409 §8 allows can be added in front (Message-ID, Date) and From:/Sender: checked against
/// the user (§8.1) before the commit.
///
/// Lives on the connection's event loop, inside `SMTPSession`.
final class MessageIntake {
    private let endpoint: SMTPEndpoint
    private var writer: (any MessageWriter)?
    /// The message being received.
    private(set) var message: IncomingMessage?
    /// On submission, the message's start, held until its header section is whole.
    private var held: HeldSubmission?
    /// The From: and Sender: fields of the submitted message being received.
    private var headerOriginators: Result<Originators, Originators.Unreadable> = .failure(.noFrom)
    private var headerTooLong = false
    /// Octets of content received so far.
    private(set) var size = 0

    init(endpoint: SMTPEndpoint) {
        self.endpoint = endpoint
    }

    /// How a message ended.
    enum Ending {
        /// The store is making it durable; the 250 waits for the future.
        case committing(IncomingMessage, size: Int, EventLoopFuture<Void>)
        /// Refused after its content (a submission's header): the reply, and what to log.
        case refused(IncomingMessage, SMTPReply, originators: String)
        /// There was no message to commit.
        case missing
    }

    /// Starts a message: its queue ID, Received header and trace, and the store's writer (or,
    /// on submission, the hold).
    func begin(
        _ start: ServerSessionStateMachine.MessageStart, clientAddress: String, tlsVersion: String?,
        trusted: Bool, allocator: ByteBufferAllocator, eventLoop: any EventLoop
    ) {
        let now = endpoint.clock.now()
        var generator = SystemRandomNumberGenerator()
        let id = QueueID(microsecondsSinceEpoch: now.microseconds, using: &generator)
        let recipients = start.envelope.recipients
        let header = ReceivedHeader(
            clientName: start.clientName,
            clientAddress: clientAddress,
            serverName: endpoint.configuration.session.hostname,
            receivedProtocol: start.receivedProtocol,
            id: id,
            recipient: recipients.count == 1 ? recipients[0].address : nil,
            tlsVersion: tlsVersion,
            secondsSince1970: now.seconds)
        var prefix = allocator.buffer(capacity: 256)
        prefix.writeString(header.rendered)
        let incoming = IncomingMessage(
            id: id, envelope: start.envelope,
            trace: ArrivalTrace(
                clientName: start.clientName, clientAddress: clientAddress,
                receivedProtocol: start.receivedProtocol, receivedAt: now.seconds,
                authenticatedUser: start.authenticatedUser, trusted: trusted))
        message = incoming
        size = 0
        if fixesSubmissions {
            held = HeldSubmission(message: incoming, prefix: prefix, content: allocator.buffer(capacity: 0))
        } else {
            writer = endpoint.store.begin(incoming, prefix: prefix, on: eventLoop)
        }
    }

    /// Adds content. Returns a future to wait for, with reading paused, when the store's writer
    /// holds more than it should (it completes once the writer has drained).
    func append(_ chunk: ByteBuffer, eventLoop: any EventLoop) -> EventLoopFuture<Void>? {
        size += chunk.readableBytes
        if held != nil {
            held?.content.writeImmutableBuffer(chunk)
            if held?.header.consume(chunk.readableBytesView) != .collecting { openHeldSubmission(eventLoop: eventLoop) }
            return nil
        }
        guard let writer else { return nil }
        writer.append(chunk)
        return writer.bufferedBytes >= 2 * MessageWriterLimits.flushThreshold ? writer.drained() : nil
    }

    func abort() {
        writer?.abort()
        writer = nil
        message = nil
        held = nil
    }

    /// The message's end: refused (a submission's From: the user may not use), or committing.
    func finish(session facts: SessionFacts, eventLoop: any EventLoop) -> Ending {
        if held != nil { openHeldSubmission(eventLoop: eventLoop) }
        defer {
            writer = nil
            message = nil
        }
        guard let writer, let message else { return .missing }
        if let refusal = submissionRefusal(facts) {
            writer.abort()
            return .refused(message, refusal, originators: originatorsDescription)
        }
        return .committing(message, size: size, writer.commit())
    }

    private var fixesSubmissions: Bool {
        endpoint.configuration.fixesSubmittedMessages && endpoint.role != .mx
    }

    /// The header section is whole (or the message ended, or the header is too long): add
    /// Message-ID and Date when missing (RFC 6409 §8.2-8.3), note From: and Sender:, and open
    /// the message with everything held so far.
    private func openHeldSubmission(eventLoop: any EventLoop) {
        guard var held else { return }
        self.held = nil
        headerTooLong = held.header.finish() == .tooLong
        let fields = held.header.fields
        headerOriginators = Originators.read(headerSection: held.header.bytes)
        var prefix = held.prefix
        if !fields.contains(where: { $0.isNamed("Message-ID") }) {
            prefix.writeString("Message-ID: <\(held.message.id)@\(endpoint.configuration.session.hostname)>\r\n")
        }
        if !fields.contains(where: { $0.isNamed("Date") }) {
            prefix.writeString("Date: \(MessageDate.format(secondsSince1970: held.message.trace.receivedAt))\r\n")
        }
        let writer = endpoint.store.begin(held.message, prefix: prefix, on: eventLoop)
        writer.append(held.content)
        self.writer = writer
    }

    /// Why a submitted message is refused after its body: a header too long to check, or a
    /// From:/Sender: the user may not use.
    private func submissionRefusal(_ facts: SessionFacts) -> SMTPReply? {
        guard fixesSubmissions else { return nil }
        if headerTooLong { return .submittedHeaderTooLong }
        return endpoint.policy.checkHeaderSenders(headerOriginators, session: facts)
    }

    /// The From: and Sender: addresses for the log (escaped, as an array's description
    /// writes its strings, and truncated), or why they could not be read.
    private var originatorsDescription: String {
        switch headerOriginators {
        case .success(let originators): String("\(originators.addresses)".prefix(512))
        case .failure(let unreadable): "unreadable: \(unreadable)"
        }
    }
}

/// A submitted message's first octets, held until its header section is whole.
private struct HeldSubmission {
    var message: IncomingMessage
    /// The Received header.
    var prefix: ByteBuffer
    /// The content received so far.
    var content: ByteBuffer
    var header = HeaderSectionCollector()
}

extension SMTPReply {
    // RFC 3463 X.3.4 (message too big for system), like Postfix's header_size_limit.
    static let submittedHeaderTooLong = SMTPReply(
        552, EnhancedStatusCode(5, 3, 4), "Message header section too long")
}
