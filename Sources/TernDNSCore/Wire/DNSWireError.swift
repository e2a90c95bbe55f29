/// Why a DNS message could not be decoded or encoded: a value, returned rather than trapped on,
/// with the offset of the octet where decoding stopped.
public struct DNSWireError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case truncated
            case pointerOutOfBounds
            case pointerLoop
            case reservedLabelType
            case nameTooLong
            case rdataLengthMismatch
            case sectionTooLarge
            case characterStringTooLong
            case rdataTooLong
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The message ends before the data its header or lengths announce.
        public static let truncated = Code(.truncated)
        /// A compression pointer points past the end of the message or into its header.
        public static let pointerOutOfBounds = Code(.pointerOutOfBounds)
        /// A compression pointer does not point strictly backwards (RFC 1035 §4.1.4 "a prior
        /// occurrence"): the only way pointers can form a loop, refused outright.
        public static let pointerLoop = Code(.pointerLoop)
        /// A label starts with the bit patterns 01 or 10 (RFC 6891 §5 deprecates extended labels).
        public static let reservedLabelType = Code(.reservedLabelType)
        /// A name, once decompressed, is longer than 255 octets (RFC 1035 §2.3.4).
        public static let nameTooLong = Code(.nameTooLong)
        /// RDLENGTH does not match the RDATA of the record's type.
        public static let rdataLengthMismatch = Code(.rdataLengthMismatch)
        /// Encoding: a section has more than 65,535 entries.
        public static let sectionTooLarge = Code(.sectionTooLarge)
        /// Encoding: a TXT character-string is longer than 255 octets.
        public static let characterStringTooLong = Code(.characterStringTooLong)
        /// Encoding: RDATA is longer than 65,535 octets.
        public static let rdataTooLong = Code(.rdataTooLong)

        public var description: String {
            switch base {
            case .truncated: "message truncated"
            case .pointerOutOfBounds: "compression pointer out of bounds"
            case .pointerLoop: "compression pointer does not point backwards"
            case .reservedLabelType: "reserved label type"
            case .nameTooLong: "name longer than 255 octets"
            case .rdataLengthMismatch: "RDLENGTH does not match the record data"
            case .sectionTooLarge: "section has more than 65535 entries"
            case .characterStringTooLong: "character-string longer than 255 octets"
            case .rdataTooLong: "RDATA longer than 65535 octets"
            }
        }
    }

    public var code: Code
    /// The offset in the message where the problem was found (0 for encoding errors).
    public var offset: Int

    public init(_ code: Code, at offset: Int) {
        self.code = code
        self.offset = offset
    }

    public var description: String { "\(code) at offset \(offset)" }
}
