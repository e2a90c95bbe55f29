import TernMail
import Testing

@testable import TernStore

@Suite("ListedMessages")
struct ListedMessagesTests {
    static func message(_ uid: UInt32) -> MailboxMessage {
        MailboxMessage(uid: uid, flags: [], size: 100, internalDate: 0)
    }

    /// A listing of `count` messages numbered through a key table, as a relist makes it.
    static func listing(_ count: Int) throws -> (ListedMessages, MaildirKeyTable) {
        var table = MaildirKeyTable()
        var built: [Listed] = []
        for number in 1...count {
            let key = "17000000\(number).M\(number)P1.host"
            let inserted = table.insert(key, uid: UInt32(number))
            let ref = try #require(inserted)
            built.append(Listed(message: message(UInt32(number)), name: "\(key),S=100:2,S", inCur: true, key: ref))
        }
        return (ListedMessages(ascending: built, keys: table.storage), table)
    }

    @Test("names come back whole from the key table and the rest; the state is read from the flags")
    func names() throws {
        let (listing, _) = try Self.listing(50)
        for number in 1...50 {
            let listed = try #require(listing[UInt32(number)])
            #expect(listed.name == "17000000\(number).M\(number)P1.host,S=100:2,S" && listed.inCur)
            #expect(listing.state(of: UInt32(number))?.signature == MaildirFileName(listed.name).stateSignature)
        }
        #expect(listing[51] == nil && listing.count == 50)
    }

    @Test("renames keep their names right: with the same key, with another start, and after compaction")
    func renames() throws {
        var (listing, table) = try Self.listing(2_000)
        // The table goes on appending after the listing's copy of its storage.
        for number in 2_001...4_000 { table.insert("new.\(number)", uid: UInt32(number)) }
        for round in 0..<40 {
            for number in stride(from: 1, through: 2_000, by: 7) {
                let uid = UInt32(number)
                var listed = try #require(listing[uid])
                listed.name = round.isMultiple(of: 2) ? "17000000\(number).M\(number)P1.host,S=100:2,FS" : "other.\(number):2,T"
                listed.inCur = round.isMultiple(of: 4)
                listing[uid] = listed
            }
        }
        for number in 1...2_000 {
            let listed = try #require(listing[UInt32(number)])
            let renamed = (number - 1).isMultiple(of: 7)
            #expect(listed.name == (renamed ? "other.\(number):2,T" : "17000000\(number).M\(number)P1.host,S=100:2,S"))
            #expect(listed.inCur == !renamed)
            #expect(listing.state(of: UInt32(number))?.signature == MaildirFileName(listed.name).stateSignature)
        }
        listing[1] = nil
        #expect(listing[1] == nil && listing[2]?.name == "170000002.M2P1.host,S=100:2,S")
    }
}
