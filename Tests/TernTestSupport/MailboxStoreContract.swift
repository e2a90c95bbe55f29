import Foundation
public import NIOCore
import NIOPosix
import TernMail
public import TernStore

/// What every `MailboxStore` backend must do, as checks any test target runs against its backend
/// (TernStoreTests for the Maildir store; a PostgreSQL store's tests the same way):
///
///     @Test(arguments: MailboxStoreContract.checks.map(\.name))
///     func contract(_ name: String) async throws {
///         try await MailboxStoreContract.run(name, in: environment)
///     }
///
/// Each check throws `MailboxStoreContract.Failure` naming what went wrong, so the suite needs no
/// particular test framework.
public enum MailboxStoreContract {
    /// What a check needs from the backend under test.
    public struct Environment: Sendable {
        /// A store over the backend's data: called again within one check, it must give a store
        /// over the same data (a restart).
        public var makeStore: @Sendable () throws -> any MailboxStore
        /// For `beginAppend`'s writer.
        public var eventLoop: any EventLoop

        public init(makeStore: @escaping @Sendable () throws -> any MailboxStore, eventLoop: any EventLoop) {
            self.makeStore = makeStore
            self.eventLoop = eventLoop
        }
    }

    public typealias Failure = ContractFailure
    public typealias Check = ContractCheck<Environment>

    public static func run(_ name: String, in environment: Environment) async throws {
        try await Check.run(name, of: checks, in: environment)
    }

