import Foundation
import Testing

@testable import TernStore

/// Keywords in Dovecot's `dovecot-keywords` and file-name letters.
@Suite("MaildirKeywords")
struct MaildirKeywordsTests {
    let root = NSTemporaryDirectory() + "tern-keywords-\(UUID().uuidString)"

    @Test("Dovecot's file is read with bounds; junk lines are ignored, never trusted")
    func reads() throws {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let file = "0 $Forwarded\n1 Junk\n26 TooFar\n-1 Negative\n3 has space\n4\n1 Again\n2 junk\n5 NonJunk\n"
        try Data(file.utf8).write(to: URL(fileURLWithPath: "\(root)/dovecot-keywords"))
        let table = MaildirKeywords.load(root: root)
        #expect(table.defined == ["$Forwarded", "Junk", "NonJunk"])
        #expect(table.keywords(of: ["a", "f", "c", "z"]) == ["$Forwarded", "NonJunk"])
        #expect(table.undefined(["a", "c", "z"]) == ["c", "z"])
    }

    @Test("letters are given in order, in any case once, and run out at 26; written back as Dovecot reads it")
    func allocates() throws {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var table = MaildirKeywords()
        var (letters, changed) = table.letters(for: ["$Forwarded", "Junk", "junk", "bad name", ""])
        #expect(letters == ["a", "b"] && changed)
        (letters, changed) = table.letters(for: ["JUNK"])
        #expect(letters == ["b"] && !changed)
        (letters, _) = table.letters(for: (0..<30).map { "k\($0)" })
        #expect(letters.count == 24 && table.isFull)
        try table.write(root: root)
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: "\(root)/dovecot-keywords")), as: UTF8.self)
        #expect(text.hasPrefix("0 $Forwarded\n1 Junk\n2 k0\n"))
        #expect(MaildirKeywords.load(root: root) == table)
    }
}
