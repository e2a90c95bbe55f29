import Foundation
import TernMail

/// A Maildir's keywords as Dovecot keeps them, so Dovecot, Tern and any reader of the files agree:
/// the file `dovecot-keywords` lists `<index> <name>` lines, and a message carries keyword
/// `index` as the letter `a` + index in its file name's info part (`:2,Sab`). A Maildir has
/// room for 26.
///
/// Security notes: the file is read with bounds (its size, 26 entries, names of IMAP atom
/// characters only); a line that is not one is ignored, never trusted to index anything.
struct MaildirKeywords: Sendable, Hashable {
    static let fileName = "dovecot-keywords"
    static let capacity = 26
    /// Longer names are not stored (Dovecot's limit is far above what clients send).
    static let maximumNameLength = 128

    /// Index to name; nil where no keyword is defined.
    private(set) var names: [String?] = Array(repeating: nil, count: capacity)

    /// The table of the Maildir at `root`; empty when there is none (or it cannot be read).
    static func load(root: String) -> MaildirKeywords {
        var table = MaildirKeywords()
        guard let octets = try? POSIXFile.readPrefix(of: "\(root)/\(fileName)", limit: 64 * 1024) else { return table }
        for line in octets.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 1)
            guard fields.count == 2, let index = ASCIIDecimal.parse(octets: fields[0], in: 0...Int64(capacity - 1)),
                let name = String(validating: Array(fields[1]), as: UTF8.self), isValid(name),
                table.names[Int(index)] == nil, table.index(of: name) == nil
            else { continue }
            table.names[Int(index)] = name
        }
        return table
    }

    /// A keyword this table can hold: printable ASCII without space or IMAP's specials
    /// (`flag-keyword = atom`).
    static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= maximumNameLength
            && name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && !"(){%*\"\\]".utf8.contains($0) }
    }

    /// The defined keywords, in index order.
    var defined: [String] { names.compactMap { $0 } }

    var isFull: Bool { !names.contains(nil) }

    func index(of name: String) -> Int? {
        let folded = name.lowercased()
        return names.firstIndex { $0?.lowercased() == folded }
    }

    /// The keywords the letters of a file name stand for, in index order.
    func keywords(of letters: Set<Unicode.Scalar>) -> [String] {
        (0..<Self.capacity).compactMap { index in
            letters.contains(Self.letter(index)) ? names[index] : nil
        }
    }

    /// The letters of `keywords`, defining those not yet defined while there is room; a keyword
    /// without room or with an invalid name gets none. Returns whether the table changed.
    mutating func letters(for keywords: [String]) -> (letters: Set<Unicode.Scalar>, changed: Bool) {
        var letters: Set<Unicode.Scalar> = []
        var changed = false
        for keyword in keywords {
            if let index = index(of: keyword) {
                letters.insert(Self.letter(index))
            } else if Self.isValid(keyword), let free = names.firstIndex(of: nil) {
                names[free] = keyword
                letters.insert(Self.letter(free))
                changed = true
            }
        }
        return (letters, changed)
    }

    /// The letters among `letters` that no keyword is defined for (another program's): kept
    /// as they are when a message's keywords change.
    func undefined(_ letters: Set<Unicode.Scalar>) -> Set<Unicode.Scalar> {
        letters.filter { letter in
            let index = Int(letter.value) - Int(UInt8(ascii: "a"))
            return index < 0 || index >= Self.capacity || names[index] == nil
        }
    }

    static func letter(_ index: Int) -> Unicode.Scalar {
        Unicode.Scalar(UInt8(ascii: "a") + UInt8(index))
    }

    /// Writes the table (a new file renamed over the old, so readers see one or the other).
    func write(root: String) throws {
        var text = ""
        for (index, name) in names.enumerated() {
            if let name { text += "\(index) \(name)\n" }
        }
        let temporary = "\(root)/\(Self.fileName).tern-tmp"
        try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        try POSIXFile.rename(temporary, "\(root)/\(Self.fileName)")
    }
}
