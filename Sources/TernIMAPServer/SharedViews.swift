import Synchronization
import TernIMAPCore
import TernStore

/// The messages of a mailbox as a selected view starts with them, made once per state of the
/// mailbox and shared by every session that selects it in that state.
///
/// A session's view is an array of UID, flags, keywords and MODSEQ per message: for a mailbox
/// of 10,000 messages, 240 KB. A thousand IDLE clients on one INBOX would hold a thousand equal
/// copies; sharing the first (Swift arrays copy on write) means a session pays for its own copy
/// only once a change reaches its view. A state is known by its UIDVALIDITY, UIDNEXT, message
/// count and HIGHESTMODSEQ: every change of a mailbox raises its HIGHESTMODSEQ (RFC 7162
/// §3.1.2.1), so two snapshots that agree on these list the same messages.
enum SharedViews {
    private struct State: Hashable {
        var mailbox: ObjectIdentifier
        var uidValidity: UInt32
        var uidNext: UInt32
        var count: Int
        var highestModseq: UInt64
    }

    /// Few mailboxes are selected by many sessions at once; the bound keeps a server with many
    /// users from holding a view of every mailbox ever selected.
    static let capacity = 64

    private static let views = Mutex<[State: [SelectedMailbox.Message]]>([:])

    /// The view's messages for `snapshot` of `mailbox`: the shared array when one was made for
    /// this state, else a new one (kept for the next session).
    static func messages(of snapshot: MailboxSnapshot, in mailbox: any Mailbox) -> [SelectedMailbox.Message] {
        // Without MODSEQs (a backend that does not keep them) states cannot be told apart.
        guard snapshot.highestModseq > 0 else { return snapshot.messages.map(MailboxCommands.shown) }
        let state = State(
            mailbox: ObjectIdentifier(mailbox), uidValidity: snapshot.uidValidity, uidNext: snapshot.uidNext,
            count: snapshot.messages.count, highestModseq: snapshot.highestModseq)
        if let shared = views.withLock({ $0[state] }) { return shared }
        let messages = snapshot.messages.map(MailboxCommands.shown)
        views.withLock { views in
            // One view per mailbox: an older state of it is of no more use.
            views = views.filter { $0.key.mailbox != state.mailbox }
            if views.count >= capacity, let any = views.keys.first { views[any] = nil }
            views[state] = messages
        }
        return messages
    }
}
