import Logging
import NIOCore
import TernMail
import TernMailAuth
import TernQueue
import TernStore

/// ARC-seals mail that Tern forwards (RFC 8617 §5.1): a message that came from outside and
/// leaves again because an alias sends it to a remote address. Its receiver cannot trust the
/// SPF and DKIM verdicts Tern found (SPF breaks on forwarding, DKIM may), so Tern repeats them in
/// an ARC-Authentication-Results, signs the message as it leaves (ARC-Message-Signature) and
/// seals the chain (ARC-Seal) with the key of its host name's domain. The verdicts are those of
/// Tern's own Authentication-Results, written at receipt (its `arc=` is the chain's status as it
/// arrived), so sealing needs no DNS; the message is read once more for the body hash.
struct ForwardSealer: Sendable {
    let sealer: ARCSealer
    /// Tern's host name: the authserv-id of its Authentication-Results.
    let authservID: String
    let eventLoop: any EventLoop
    var clock = WallClock.system
    let logger: Logger

    /// Whether `job` forwards mail from outside: a stranger's message (not submitted, not from a
    /// relay network) to a recipient an alias turned into another address.
    static func forwards(_ job: DeliveryJob) -> Bool {
        !job.message.trace.trusted
            && job.items.contains { $0.delivery.original.lowercased() != $0.delivery.recipient.lowercased() }
    }

    /// The content with a new ARC set in front, or as it is when the job forwards nothing, the
    /// message has no Authentication-Results of Tern's, or no set may be added.
    func prepare(_ job: DeliveryJob, _ source: any MessageSource) async -> any MessageSource {
        guard Self.forwards(job) else { return source }
        do {
            guard let (header, bodyHash) = try await SignableContent.read(source, on: eventLoop),
                let own = AuthenticationResults.own(in: RawHeaderField.fields(of: header), authservID: authservID),
                let set = try sealer.seal(
                    header: header, bodyHash: bodyHash, authservID: authservID, results: own.results, chain: own.arc,
                    now: clock.now().seconds)
            else { return source }
            return PrefixedMessageSource(prefix: ByteBuffer(bytes: set), content: source)
        } catch {
            // Forwarded unsealed rather than not at all; the log says why.
            logger.error("ARC sealing failed", metadata: ["tern_queue_id": "\(job.message.id)", "error": "\(error)"])
            return source
        }
    }
}
