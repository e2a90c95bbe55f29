public import NIOCore
public import TernQueue
public import TernStore
import TernMail

/// The MDA: delivers a queued message into a local mailbox of the `MailboxStore` (a Maildir at
/// `<root>/<domain>/<user>/` on the embedded store, readable by Dovecot, mutt or Python's
/// `mailbox.Maildir` as it is).
///
/// RFC 5321 §4.4: the final delivery adds `Return-Path:` with the envelope sender; the
/// `Delivered-To:` line (as Postfix and qmail write it) names the mailbox, so loops through
/// forwarding can be seen. The message below them is the spooled one, byte for byte.
///
/// The delivery counts once the message is durable in the mailbox; its UID (for IMAP and POP3)
/// is in the report when numbering succeeded, and otherwise assigned when the mailbox is next
/// listed or repaired.
///
/// A delivery with a `folder` (DMARC's quarantine: Junk) goes into the user's folder of that
/// special use, made if missing; without `folders` (the catcher) everything goes to INBOX.
///
/// Security notes: the mailbox is named by the resolved, configured address (whose local part
/// was checked to be a safe directory name), never by what the client wrote.
public final class LocalDeliveryAgent: DirectDelivering {
    public let mailboxes: any MailboxStore
    /// A user's folders, by the user's address; nil where there are none.
    public let folders: (@Sendable (String) -> (any MailboxFolders)?)?

    public init(mailboxes: any MailboxStore, folders: (@Sendable (String) -> (any MailboxFolders)?)? = nil) {
        self.mailboxes = mailboxes
        self.folders = folders
    }

    public func deliver(_ job: DeliveryJob) async -> [DeliveryResult] {
        var results: [DeliveryResult] = []
        for item in job.items {
            let outcome = await deliver(job, to: item.delivery.recipient, folder: item.delivery.folder)
            results.append(DeliveryResult(outcome, relay: "maildir"))
        }
        return results
    }

    /// Writes the message into the mailbox as it arrives, with the same header lines and file
    /// name as a queued delivery. Only a mailbox already opened since start is taken: opening
    /// one creates directories, which must not block the event loop, so a mailbox's first
    /// message goes through the queue, whose delivery opens it.
    public func beginDirect(
        _ message: IncomingMessage, mailbox address: String, prefix: ByteBuffer, on eventLoop: any EventLoop,
        delivered: @escaping @Sendable (DeliveryResult) -> Void
    ) -> (any MessageWriter)? {
        guard let mailbox = mailboxes.openedMailbox(address) else { return nil }
        var head = ByteBuffer(
            string: Self.deliveryHeader(message.envelope, mailbox: address))
        head.writeImmutableBuffer(prefix)
        // The delivery is reported once the message has its UID; the 250 waits for neither.
        return mailbox.beginAppend(message, prefix: head, on: eventLoop) { appended in
            delivered(DeliveryResult(.delivered(.deliveredToMaildir(uid: appended.uid)), relay: "maildir"))
        }
    }

    /// RFC 5321 §4.4's Return-Path and the Delivered-To line, in front of every delivered copy.
    static func deliveryHeader(_ envelope: Envelope, mailbox: String) -> String {
        envelope.returnPathField + "Delivered-To: \(mailbox)\r\n"
    }

    /// The mailbox a delivery goes into: INBOX, or the folder of `use`.
    private func mailbox(_ address: String, folder use: SpecialUse?) async throws -> any Mailbox {
        if let use, let folders = folders?(address), let folder = try await folders.mailbox(for: use) {
            return folder
        }
        return try await mailboxes.mailbox(address)
    }

    private func deliver(_ job: DeliveryJob, to address: String, folder: SpecialUse?) async -> DeliveryOutcome {
        do {
            let mailbox = try await mailbox(address, folder: folder)
            let prefix = Self.deliveryHeader(job.message.envelope, mailbox: address)
            let content: any MessageSource
            do {
                content = try await job.openContent()
            } catch {
                return .deferred(.cannotReadQueuedMessage(error))
            }
            let appended = try await mailbox.append(
                NewMessage(
                    source: .stored(content), prefix: Array(prefix.utf8), id: job.messageID.rawValue,
                    receivedAt: job.arrival))
            return .delivered(.deliveredToMaildir(uid: appended.uid))
        } catch let error as StoreError where error.isOutOfSpace {
            return .deferred(.mailboxStorageFull)
        } catch {
            return .deferred(.localDeliveryFailed(error))
        }
    }
}
