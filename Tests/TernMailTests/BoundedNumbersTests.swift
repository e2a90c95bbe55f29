import TernMail
import Testing

@Suite("ASCIIDecimal")
struct ASCIIDecimalTests {
    @Test("ASCII digits in range", arguments: [("0", Int64(0)), ("007", 7), ("42", 42), ("9223372036854775807", .max)])
    func digits(text: String, value: Int64) {
        #expect(ASCIIDecimal.parse(text, in: 0...Int64.max) == value)
    }

    @Test(
        "anything else is refused, never trapped on",
        arguments: [
            "", "+5", "-5", " 5", "5 ", "5.0", "1e3", "0x10", "inf", "nan", "\u{0661}", "9223372036854775808",
            "99999999999999999999999999999999", "٣", "５",
        ])
    func refused(text: String) {
        #expect(ASCIIDecimal.parse(text, in: 0...Int64.max) == nil)
    }

    @Test("the range is enforced")
    func range() {
        #expect(ASCIIDecimal.parse("31", in: 1...31) == 31)
        #expect(ASCIIDecimal.parse("32", in: 1...31) == nil)
        #expect(ASCIIDecimal.parse("0", in: 1...31) == nil)
        #expect(ASCIIDecimal.parse(octets: [0x31, 0x32], in: 0...99) == 12)
    }
}
