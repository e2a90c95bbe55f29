import NIOCore
import TernMail
import Testing

@testable import TernIMAPCore

@Suite("Selected mailbox view")
struct SelectedMailboxTests {
    static func view(_ uids: [UInt32]) -> SelectedMailbox {
        SelectedMailbox(
            uidValidity: 7, uidNext: (uids.last ?? 0) + 1, messages: uids.map { .init(uid: $0, flags: []) }, readOnly: false)
    }

    static func set(_ text: String) -> SequenceSet { SequenceSet(parsing: Array(text.utf8))! }

    @Test("sequence sets resolve to positions; a number past the view is an error, * is the last")
    func sequenceNumbers() {
        let mailbox = Self.view([3, 5, 8, 13])
        #expect(mailbox.resolve(Self.set("1,3:4"), byUID: false) == [0, 2, 3])
        #expect(mailbox.resolve(Self.set("2:*"), byUID: false) == [1, 2, 3])
        #expect(mailbox.resolve(Self.set("*:9"), byUID: false) == nil)
        #expect(mailbox.resolve(Self.set("5"), byUID: false) == nil)
        #expect(Self.view([]).resolve(Self.set("1:*"), byUID: false) == nil)
    }

    @Test("UID sets skip UIDs without a message and cost nothing for huge ranges")
    func uids() {
        let mailbox = Self.view([3, 5, 8, 13])
        #expect(mailbox.resolve(Self.set("4:8"), byUID: true) == [1, 2])
        #expect(mailbox.resolve(Self.set("1:4294967295"), byUID: true) == [0, 1, 2, 3])
        #expect(mailbox.resolve(Self.set("14:*"), byUID: true) == [3], "n:* names the last message even above it (§6.4.8)")
        #expect(Self.view([]).resolve(Self.set("1:*"), byUID: true) == [])
        var saved = mailbox
        saved.savedSearch = [5, 13, 99]
        #expect(saved.resolve(.savedResult, byUID: false) == [1, 3])
    }

    @Test("updates: EXPUNGE highest first, EXISTS once, FETCH for changed flags; own changes reported once")
    func updates() {
        var mailbox = Self.view([3, 5, 8])
        mailbox.record(.expunged([3, 8]))
        mailbox.record(.appended([.init(uid: 9, flags: []), .init(uid: 10, flags: [.seen])]))
        mailbox.record(.flagsChanged([.init(uid: 5, flags: [.seen, .flagged]), .init(uid: 8, flags: [.seen])]))
        var held = ByteBuffer()
        mailbox.writeUpdates(expungesAllowed: false, to: &held)
        #expect(held.readableBytes == 0 && mailbox.hasPendingChanges, "nothing while expunges may not be sent")
        var buffer = ByteBuffer()
        mailbox.writeUpdates(expungesAllowed: true, to: &buffer)
        #expect(
            String(buffer: buffer)
                == "* 3 EXPUNGE\r\n* 1 EXPUNGE\r\n* 3 EXISTS\r\n* 1 FETCH (UID 5 FLAGS (\\Flagged \\Seen))\r\n")
        #expect(mailbox.messages.map(\.uid) == [5, 9, 10] && mailbox.uidNext == 11)
        // The feed reports this session's own changes again: nothing new to tell.
        mailbox.record(.appended([.init(uid: 10, flags: [.seen])]))
        mailbox.record(.expunged([3]))
        // The last message expunged, then reported as appended again by a late listing: still gone.
        mailbox.record(.expunged([10]))
        mailbox.record(.appended([.init(uid: 10, flags: [.seen])]))
        var again = ByteBuffer()
        mailbox.writeUpdates(expungesAllowed: true, to: &again)
        #expect(String(buffer: again) == "* 3 EXPUNGE\r\n")
        #expect(mailbox.messages.map(\.uid) == [5, 9])
    }

    @Test("an EXPUNGE after an arrival in the same batch comes after the EXISTS that counts it")
    func existsBeforeExpunge() {
        var mailbox = Self.view([1, 2])
        mailbox.record(.appended([.init(uid: 3, flags: [])]))
        mailbox.record(.expunged([3]))
        mailbox.record(.appended([.init(uid: 4, flags: [])]))
        var buffer = ByteBuffer()
        mailbox.writeUpdates(expungesAllowed: true, to: &buffer)
        #expect(String(buffer: buffer) == "* 3 EXISTS\r\n* 3 EXPUNGE\r\n* 3 EXISTS\r\n")
    }

    @Test("QRESYNC's VANISHED (EARLIER): the set's UIDs below UIDNEXT the view lacks, as ranges, at the cost of the view")
    func missing() {
        let mailbox = Self.view([3, 5, 8, 13])
        #expect(mailbox.missing(from: nil) == "1:2,4,6:7,9:12")
        #expect(mailbox.missing(from: Self.set("1:4294967295")) == "1:2,4,6:7,9:12")
        #expect(mailbox.missing(from: Self.set("5:9,100")) == "6:7,9")
        #expect(mailbox.missing(from: Self.set("3,5,13")) == "")
        #expect(mailbox.missing(from: Self.set("*")) == "", "* is the last UID below UIDNEXT, present")
        #expect(Self.view([]).missing(from: Self.set("1:*")) == "", "UIDNEXT 1: nothing ever was")
    }

    @Test("CONDSTORE: flag updates carry MODSEQ; .SILENT under CONDSTORE shows the MODSEQ alone")
    func modseqs() {
        var mailbox = SelectedMailbox(
            uidValidity: 7, uidNext: 3, messages: [.init(uid: 1, flags: [], modseq: 10), .init(uid: 2, flags: [], modseq: 11)],
            readOnly: false)
        mailbox.record(.flagsChanged([.init(uid: 2, flags: [.seen], modseq: 12)]))
        var buffer = ByteBuffer()
        mailbox.writeUpdates(expungesAllowed: true, modseq: true, to: &buffer)
        #expect(String(buffer: buffer) == "* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (12))\r\n")
        // Only the MODSEQ moved (the flags were shown already): nothing to say, the MODSEQ kept.
        mailbox.record(.flagsChanged([.init(uid: 2, flags: [.seen], modseq: 13)]))
        buffer.clear()
        mailbox.writeUpdates(expungesAllowed: true, modseq: true, to: &buffer)
        #expect(buffer.readableBytes == 0 && mailbox.messages[1].modseq == 13)
        mailbox.writeFlags(at: 0, modseq: true, flags: false, to: &buffer)
        #expect(String(buffer: buffer) == "* 1 FETCH (UID 1 MODSEQ (10))\r\n")
        // Another session's change reported after this session's own later one: left out.
        _ = mailbox.setFlags([.init(uid: 1, flags: [.seen, .deleted], modseq: 15)])
        mailbox.record(.flagsChanged([.init(uid: 1, flags: [.seen], modseq: 14)]))
        buffer.clear()
        mailbox.writeUpdates(expungesAllowed: true, modseq: true, to: &buffer)
        #expect(buffer.readableBytes == 0 && mailbox.messages[0].flags == [.seen, .deleted])
    }

    @Test("VANISHED instead of EXPUNGE, as ranges")
    func vanished() {
        var mailbox = Self.view([1, 2, 3, 7, 9])
        var buffer = ByteBuffer()
        mailbox.expunge([1, 2, 3, 9], vanished: true, to: &buffer)
        #expect(String(buffer: buffer) == "* VANISHED 1:3,9\r\n")
        #expect(mailbox.messages.map(\.uid) == [7])
    }
}
