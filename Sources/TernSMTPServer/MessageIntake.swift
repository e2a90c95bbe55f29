import Logging
import NIOCore
import TernMIME
import TernDNSCore
import TernMail
import TernMailAuth
import TernSMTPCore
import TernStore

/// What happens to one message between the session's "354" and its "250": Postfix's cleanup
/// role. The message gets its queue ID and Received header (RFC 5321 §4.4) and is streamed into
/// the store. Its header section is held until it is whole when something must be read from it
/// first: on the submission roles, so that what RFC 6409 §8 allows can be added in front
/// (Message-ID, Date) and From:/Sender: checked against the user (§8.1) before the commit; with
/// mail authentication on, so that the DKIM signatures can be read (mx) or the header signed
/// (submission, and mail from the clients mx trusts). The body is then hashed as it streams by,
/// and at its end the DKIM-Signature or the Authentication-Results field is handed to the store
/// to go in front of the message.
///
/// When DMARC's quarantine files into Junk, the From: domain's policy is looked up as soon as
/// the header is whole, before the store is asked for a writer: a message that its policy may
/// quarantine must be queued (its folder is decided at the commit, `awaitsFiling`), any other
/// may go straight into the recipient's mailbox. The content is held meanwhile, and reading
/// pauses once that is more than the writer would buffer.
///
/// Lives on the connection's event loop, inside `SMTPSession`.
final class MessageIntake {
    private let endpoint: SMTPEndpoint
    private var writer: (any MessageWriter)?
    /// The message being received.
    private(set) var message: IncomingMessage?
    /// The message's start, held until its header section is whole.
    private var held: HeldMessage?
    /// On mx, the DKIM signatures being checked, and the ARC chain.
    private var verification: DKIMVerification?
    private var chain: ARCVerification?
    /// On submission, the signature being made.
    private var signing: Signing?
    /// On mx, the From: domain's DMARC policy being looked up while the message is held.
    private var pendingPolicy: PendingPolicy?
    /// The From: domain's DMARC policy, once looked up.
    private var dmarcPolicy: DMARCPolicy?
    /// Names the latest lookup: a lookup that completes after its message was aborted (and
    /// another begun) opens nothing.
    private var lookupGeneration = 0
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
        verification = nil
        chain = nil
        signing = nil
        dmarcPolicy = nil
        pendingPolicy = nil
        if fixesSubmissions || authenticates(trusted: trusted) {
            held = HeldMessage(message: incoming, prefix: prefix, content: allocator.buffer(capacity: 0))
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
            if pendingPolicy == nil, held?.header.consume(chunk.readableBytesView) != .collecting {
                readHeldHeader()
                if !lookUpPolicy(eventLoop: eventLoop) { openHeldMessage(eventLoop: eventLoop) }
            }
            if let pendingPolicy, let content = held?.content, content.readableBytes >= 2 * MessageWriterLimits.flushThreshold {
                return pendingPolicy.lookup.map { _ in }
            }
            return nil
        }
        hashBody(chunk.readableBytesView)
        guard let writer else { return nil }
        writer.append(chunk)
        return writer.bufferedBytes >= 2 * MessageWriterLimits.flushThreshold ? writer.drained() : nil
    }

    func abort() {
        writer?.abort()
        reset()
    }

    private func reset() {
        writer = nil
        message = nil
        held = nil
        verification = nil
        chain = nil
        signing = nil
        pendingPolicy = nil
        dmarcPolicy = nil
    }

    /// The message's end: refused (a submission's From: the user may not use), or committing.
    func finish(session facts: SessionFacts, eventLoop: any EventLoop) -> Ending {
        guard let message else { return .missing }
        if held != nil, pendingPolicy == nil {
            // The message ended inside its header section.
            readHeldHeader()
            if !lookUpPolicy(eventLoop: eventLoop) { openHeldMessage(eventLoop: eventLoop) }
        }
        if let pendingPolicy {
            // mx, where nothing is refused here: the message opens once the policy is known.
            let committed = pendingPolicy.lookup.assumeIsolated().flatMap { policy in
                self.resume(with: policy, generation: pendingPolicy.generation, eventLoop: eventLoop)
                return self.commitOpened(message.id, eventLoop: eventLoop)
            }
            return .committing(message, size: size, committed.nonisolated())
        }
        guard let writer else {
            reset()
            return .missing
        }
        if let refusal = submissionRefusal(facts) {
            writer.abort()
            reset()
            return .refused(message, refusal, originators: originatorsDescription)
        }
        return .committing(message, size: size, commitOpened(message.id, eventLoop: eventLoop))
    }

    /// Commits the open writer, once the authentication fields are made (and DNS has answered).
    private func commitOpened(_ id: QueueID, eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        defer { reset() }
        // Gone when the session aborted the message during the policy lookup.
        guard let writer, let message, message.id == id else { return eventLoop.makeFailedFuture(MessageAborted()) }
        // The writer is confined to this event loop, where the fields' future completes.
        let authenticated = authenticationFields(for: message, eventLoop: eventLoop).assumeIsolated()
        authenticated.whenFailure { _ in writer.abort() }
        return authenticated.flatMap { writer.commit(adding: $0.fields, folder: $0.folder) }.nonisolated()
    }

    private struct MessageAborted: Error {}

    /// Starts the DMARC policy lookup of the held message's From: domain when the policy may
    /// decide its folder (mx, DMARC on, quarantine to Junk, one From: domain). Returns whether
    /// it did; the held message then opens when the lookup completes (or at the message's end).
    private func lookUpPolicy(eventLoop: any EventLoop) -> Bool {
        guard endpoint.role == .mx, message?.trace.trusted == false, let authentication = endpoint.authentication,
            authentication.quarantinesToJunk,
            let dmarc = authentication.dmarc, let resolver = authentication.resolver, !headerTooLong,
            let from = singleFromDomain
        else { return false }
        lookupGeneration += 1
        let generation = lookupGeneration
        let lookup = eventLoop.makeFutureWithTask { await dmarc.policy(fromDomain: from, resolver: resolver) }
        pendingPolicy = PendingPolicy(lookup: lookup, generation: generation)
        lookup.assumeIsolated().whenSuccess { policy in
            self.resume(with: policy, generation: generation, eventLoop: eventLoop)
        }
        return true
    }

    /// The policy is known: opens the held message (queued when the policy may quarantine it),
    /// unless it was opened already or belongs to an aborted message.
    private func resume(with policy: DMARCPolicy, generation: Int, eventLoop: any EventLoop) {
        guard generation == lookupGeneration, pendingPolicy != nil, let authentication = endpoint.authentication else { return }
        pendingPolicy = nil
        dmarcPolicy = policy
        if policy.mayQuarantine(enforcingReject: authentication.enforcesDMARCReject) {
            held?.message.awaitsFiling = true
            message?.awaitsFiling = true
        }
        openHeldMessage(eventLoop: eventLoop)
    }

    /// The one domain of the From: field (RFC 7489 §6.6.1: DMARC needs exactly one), lower case.
    private var singleFromDomain: String? {
        let domains = Set(((try? headerOriginators.get())?.authors ?? []).compactMap { Self.domain(of: $0)?.lowercased() })
        return domains.count == 1 ? domains.first : nil
    }

    /// Whether the header is read for mail authentication: signing on submission and for the
    /// clients mx trusts (relay networks: an application server sending as a local domain, as
    /// OpenDKIM signs for its InternalHosts), checks on mx.
    private func authenticates(trusted: Bool) -> Bool {
        guard let authentication = endpoint.authentication else { return false }
        return endpoint.role != .mx || trusted || authentication.resolver != nil
    }

    private static func domain(of address: String) -> String? {
        address.lastIndex(of: "@").map { String(address[address.index(after: $0)...]) }
    }

    private func hashBody(_ octets: ByteBufferView) {
        verification?.updateBody(octets)
        chain?.updateBody(octets)
        signing?.bodyHash.update(octets)
    }

    /// Reads what mail authentication needs from the whole header section: on submission, and
    /// from a trusted client on mx, the signer for the From: domain; on mx otherwise, the DKIM
    /// signatures to check, after removing any Authentication-Results that claims to be Tern's
    /// (RFC 8601 §5). Returns the held content, rewritten when a field was removed.
    private func startAuthentication(content: ByteBuffer, prefix: ByteBuffer, trusted: Bool) -> ByteBuffer {
        guard let authentication = endpoint.authentication, authenticates(trusted: trusted), !headerTooLong else { return content }
        var content = content
        var (header, body) = RawHeaderField.split(message: content.readableBytesView)
        let signer = (try? headerOriginators.get())?.authors.first.flatMap(Self.domain(of:)).flatMap { authentication.signer($0.lowercased()) }
        if endpoint.role != .mx || trusted, let signer {
            signing = Signing(signer: signer, header: Array(prefix.readableBytesView) + Array(header))
        } else if endpoint.role == .mx, authentication.resolver != nil {
            var fields = RawHeaderField.fields(of: header)
            let claimed = { (field: RawHeaderField) in AuthenticationResults.claims(field, authservID: authentication.authservID) }
            if fields.contains(where: claimed) {
                fields.removeAll(where: claimed)
                var rewritten = ByteBuffer()
                for field in fields { rewritten.writeBytes(field.octets) }
                rewritten.writeString("\r\n")
                rewritten.writeBytes(body)
                content = rewritten
                body = RawHeaderField.split(message: content.readableBytesView).body
            }
            verification = DKIMVerification(fields: fields, limit: authentication.checksDKIM ? authentication.signatureLimit : 0)
            chain = authentication.checksDKIM ? ARCVerification(fields: fields) : nil
        }
        hashBody(body)
        return content
    }

    /// What the store adds at the commit: the fields under the Received field, the
    /// DKIM-Signatures (submission) or the Authentication-Results (mx), and the folder DMARC
    /// files the message into.
    private struct Authenticated: Sendable {
        var fields = ByteBuffer()
        var folder: SpecialUse?
    }

    /// The fields and folder of `Authenticated`, once the body is whole and, on mx, DNS has
    /// answered. Fails with a `MessageAuthentication.Refusal` when DMARC says reject.
    private func authenticationFields(for message: IncomingMessage, eventLoop: any EventLoop) -> EventLoopFuture<Authenticated> {
        let now = endpoint.clock.now().seconds
        if var signing {
            var fields = ByteBuffer()
            do {
                fields.writeBytes(try signing.signer.signatures(header: signing.header, bodyHash: signing.bodyHash.finalize(), now: now))
            } catch {
                // The message goes out unsigned rather than not at all; the log says why.
                endpoint.logger.error("DKIM signing failed", metadata: ["tern_queue_id": "\(message.id)", "error": "\(error)"])
            }
            return eventLoop.makeSucceededFuture(Authenticated(fields: fields))
        }
        guard var verification, let authentication = endpoint.authentication, let resolver = authentication.resolver else {
            return eventLoop.makeSucceededFuture(Authenticated())
        }
        verification.finishBody()
        chain?.finishBody()
        let (checked, arc, checks) = (verification, chain, authentication.checks)
        let spf = IPAddress(message.trace.clientAddress).map { ip in
            SPFQuestion(
                ip: ip, sender: message.envelope.sender.map { ($0.localPart, $0.domain) },
                helo: message.trace.clientName, receiver: authentication.authservID)
        }
        let (from, knownPolicy, filed) = (singleFromDomain, dmarcPolicy, message.awaitsFiling)
        let sample = Int.random(in: 0..<100)
        return eventLoop.makeFutureWithTask {
            var results = await checks.results(
                verification: checked, arc: arc, spf: spf, fromDomain: from, policy: knownPolicy, sample: sample, now: now,
                resolver: resolver)
            var authenticated = Authenticated()
            if var verdict = results.dmarc {
                if verdict.disposition == .reject {
                    guard !authentication.enforcesDMARCReject else {
                        throw MessageAuthentication.Refusal(
                            reply: .dmarcReject(verdict.fromDomain),
                            reason: "DMARC policy of \(verdict.fromDomain): \(verdict.reason ?? "fail")")
                    }
                    // Not refused, so at most quarantined.
                    verdict.disposition = .quarantine
                }
                if verdict.disposition == .quarantine, filed { authenticated.folder = .junk }
                results.dmarc = verdict
            }
            authenticated.fields = ByteBuffer(string: results.field)
            return authenticated
        }
    }

    private var fixesSubmissions: Bool {
        endpoint.configuration.fixesSubmittedMessages && endpoint.role != .mx
    }

    /// The header section is whole (or the message ended, or the header is too long): note
    /// From: and Sender:.
    private func readHeldHeader() {
        guard held != nil else { return }
        headerTooLong = held?.header.finish() == .tooLong
        headerOriginators = Originators.read(headerSection: held?.header.bytes ?? [])
    }

    /// On submission, add Message-ID and Date when missing (RFC 6409 §8.2-8.3); start mail
    /// authentication; open the message with everything held so far.
    private func openHeldMessage(eventLoop: any EventLoop) {
        guard let held else { return }
        self.held = nil
        var prefix = held.prefix
        if fixesSubmissions {
            let fields = held.header.fields
            if !fields.contains(where: { $0.isNamed("Message-ID") }) {
                prefix.writeString("Message-ID: <\(held.message.id)@\(endpoint.configuration.session.hostname)>\r\n")
            }
            if !fields.contains(where: { $0.isNamed("Date") }) {
                prefix.writeString("Date: \(MessageDate.format(secondsSince1970: held.message.trace.receivedAt))\r\n")
            }
        }
        let content = startAuthentication(content: held.content, prefix: prefix, trusted: held.message.trace.trusted)
        let writer = endpoint.store.begin(held.message, prefix: prefix, on: eventLoop)
        writer.append(content)
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

/// A DMARC policy lookup under way, and the lookup it is (`lookupGeneration`).
private struct PendingPolicy {
    var lookup: EventLoopFuture<DMARCPolicy>
    var generation: Int
}

/// A signature on its way: the signer, the header it signs, the body hash so far.
private struct Signing {
    var signer: DKIMSigner
    var header: [UInt8]
    var bodyHash = DKIMSigner.bodyHash()
}

/// A message's first octets, held until its header section is whole.
private struct HeldMessage {
    var message: IncomingMessage
    /// The Received header.
    var prefix: ByteBuffer
    /// The content received so far.
    var content: ByteBuffer
    var header = HeaderSectionCollector()
}

extension SMTPReply {
    /// RFC 7489 §6.7 leaves the reply to the receiver; 5.7.1 (delivery not authorized) is what
    /// the large providers send.
    static func dmarcReject(_ domain: String) -> SMTPReply {
        SMTPReply(
            550, EnhancedStatusCode(5, 7, 1),
            "Unauthenticated mail from \(domain) is refused by its DMARC policy")
    }

    // RFC 3463 X.3.4 (message too big for system), like Postfix's header_size_limit.
    static let submittedHeaderTooLong = SMTPReply(
        552, EnhancedStatusCode(5, 3, 4), "Message header section too long")
}
