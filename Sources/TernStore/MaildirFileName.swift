package import TernMail

/// The parts of a Maildir file name (https://cr.yp.to/proto/maildir.html, with the extensions
/// Dovecot and Courier write): `<base>[,S=<size>][,W=<size>]...[:2,<flags>]`.
///
/// The *base* (up to the first `,` or `:`) names the message for as long as it lives; the rest
/// changes as readers move it to `cur/` and set flags. The info part `:2,` is followed by the
/// flag letters in ASCII order; the five of IMAP's system flags are read, and any other ASCII
/// letter (Dovecot's keywords `a`–`z`, experimental ones) is kept as it is when the flags change.
/// Names are split on Unicode scalars, not characters: a combining mark after a `:` or `,`
/// must not hide the separator.
///
/// Names come from the disk, where any program may have put any file: every part is parsed into
/// a bounded value or ignored, never trusted.
package struct MaildirFileName: Sendable, Hashable {
    /// The whole name as found.
    package var name: String

    package init(_ name: String) {
        self.name = name
    }

    /// The base: up to the first `,` or `:` (`MaildirUIDList.key(ofFileName:)`).
    package var key: String { MaildirUIDList.key(ofFileName: name) }

    /// The name without its info part.
    package var withoutInfo: Substring {
        guard let colon = name.unicodeScalars.firstIndex(of: ":") else { return Substring(name) }
        return name[..<colon]
    }

    /// The flag letters after `:2,`; empty without an info part.
    package var flagLetters: Substring.UnicodeScalarView {
        guard let colon = name.unicodeScalars.firstIndex(of: ":") else { return Substring("").unicodeScalars }
        let info = name.unicodeScalars[name.unicodeScalars.index(after: colon)...]
        guard info.starts(with: "2,".unicodeScalars) else { return Substring("").unicodeScalars }
        return Substring(info.dropFirst(2)).unicodeScalars
    }

    /// The ASCII letters of the info part that are not system flags (keywords), kept when the
    /// flags change.
    package var otherLetters: Set<Unicode.Scalar> {
        Set(flagLetters.filter { (("a"..."z").contains($0) || ("A"..."Z").contains($0)) && Self.flag($0) == nil })
    }

    /// The system flags among the letters.
    package var flags: MessageFlags {
        var flags: MessageFlags = []
        for letter in flagLetters {
            if let flag = Self.flag(letter) { flags.insert(flag) }
        }
        return flags
    }

    /// The size the first `,S=` field states (Dovecot's and Tern's), if it is a plain decimal
    /// number. Fields are split on the octet `,` (a combining mark after it does not hide it).
    package var statedSize: Int? { facts.statedSize }

    /// The arrival time Tern's names begin with (`<seconds>.<QueueID>.<host>`), if the name
    /// begins with a plausible one.
    package var arrival: Int64? {
        // Cut on the octet, as the key is: a mark combining with the `.` does not hide it.
        guard let dot = name.utf8.firstIndex(of: UInt8(ascii: ".")) else { return nil }
        return ASCIIDecimal.parse(octets: name.utf8[..<dot], in: 0...CalendarBounds.latestSecond)
    }

    /// The keyword letters (Dovecot's `a`–`z`, `MaildirKeywords`).
    package var keywordLetters: Set<Unicode.Scalar> {
        Set(flagLetters.filter { ("a"..."z").contains($0) })
    }

    /// This name with its system flags set to `flags`, its keyword letters to `keywords` when
    /// given, and every other letter kept: the name the file takes in `cur/`.
    package func settingFlags(_ flags: MessageFlags, keywords: Set<Unicode.Scalar>? = nil) -> String {
        var letters = otherLetters
        if let keywords { letters = letters.filter { !("a"..."z").contains($0) }.union(keywords) }
        for (letter, flag) in Self.letters where flags.contains(flag) { letters.insert(letter) }
        return "\(withoutInfo):2,\(String(String.UnicodeScalarView(letters.sorted { $0.value < $1.value })))"
    }

    /// What a listing needs of a name, read in one pass over its octets: the system flags, the
    /// keyword letters as bits (`a` is bit 0), and the stated size.
    package struct Facts: Sendable, Hashable {
        package var flags: MessageFlags = []
        package var keywordBits: UInt32 = 0
        package var statedSize: Int?

        package init(flags: MessageFlags = [], keywordBits: UInt32 = 0, statedSize: Int? = nil) {
            self.flags = flags
            self.keywordBits = keywordBits
            self.statedSize = statedSize
        }

        /// The state a MODSEQ stands for, as one number: the flags in the low byte, the keyword
        /// letters above.
        package var stateSignature: UInt64 { UInt64(flags.rawValue) | UInt64(keywordBits) << 8 }

        /// The keyword letters the bits stand for.
        package var keywordLetters: Set<Unicode.Scalar> {
            guard keywordBits != 0 else { return [] }
            return Set((0..<26).filter { keywordBits & (1 << $0) != 0 }.compactMap { Unicode.Scalar(UInt8(ascii: "a") + UInt8($0)) })
        }
    }

    /// The state a MODSEQ stands for (`Facts.stateSignature`).
    package var stateSignature: UInt64 { facts.stateSignature }

    /// The facts of the name (the same as `flags`, `keywordLetters` and `statedSize` give).
    package var facts: Facts {
        // The octets where the string keeps them (a listing reads a name per message).
        name.utf8.withContiguousStorageIfAvailable(Self.facts(of:)) ?? Array(name.utf8).withUnsafeBufferPointer(Self.facts(of:))
    }

    private static func facts(of octets: UnsafeBufferPointer<UInt8>) -> Facts {
        var facts = Facts()
        var index = 0
        // Only the first `,S=` field counts, as for `statedSize`, even when it is no number.
        var sawSize = false
        // The base and its ",name=value" fields, up to the info part.
        while index < octets.count, octets[index] != UInt8(ascii: ":") {
            if !sawSize, octets[index] == UInt8(ascii: ","), index + 2 < octets.count, octets[index + 1] == UInt8(ascii: "S"),
                octets[index + 2] == UInt8(ascii: "=")
            {
                sawSize = true
                let start = index + 3
                var end = start
                while end < octets.count, octets[end] != UInt8(ascii: ","), octets[end] != UInt8(ascii: ":") { end += 1 }
                facts.statedSize = ASCIIDecimal.parse(octets: octets[start..<end], in: 0...Int64(Int32.max)).map(Int.init)
                index = end
                continue
            }
            index += 1
        }
        // ":2," then the letters.
        guard index < octets.count else { return facts }
        let info = octets[(index + 1)...]
        guard info.starts(with: "2,".utf8) else { return facts }
        for letter in info.dropFirst(2) {
            switch letter {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): facts.keywordBits |= 1 << UInt32(letter - UInt8(ascii: "a"))
            case UInt8(ascii: "D"): facts.flags.insert(.draft)
            case UInt8(ascii: "F"): facts.flags.insert(.flagged)
            case UInt8(ascii: "R"): facts.flags.insert(.answered)
            case UInt8(ascii: "S"): facts.flags.insert(.seen)
            case UInt8(ascii: "T"): facts.flags.insert(.deleted)
            default: break
            }
        }
        return facts
    }

    static let letters: [(Unicode.Scalar, MessageFlags)] = [
        ("D", .draft), ("F", .flagged), ("R", .answered), ("S", .seen), ("T", .deleted),
    ]

    static func flag(_ letter: Unicode.Scalar) -> MessageFlags? {
        letters.first { $0.0 == letter }?.1
    }
}