    public static let checks: [Check] = [
        Check(name: "appends are numbered from UIDNEXT, ascending, and listed with size and date") { environment in
            let mailbox = try await environment.makeStore().mailbox("alice@example.test")
            let before = try await mailbox.snapshot()
            try require(before.messages.isEmpty, "a new mailbox is empty: \(before.messages)")
            try require(before.uidValidity > 0, "UIDVALIDITY is nonzero")
            let first = try await mailbox.append(message("one", id: "A1", at: 1_800_000_000))
            let second = try await mailbox.append(message("two!", id: "A2", at: 1_800_000_001))
            try require(first.uid == before.uidNext, "the first UID is the UIDNEXT announced: \(first) vs \(before.uidNext)")
            try require((second.uid ?? 0) > (first.uid ?? .max), "UIDs ascend: \(first), \(second)")
            let after = try await mailbox.snapshot()
            try require(after.uidValidity == before.uidValidity, "UIDVALIDITY stays")
            try require(after.messages.map(\.uid) == [first.uid, second.uid].compactMap { $0 }, "listed in UID order")
            try require(after.uidNext > (second.uid ?? .max), "UIDNEXT is past every UID: \(after.uidNext)")
            try require(after.messages.map(\.size) == [first.size, second.size], "sizes as appended")
            try require(after.messages.map(\.size) == [octets("one").count, octets("two!").count], "sizes are the octets")
            try require(after.messages.map(\.internalDate) == [1_800_000_000, 1_800_000_001], "internal dates")
            try require(after.messages.allSatisfy { $0.flags.isEmpty }, "no flags")
            let keys = try await mailbox.keys(of: after.messages.map(\.uid))
            try require(Set(keys.values).count == 2 && keys.count == 2, "distinct keys: \(keys)")
            try require(
                [first, second].allSatisfy { appended in appended.uid.map { keys[$0] } == appended.key },
                "a message's key is the one its append reported: \(keys)")
            _ = try await mailbox.expunge([first.uid].compactMap { $0 })
            try require(
                try await mailbox.keys(of: after.messages.map(\.uid)).keys.sorted() == [second.uid].compactMap { $0 },
                "an expunged message has no key")
        },
        Check(name: "contents are the prefix and the source's octets, from memory, a file or another store") { environment in
            let mailbox = try await environment.makeStore().mailbox("alice@example.test")
            let fromMemory = try await mailbox.append(
                NewMessage(source: .octets(octets("body")), prefix: Array("X-Prefix: 1\r\n".utf8), id: "C1", receivedAt: 10))
            let file = NSTemporaryDirectory() + "tern-contract-\(UUID().uuidString)"
            try Data(octets("from a file")).write(to: URL(fileURLWithPath: file))
            defer { try? FileManager.default.removeItem(atPath: file) }
            let reader = try await MessageFileReader.open(path: file, pool: .singleton)
            let fromFile = try await mailbox.append(NewMessage(source: .stored(reader), id: "C2", receivedAt: 11))
            let big = (0..<700_000).map { UInt8(truncatingIfNeeded: $0 % 251) }
            let fromElsewhere = try await mailbox.append(
                NewMessage(source: .stored(InMemoryMessageSource(big)), prefix: octets("P: 1"), id: "C3", receivedAt: 12))
            let memoryOctets = try await mailbox.contents(of: try uid(fromMemory))
            try require(memoryOctets == Array("X-Prefix: 1\r\n".utf8) + octets("body"), "prefix and octets")
            let fileOctets = try await mailbox.contents(of: try uid(fromFile))
            try require(fileOctets == octets("from a file"), "a file's octets")
            let elsewhereOctets = try await mailbox.contents(of: try uid(fromElsewhere))
            try require(elsewhereOctets == octets("P: 1") + big, "a source read in chunks, whole and in order")
            try require(try await mailbox.contents(of: 999_999) == nil, "no message, no contents")
        },
        Check(name: "a bounded read gives the first octets and the whole size; a source streams the message") { environment in
            let mailbox = try await environment.makeStore().mailbox("alice@example.test")
            let big = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 % 253) }
            let appended = try uid(try await mailbox.append(NewMessage(source: .octets(big), id: "B1", receivedAt: 15)))
            let head = try await mailbox.contents(of: appended, limit: 1000)
            try require(head?.octets == Array(big.prefix(1000)) && head?.size == big.count, "the first 1000 octets, and the size")
            let whole = try await mailbox.contents(of: appended, limit: 1 << 30)
            try require(whole?.octets == big && whole?.size == big.count, "a limit past the end reads it all")
            try require(try await mailbox.contents(of: appended, limit: 0)?.octets.isEmpty == true, "a limit of 0 reads nothing")
            try require(try await mailbox.contents(of: 999_999, limit: 10) == nil, "no message, no prefix")
            let source = try await mailbox.source(of: appended)
            try require(source?.size == big.count, "the source has the message's size")
            // The source reads the message as it was opened, even once it is flagged.
            _ = try await mailbox.updateFlags([appended], .add(.seen))
            var streamed: [UInt8] = []
            let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
            while let source, streamed.count < source.size {
                let chunk = try await source.read(at: streamed.count, count: 65_536, on: eventLoop).get()
                guard chunk.readableBytes > 0 else { break }
                streamed += chunk.readableBytesView
            }
            try require(streamed == big, "the source's octets are the message's (\(streamed.count) read)")
            try require(try await mailbox.source(of: 999_999) == nil, "no message, no source")
        },
        Check(name: "appending the same id and time again replaces the message, never adds one") { environment in
            let mailbox = try await environment.makeStore().mailbox("alice@example.test")
            let first = try await mailbox.append(message("once", id: "R1", at: 20))
            let again = try await mailbox.append(message("once", id: "R1", at: 20))
            try require(first.uid == again.uid, "the same message keeps its UID: \(first) \(again)")
            let listed = try await mailbox.snapshot().messages
            try require(listed.count == 1, "one message: \(listed)")
        },
        Check(name: "flags are added, removed and replaced, and kept across a restart") { environment in
            let mailbox = try await environment.makeStore().mailbox("alice@example.test")
            let a = try uid(try await mailbox.append(message("a", id: "F1", at: 30)))
            let b = try uid(try await mailbox.append(message("b", id: "F2", at: 31, flags: [.draft])))
            var changed = try await mailbox.updateFlags([a, b], .add([.seen, .flagged]))
            try require(changed.map(\.uid) == [a, b], "both changed: \(changed)")
            try require(changed.map(\.flags) == [[.seen, .flagged], [.seen, .flagged, .draft]], "added: \(changed)")
            changed = try await mailbox.updateFlags([a], .add([.seen]))
            try require(changed.isEmpty, "adding a flag already set changes nothing: \(changed)")
            changed = try await mailbox.updateFlags([b], .remove([.draft, .seen]))
            try require(changed.map(\.flags) == [[.flagged]], "removed: \(changed)")
            changed = try await mailbox.updateFlags([a, 999_999], .replace([.answered, .deleted]))
            try require(changed.map(\.uid) == [a] && changed[0].flags == [.answered, .deleted], "replaced: \(changed)")
            let listed = try await mailbox.snapshot().messages
            try require(listed.map(\.flags) == [[.answered, .deleted], [.flagged]], "listed: \(listed)")
            let restarted = try await environment.makeStore().mailbox("alice@example.test")
            let relisted = try await restarted.snapshot().messages
            try require(relisted.map(\.uid) == [a, b], "UIDs kept across a restart: \(relisted)")
            try require(relisted.map(\.flags) == [[.answered, .deleted], [.flagged]], "flags kept: \(relisted)")
            try require(try await restarted.contents(of: a) == octets("a"), "a flagged message reads as before")
        },
        Check(name: "keywords are set with flags, compared without case, defined once, and kept across a restart") { environment in
            let mailbox = try await environment.makeStore().mailbox("alice@example.test")
            var new = message("k", id: "K1", at: 35)
            new.keywords = ["$Forwarded"]
            let a = try uid(try await mailbox.append(new))
            let b = try uid(try await mailbox.append(message("l", id: "K2", at: 36)))
            var changed = try await mailbox.updateFlags([a, b], .add([.seen], keywords: ["Junk", "$forwarded"]))
            try require(changed.map(\.keywords) == [["$Forwarded", "Junk"], ["$Forwarded", "Junk"]], "added: \(changed)")
            changed = try await mailbox.updateFlags([a], .add([], keywords: ["junk"]))
            try require(changed.isEmpty, "a keyword already set, in another case, changes nothing: \(changed)")
            changed = try await mailbox.updateFlags([b], .remove([], keywords: ["JUNK"]))
            try require(changed.map(\.keywords) == [["$Forwarded"]], "removed: \(changed)")
            changed = try await mailbox.updateFlags([a], .replace([.flagged], keywords: ["NonJunk"]))
            try require(changed.map(\.keywords) == [["NonJunk"]] && changed[0].flags == [.flagged], "replaced: \(changed)")
            let restarted = try await environment.makeStore().mailbox("alice@example.test")
            let listing = try await restarted.snapshot()
            try require(listing.messages.map(\.keywords) == [["NonJunk"], ["$Forwarded"]], "kept: \(listing.messages)")
            try require(Set(listing.keywords) == ["$Forwarded", "Junk", "NonJunk"], "defined: \(listing.keywords)")
            try require(listing.acceptsNewKeywords, "room for more")
        },
        Check(name: "new messages are recent until one claim takes them, also across a restart") { environment in
            let mailbox = try await environment.makeStore().mailbox("alice@example.test")
            let a = try uid(try await mailbox.append(message("a", id: "N1", at: 37)))
            let b = try uid(try await mailbox.append(message("b", id: "N2", at: 38, flags: [.seen])))
            try require(try await mailbox.snapshot().messages.map(\.isRecent) == [true, true], "both are recent")
            try require(try await mailbox.claimRecent() == [a, b], "the first claim takes both")
            try require(try await mailbox.claimRecent().isEmpty, "a second claim takes nothing")
            let c = try uid(try await mailbox.append(message("c", id: "N3", at: 39)))
            try require(try await mailbox.snapshot().messages.map(\.isRecent) == [false, false, true], "only c is recent")
            let restarted = try await environment.makeStore().mailbox("alice@example.test")
            try require(try await restarted.snapshot().messages.map(\.isRecent) == [false, false, true], "kept across a restart")
            try require(try await restarted.claimRecent() == [c], "c is claimed once")
            try require(try await restarted.contents(of: a) == octets("a"), "a claimed message reads as before")
        },
        Check(name: "expunged messages are gone, and their UIDs never come back, also after a restart") { environment in
            let store = try environment.makeStore()
            let mailbox = try await store.mailbox("alice@example.test")
            let validity = try await mailbox.snapshot().uidValidity
            let a = try uid(try await mailbox.append(message("a", id: "E1", at: 40)))
            let b = try uid(try await mailbox.append(message("b", id: "E2", at: 41)))
            let removed = try await mailbox.expunge([b, 999_999])
            try require(removed == [b], "only what exists is removed: \(removed)")
            try require(try await mailbox.expunge([b]).isEmpty, "expunging again removes nothing")
            try require(try await mailbox.contents(of: b) == nil, "no contents after expunge")
            let restarted = try await environment.makeStore().mailbox("alice@example.test")
            let listing = try await restarted.snapshot()
            try require(listing.uidValidity == validity, "UIDVALIDITY stays across a restart")
            try require(listing.messages.map(\.uid) == [a], "one message left: \(listing.messages)")
            try require(listing.uidNext > b, "UIDNEXT stays past the expunged UID: \(listing.uidNext)")
            let c = try uid(try await restarted.append(message("c", id: "E3", at: 42)))
            try require(c > b, "a new message never takes an expunged UID: \(c) after \(b)")
        },
        Check(name: "cached facts are a message's own or none, and go with the message") { environment in
            let mailbox = try await environment.makeStore().mailbox("alice@example.test")
            let a = try uid(try await mailbox.append(message("a", id: "C1", at: 45)))
            let b = try uid(try await mailbox.append(message("b", id: "C2", at: 46)))
            _ = try await mailbox.snapshot()
            await mailbox.cacheFacts([a: [1, 2, 3], b: [4], 999_999: [5]])
            await mailbox.cacheFacts([b: [6, 7]])
            let kept = await mailbox.cachedFacts(of: [a, b, 999_999])
            try require(kept[a] == nil || kept[a] == [1, 2, 3], "a's facts are a's: \(kept)")
            try require(kept[b] == nil || kept[b] == [6, 7], "b's facts are the last kept: \(kept)")
            try require(kept[999_999] == nil, "no facts for a message that is not there: \(kept)")
            _ = try await mailbox.expunge([a])
            try require(await mailbox.cachedFacts(of: [a])[a] == nil, "no facts once the message is expunged")
        },
        Check(name: "subscribers see appends, flag changes and expunges in order") { environment in
            let mailbox = try await environment.makeStore().mailbox("alice@example.test")
            _ = try await mailbox.snapshot()
            var changes = mailbox.changes().makeAsyncIterator()
            let a = try uid(try await mailbox.append(message("a", id: "S1", at: 50)))
            let streamed = try await appendStreaming(mailbox, "streamed", on: environment.eventLoop)
            _ = try await mailbox.updateFlags([a], .add([.seen]))
            _ = try await mailbox.expunge([a])
            var seen: [MailboxChange] = []
            while seen.count < 4, let change = await changes.next() { seen.append(change) }
            guard seen.count == 4, case .appended(let first) = seen[0], case .appended(let second) = seen[1],
                case .flagsChanged(let flagged) = seen[2], case .expunged(let expunged) = seen[3]
            else { throw Failure(description: "expected appended, appended, flagsChanged, expunged: \(seen)") }
            try require(first.map(\.uid) == [a] && second.map(\.uid) == [streamed], "appends: \(first) \(second)")
            try require(flagged.map(\.flags) == [[.seen]], "flags: \(flagged)")
            try require(expunged == [a], "expunged: \(expunged)")
        },
        Check(name: "a streamed append is durable at commit and reported with its UID") { environment in
            let store = try environment.makeStore()
            let mailbox = try await store.mailbox("alice@example.test")
            let streamedUID = try await appendStreaming(mailbox, "streamed message", on: environment.eventLoop)
            let listed = try await environment.makeStore().mailbox("alice@example.test").snapshot().messages
            try require(listed.map(\.uid) == [streamedUID], "listed after a restart: \(listed)")
            let streamedOctets = try await mailbox.contents(of: streamedUID)
            try require(streamedOctets == Array("X-Prefix: 1\r\n".utf8) + octets("streamed message"), "contents")
        },
        Check(name: "concurrent appends get distinct UIDs") { environment in
            let mailbox = try await environment.makeStore().mailbox("alice@example.test")
            let uids = try await withThrowingTaskGroup(of: UInt32?.self) { group in
                for index in 0..<40 {
                    group.addTask { try await mailbox.append(message("m\(index)", id: "P\(index)", at: 60)).uid }
                }
                var uids: [UInt32] = []
                for try await uid in group {
                    guard let uid else { throw Failure(description: "a message was stored without a UID") }
                    uids.append(uid)
                }
                return uids
            }
            try require(Set(uids).count == 40, "40 distinct UIDs: \(uids.sorted())")
            try require(try await mailbox.snapshot().messages.count == 40, "40 messages")
        },
        Check(name: "MODSEQs grow with every change, survive a restart, and guard a conditional flag change") { environment in
            let mailbox = try await environment.makeStore().mailbox("alice@example.test")
            let a = try uid(try await mailbox.append(message("a", id: "Q1", at: 80)))
            let b = try uid(try await mailbox.append(message("b", id: "Q2", at: 81)))
            let start = try await mailbox.snapshot()
            let (ma, mb) = (start.messages[0].modseq, start.messages[1].modseq)
            try require(ma > 0 && mb > ma, "appends get growing MODSEQs: \(ma), \(mb)")
            try require(start.highestModseq >= mb, "HIGHESTMODSEQ covers every message: \(start.highestModseq)")
            let flagged = try await mailbox.updateFlags([a], .add([.flagged]), unchangedSince: ma)
            try require(flagged.changed.map(\.uid) == [a] && flagged.modified.isEmpty, "unchanged since its MODSEQ: set")
            let newA = flagged.changed[0].modseq
            try require(newA > start.highestModseq, "a flag change gets a MODSEQ above all before: \(newA)")
            let refused = try await mailbox.updateFlags([a, b], .add([.seen]), unchangedSince: mb)
            try require(refused.modified == [a], "changed since: left alone and reported: \(refused.modified)")
            try require(refused.changed.map(\.uid) == [b], "the other is changed: \(refused.changed)")
            let noop = try await mailbox.updateFlags([b], .add([.seen]), unchangedSince: nil)
            try require(noop.changed.isEmpty, "no change, no new MODSEQ: \(noop)")
            let beforeExpunge = try await mailbox.snapshot().highestModseq
            _ = try await mailbox.expunge([b])
            let afterExpunge = try await mailbox.snapshot()
            try require(afterExpunge.highestModseq > beforeExpunge, "an expunge raises HIGHESTMODSEQ")
            let restarted = try await environment.makeStore().mailbox("alice@example.test").snapshot()
            try require(
                restarted.messages.map(\.modseq) == afterExpunge.messages.map(\.modseq),
                "MODSEQs survive a restart: \(restarted.messages.map(\.modseq)) vs \(afterExpunge.messages.map(\.modseq))")
            try require(restarted.highestModseq >= afterExpunge.highestModseq, "HIGHESTMODSEQ never goes back")
        },
        Check(name: "mailboxes are separate, and one is opened once") { environment in
            let store = try environment.makeStore()
            try require(store.openedMailbox("alice@example.test") == nil, "nothing is open before its first use")
            let alice = try await store.mailbox("alice@example.test")
            let bob = try await store.mailbox("bob@example.test")
            try require(store.openedMailbox("alice@example.test") === alice, "the open mailbox is the one opened")
            try require(try await store.mailbox("alice@example.test") === alice, "opened once")
            _ = try await alice.append(message("for alice", id: "M1", at: 70))
            try require(try await bob.snapshot().messages.isEmpty, "bob's mailbox does not show alice's mail")
            try require(alice.address == "alice@example.test" && bob.address == "bob@example.test", "addresses")
        },
    ]

    // MARK: Helpers

    /// The octets of the test message with `body`.
    public static func octets(_ body: String) -> [UInt8] {
        Array("Subject: \(body)\r\n\r\n\(body)\r\n".utf8)
    }

    static func message(_ body: String, id: String, at time: Int64, flags: MessageFlags = []) -> NewMessage {
        NewMessage(source: .octets(octets(body)), id: id, receivedAt: time, flags: flags)
    }

    static func uid(_ appended: AppendedMessage) throws -> UInt32 {
        guard let uid = appended.uid else { throw Failure(description: "\(appended.key) was stored without a UID") }
        return uid
    }

    /// Streams a message in through `beginAppend` and returns its UID once it is reported.
    static func appendStreaming(_ mailbox: any Mailbox, _ body: String, on eventLoop: any EventLoop) async throws
        -> UInt32
    {
        var generator = SystemRandomNumberGenerator()
        let incoming = IncomingMessage(
            id: QueueID(microsecondsSinceEpoch: 1_800_000_000_000_000, using: &generator),
            envelope: Envelope(
                sender: MailAddress(localPart: "s", domain: "remote.test"),
                recipients: [EnvelopeRecipient(address: MailAddress(localPart: "alice", domain: "example.test"))]),
            trace: ArrivalTrace(clientName: "c", clientAddress: "127.0.0.1", receivedProtocol: "ESMTP", receivedAt: 80))
        let reported = eventLoop.makePromise(of: AppendedMessage.self)
        try await eventLoop.flatSubmit {
            let writer = mailbox.beginAppend(incoming, prefix: ByteBuffer(string: "X-Prefix: 1\r\n"), on: eventLoop) {
                reported.succeed($0)
            }
            writer.append(ByteBuffer(bytes: octets(body)))
            return writer.commit()
        }.get()
        return try uid(try await reported.futureResult.get())
    }
}
