/// The header of a DNS message (RFC 1035 §4.1.1), without the four section counts: those follow
/// from the sections of `DNSMessage` and are checked against them when decoding.
///
/// ```
///   0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
/// |                      ID                       |
/// |QR|   Opcode  |AA|TC|RD|RA|   Z    |   RCODE   |
/// ```
public struct DNSHeader: Hashable, Sendable {
    /// Chosen by the asker and copied into the response; Tern's queries use random IDs.
    public var id: UInt16
    /// QR: a response rather than a query.
    public var isResponse: Bool
    public var opcode: DNSOpcode
    /// AA: the responding server is an authority for the name in the question.
    public var isAuthoritativeAnswer: Bool
    /// TC: the message was truncated to fit the transport; ask again over TCP (RFC 1035 §4.2.1).
    public var isTruncated: Bool
    /// RD: the asker wants the server to pursue the query recursively.
    public var recursionDesired: Bool
    /// RA: the server offers recursion.
    public var recursionAvailable: Bool
    /// The three Z bits (RFC 1035 "must be zero"; RFC 4035 later uses two of them as AD and CD),
    /// kept so a decoded header encodes to the same bytes.
    public var zBits: UInt8
    public var responseCode: DNSResponseCode

    public init(
        id: UInt16,
        isResponse: Bool = false,
        opcode: DNSOpcode = .query,
        isAuthoritativeAnswer: Bool = false,
        isTruncated: Bool = false,
        recursionDesired: Bool = true,
        recursionAvailable: Bool = false,
        zBits: UInt8 = 0,
        responseCode: DNSResponseCode = .noError
    ) {
        self.id = id
        self.isResponse = isResponse
        self.opcode = opcode
        self.isAuthoritativeAnswer = isAuthoritativeAnswer
        self.isTruncated = isTruncated
        self.recursionDesired = recursionDesired
        self.recursionAvailable = recursionAvailable
        self.zBits = zBits & 0x07
        self.responseCode = responseCode
    }

    /// The second 16-bit word of the header.
    public var flags: UInt16 {
        var flags: UInt16 = 0
        if isResponse { flags |= 0x8000 }
        flags |= UInt16(opcode.rawValue & 0x0F) << 11
        if isAuthoritativeAnswer { flags |= 0x0400 }
        if isTruncated { flags |= 0x0200 }
        if recursionDesired { flags |= 0x0100 }
        if recursionAvailable { flags |= 0x0080 }
        flags |= UInt16(zBits & 0x07) << 4
        flags |= UInt16(responseCode.rawValue & 0x0F)
        return flags
    }

    public init(id: UInt16, flags: UInt16) {
        self.init(
            id: id,
            isResponse: flags & 0x8000 != 0,
            opcode: DNSOpcode(rawValue: UInt8(truncatingIfNeeded: flags >> 11)),
            isAuthoritativeAnswer: flags & 0x0400 != 0,
            isTruncated: flags & 0x0200 != 0,
            recursionDesired: flags & 0x0100 != 0,
            recursionAvailable: flags & 0x0080 != 0,
            zBits: UInt8(truncatingIfNeeded: flags >> 4) & 0x07,
            responseCode: DNSResponseCode(rawValue: UInt8(truncatingIfNeeded: flags))
        )
    }
}

/// An entry of the question section (RFC 1035 §4.1.2). Equality ignores the case of the name.
public struct DNSQuestion: Hashable, Sendable, CustomStringConvertible {
    public var name: DNSName
    public var type: DNSRecordType
    public var `class`: DNSClass

    public init(name: DNSName, type: DNSRecordType, class: DNSClass = .internet) {
        self.name = name
        self.type = type
        self.class = `class`
    }

    public var description: String { "\(name) \(self.class) \(type)" }
}
