public import NIOCore

extension DNSMessage {
    /// Decodes one whole message (a UDP payload, or a TCP message without its length prefix).
    ///
    /// `message = header question *answer *authority *additional` (RFC 1035 §4.1), the counts
    /// taken from the header. Every length is checked against the octets present, names may be
    /// compressed (§4.1.4) with pointers that must point strictly backwards, and the RDATA of
    /// the known types must fill RDLENGTH exactly. Octets after the last section are ignored.
    /// Never traps: a malformed message is a `DNSWireError`.
    public static func decode(_ buffer: ByteBuffer) -> Result<DNSMessage, DNSWireError> {
        var reader = DNSWireReader(buffer)
        do {
            return .success(try reader.readMessage())
        } catch {
            return .failure(error)
        }
    }

    /// Decodes only the header and the question section, leaving the other sections empty:
    /// enough to recognise the answer to a query when a truncated (TC) response was cut
    /// through a record.
    public static func decodeHeaderAndQuestions(_ buffer: ByteBuffer) -> Result<DNSMessage, DNSWireError> {
        var reader = DNSWireReader(buffer)
        do {
            return .success(try reader.readMessage(headerAndQuestionsOnly: true))
        } catch {
            return .failure(error)
        }
    }
}

/// A read position over one message. All reads go through `ByteBuffer`'s optional-returning
/// `get…` accessors, so no offset a message can express reaches past its end.
struct DNSWireReader {
    private let buffer: ByteBuffer
    /// Offset from the start of the message.
    private(set) var offset: Int = 0
    /// Reads of inline data (not followed pointers) stop here: the end of the message, or of the
    /// RDATA being decoded.
    private var limit: Int

    init(_ buffer: ByteBuffer) {
        self.buffer = buffer
        self.limit = buffer.readableBytes
    }

    private var count: Int { buffer.readableBytes }

    // MARK: Primitives

    private func byte(at position: Int, limit: Int) throws(DNSWireError) -> UInt8 {
        guard position >= 0, position < limit,
            let value = buffer.getInteger(at: buffer.readerIndex + position, as: UInt8.self)
        else { throw DNSWireError(.truncated, at: position) }
        return value
    }

    mutating func readUInt8() throws(DNSWireError) -> UInt8 {
        let value = try byte(at: offset, limit: limit)
        offset += 1
        return value
    }

    mutating func readUInt16() throws(DNSWireError) -> UInt16 {
        guard offset + 2 <= limit,
            let value = buffer.getInteger(at: buffer.readerIndex + offset, endianness: .big, as: UInt16.self)
        else { throw DNSWireError(.truncated, at: offset) }
        offset += 2
        return value
    }

    mutating func readUInt32() throws(DNSWireError) -> UInt32 {
        guard offset + 4 <= limit,
            let value = buffer.getInteger(at: buffer.readerIndex + offset, endianness: .big, as: UInt32.self)
        else { throw DNSWireError(.truncated, at: offset) }
        offset += 4
        return value
    }

    mutating func readBytes(_ length: Int) throws(DNSWireError) -> [UInt8] {
        guard length >= 0, offset + length <= limit,
            let bytes = buffer.getBytes(at: buffer.readerIndex + offset, length: length)
        else { throw DNSWireError(.truncated, at: offset) }
        offset += length
        return bytes
    }

    // MARK: Message

    /// `header = ID flags QDCOUNT ANCOUNT NSCOUNT ARCOUNT` (six 16-bit words, §4.1.1).
    mutating func readMessage(headerAndQuestionsOnly: Bool = false) throws(DNSWireError) -> DNSMessage {
        let id = try readUInt16()
        let flags = try readUInt16()
        let questionCount = Int(try readUInt16())
        let answerCount = Int(try readUInt16())
        let authorityCount = Int(try readUInt16())
        let additionalCount = Int(try readUInt16())
        var message = DNSMessage(header: DNSHeader(id: id, flags: flags))
        // Counts come from the wire: reserve no more than the remaining octets could hold
        // (a question is at least 5 octets, a record at least 11).
        message.questions.reserveCapacity(min(questionCount, (count - offset) / 5))
        for _ in 0..<questionCount {
            message.questions.append(try readQuestion())
        }
        if headerAndQuestionsOnly { return message }
        message.answers = try readRecords(answerCount)
        message.authorities = try readRecords(authorityCount)
        message.additionals = try readRecords(additionalCount)
        return message
    }

    /// `question = QNAME QTYPE QCLASS` (§4.1.2).
    mutating func readQuestion() throws(DNSWireError) -> DNSQuestion {
        let name = try readName()
        let type = DNSRecordType(rawValue: try readUInt16())
        let dnsClass = DNSClass(rawValue: try readUInt16())
        return DNSQuestion(name: name, type: type, class: dnsClass)
    }

    private mutating func readRecords(_ recordCount: Int) throws(DNSWireError) -> [DNSResourceRecord] {
        var records: [DNSResourceRecord] = []
        records.reserveCapacity(min(recordCount, (count - offset) / 11))
        for _ in 0..<recordCount {
            records.append(try readRecord())
        }
        return records
    }

