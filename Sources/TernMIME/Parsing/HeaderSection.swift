/// Finds the header section at the start of a message as it streams in (RFC 5322 §2.1: header
/// fields, then an empty line, then the body), keeping at most `limit` octets of it.
public struct HeaderSectionCollector: Sendable {
    public enum State: Hashable, Sendable {
        case collecting
        /// The empty line was seen: `bytes` is the whole header section (without it).
        case complete
        /// The header section is longer than the limit.
        case tooLong
    }

    public let limit: Int
    public private(set) var bytes: [UInt8] = []
    public private(set) var state = State.collecting
    private var atLineStart = true
    private var sawCarriageReturnAtLineStart = false

    public init(limit: Int = 256 * 1024) {
        self.limit = limit
    }

    /// Feeds the next octets of the message; returns the state after them.
    @discardableResult
    public mutating func consume<Octets: Collection<UInt8>>(_ octets: Octets) -> State {
        guard state == .collecting else { return state }
        for octet in octets {
            // An empty line (CRLF, or a bare LF from a sloppy client) ends the section.
            if atLineStart, octet == 0x0A || (sawCarriageReturnAtLineStart && octet == 0x0A) {
                state = .complete
                return state
            }
            if atLineStart, octet == 0x0D, !sawCarriageReturnAtLineStart {
                sawCarriageReturnAtLineStart = true
                continue
            }
            if sawCarriageReturnAtLineStart {
                // A CR at line start not followed by LF: an ordinary octet after all.
                sawCarriageReturnAtLineStart = false
                bytes.append(0x0D)
            }
            guard bytes.count < limit else {
                state = .tooLong
                return state
            }
            bytes.append(octet)
            atLineStart = octet == 0x0A
        }
        return state
    }

    /// The message ended before any empty line: everything was header (RFC 5322 allows a
    /// message without a body).
    public mutating func finish() -> State {
        if state == .collecting { state = .complete }
        return state
    }

    /// The header fields collected so far.
    public var fields: [HeaderField] { HeaderField.parse(bytes) }
}

/// One header field (RFC 5322 §2.2), unfolded: `value` without the CRLFs of folding and
/// without the leading white space after the colon.
public struct HeaderField: Hashable, Sendable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// Whether the field is named `name`, in any case (§1.2.2).
    public func isNamed(_ other: String) -> Bool {
        name.utf8.count == other.utf8.count && name.lowercased() == other.lowercased()
    }

    /// The fields of a header section. Lines that are neither `name: value` nor a
    /// continuation (§2.2.3: starting with white space) are skipped; octets that are not UTF-8
    /// are replaced, never trusted.
    ///
    ///     field      = field-name ":" unstructured CRLF      ; §2.2, §3.6.8
    ///     obs-field  = field-name *WSP ":" unstructured CRLF ; §4.5 (obs-optional, obs-from, ...)
    ///     field-name = 1*ftext
    ///     ftext      = %d33-57 / %d59-126
    ///
    /// The white space of the obsolete form is not part of the name: `From : x` is a From:
    /// field, as mail clients read it (hostile-inputs 48).
    public static func parse<Octets: BidirectionalCollection<UInt8>>(_ octets: Octets) -> [HeaderField] {
        var fields: [HeaderField] = []
        var current: (name: [UInt8], value: [UInt8])?
        func flush() {
            guard let field = current else { return }
            var value = field.value[...]
            while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
            while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
            fields.append(
                HeaderField(name: String(decoding: field.name, as: UTF8.self), value: String(decoding: value, as: UTF8.self)))
            current = nil
        }
        for var line in octets.split(separator: 0x0A, omittingEmptySubsequences: false) {
            if line.last == 0x0D { line = line.dropLast() }
            guard let first = line.first else { continue }
            if first == 0x20 || first == 0x09 {
                // §2.2.3: unfolding removes the CRLF, keeping the white space.
                current?.value.append(contentsOf: line)
                continue
            }
            flush()
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            var name = line[..<colon]
            while let last = name.last, last == 0x20 || last == 0x09 { name = name.dropLast() }
            guard !name.isEmpty, name.allSatisfy({ (0x21...0x7E).contains($0) }) else { continue }
            current = (Array(name), Array(line[line.index(after: colon)...]))
        }
        flush()
        return fields
    }
}
