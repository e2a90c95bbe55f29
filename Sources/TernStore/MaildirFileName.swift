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

    /// The size the `,S=` field states (Dovecot's and Tern's), if it is a plain decimal number.
    package var statedSize: Int? {
        for field in withoutInfo.split(separator: ",").dropFirst() where field.hasPrefix("S=") {
            return ASCIIDecimal.parse(octets: field.utf8.dropFirst(2), in: 0...Int64(Int32.max)).map(Int.init)
        }
        return nil
    }

    /// The arrival time Tern's names begin with (`<seconds>.<QueueID>.<host>`), if the name
    /// begins with a plausible one.
    package var arrival: Int64? {
        guard let dot = name.firstIndex(of: ".") else { return nil }
        return ASCIIDecimal.parse(octets: name[..<dot].utf8, in: 0...CalendarBounds.latestSecond)
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

    static let letters: [(Unicode.Scalar, MessageFlags)] = [
        ("D", .draft), ("F", .flagged), ("R", .answered), ("S", .seen), ("T", .deleted),
    ]

    static func flag(_ letter: Unicode.Scalar) -> MessageFlags? {
        letters.first { $0.0 == letter }?.1
    }
}
