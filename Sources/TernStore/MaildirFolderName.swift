/// The folder name of a Maildir++ mailbox (`<root>/.<folder>/`): the mailbox's name with every
/// octet outside `A-Z a-z 0-9 @ _ + - =` written `%XX`, so that `.` and `/` can never make a
/// path and every name has one folder. `alice@example.test` → `alice@example%2Etest`.
///
/// Names come from clients (the catcher's inboxes are SMTP login names), so a name whose folder
/// name would be longer than `maximumLength` has none.
public enum MaildirFolderName {
    /// Octets, well below the 255 of a file name on common file systems.
    public static let maximumLength = 200

    /// The folder name of `name`; nil when empty or too long.
    public static func folder(of name: String) -> String? {
        let digits = Array("0123456789ABCDEF".unicodeScalars)
        var folder = ""
        for octet in name.utf8 {
            if isKept(octet) {
                folder.unicodeScalars.append(Unicode.Scalar(octet))
            } else {
                folder.unicodeScalars.append("%")
                folder.unicodeScalars.append(digits[Int(octet >> 4)])
                folder.unicodeScalars.append(digits[Int(octet & 0x0F)])
            }
        }
        guard !folder.isEmpty, folder.utf8.count <= maximumLength else { return nil }
        return folder
    }

    /// The inverse of `folder(of:)`; nil for a folder name it would not have made.
    public static func name(ofFolder folder: String) -> String? {
        guard folder.utf8.count <= maximumLength else { return nil }
        var octets: [UInt8] = []
        var iterator = folder.utf8.makeIterator()
        while let octet = iterator.next() {
            if octet == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                let decoded = high << 4 | low
                guard !isKept(decoded) else { return nil }
                octets.append(decoded)
            } else {
                guard isKept(octet) else { return nil }
                octets.append(octet)
            }
        }
        guard !octets.isEmpty else { return nil }
        return String(validating: octets, as: UTF8.self)
    }

    private static func isKept(_ octet: UInt8) -> Bool {
        switch octet {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "@"), UInt8(ascii: "_"), UInt8(ascii: "+"),
            UInt8(ascii: "-"), UInt8(ascii: "="):
            true
        default: false
        }
    }

    private static func hexValue(_ octet: UInt8) -> UInt8? {
        switch octet {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): octet - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): octet - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