    /// `RR = NAME TYPE CLASS TTL RDLENGTH RDATA` (§4.1.3).
    mutating func readRecord() throws(DNSWireError) -> DNSResourceRecord {
        let name = try readName()
        let type = DNSRecordType(rawValue: try readUInt16())
        let dnsClass = DNSClass(rawValue: try readUInt16())
        let rawTTL = try readUInt32()
        // RFC 2181 §8: a TTL with the most significant bit set is treated as zero.
        let ttl = rawTTL > UInt32(Int32.max) ? 0 : rawTTL
        let length = Int(try readUInt16())
        let start = offset
        let end = start + length
        guard end <= limit else { throw DNSWireError(.truncated, at: start) }
        let outerLimit = limit
        limit = end
        defer { limit = outerLimit }
        let data = try readRData(type: type, length: length)
        guard offset == end else { throw DNSWireError(.rdataLengthMismatch, at: start) }
        return DNSResourceRecord(name: name, class: dnsClass, ttl: ttl, data: data)
    }

    /// The RDATA of the types Tern interprets; reads stop at RDLENGTH (`limit`).
    private mutating func readRData(type: DNSRecordType, length: Int) throws(DNSWireError) -> DNSRecordData {
        let start = offset
        switch type {
        case .a:
            // `ADDRESS`: a 32-bit Internet address (§3.4.1).
            guard length == 4 else { throw DNSWireError(.rdataLengthMismatch, at: start) }
            return .a(IPv4Address(rawValue: try readUInt32()))
        case .aaaa:
            // A 128-bit IPv6 address in network byte order (RFC 3596 §2.2).
            guard length == 16, let address = IPv6Address(bytes: try readBytes(16)) else {
                throw DNSWireError(.rdataLengthMismatch, at: start)
            }
            return .aaaa(address)
        case .mx:
            // `PREFERENCE EXCHANGE` (§3.3.9).
            let preference = try readUInt16()
            return .mx(MXRecord(preference: preference, exchange: try readName()))
        case .txt:
            // `TXT-DATA = 1*character-string`, `character-string = length *octet` (§3.3.14).
            // Empty RDATA, which no server should send, reads as a record with no strings.
            var strings: [[UInt8]] = []
            while offset < limit {
                let stringLength = Int(try readUInt8())
                strings.append(try readBytes(stringLength))
            }
            return .txt(TXTRecord(strings: strings))
        case .ptr:
            return .ptr(try readName())
        case .cname:
            return .cname(try readName())
        case .ns:
            return .ns(try readName())
        case .soa:
            // `MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM` (§3.3.13).
            let primary = try readName()
            let mailbox = try readName()
            return .soa(
                SOARecord(
                    primaryNameServer: primary,
                    responsibleMailbox: mailbox,
                    serial: try readUInt32(),
                    refresh: try readUInt32(),
                    retry: try readUInt32(),
                    expire: try readUInt32(),
                    minimum: try readUInt32()
                )
            )
        default:
            return .unknown(type: type, rdata: try readBytes(length))
        }
    }

    /// `name = *label ( zero-octet / pointer )`, `label = length-octet 1*63octet` (length
    /// 1-63, top bits 00), `pointer = %b11 14bit-offset` (§4.1.4).
    ///
    /// A pointer must point strictly before the start of the labels that led to it, so each
    /// jump moves backwards and no chain of pointers can loop; the assembled name is held to 255
    /// octets. The read position moves past the inline part of the name only.
    mutating func readName() throws(DNSWireError) -> DNSName {
        var wire: [UInt8] = []
        var position = offset
        // Where the run of labels being read began: the name's start, or the last pointer target.
        var segmentStart = offset
        var jumped = false
        while true {
            // Inline labels must lie within the current limit (the RDATA); labels reached
            // through a pointer lie anywhere before it in the message.
            let readLimit = jumped ? count : limit
            let length = try byte(at: position, limit: readLimit)
            switch length >> 6 {
            case 0b00:
                if length == 0 {
                    if !jumped { offset = position + 1 }
                    return DNSName(uncheckedWire: wire)
                }
                guard position + 1 + Int(length) <= readLimit,
                    let label = buffer.getBytes(at: buffer.readerIndex + position + 1, length: Int(length))
                else { throw DNSWireError(.truncated, at: position) }
                guard wire.count + 1 + label.count + 1 <= DNSName.maximumWireLength else {
                    throw DNSWireError(.nameTooLong, at: position)
                }
                wire.append(length)
                wire.append(contentsOf: label)
                position += 1 + Int(length)
            case 0b11:
                let low = try byte(at: position + 1, limit: readLimit)
                let target = Int(length & 0x3F) << 8 | Int(low)
                guard target >= 12, target < count else { throw DNSWireError(.pointerOutOfBounds, at: position) }
                guard target < segmentStart else { throw DNSWireError(.pointerLoop, at: position) }
                if !jumped {
                    offset = position + 2
                    jumped = true
                }
                position = target
                segmentStart = target
            default:
                throw DNSWireError(.reservedLabelType, at: position)
            }
        }
    }
}
