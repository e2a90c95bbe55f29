import Testing

@testable import TernMail

@Suite("LineEnd.crlf")
struct LineEndTests {
    @Test("CRLF stays; a bare LF and a bare CR each become CRLF; the last line gets one", arguments: [
        ("a\r\nb\r\n", "a\r\nb\r\n"), ("a\nb", "a\r\nb\r\n"), ("a\rb\r", "a\r\nb\r\n"), ("a\r\r\nb", "a\r\n\r\nb\r\n"),
        ("\n\r", "\r\n\r\n"), ("", ""),
    ])
    func normalizes(input: String, expected: String) {
        #expect(LineEnd.crlf(Array(input.utf8)) == Array(expected.utf8))
    }
}
