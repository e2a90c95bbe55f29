/// One field of a message's header section exactly as it came (RFC 5322 §2.2): every octet of
/// its name, colon and value, folding kept, ending in CRLF. Signatures are computed over these
/// octets (simple canonicalization keeps them all), so nothing is unfolded or decoded here.
public struct RawHeaderField: Sendable, Hashable {
    /// The field, its line ends as CRLF (a bare LF, as a file on disk may have, becomes CRLF:
    /// the form the message had in SMTP, RFC 5321 §2.3.8).
    public var octets: [UInt8]
    /// The name in lower case, without the white space an obsolete `Name :` puts before the
    /// colon (RFC 5322 §4.5.8).
    public var lowercasedName: String

    public init(octets: [UInt8], lowercasedName: String) {
        self.octets = octets
        self.lowercasedName = lowercasedName
    }

    /// `Name: value\r\n`, folded as given.
    public init(name: String, value: String) {
        self.init(octets: Array("\(name): \(value)\r\n".utf8), lowercasedName: name.lowercased())
    }

    /// The value: the octets after the colon, without the final CRLF.
    public var value: ArraySlice<UInt8> {
        let colon = octets.firstIndex(of: UInt8(ascii: ":")) ?? octets.endIndex
        var end = octets.endIndex
        if end >= 2, octets[end - 2] == 0x0D, octets[end - 1] == 0x0A { end -= 2 }
        return colon < end ? octets[(colon + 1)..<end] : octets[end..<end]
    }

    /// Splits a header section (without the empty line that ends it) into fields. A line that
    /// is neither `name:` nor a continuation of one (RFC 5322 §2.2.3: it starts with white
    /// space) belongs to no field and is left out: no signature can cover it, and no reader
    /// sees it as a field.
    public static func fields(of section: some BidirectionalCollection<UInt8>) -> [RawHeaderField] {
        var fields: [RawHeaderField] = []
        var current: RawHeaderField?
        for var line in section.split(separator: 0x0A, omittingEmptySubsequences: false) {
            if line.last == 0x0D { line = line.dropLast() }
            guard let first = line.first else { continue }
            if first == 0x20 || first == 0x09 {
                current?.octets.append(contentsOf: line)
                current?.octets.append(contentsOf: [0x0D, 0x0A])
                continue
            }
            if let field = current { fields.append(field) }
            current = nil
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            var name = line[..<colon]
            while let last = name.last, last == 0x20 || last == 0x09 { name = name.dropLast() }
            guard !name.isEmpty, name.allSatisfy({ (0x21...0x7E).contains($0) }) else { continue }
            var octets = Array(line)
            octets.append(contentsOf: [0x0D, 0x0A])
            current = RawHeaderField(octets: octets, lowercasedName: String(decoding: name, as: UTF8.self).lowercased())
        }
        if let field = current { fields.append(field) }
        return fields
    }

    /// Where a message's header section ends: the header's octets (without the empty line) and
    /// the offset of the body's first octet. A message without an empty line is all header
    /// (RFC 5322 §2.1: the body is optional).
    public static func split<Message: Collection<UInt8>>(message: Message) -> (header: Message.SubSequence, body: Message.SubSequence)
    where Message.Index == Int {
        var lineStart = message.startIndex
        var index = message.startIndex
        while index < message.endIndex {
            if message[index] == 0x0A {
                let line = message[lineStart..<index]
                if line.isEmpty || (line.count == 1 && line.first == 0x0D) {
                    return (message[message.startIndex..<lineStart], message[(index + 1)...])
                }
                lineStart = index + 1
            }
            index += 1
        }
        return (message[...], message[message.endIndex...])
    }
}

/// The header fields a signature's `h=` names, picked as RFC 6376 §5.4.2 says: for a name
/// listed more than once, the last field of that name is taken first, then the one above it;
/// a name listed more often than the header has fields of it selects nothing the extra times
/// (signers list names once more than they occur, to forbid adding one: §8.15 "oversigning").
public enum DKIMHeaderSelection {
    /// One entry per name of `names`: the field it selects, or nil.
    public static func select(_ names: [String], from fields: [RawHeaderField]) -> [RawHeaderField?] {
        var used: [String: Int] = [:]  // fields of each name already taken, from the bottom
        var byName: [String: [Int]] = [:]
        for (index, field) in fields.enumerated() { byName[field.lowercasedName, default: []].append(index) }
        return names.map { name in
            let key = name.lowercased()
            let positions = byName[key] ?? []
            let taken = used[key] ?? 0
            guard taken < positions.count else { return nil }
            used[key] = taken + 1
            return fields[positions[positions.count - 1 - taken]]
        }
    }
}
