import NIOCore
import TernIMAPCore
import TernMIME
import TernMail
import TernStore

/// The commands of the authenticated and selected states for one logged-in connection
/// (RFC 9051 §6.3, §6.4): runs them against the user's `MailboxFolders` and the selected
/// `Mailbox`, and keeps the selected mailbox's view in line with its change feed.
///
/// An actor: a command and the feed's changes never interleave, so each response sees one
/// consistent view. The connection runs one command at a time; IDLE's updates go out through
/// the `push` the connection gave.
actor MailboxCommands {
    /// How the response is written for this client.
    struct Dialect: Sendable {
        var rev2: Bool
        var utf8: Bool
        /// MODSEQs are reported (RFC 7162 §3.1: ENABLE CONDSTORE or a CONDSTORE-enabling command).
        var condstore: Bool
        /// Expunges are VANISHED responses and SELECT takes QRESYNC (ENABLE QRESYNC, §3.2.3).
        var qresync: Bool = false

        /// A mailbox name as the client sent it: UTF-8 (IMAP4rev2, UTF8=ACCEPT), or modified
        /// UTF-7 (IMAP4rev1, RFC 3501 §5.1.3). A name that is neither is refused.
        func mailboxName(_ octets: [UInt8]) throws(FolderError) -> String {
            if utf8 {
                guard let name = String(validating: octets, as: UTF8.self) else { throw .invalidName }
                return name
            }
            guard let name = ModifiedUTF7.decode(octets) else { throw .invalidName }
            return name
        }

        /// A mailbox name as this client reads it, written as an astring.
        func writeMailboxName(_ name: String, to buffer: inout ByteBuffer) {
            ResponseWriter.writeAString(utf8 ? Array(name.utf8) : ModifiedUTF7.encode(name), utf8: utf8, to: &buffer)
        }
    }

    /// What the command did to the selection, for the session machine.
    enum Selection: Sendable {
        case unchanged
        case selected(name: String, readOnly: Bool)
        case closed
    }

    struct Outcome: Sendable {
        var output: ByteBuffer
        var selection: Selection = .unchanged
    }

    private struct Selected {
        var name: String
        var mailbox: any Mailbox
        var view: SelectedMailbox
        /// The stored facts (size, internal date) of the messages listed at SELECT: the
        /// mailbox's own listing, which every session that selected it shares.
        var listed: [MailboxMessage]
        /// Those of messages that arrived since.
        var arrived: [UInt32: MailboxMessage] = [:]

        /// The stored facts of the message with `uid`.
        func details(_ uid: UInt32) -> MailboxMessage? {
            if let message = arrived[uid] { return message }
            var low = 0
            var high = listed.count
            while low < high {
                let middle = low + (high - low) / 2
                if listed[middle].uid < uid { low = middle + 1 } else { high = middle }
            }
            return low < listed.count && listed[low].uid == uid ? listed[low] : nil
        }
        /// The messages recent to this session (IMAP4rev1's `\Recent`): those it claimed, or
        /// for EXAMINE those nobody has claimed.
        var recent = UIDRanges()
        /// The keywords the client was told of in FLAGS, and those changes brought since.
        var keywords: [String] = []
        var arrivingKeywords: [String] = []
        /// Flag changes this session made and showed at once: their copies from the change feed
        /// are dropped when they come, or, arriving after a newer change, they would undo it.
        var echoes: [MailboxChange] = []
        var feed: Task<Void, Never>
        /// The client was told HIGHESTMODSEQ (RFC 7162 §3.1.2.1: on SELECT with CONDSTORE on, or
        /// on the first CONDSTORE-enabling command while the mailbox is selected).
        var announcedModseq = false

        var recentCount: Int { view.messages.count { recent.contains($0.uid) } }
    }

    let user: String
    let folders: any MailboxFolders
    let clock: WallClock
    /// The largest message APPEND takes (APPENDLIMIT, RFC 7889).
    let appendLimit: Int
    /// The user's quota in octets, nil for none: asked at each check.
    let quota: @Sendable () async throws -> Int?
    private var selected: Selected?
    private var idle: (push: @Sendable (ByteBuffer) -> Void, dialect: Dialect, poll: Task<Void, Never>)?

    init(
        user: String, folders: any MailboxFolders, clock: WallClock, appendLimit: Int,
        quota: @escaping @Sendable () async throws -> Int? = { nil }
    ) {
        self.user = user
        self.folders = folders
        self.clock = clock
        self.appendLimit = appendLimit
        self.quota = quota
    }

    /// Stops following the selected mailbox (the connection ended).
    func shutDown() {
        selected?.feed.cancel()
        idle?.poll.cancel()
        selected = nil
        idle = nil
    }

    // MARK: Updates

    /// A change the selected mailbox reported.
    private func record(_ change: MailboxChange, from mailbox: any Mailbox) async {
        if let echo = selected?.echoes.firstIndex(of: change) {
            selected?.echoes.remove(at: echo)
            return
        }
        if case .appended(let messages) = change { await takeRecent(messages, of: mailbox) }
        guard var current = selected, current.mailbox === mailbox else { return }
        switch change {
        case .appended(let messages):
            for message in messages { current.arrived[message.uid] = message }
            current.arrivingKeywords += messages.flatMap(\.keywords)
            current.view.record(.appended(messages.map { Self.shown($0) }))
        case .flagsChanged(let messages):
            current.arrivingKeywords += messages.flatMap(\.keywords)
            current.view.record(.flagsChanged(messages.map { Self.shown($0) }))
        case .expunged(let uids):
            current.view.record(.expunged(uids))
        }
        selected = current
        if let idle {
            var buffer = ByteBuffer()
            writeUpdates(expungesAllowed: true, dialect: idle.dialect, to: &buffer)
            if buffer.readableBytes > 0 { idle.push(buffer) }
        }
    }

    /// New messages become recent to this session: a read-write session claims them (no other
    /// session will see them as recent), a read-only one sees those nobody claimed.
    private func takeRecent(_ messages: [MailboxMessage], of mailbox: any Mailbox) async {
        guard let current = selected, current.mailbox === mailbox, messages.contains(where: \.isRecent) else { return }
        let taken: [UInt32]
        if current.view.readOnly {
            taken = messages.filter(\.isRecent).map(\.uid)
        } else {
            taken = (try? await mailbox.claimRecent()) ?? []
        }
        guard var now = selected, now.mailbox === mailbox else { return }
        now.recent.formUnion(taken)
        selected = now
    }

    /// Shows flag changes this session made (STORE, FETCH's \\Seen) at once, and expects their
    /// copies from the feed.
    private func showOwnFlagChanges(_ changed: [MailboxMessage]) {
        guard var current = selected, !changed.isEmpty else { return }
        _ = current.view.setFlags(changed.map { Self.shown($0) })
        current.echoes.append(.flagsChanged(changed))
        // Bounded: a feed that ended (it fell too far behind) sends no copies.
        if current.echoes.count > 256 { current.echoes.removeFirst(current.echoes.count - 256) }
        selected = current
    }

    /// RFC 9051 §7.3.5: a keyword is in FLAGS (and PERMANENTFLAGS) before a FETCH shows it.
    private func announceKeywords(_ keywords: [String], to out: inout ByteBuffer) {
        guard var current = selected else { return }
        let known = Set(current.keywords.map { $0.lowercased() })
        let new = FlagUpdate.distinct(keywords).filter { !known.contains($0.lowercased()) }
        guard !new.isEmpty else { return }
        current.keywords += new
        selected = current
        let flags = (MessageFlags.imapNames.map(\.name) + current.keywords).joined(separator: " ")
        out.writeString("* FLAGS (\(flags))\r\n")
        if !current.view.readOnly { out.writeString("* OK [PERMANENTFLAGS (\(flags) \\*)] Flags permitted\r\n") }
    }

    /// A message this session put into its selected mailbox is in its view before the tagged OK
    /// (the change feed would tell it a moment later), and recent to it.
    private func showOwnAppend(
        uid: UInt32, _ appended: AppendedMessage, flags: MessageFlags, keywords: [String], internalDate: Int64,
        in mailbox: any Mailbox
    ) async {
        guard selected?.mailbox === mailbox else { return }
        let message = MailboxMessage(
            uid: uid, flags: flags, keywords: keywords, size: appended.size, internalDate: internalDate,
            isRecent: true)
        await record(.appended([message]), from: mailbox)
    }

    /// Records the differences between the view and a listing of its mailbox: what the feed
    /// reports too is recorded twice, which the view ignores.
    private func reconcile(with snapshot: MailboxSnapshot, of mailbox: any Mailbox) async {
        await takeRecent(snapshot.messages.filter { $0.uid >= (selected?.view.uidNext ?? .max) }, of: mailbox)
        guard var current = selected, current.mailbox === mailbox else { return }
        let listed = Dictionary(snapshot.messages.map { ($0.uid, $0) }, uniquingKeysWith: { $1 })
        let gone = current.view.messages.map(\.uid).filter { listed[$0] == nil }
        if !gone.isEmpty { current.view.record(.expunged(gone)) }
        let changed = current.view.messages.compactMap { shown -> SelectedMailbox.Message? in
            guard let now = listed[shown.uid],
                now.flags != shown.flags || now.keywords != shown.keywords || now.modseq > shown.modseq
            else { return nil }
            return Self.shown(now)
        }
        if !changed.isEmpty { current.view.record(.flagsChanged(changed)) }
        let added = snapshot.messages.filter { $0.uid >= current.view.uidNext }
        if !added.isEmpty {
            for message in added { current.arrived[message.uid] = message }
            current.view.record(.appended(added.map { Self.shown($0) }))
        }
        selected = current
    }

    private func writeUpdates(expungesAllowed: Bool, dialect: Dialect, to buffer: inout ByteBuffer) {
        guard selected?.view.hasPendingChanges == true else { return }
        if let arriving = selected?.arrivingKeywords, !arriving.isEmpty {
            selected?.arrivingKeywords = []
            announceKeywords(arriving, to: &buffer)
        }
        guard var current = selected else { return }
        let uidNext = current.view.uidNext
        current.view.writeUpdates(
            expungesAllowed: expungesAllowed, vanished: dialect.qresync, modseq: dialect.condstore, to: &buffer)
        // What left the view is forgotten; the shared listing stays as it is.
        current.arrived = current.arrived.filter { current.view.index(ofUID: $0.key) != nil }
        let view = current.view
        current.recent.removeAll(
            keepingWhole: { range in
                guard let first = view.index(ofUID: range.lowerBound), let last = view.index(ofUID: range.upperBound) else { return false }
                return last - first == range.count - 1
            },
            keeping: { view.index(ofUID: $0) != nil })
        // RFC 3501 §7.3.2: IMAP4rev1 clients hear of RECENT with EXISTS.
        if !dialect.rev2, current.view.uidNext != uidNext { buffer.writeString("* \(current.recentCount) RECENT\r\n") }
        selected = current
    }

    /// IDLE began: what is pending now, then every change as it comes. Changes made by other
    /// programs (a Maildir reader) are found by listing the mailbox every `pollInterval`.
    func startIdle(dialect: Dialect, pollInterval: Duration, push: @escaping @Sendable (ByteBuffer) -> Void) {
        let mailbox = selected?.mailbox
        let poll = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: pollInterval)
                guard !Task.isCancelled else { return }
                _ = try? await mailbox?.snapshot()
            }
        }
        idle = (push, dialect, poll)
        var buffer = ByteBuffer()
        writeUpdates(expungesAllowed: true, dialect: dialect, to: &buffer)
        if buffer.readableBytes > 0 { push(buffer) }
    }

    /// IDLE ended: what is pending, and the tagged response.
    func endIdle(tag: String, done: Bool, dialect: Dialect) -> ByteBuffer {
        idle?.poll.cancel()
        idle = nil
        var buffer = ByteBuffer()
        writeUpdates(expungesAllowed: true, dialect: dialect, to: &buffer)
        if done {
            ResponseWriter.writeStatus(tag: tag, .ok, text: "IDLE terminated", to: &buffer)
        } else {
            ResponseWriter.writeStatus(tag: tag, .bad, text: "Expected DONE", to: &buffer)
        }
        return buffer
    }

    // MARK: Commands

    /// Runs one command; the output holds its untagged responses, the updates the protocol
    /// allows at its end, and its tagged status.
    func execute(_ command: IMAPCommand, dialect: Dialect) async -> Outcome {
        var out = ByteBuffer()
        var selection = Selection.unchanged
        let status: Status
        do {
            let selecting = if case .select = command.kind { true } else { false }
            if dialect.condstore, let current = selected, !current.announcedModseq, !selecting {
                // RFC 7162 §3.1.2.1: CONDSTORE came on with the mailbox selected.
                let highest = try await current.mailbox.snapshot().highestModseq
                out.writeString("* OK [HIGHESTMODSEQ \(highest)] Highest\r\n")
                selected?.announcedModseq = true
            }
            status = try await run(command, dialect: dialect, out: &out, selection: &selection)
        } catch let error as FolderError {
            status = Self.status(of: error)
        } catch {
            status = Status(.no, code: "SERVERBUG", "Internal error: \(error)")
        }
        // §7.5.1: no EXPUNGE while the command named messages by sequence number.
        let expungesAllowed: Bool
        switch command.kind {
        case .fetch(_, let byUID, _, _, _), .store(_, let byUID, _, _, _, _), .search(let byUID, _, _, _):
            expungesAllowed = byUID
        default:
            expungesAllowed = true
        }
        writeUpdates(expungesAllowed: expungesAllowed, dialect: dialect, to: &out)
        ResponseWriter.writeStatus(tag: command.tag, status.status, code: status.code, text: status.text, to: &out)
        return Outcome(output: out, selection: selection)
    }

    struct Status {
        var status: ResponseWriter.Status
        var code: String?
        var text: String

        init(_ status: ResponseWriter.Status, code: String? = nil, _ text: String) {
            self.status = status
            self.code = code
            self.text = text
        }
    }

    static func status(of error: FolderError) -> Status {
        switch error {
        case .exists: Status(.no, code: "ALREADYEXISTS", "Mailbox already exists")
        case .noSuchFolder: Status(.no, code: "NONEXISTENT", "Mailbox does not exist")
        case .invalidName: Status(.no, code: "CANNOT", "Invalid mailbox name")
        case .notPermitted: Status(.no, code: "CANNOT", "Not permitted for this mailbox")
        case .storage: Status(.no, code: "SERVERBUG", "The mailbox store failed")
        }
    }

    private func run(_ command: IMAPCommand, dialect: Dialect, out: inout ByteBuffer, selection: inout Selection) async throws
        -> Status
    {
        switch command.kind {
        case .select(let name, let readOnly, let parameters):
            return try await select(
                try dialect.mailboxName(name), readOnly: readOnly, parameters: parameters, dialect: dialect, out: &out,
                selection: &selection)
        case .close:
            if let current = selected, !current.view.readOnly {
                // §6.4.1: CLOSE expunges silently.
                let deleted = current.view.messages.filter { $0.flags.contains(.deleted) }.map(\.uid)
                if !deleted.isEmpty { _ = try await current.mailbox.expunge(deleted) }
            }
            deselect()
            selection = .closed
            return Status(.ok, "CLOSE completed")
        case .unselect:
            deselect()
            selection = .closed
            return Status(.ok, "UNSELECT completed")
        case .noop, .check:
            // §6.1.2: NOOP is how a client asks what changed. The listing is the answer, whatever
            // the change feed has delivered by now (it may lag behind another session's write).
            if let mailbox = selected?.mailbox { await reconcile(with: try await mailbox.snapshot(), of: mailbox) }
            return Status(.ok, command.kind == .check ? "CHECK completed" : "NOOP completed")
        case .expunge(let uids):
            return try await expunge(uids, dialect: dialect, out: &out)
        case .fetch(let set, let byUID, let attributes, let changedSince, let vanished):
            return try await fetch(
                set, byUID: byUID, attributes, changedSince: changedSince, vanished: vanished, dialect: dialect, out: &out)
        case .store(let set, let byUID, let operation, let silent, let flags, let unchangedSince):
            return try await store(
                set, byUID: byUID, operation, silent: silent, flags: flags, unchangedSince: unchangedSince, dialect: dialect,
                out: &out)
        case .search(let byUID, let returnOptions, let charset, let key):
            return try await search(key, byUID: byUID, returnOptions: returnOptions, charset: charset, tag: command.tag, dialect: dialect, out: &out)
        case .copy(let set, let byUID, let destination):
            return try await copy(set, byUID: byUID, to: try dialect.mailboxName(destination), move: false, dialect: dialect, out: &out)
        case .move(let set, let byUID, let destination):
            return try await copy(set, byUID: byUID, to: try dialect.mailboxName(destination), move: true, dialect: dialect, out: &out)
        case .create(let name):
            var folder = try dialect.mailboxName(name)
            // §6.3.4: a trailing delimiter says the name is a parent; the folder is the same.
            if folder.hasSuffix("/") { folder.removeLast() }
            try await folders.create(folder)
            return Status(.ok, "CREATE completed")
        case .delete(let name):
            let folder = try dialect.mailboxName(name)
            if selected?.name == folder { return Status(.no, code: "INUSE", "Mailbox is selected") }
            try await folders.delete(folder)
            return Status(.ok, "DELETE completed")
        case .rename(let from, let to):
            try await folders.rename(try dialect.mailboxName(from), to: try dialect.mailboxName(to))
            return Status(.ok, "RENAME completed")
        case .subscribe(let name):
            try await folders.subscribe(try dialect.mailboxName(name), true)
            return Status(.ok, "SUBSCRIBE completed")
        case .unsubscribe(let name):
            try await folders.subscribe(try dialect.mailboxName(name), false)
            return Status(.ok, "UNSUBSCRIBE completed")
        case .list(let reference, let patterns, let options):
            // A pattern no mailbox name can match (not modified UTF-7) matches nothing.
            guard let reference = try? dialect.mailboxName(reference) else { return Status(.ok, "LIST completed") }
            let readable = patterns.compactMap { try? dialect.mailboxName($0) }
            return try await list(reference: reference, patterns: readable, options: options, dialect: dialect, out: &out)
        case .lsub(let reference, let pattern):
            guard let reference = try? dialect.mailboxName(reference), let pattern = try? dialect.mailboxName(pattern) else {
                return Status(.ok, "LSUB completed")
            }
            if pattern.isEmpty {
                out.writeString("* LSUB (\\Noselect) \"/\" \"\"\r\n")
                return Status(.ok, "LSUB completed")
            }
            return try await lsub(reference + pattern, dialect: dialect, out: &out)
        case .namespace:
            // RFC 2342: one personal namespace, no prefix, "/" between levels.
            out.writeString("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n")
            return Status(.ok, "NAMESPACE completed")
        case .status(let name, let items):
            return try await status(try dialect.mailboxName(name), items: items, dialect: dialect, out: &out)
        case .append(let name, let flags, let date, let message):
            return try await append(try dialect.mailboxName(name), flags: flags, date: date, message: message)
        case .getQuotaRoot(let name):
            return try await quotaRoot(of: try dialect.mailboxName(name), dialect: dialect, out: &out)
        case .getQuota(let root):
            guard root.isEmpty, let limit = try await quota() else { return Status(.no, code: "NONEXISTENT", "No such quota root") }
            try await writeQuota(limit: limit, out: &out)
            return Status(.ok, "GETQUOTA completed")
        case .setQuota:
            // RFC 9208 §4.1.3: a server may refuse; limits are the administrator's.
            return Status(.no, code: "NOPERM", "Quotas are set by the administrator (tern user set --quota)")
        case .capability, .logout, .startTLS, .authenticate, .login, .enable, .idle, .id, .compress:
            // The session machine answers these itself.
            return Status(.bad, "Unexpected command")
        }
    }


    /// A listed message as the view holds it.
    static func shown(_ message: MailboxMessage) -> SelectedMailbox.Message {
        .init(uid: message.uid, flags: message.flags, keywords: message.keywords, modseq: message.modseq)
    }

    // MARK: SELECT, EXAMINE

    private func select(
        _ name: String, readOnly: Bool, parameters: SelectParameters, dialect: Dialect, out: inout ByteBuffer,
        selection: inout Selection
    ) async throws -> Status {
        if selected != nil {
            deselect()
            // RFC 9051 §6.3.2 (and RFC 7162 §3.2.11): the old mailbox is closed first.
            if dialect.rev2 || dialect.condstore { out.writeString("* OK [CLOSED] Previous mailbox closed\r\n") }
            selection = .closed
        }
        guard let mailbox = try await folders.open(name) else {
            return Status(.no, code: "NONEXISTENT", "Mailbox does not exist")
        }
        // Subscribe before listing: nothing that happens between the two is missed.
        let changes = mailbox.changes()
        let snapshot = try await mailbox.snapshot()
        let view = SelectedMailbox(
            uidValidity: snapshot.uidValidity, uidNext: snapshot.uidNext,
            messages: SharedViews.messages(of: snapshot, in: mailbox), readOnly: readOnly)
        let feed = Task { [weak self] in
            for await change in changes {
                guard let self else { return }
                await self.record(change, from: mailbox)
            }
        }
        // RFC 3501 §2.3.2: a read-write session claims what is recent; EXAMINE only looks.
        let recent = readOnly ? snapshot.messages.filter(\.isRecent).map(\.uid) : try await mailbox.claimRecent()
        selected = Selected(
            name: name, mailbox: mailbox, view: view,
            listed: snapshot.messages, recent: UIDRanges(recent),
            keywords: snapshot.keywords, feed: feed)
        // §7.3.5, §7.1: the flags defined here, and those a STORE keeps (`\\*`: new keywords too).
        let flags = (MessageFlags.imapNames.map(\.name) + snapshot.keywords).joined(separator: " ")
        out.writeString("* \(view.count) EXISTS\r\n")
        if !dialect.rev2 { out.writeString("* \(selected?.recentCount ?? 0) RECENT\r\n") }
        out.writeString("* FLAGS (\(flags))\r\n")
        let permanent = readOnly ? "" : flags + (snapshot.acceptsNewKeywords ? " \\*" : "")
        out.writeString("* OK [PERMANENTFLAGS (\(permanent))] Flags permitted\r\n")
        if !dialect.rev2, let unseen = view.messages.firstIndex(where: { !$0.flags.contains(.seen) }) {
            out.writeString("* OK [UNSEEN \(unseen + 1)] First unseen\r\n")
        }
        out.writeString("* OK [UIDVALIDITY \(view.uidValidity)] UIDs valid\r\n")
        out.writeString("* OK [UIDNEXT \(view.uidNext)] Predicted next UID\r\n")
        if dialect.condstore {
            // RFC 7162 §3.1.2.1.
            out.writeString("* OK [HIGHESTMODSEQ \(snapshot.highestModseq)] Highest\r\n")
            selected?.announcedModseq = true
        }
        if let resync = parameters.qresync, resync.uidValidity == view.uidValidity {
            // §3.2.5.1: what went since the client's MODSEQ (at most its known UIDs), then what changed.
            let vanished = view.missing(from: resync.knownUIDs)
            if !vanished.isEmpty { out.writeString("* VANISHED (EARLIER) \(vanished)\r\n") }
            for position in view.messages.indices where view.messages[position].modseq > resync.modseq {
                view.writeFlags(at: position, modseq: true, to: &out)
            }
        }
        if dialect.rev2 {
            // §6.3.2: IMAP4rev2 servers also send the mailbox's LIST response.
            out.writeString("* LIST () \"/\" ")
            dialect.writeMailboxName(name, to: &out)
            out.writeString("\r\n")
        }
        selection = .selected(name: name, readOnly: readOnly)
        return Status(.ok, code: readOnly ? "READ-ONLY" : "READ-WRITE", readOnly ? "EXAMINE completed" : "SELECT completed")
    }

    private func deselect() {
        selected?.feed.cancel()
        selected = nil
    }

    // MARK: EXPUNGE

    private func expunge(_ uids: SequenceSet?, dialect: Dialect, out: inout ByteBuffer) async throws -> Status {
        guard var current = selected else { return Status(.bad, "No mailbox selected") }
        guard !current.view.readOnly else { return Status(.no, code: "READ-ONLY", "Mailbox is read-only") }
        var doomed = current.view.messages.filter { $0.flags.contains(.deleted) }
        if let uids {
            let named = Set((current.view.resolve(uids, byUID: true) ?? []).map { current.view.messages[$0].uid })
            doomed = doomed.filter { named.contains($0.uid) }
        }
        guard !doomed.isEmpty else { return Status(.ok, "EXPUNGE completed") }
        let removed = try await current.mailbox.expunge(doomed.map(\.uid))
        current = selected ?? current
        current.view.expunge(removed, vanished: dialect.qresync, to: &out)
        for uid in removed { current.arrived[uid] = nil }
        selected = current
        return Status(.ok, "EXPUNGE completed")
    }

    // MARK: FETCH

    private func fetch(
        _ set: SequenceSet, byUID: Bool, _ attributes: [FetchAttribute], changedSince: UInt64?, vanished: Bool,
        dialect: Dialect, out: inout ByteBuffer
    ) async throws -> Status {
        guard var current = selected else { return Status(.bad, "No mailbox selected") }
        guard var indices = current.view.resolve(set, byUID: byUID) else {
            return Status(.bad, "Invalid message sequence number")
        }
        var attributes = attributes
        if let changedSince {
            // RFC 7162 §3.1.4: only what changed since, with its MODSEQ; §3.2.6: and what went.
            indices = indices.filter { current.view.messages[$0].modseq > changedSince }
            if !attributes.contains(.modificationSequence) { attributes.append(.modificationSequence) }
            if vanished {
                let missing = current.view.missing(from: set)
                if !missing.isEmpty { out.writeString("* VANISHED (EARLIER) \(missing)\r\n") }
            }
        }
        // A non-PEEK body section sets \Seen (§6.4.5), before the responses say what the flags are.
        let marksSeen = !current.view.readOnly && attributes.contains {
            switch $0 {
            case .section(_, _, let peek), .binary(_, _, let peek): !peek
            case .rfc822(let part): !part.peek
            default: false
            }
        }
        var items = attributes
        if byUID, !items.contains(.uid) { items.insert(.uid, at: 0) }
        if marksSeen {
            let unseen = indices.map { current.view.messages[$0] }.filter { !$0.flags.contains(.seen) }.map(\.uid)
            if !unseen.isEmpty {
                let changed = try await current.mailbox.updateFlags(unseen, .add(.seen))
                showOwnFlagChanges(changed)
                current = selected ?? current
                if !items.contains(.flags) { items.append(.flags) }
            }
        }
        let needsContent = items.contains {
            switch $0 {
            case .envelope, .body, .bodyStructure, .section, .rfc822, .binary, .binarySize: true
            default: false
            }
        }
        // ENVELOPE and the message's header fields need the header only: a bounded read of the
        // file's start, whole only when the header is longer (a mail client's list view).
        let headerOnly = items.allSatisfy {
            switch $0 {
            case .envelope, .rfc822(.header): true
            case .section(let section, _, _): section.part.isEmpty && Self.isHeaderText(section.text)
            case .body, .bodyStructure, .rfc822, .binary, .binarySize: false
            default: true
            }
        }
        // BODY[HEADER] and RFC822.HEADER of the message itself (a client's list view) are its
        // octets up to the empty line: no MIME parse.
        let topHeaderOnly = items.allSatisfy {
            switch $0 {
            case .section(let section, _, _): section.part.isEmpty && section.text == .header
            case .rfc822(let part): part == .header
            case .envelope, .body, .bodyStructure, .binary, .binarySize: false
            default: true
            }
        }
        // ENVELOPE, BODY and BODYSTRUCTURE come from the mailbox's cache when it has them, with
        // the header's length, which bounds what is read for a header section asked beside them.
        // (A header section alone is read without asking: a cache lookup costs what it saves.)
        let wantsFacts = items.contains { $0 == .envelope || $0 == .body || $0 == .bodyStructure }
        let wantsStructure = items.contains { $0 == .body || $0 == .bodyStructure }
        let factsAnswerAll = items.allSatisfy(Self.answeredByFacts)
        let plan = ContentPlan(
            usesFacts: wantsFacts,
            needsOctets: { facts in
                guard let facts, wantsFacts else { return true }
                // Facts answer every content item but a header section, which is read anyway.
                return (wantsStructure && facts.bodyStructure == nil) || !factsAnswerAll
            },
            headerOnly: headerOnly)
        // Messages are read a batch at a time (one trip to the store for many small reads), at
        // most `batchReadLimit` octets of each; a longer one is read on its own.
        var reader = Self.readAhead(needsContent ? indices.map { current.view.messages[$0].uid } : [], of: current.mailbox, plan: plan)
        var batch = ContentBatch()
        var batchEnd = 0
        var madeFacts: [UInt32: [UInt8]] = [:]
        for (position, index) in indices.enumerated() {
            let message = current.view.messages[index]
            var rendered: RenderedMessage?
            var header: ArraySlice<UInt8>?
            var facts: MessageFacts?
            if needsContent {
                if position == batchEnd, let (range, next) = try await reader.next() {
                    (batchEnd, batch) = (range.upperBound, next)
                    if !madeFacts.isEmpty {
                        await current.mailbox.cacheFacts(madeFacts)
                        madeFacts = [:]
                    }
                }
                facts = batch.facts[message.uid]
                if let facts, !plan.needsOctets(facts) {
                    // Answered from the cache alone.
                } else if let stored = batch.prefixes[message.uid] {
                    if topHeaderOnly, let end = facts?.headerLength ?? Self.headerEnd(stored.octets) ?? (stored.isWhole ? stored.octets.count : nil) {
                        header = stored.octets[..<min(end, stored.octets.count)]
                    } else if stored.isWhole || (headerOnly && Self.holdsHeaderEnd(stored.octets)) {
                        rendered = RenderedMessage(stored.octets)
                    } else {
                        rendered = try await Self.read(message.uid, of: current.mailbox, headerOnly: headerOnly)
                        guard rendered != nil else { continue }
                    }
                    if wantsFacts, let rendered, facts == nil || (wantsStructure && facts?.bodyStructure == nil) {
                        // Worked out for this answer: kept for the next.
                        // A header read alone has no structure to tell.
                        let whole = !headerOnly || stored.isWhole
                        let made = MessageFacts(
                            headerLength: Self.headerEnd(rendered.raw) ?? rendered.raw.count, envelope: rendered.envelope,
                            bodyStructure: whole ? rendered.bodyStructure : nil)
                        facts = made
                        madeFacts[message.uid] = made.encoded()
                    }
                } else {
                    continue
                }
            }
            out.writeString("* \(index + 1) FETCH (")
            for (position, item) in items.enumerated() {
                if position > 0 { out.writeStaticString(" ") }
                write(
                    item, message: message, details: current.details(message.uid), rendered: rendered, header: header,
                    facts: facts, dialect: dialect, to: &out)
            }
            out.writeStaticString(")\r\n")
        }
        if !madeFacts.isEmpty { await current.mailbox.cacheFacts(madeFacts) }
        return Status(.ok, byUID ? "UID FETCH completed" : "FETCH completed")
    }

    private func write(
        _ item: FetchAttribute, message: SelectedMailbox.Message, details: MailboxMessage?, rendered: RenderedMessage?,
        header: ArraySlice<UInt8>? = nil, facts: MessageFacts? = nil, dialect: Dialect, to out: inout ByteBuffer
    ) {
        switch item {
        case .uid:
            out.writeString("UID \(message.uid)")
        case .flags:
            out.writeStaticString("FLAGS ")
            let recent = !dialect.rev2 && selected?.recent.contains(message.uid) == true
            message.flags.writeIMAP(keywords: (recent ? ["\\Recent"] : []) + message.keywords, to: &out)
        case .internalDate:
            out.writeString("INTERNALDATE \"\(IMAPDateTime.format(details?.internalDate ?? 0))\"")
        case .size:
            out.writeString("RFC822.SIZE \(details?.size ?? rendered?.raw.count ?? 0)")
        case .modificationSequence:
            out.writeString("MODSEQ (\(message.modseq))")
        case .envelope:
            out.writeStaticString("ENVELOPE ")
            (facts?.envelope ?? rendered?.envelope ?? IMAPEnvelope()).write(to: &out, utf8: dialect.utf8)
        case .body, .bodyStructure:
            out.writeString(item == .body ? "BODY " : "BODYSTRUCTURE ")
            let structure = facts?.bodyStructure ?? rendered?.bodyStructure ?? .single(.init(type: Array("TEXT".utf8), subtype: Array("PLAIN".utf8), size: 0, lines: 0))
            structure.write(to: &out, extensible: item == .bodyStructure, utf8: dialect.utf8)
        case .section(let section, let partial, _):
            out.writeString("BODY[\(Self.describe(section))]")
            let octets = header ?? rendered?.octets(of: section) ?? []
            Self.writePartial(octets, partial, to: &out)
        case .rfc822(let part):
            out.writeString(part.name)
            Self.writePartial(header ?? rendered?.octets(of: part.section) ?? [], nil, to: &out)
        case .binary(let part, let partial, _):
            out.writeString("BINARY[\(part.map(String.init).joined(separator: "."))]")
            Self.writePartial(ArraySlice(rendered?.binary(part) ?? []), partial, to: &out)
        case .binarySize(let part):
            out.writeString("BINARY.SIZE[\(part.map(String.init).joined(separator: "."))] \(rendered?.binary(part)?.count ?? 0)")
        }
    }

    static func isHeaderText(_ text: FetchAttribute.Section.Text?) -> Bool {
        switch text {
        case .header, .headerFields: true
        case nil, .text, .mime: false
        }
    }

    /// The prefix that reads a header, when a header is all that is asked.
    static let headerReadLimit = 64 * 1024
    /// The most octets of each message that FETCH and SEARCH read in a batch.
    static let batchReadLimit = 64 * 1024

    /// Reads the starts of the messages with `uids`, a batch ahead of the caller.
    static func readAhead(_ uids: [UInt32], of mailbox: any Mailbox) -> ReadAhead<[UInt32: StoredPrefix]> {
        ReadAhead(uids) { batch in try await mailbox.contents(of: batch, limit: batchReadLimit) }
    }

    /// What a FETCH needs of each message's content.
    struct ContentPlan: Sendable {
        /// Whether the mailbox's cached facts are asked for.
        var usesFacts: Bool
        /// Whether the message must be read, given its cached facts.
        var needsOctets: @Sendable (MessageFacts?) -> Bool
        /// Whether the header is all that is read.
        var headerOnly: Bool
    }

    /// A batch of a FETCH: the facts the mailbox had, and the starts of the messages read.
    struct ContentBatch: Sendable {
        var facts: [UInt32: MessageFacts] = [:]
        var prefixes: [UInt32: StoredPrefix] = [:]
    }

    /// The items a message's cached facts answer without reading it.
    static func answeredByFacts(_ item: FetchAttribute) -> Bool {
        switch item {
        case .section, .rfc822, .binary, .binarySize: false
        default: true
        }
    }

    /// Reads what `plan` needs of the messages with `uids`, a batch ahead of the caller: the
    /// cached facts, then the messages they do not answer, only as far as their headers when
    /// that is all that is asked and their lengths are known.
    static func readAhead(_ uids: [UInt32], of mailbox: any Mailbox, plan: ContentPlan) -> ReadAhead<ContentBatch> {
        ReadAhead(uids) { uids in
            var batch = ContentBatch()
            if plan.usesFacts {
                for (uid, record) in await mailbox.cachedFacts(of: uids) { batch.facts[uid] = MessageFacts(decoding: record) }
            }
            let unread = uids.filter { plan.needsOctets(batch.facts[$0]) }
            guard !unread.isEmpty else { return batch }
            var limit = batchReadLimit
            if plan.headerOnly, let longest = unread.map({ batch.facts[$0]?.headerLength ?? .max }).max(), longest < limit {
                limit = max(1, longest)
            }
            batch.prefixes = try await mailbox.contents(of: unread, limit: limit)
            return batch
        }
    }

    /// A message read for FETCH: its header alone when that is all that is asked and it ends
    /// within `headerReadLimit`, else the whole message; nil when it is gone.
    static func read(_ uid: UInt32, of mailbox: any Mailbox, headerOnly: Bool) async throws -> RenderedMessage? {
        if headerOnly, let (prefix, size) = try await mailbox.contents(of: uid, limit: headerReadLimit) {
            if prefix.count == size || holdsHeaderEnd(prefix) { return RenderedMessage(prefix) }
        }
        return try await mailbox.contents(of: uid).map(RenderedMessage.init)
    }

    /// Whether the octets hold the empty line that ends a header section (CRLF CRLF, or bare LFs
    /// as the MIME parser also reads them).
    static func holdsHeaderEnd(_ octets: [UInt8]) -> Bool { headerEnd(octets) != nil }

    /// Where the header section ends, its empty line included; nil when the octets hold no end.
    static func headerEnd(_ octets: [UInt8]) -> Int? {
        if octets.first == 0x0A { return 1 }
        if octets.starts(with: [0x0D, 0x0A]) { return 2 }
        var index = 0
        while index + 1 < octets.count {
            if octets[index] == 0x0A {
                if octets[index + 1] == 0x0A { return index + 2 }
                if octets[index + 1] == 0x0D, index + 2 < octets.count, octets[index + 2] == 0x0A { return index + 3 }
            }
            index += 1
        }
        return nil
    }

    /// `<origin>` and the octets from it (§6.4.5: a partial past the end is empty).
    static func writePartial(_ octets: ArraySlice<UInt8>, _ partial: FetchAttribute.Partial?, to out: inout ByteBuffer) {
        guard let partial else {
            out.writeStaticString(" ")
            ResponseWriter.writeLiteral(octets, to: &out)
            return
        }
        out.writeString("<\(partial.offset)> ")
        let start = octets.startIndex + Int(min(partial.offset, UInt64(octets.count)))
        let end = start + Int(min(partial.count, UInt64(octets.endIndex - start)))
        ResponseWriter.writeLiteral(octets[start..<end], to: &out)
    }

    /// The section as the response names it: `1.2.HEADER.FIELDS (FROM TO)`.
    static func describe(_ section: FetchAttribute.Section) -> String {
        var parts = section.part.map(String.init)
        switch section.text {
        case nil: break
        case .header: parts.append("HEADER")
        case .text: parts.append("TEXT")
        case .mime: parts.append("MIME")
        case .headerFields(let names, let not):
            let list = names.map { String(decoding: $0, as: UTF8.self).uppercased() }.joined(separator: " ")
            parts.append((not ? "HEADER.FIELDS.NOT (" : "HEADER.FIELDS (") + list + ")")
        }
        return parts.joined(separator: ".")
    }

    // MARK: STORE

    private func store(
        _ set: SequenceSet, byUID: Bool, _ operation: IMAPCommand.StoreOperation, silent: Bool, flags: [String],
        unchangedSince: UInt64?, dialect: Dialect, out: inout ByteBuffer
    ) async throws -> Status {
        guard var current = selected else { return Status(.bad, "No mailbox selected") }
        guard !current.view.readOnly else { return Status(.no, code: "READ-ONLY", "Mailbox is read-only") }
        guard let indices = current.view.resolve(set, byUID: byUID) else {
            return Status(.bad, "Invalid message sequence number")
        }
        let (system, others) = MessageFlags.parsing(flags)
        let keywords = MessageFlags.keywords(others)
        let update: FlagUpdate =
            switch operation {
            case .add: .add(system, keywords: keywords)
            case .remove: .remove(system, keywords: keywords)
            case .replace: .replace(system, keywords: keywords)
            }
        let uids = indices.map { current.view.messages[$0].uid }
        let result =
            uids.isEmpty ? FlagUpdateResult(changed: []) : try await current.mailbox.updateFlags(uids, update, unchangedSince: unchangedSince)
        showOwnFlagChanges(result.changed)
        announceKeywords(result.changed.flatMap(\.keywords), to: &out)
        current = selected ?? current
        let modified = Set(result.modified)
        if !silent {
            for uid in uids where !modified.contains(uid) {
                guard let position = current.view.index(ofUID: uid) else { continue }
                current.view.writeFlags(at: position, modseq: dialect.condstore, to: &out)
            }
        } else if dialect.condstore {
            // RFC 7162 §3.1.3: .SILENT still reports the new MODSEQs.
            for message in result.changed {
                guard let position = current.view.index(ofUID: message.uid) else { continue }
                current.view.writeFlags(at: position, modseq: true, flags: false, to: &out)
            }
        }
        guard result.modified.isEmpty else {
            // §3.1.3: the messages left alone, by UID for UID STORE, else by sequence number.
            let numbers = byUID ? result.modified : result.modified.compactMap { current.view.index(ofUID: $0) }.map { UInt32($0 + 1) }
            return Status(.ok, code: "MODIFIED \(SelectedMailbox.compress(numbers.sorted()))", "Conditional STORE failed")
        }
        return Status(.ok, byUID ? "UID STORE completed" : "STORE completed")
    }

    // MARK: SEARCH

    private func search(
        _ key: SearchKey, byUID: Bool, returnOptions: [String]?, charset: String?, tag: String, dialect: Dialect,
        out: inout ByteBuffer
    ) async throws -> Status {
        guard var current = selected else { return Status(.bad, "No mailbox selected") }
        if let charset, charset != "UTF-8", charset != "US-ASCII" {
            return Status(.no, code: "BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset")
        }
        var matcher = SearchMatcher(view: current.view, details: current.details, recent: current.recent, now: clock.seconds)
        var matches: [Int] = []
        var reader = Self.readAhead(SearchMatcher.readsContent(key) ? current.view.messages.map(\.uid) : [], of: current.mailbox)
        var batchEnd = 0
        for index in current.view.messages.indices {
            if index == batchEnd, let (range, next) = try await reader.next() { (batchEnd, matcher.prefetched) = (range.upperBound, next) }
            if try await matcher.matches(key, at: index, mailbox: current.mailbox) { matches.append(index) }
        }
        let numbers = matches.map { byUID ? current.view.messages[$0].uid : UInt32($0 + 1) }
        let options = Set(returnOptions ?? [])
        if options.contains("SAVE") {
            current.view.savedSearch = matches.map { current.view.messages[$0].uid }
            selected = current
        }
        // RFC 7162 §3.1.5: a search by MODSEQ answers with the highest MODSEQ of what it returns.
        func highestModseq(_ returned: [Int]) -> String {
            guard key.mentionsModseq, let highest = returned.map({ current.view.messages[$0].modseq }).max() else { return "" }
            return "MODSEQ \(highest)"
        }
        if returnOptions == nil && !dialect.rev2 {
            let modseq = highestModseq(matches)
            out.writeString("* SEARCH" + numbers.map { " \($0)" }.joined() + (modseq.isEmpty ? "" : " (\(modseq))") + "\r\n")
        } else if !(options == ["SAVE"]) {
            // ESEARCH (RFC 4731; IMAP4rev2's only form): ALL when no option asks otherwise.
            let asked = options.subtracting(["SAVE"]).isEmpty ? ["ALL"] : options.subtracting(["SAVE"])
            out.writeString("* ESEARCH (TAG ")
            ResponseWriter.writeString(Array(tag.utf8), utf8: false, to: &out)
            out.writeString(")")
            if byUID { out.writeString(" UID") }
            if asked.contains("MIN"), let first = numbers.first { out.writeString(" MIN \(first)") }
            if asked.contains("MAX"), let last = numbers.last { out.writeString(" MAX \(last)") }
            if asked.contains("COUNT") { out.writeString(" COUNT \(numbers.count)") }
            if asked.contains("ALL"), !numbers.isEmpty { out.writeString(" ALL \(SelectedMailbox.compress(numbers))") }
            // With only MIN and MAX, the MODSEQ is of the messages they name (RFC 4731 §3.2).
            let named = asked.isSubset(of: ["MIN", "MAX"])
                ? [asked.contains("MIN") ? matches.first : nil, asked.contains("MAX") ? matches.last : nil].compactMap { $0 }
                : matches
            let modseq = highestModseq(named)
            if !modseq.isEmpty { out.writeString(" \(modseq)") }
            out.writeString("\r\n")
        }
        return Status(.ok, byUID ? "UID SEARCH completed" : "SEARCH completed")
    }

    // MARK: COPY, MOVE

    private func copy(
        _ set: SequenceSet, byUID: Bool, to destinationName: String, move: Bool, dialect: Dialect, out: inout ByteBuffer
    ) async throws -> Status {
        guard var current = selected else { return Status(.bad, "No mailbox selected") }
        if move, current.view.readOnly { return Status(.no, code: "READ-ONLY", "Mailbox is read-only") }
        guard let indices = current.view.resolve(set, byUID: byUID) else {
            return Status(.bad, "Invalid message sequence number")
        }
        guard let destination = try await folders.open(destinationName) else {
            return Status(.no, code: "TRYCREATE", "Mailbox does not exist")
        }
        if !move {
            // A MOVE stays within the account; a COPY adds what it copies (RFC 9208 §5).
            let adding = indices.reduce(0) { $0 + (current.details(current.view.messages[$1].uid)?.size ?? 0) }
            if try await exceedsQuota(adding: adding) { return Status(.no, code: "OVERQUOTA", "Quota exceeded") }
        }
        var sourceUIDs: [UInt32] = []
        var destinationUIDs: [UInt32] = []
        for index in indices {
            let message = current.view.messages[index]
            guard let source = try await current.mailbox.source(of: message.uid) else { continue }
            let details = current.details(message.uid)
            let appended = try await destination.append(
                NewMessage(
                    source: .stored(source), id: "copy-\(UInt64.random(in: 0...UInt64.max))",
                    receivedAt: details?.internalDate ?? clock.seconds, flags: message.flags, keywords: message.keywords))
            sourceUIDs.append(message.uid)
            if let uid = appended.uid {
                destinationUIDs.append(uid)
                await showOwnAppend(
                    uid: uid, appended, flags: message.flags, keywords: message.keywords,
                    internalDate: details?.internalDate ?? clock.seconds, in: destination)
            }
        }
        var code: String?
        if !sourceUIDs.isEmpty, destinationUIDs.count == sourceUIDs.count {
            // RFC 4315 §3: COPYUID uidvalidity source-uids destination-uids.
            let validity = try await destination.snapshot().uidValidity
            code = "COPYUID \(validity) \(SelectedMailbox.compress(sourceUIDs)) \(SelectedMailbox.compress(destinationUIDs))"
        }
        guard move else { return Status(.ok, code: code, "COPY completed") }
        // RFC 6851 §4.3: COPYUID in an untagged OK, then the expunges, then the tagged OK.
        if let code { out.writeString("* OK [\(code)] Moved\r\n") }
        let removed = try await current.mailbox.expunge(sourceUIDs)
        current = selected ?? current
        current.view.expunge(removed, vanished: dialect.qresync, to: &out)
        selected = current
        return Status(.ok, "MOVE completed")
    }

    // MARK: LIST, STATUS

    /// LIST (RFC 9051 §6.3.9) with RFC 5258's selection and return options, RFC 5819's STATUS
    /// and RFC 6154's SPECIAL-USE. The candidates are the mailboxes (with a parent that exists
    /// only as a level of a child's name), or the subscribed names; those that match a pattern
    /// are listed, each with its attributes and, when asked, its STATUS.
    private func list(reference: String, patterns: [String], options: ListOptions, dialect: Dialect, out: inout ByteBuffer)
        async throws -> Status
    {
        if patterns == [""] {
            // §6.3.9: an empty pattern asks for the delimiter and the root.
            out.writeString("* LIST (\\Noselect) \"/\" \"\"\r\n")
            return Status(.ok, "LIST completed")
        }
        if let items = options.returnStatus, let unknown = items.first(where: { !Self.isStatusItem($0, dialect: dialect) }) {
            return Status(.bad, "Unknown STATUS item \(unknown)")
        }
        let patterns = patterns.map { reference + $0 }
        func matches(_ name: String) -> Bool { patterns.contains { Self.matches(name, pattern: $0) } }

        let all = try await folders.list()
        let existing = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let subscribed = options.subscribedOnly ? Set(try await folders.subscriptions()) : Set(all.filter(\.subscribed).map(\.name))
        var parents: Set<String> = []
        for name in existing.keys { parents.formUnion(Self.ancestors(of: name)) }
        let hasChildren = parents

        // The names the selection options pick (RFC 5258 §3).
        var selected: Set<String>
        if options.subscribedOnly {
            selected = subscribed
        } else {
            selected = Set(existing.keys).union(parents)
        }
        if options.specialUseOnly { selected = selected.filter { existing[$0]?.specialUse != nil } }
        // RECURSIVEMATCH (RFC 5258 §3.5): a name that matches is listed with CHILDINFO, selected
        // itself or not, when a name below it is selected but matches no pattern.
        var childInfo: Set<String> = []
        if options.recursiveMatch {
            for name in selected where !matches(name) { childInfo.formUnion(Self.ancestors(of: name)) }
        }
        let extended = patterns.count > 1 || options != ListOptions()
        let listed = selected.union(childInfo).filter(matches).sorted { a, b in
            a == "INBOX" ? b != "INBOX" : b == "INBOX" ? false : a < b
        }
        for name in listed {
            var attributes: [String] = []
            let folder = existing[name]
            if folder == nil {
                // RFC 5258 §3.4: a name without a mailbox; \Noselect for a basic rev1 LIST.
                attributes.append(dialect.rev2 || extended ? "\\NonExistent" : "\\Noselect")
            }
            attributes.append(hasChildren.contains(name) ? "\\HasChildren" : "\\HasNoChildren")
            if let use = folder?.specialUse { attributes.append(use.rawValue) }
            if subscribed.contains(name), dialect.rev2 || options.returnSubscribed || options.subscribedOnly {
                attributes.append("\\Subscribed")
            }
            out.writeString("* LIST (\(attributes.joined(separator: " "))) \"/\" ")
            dialect.writeMailboxName(name, to: &out)
            if childInfo.contains(name) {
                out.writeString(options.subscribedOnly ? " (\"CHILDINFO\" (\"SUBSCRIBED\"))" : " (\"CHILDINFO\" (\"SPECIAL-USE\"))")
            }
            out.writeStaticString("\r\n")
            if let items = options.returnStatus, folder != nil, let mailbox = try await folders.open(name) {
                // RFC 5819 §2: the STATUS of each selectable mailbox right after its LIST.
                try await writeStatus(name, of: mailbox, items: items, dialect: dialect, out: &out)
            }
        }
        return Status(.ok, "LIST completed")
    }

    /// The levels above `name`: `a` and `a/b` for `a/b/c`.
    static func ancestors(of name: String) -> [String] {
        var levels = name.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        var ancestors: [String] = []
        while !levels.isEmpty {
            ancestors.append(levels.joined(separator: "/"))
            levels = levels.dropLast()
        }
        return ancestors
    }

    /// LSUB (RFC 3501 §6.3.9): the subscribed names that match, whether their mailboxes exist or
    /// not, and, as `\\Noselect`, a parent that `%` stops at when only names below it are
    /// subscribed.
    private func lsub(_ pattern: String, dialect: Dialect, out: inout ByteBuffer) async throws -> Status {
        let subscribed = Set(try await folders.subscriptions())
        var parents: Set<String> = []
        for name in subscribed { parents.formUnion(Self.ancestors(of: name)) }
        for name in subscribed.sorted() where Self.matches(name, pattern: pattern) {
            out.writeStaticString("* LSUB () \"/\" ")
            dialect.writeMailboxName(name, to: &out)
            out.writeStaticString("\r\n")
        }
        for parent in parents.subtracting(subscribed).sorted() where Self.matches(parent, pattern: pattern) {
            // Listed only where the pattern does not reach the subscribed names below it.
            guard !subscribed.contains(where: { $0.hasPrefix(parent + "/") && Self.matches($0, pattern: pattern) }) else { continue }
            out.writeStaticString("* LSUB (\\Noselect) \"/\" ")
            dialect.writeMailboxName(parent, to: &out)
            out.writeStaticString("\r\n")
        }
        return Status(.ok, "LSUB completed")
    }

    /// `*` matches anything, `%` anything but the delimiter (§6.3.9); INBOX in any case.
    static func matches(_ name: String, pattern: String) -> Bool {
        let name = Array(name.unicodeScalars)
        let pattern = Array(pattern.unicodeScalars)
        // Iterative matching with backtracking to the last wildcard: linear in practice, and
        // bounded by name × pattern at worst (both are short).
        var memo = [[Bool?]](repeating: [Bool?](repeating: nil, count: pattern.count + 1), count: name.count + 1)
        func match(_ n: Int, _ p: Int) -> Bool {
            if let known = memo[n][p] { return known }
            let result: Bool
            if p == pattern.count {
                result = n == name.count
            } else if pattern[p] == "*" {
                result = match(n, p + 1) || (n < name.count && match(n + 1, p))
            } else if pattern[p] == "%" {
                result = match(n, p + 1) || (n < name.count && name[n] != "/" && match(n + 1, p))
            } else {
                result = n < name.count && name[n] == pattern[p] && match(n + 1, p + 1)
            }
            memo[n][p] = result
            return result
        }
        if String(String.UnicodeScalarView(pattern)).uppercased() == "INBOX" {
            return String(String.UnicodeScalarView(name)) == "INBOX"
        }
        return match(0, 0)
    }

    private func status(_ name: String, items: [String], dialect: Dialect, out: inout ByteBuffer) async throws -> Status {
        if let unknown = items.first(where: { !Self.isStatusItem($0, dialect: dialect) }) {
            return Status(.bad, "Unknown STATUS item \(unknown)")
        }
        guard let mailbox = try await folders.open(name) else {
            return Status(.no, code: "NONEXISTENT", "Mailbox does not exist")
        }
        try await writeStatus(name, of: mailbox, items: items, dialect: dialect, out: &out)
        return Status(.ok, "STATUS completed")
    }

    /// `status-att` (§6.3.11), with RECENT for IMAP4rev1 and HIGHESTMODSEQ once CONDSTORE is on.
    static func isStatusItem(_ item: String, dialect: Dialect) -> Bool {
        switch item {
        case "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "DELETED-STORAGE": true
        case "RECENT": !dialect.rev2
        case "HIGHESTMODSEQ": dialect.condstore
        default: false
        }
    }

    /// `* STATUS name (item value ...)` for items `isStatusItem` accepted.
    private func writeStatus(_ name: String, of mailbox: any Mailbox, items: [String], dialect: Dialect, out: inout ByteBuffer)
        async throws
    {
        let snapshot = try await mailbox.snapshot()
        let values = items.map { item -> String in
            switch item {
            case "MESSAGES": "MESSAGES \(snapshot.messages.count)"
            case "UIDNEXT": "UIDNEXT \(snapshot.uidNext)"
            case "UIDVALIDITY": "UIDVALIDITY \(snapshot.uidValidity)"
            case "UNSEEN": "UNSEEN \(snapshot.messages.count { !$0.flags.contains(.seen) })"
            case "DELETED": "DELETED \(snapshot.messages.count { $0.flags.contains(.deleted) })"
            case "SIZE": "SIZE \(snapshot.messages.reduce(0) { $0 + $1.size })"
            case "RECENT": "RECENT \(snapshot.messages.count(where: \.isRecent))"
            case "DELETED-STORAGE":
                "DELETED-STORAGE \(Self.kibibytes(snapshot.messages.reduce(0) { $0 + ($1.flags.contains(.deleted) ? $1.size : 0) }))"
            default: "HIGHESTMODSEQ \(snapshot.highestModseq)"
            }
        }
        out.writeStaticString("* STATUS ")
        dialect.writeMailboxName(name, to: &out)
        out.writeString(" (\(values.joined(separator: " ")))\r\n")
    }

    // MARK: QUOTA (RFC 9208)

    /// GETQUOTAROOT: every mailbox is under one root, the account, named "" (§3.2); without a
    /// quota there is none.
    private func quotaRoot(of name: String, dialect: Dialect, out: inout ByteBuffer) async throws -> Status {
        guard try await folders.open(name) != nil else { return Status(.no, code: "NONEXISTENT", "Mailbox does not exist") }
        let limit = try await quota()
        out.writeStaticString("* QUOTAROOT ")
        dialect.writeMailboxName(name, to: &out)
        out.writeString(limit == nil ? "\r\n" : " \"\"\r\n")
        if let limit { try await writeQuota(limit: limit, out: &out) }
        return Status(.ok, "GETQUOTAROOT completed")
    }

    /// `* QUOTA "" (STORAGE used limit)`, in units of 1024 octets (§5.1).
    private func writeQuota(limit: Int, out: inout ByteBuffer) async throws {
        let used = try await folders.usage().octets
        out.writeString("* QUOTA \"\" (STORAGE \(Self.kibibytes(used)) \(limit / 1024))\r\n")
    }

    /// Whether storing `octets` more would take the account over its quota.
    private func exceedsQuota(adding octets: Int) async throws -> Bool {
        guard let limit = try await quota() else { return false }
        let (total, overflow) = try await folders.usage().octets.addingReportingOverflow(octets)
        return overflow || total > limit
    }

    /// Octets in STORAGE's unit, rounded up: a message of 10 octets uses 1.
    static func kibibytes(_ octets: Int) -> Int { octets / 1024 + (octets % 1024 == 0 ? 0 : 1) }

    // MARK: APPEND

    private func append(_ name: String, flags: [String], date: [UInt8]?, message: [UInt8]) async throws -> Status {
        guard message.count <= appendLimit else { return Status(.no, code: "TOOBIG", "Message too large") }
        var receivedAt = clock.seconds
        if let date {
            guard let parsed = IMAPDateTime.parse(date) else { return Status(.bad, "Invalid date-time") }
            receivedAt = parsed
        }
        guard let mailbox = try await folders.open(name) else {
            return Status(.no, code: "TRYCREATE", "Mailbox does not exist")
        }
        if try await exceedsQuota(adding: message.count) { return Status(.no, code: "OVERQUOTA", "Quota exceeded") }
        let (system, others) = MessageFlags.parsing(flags)
        let appended = try await mailbox.append(
            NewMessage(
                source: .octets(message), id: "append-\(UInt64.random(in: 0...UInt64.max))", receivedAt: receivedAt,
                flags: system, keywords: MessageFlags.keywords(others)))
        guard let uid = appended.uid else { return Status(.ok, "APPEND completed") }
        await showOwnAppend(uid: uid, appended, flags: system, keywords: MessageFlags.keywords(others), internalDate: receivedAt, in: mailbox)
        let validity = try await mailbox.snapshot().uidValidity
        return Status(.ok, code: "APPENDUID \(validity) \(uid)", "APPEND completed")
    }
}
