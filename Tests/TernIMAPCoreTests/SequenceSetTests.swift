import Testing

@testable import TernIMAPCore

@Suite("IMAP sequence sets")
struct SequenceSetTests {
    static func parse(_ text: String) -> SequenceSet? { SequenceSet(parsing: Array(text.utf8)) }

    @Test(
        "well-formed sets parse and print as written",
        arguments: ["1", "*", "1:*", "2,4:7,9,12:*", "4294967295", "1:4294967295", "*:4", "$", "7:3"])
    func roundTrip(text: String) throws {
        #expect(try #require(Self.parse(text)).description == text)
    }

    @Test("a range of one number prints as the number, the same set")
    func singleRange() throws {
        let set = try #require(Self.parse("1:1"))
        #expect(set.description == "1" && Self.parse(set.description) == set)
    }

    @Test(
        "everything else is refused",
        arguments: ["", "0", "0:5", "01", "4294967296", "99999999999999999999", "1:", ":1", "1::2", "1,", ",1", "1:2:3", "a", "$,1", " 1", "1 ", "-1", "１"])
    func refused(text: String) {
        #expect(Self.parse(text) == nil)
    }

    @Test("resolved against the largest number: ascending, merged, * is the largest")
    func resolved() throws {
        #expect(try #require(Self.parse("2,4:7,9,12:*")).ranges(largest: 15) == [2...2, 4...7, 9...9, 12...15])
        #expect(try #require(Self.parse("7:3,1,2,8")).ranges(largest: 10) == [1...8])
        #expect(try #require(Self.parse("*")).ranges(largest: 0) == [], "an empty mailbox has no *")
        #expect(try #require(Self.parse("5:*")).ranges(largest: 3) == [3...5], "n:* names the last message even above it")
        #expect(try #require(Self.parse("1:4294967295")).ranges(largest: 10) == [1...4_294_967_295])
        #expect(try #require(Self.parse("4294967295:1,*:*")).ranges(largest: 4_294_967_295) == [1...4_294_967_295])
        #expect(try #require(Self.parse("$")).ranges(largest: 10) == [])
        #expect(try #require(Self.parse("3:5")).contains(4, largest: 5))
        #expect(try #require(Self.parse("3:5")).contains(6, largest: 9) == false)
    }
}
