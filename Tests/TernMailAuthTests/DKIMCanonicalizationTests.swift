import Crypto
import TernMail
import Testing

@testable import TernMailAuth

@Suite("DKIM canonicalization (RFC 6376 §3.4)")
struct DKIMCanonicalizationTests {
    private func body(_ text: String, _ algorithm: DKIMCanonicalization) -> String {
        var canonicalizer = DKIMBodyCanonicalizer(algorithm)
        var out: [UInt8] = []
        canonicalizer.update(Array(text.utf8), into: &out)
        canonicalizer.finish(into: &out)
        #expect(canonicalizer.length == out.count)
        return String(decoding: out, as: UTF8.self)
    }

    private func header(_ text: String, _ algorithm: DKIMCanonicalization) -> String {
        String(decoding: algorithm.canonicalizeHeader(Array(text.utf8)), as: UTF8.self)
    }

    @Test("the example of §3.4.5, relaxed and simple")
    func rfcExample() {
        #expect(header("A: X\r\n", .relaxed) == "a:X\r\n")
        #expect(header("B : Y\t\r\n\tZ  \r\n", .relaxed) == "b:Y Z\r\n")
        #expect(header("B : Y\t\r\n\tZ  \r\n", .simple) == "B : Y\t\r\n\tZ  \r\n")
        #expect(body(" C \r\nD \t E\r\n\r\n\r\n", .relaxed) == " C\r\nD E\r\n")
        #expect(body(" C \r\nD \t E\r\n\r\n\r\n", .simple) == " C \r\nD \t E\r\n")
    }

    @Test("empty bodies: CRLF under simple, nothing under relaxed, and their well-known hashes")
    func emptyBodies() {
        #expect(body("", .simple) == "\r\n")
        #expect(body("\r\n\r\n", .simple) == "\r\n")
        #expect(body("", .relaxed) == "")
        #expect(body(" \r\n\t\r\n", .relaxed) == "")
        for (algorithm, expected) in [
            (DKIMCanonicalization.simple, "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY="),
            (.relaxed, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
        ] {
            var hash = DKIMBodyHash(algorithm)
            hash.update([UInt8]())
            #expect(Base64.encode(hash.finalize()) == expected)
        }
    }

    @Test("the body of RFC 6376's example message hashes as in RFC 8463 (relaxed) and dkimpy's tests (simple)")
    func exampleBodyHashes() {
        let body = Array("Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n\r\n".utf8)
        for (algorithm, expected) in [
            (DKIMCanonicalization.simple, "4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ="),
            (.relaxed, "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="),
        ] {
            var hash = DKIMBodyHash(algorithm)
            // In two chunks split inside the double space and the final empty lines.
            hash.update(body[..<25])
            hash.update(body[25...])
            #expect(Base64.encode(hash.finalize()) == expected)
            #expect(hash.hashedLength == hash.canonicalLength)
        }
    }

    @Test("a last line without its line end gets one; whitespace-only lines are content under simple")
    func lineEnds() {
        #expect(body("abc", .simple) == "abc\r\n")
        #expect(body("abc  ", .relaxed) == "abc\r\n")
        #expect(body("a\r\n \r\n", .simple) == "a\r\n \r\n")
        #expect(body("a\r\n \r\n", .relaxed) == "a\r\n")
        #expect(body("a\r\n\r\nb\r\n\r\n", .relaxed) == "a\r\n\r\nb\r\n")
        // Bare LF ends a line; a bare CR is an octet of the line.
        #expect(body("a\nb\n\n", .simple) == "a\r\nb\r\n")
        #expect(body("a\rb\r\n", .relaxed) == "a\rb\r\n")
        #expect(body("a\r", .simple) == "a\r\r\n")
    }

    @Test("relaxed headers: names lower-cased, whitespace around the colon and at the end removed")
    func relaxedHeaders() {
        #expect(header("Subject:   Hello   World \r\n", .relaxed) == "subject:Hello World\r\n")
        #expect(header("X-Long: a\r\n  b\r\n\tc\r\n", .relaxed) == "x-long:a b c\r\n")
        #expect(header("To:\r\n x@example.test\r\n", .relaxed) == "to:x@example.test\r\n")
        #expect(header("Empty:\r\n", .relaxed) == "empty:\r\n")
        // Only ASCII letters change case; octets above 127 pass as they are.
        #expect(header("Sübject: Ä\r\n", .relaxed) == "sübject:Ä\r\n")
    }

    @Test("the result does not depend on where the chunks split", arguments: DKIMCanonicalization.allCases)
    func chunking(_ algorithm: DKIMCanonicalization) {
        let text = Array(" C \r\nD \t E\r\n\r\n \r\nx\ry\n\r\n\t\t\r\n\r\n".utf8)
        let whole = body(String(decoding: text, as: UTF8.self), algorithm)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var canonicalizer = DKIMBodyCanonicalizer(algorithm)
            var out: [UInt8] = []
            var start = 0
            while start < text.count {
                let end = min(text.count, start + Int.random(in: 0...4, using: &generator))
                canonicalizer.update(text[start..<end], into: &out)
                start = end
            }
            canonicalizer.finish(into: &out)
            #expect(String(decoding: out, as: UTF8.self) == whole)
        }
    }

    @Test("l= hashes only that many canonical octets and reports the whole length")
    func lengthLimit() {
        var limited = DKIMBodyHash(.simple, limit: 5)
        limited.update(Array("Hello, world\r\n".utf8))
        let digest = limited.finalize()
        #expect(limited.hashedLength == 5)
        #expect(limited.canonicalLength == 14)
        #expect(digest == Array(SHA256.hash(data: Array("Hello".utf8))))
        var zero = DKIMBodyHash(.relaxed, limit: 0)
        zero.update(Array("text\r\n".utf8))
        #expect(zero.finalize() == Array(SHA256.hash(data: [UInt8]())))
    }
}
